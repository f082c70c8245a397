"""`moe-minilm`: the domain-expert MiniLM trained by `nestvec train moe`, served per domain.

`domain` (one for all inputs or one per input) enforces the expert; without it the router picks
one per input and `encode_items` reports the choice and the router's probabilities. Inputs with a
given domain share model calls whatever their domains: each mixture layer runs every expert on its
own rows only, so a mixed call costs what one of the base model costs, and the batch handler may
merge requests for different domains (`per_input_options`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from encoders.artifacts import default_models_dir
from encoders.base import BaseEncoder, Modality, check_texts, clip_texts, l2_normalise
from encoders.errors import ArtifactMissing, InvalidInput
from encoders.moe.model import DOMAINS, read_domains
from encoders.precision import PRECISIONS, autocast, prepare, resolve_precision
from encoders.registry import register_encoder

ARTIFACT = "moe-minilm"
TRAIN_COMMAND = "nestvec train moe"

Domain = str | Sequence[str] | None


@register_encoder("moe-minilm")
class MoEMiniLMEncoder(BaseEncoder):
    """all-MiniLM-L6-v2 with one MLP expert per domain (SciFact, NFCorpus, AG News topics)."""

    modality: ClassVar[Modality] = "text"
    dim = 384
    nested_dims = (384,)
    request_options: ClassVar[tuple[str, ...]] = ("domain",)
    per_input_options: ClassVar[tuple[str, ...]] = ("domain",)
    option_choices: ClassVar[dict[str, tuple[Any, ...]]] = {"precision": PRECISIONS}

    def __init__(
        self, models_dir: Path | None = None, batch_size: int = 32, precision: str = "auto"
    ) -> None:
        path = Path(models_dir or default_models_dir()) / ARTIFACT
        domains = read_domains(path)
        if domains is None:
            raise ArtifactMissing(
                f"encoder 'moe-minilm' is not trained: no model at {path}; "
                f"run `{TRAIN_COMMAND} --models-dir {path.parent}`",
                "encoder",
            )
        from encoders.moe.model import load_moe

        self.path, self.domains, self.batch_size = path, domains, batch_size
        self.precision = resolve_precision(precision)  # as minilm's (encoders.precision)
        self.model = prepare(load_moe(path), self.precision)
        self._fingerprint = type(self).artifact_fingerprint(models_dir)  # of what it loaded

    @classmethod
    def describe_extra(cls, models_dir: Path | None) -> dict[str, Any]:
        path = Path(models_dir or default_models_dir()) / ARTIFACT
        found = read_domains(path)
        return {
            "domains": found or list(DOMAINS),
            "request_options": list(cls.request_options),
            "artifact": {
                "path": str(path),
                "available": found is not None,
                "train_command": TRAIN_COMMAND,
                "fallback": None,
            },
        }

    # validation -------------------------------------------------------------------------------
    def check_domain(self, value: Domain, n: int | None = None) -> None:
        """A known domain name, or a list of them (one per input when `n` is known)."""
        names = [value] if isinstance(value, str) else list(value or [])
        field = "domain" if isinstance(value, str) else None
        for i, name in enumerate(names):
            if name not in self.domains:
                known = ", ".join(self.domains)
                where = field or f"domain[{i}]"
                raise InvalidInput(f"unknown domain {name!r}; domains: {known}", where)
        if n is not None and not isinstance(value, str) and len(names) != n:
            raise InvalidInput(f"domain has {len(names)} entries for {n} inputs", "domain")

    def _per_input(self, inputs: Sequence[Any], domain: Domain) -> list[str | None]:
        self.check_domain(domain, len(inputs)) if domain is not None else None
        if domain is None or isinstance(domain, str):
            return [domain] * len(inputs)
        return list(domain)

    # encoding ---------------------------------------------------------------------------------
    def _run(
        self, texts: list[str], domains: list[str | None]
    ) -> tuple[np.ndarray, list[str], np.ndarray | None]:
        """Vectors, chosen domain and router probabilities (rows routed by the router only).

        Rows with a domain go to the model together, length-sorted, one expert id per row; rows
        without one go through the router in calls of their own."""
        vectors = np.zeros((len(texts), self.dim), np.float32)
        chosen: list[str] = [""] * len(texts)
        probs = np.full((len(texts), len(self.domains)), np.nan, np.float32)
        enforced = [i for i, d in enumerate(domains) if d is not None]
        by_router = [i for i, d in enumerate(domains) if d is None]
        for rows, ask_router in ((enforced, False), (by_router, True)):
            for batch in self._batches(texts, rows):
                ids = None if ask_router else [self.domains.index(domains[i]) for i in batch]
                out = self._forward([texts[i] for i in batch], ids)
                vectors[batch] = out["sentence_embedding"].float().numpy()
                for i, d in zip(batch, out["domain_ids"].tolist(), strict=True):
                    chosen[i] = self.domains[d]
                if "router_probs" in out:
                    probs[batch] = out["router_probs"].float().numpy()
        return vectors, chosen, (probs if by_router else None)

    def _batches(self, texts: list[str], rows: list[int]) -> list[list[int]]:
        """Rows sorted by length and cut into batches, so padding stays small (as ST does)."""
        ordered = sorted(rows, key=lambda i: -len(texts[i]))
        return [ordered[s : s + self.batch_size] for s in range(0, len(ordered), self.batch_size)]

    def _forward(self, texts: list[str], domain_ids: list[int] | None) -> dict[str, Any]:
        """One model call: `domain_ids` (one per text) enforce experts; None asks the router."""
        import torch

        features = self.model.preprocess(texts)
        if domain_ids is not None:
            features["domain_ids"] = torch.tensor(domain_ids, dtype=torch.long)
        with torch.inference_mode(), autocast(self.precision):
            return self.model(features)  # type: ignore[no-any-return]

    def _texts(self, inputs: Sequence[Any]) -> list[str]:
        return clip_texts(check_texts(inputs), self._seen_tokens, self.model.max_seq_length)

    def _seen_tokens(self, text: str) -> int:
        return int(self.model.preprocess([text])["attention_mask"].sum())

    def _encode(self, inputs: Sequence[Any], **opts: Any) -> np.ndarray:
        texts = self._texts(inputs)
        return self._run(texts, self._per_input(texts, opts.get("domain")))[0]

    def encode_items(
        self, inputs: Sequence[Any], *, dim: int | None = None, **opts: Any
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Vectors plus, per input, the domain used and (router-chosen ones) its probabilities."""
        target = self.check_dim(dim)
        texts = self._texts(inputs) if inputs else []
        if not texts:
            self.encode(texts, dim=dim)  # raises the shared empty-input error
        domains = self._per_input(texts, opts.get("domain"))
        vectors, chosen, probs = self._run(texts, domains)
        items: list[dict[str, Any]] = []
        for i, name in enumerate(chosen):
            item: dict[str, Any] = {"domain": name, "routed_by": "request"}
            if domains[i] is None and probs is not None:
                item["routed_by"] = "router"
                item["router_probs"] = dict(
                    zip(self.domains, probs[i].round(6).tolist(), strict=True)
                )
            items.append(item)
        return l2_normalise(vectors[:, :target]), items

    def count_tokens(self, inputs: Sequence[Any]) -> int:
        """Tokens the model actually sees (after truncation), padding excluded."""
        # Tokenise exactly as encoding does: other settings (no padding) would be written onto
        # the tokenizer that concurrent encodes share, and their batches would come out ragged.
        mask = self.model.preprocess(self._texts(inputs))["attention_mask"]
        return int(mask.sum())
