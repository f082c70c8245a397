"""`MoEBert`: a sentence-transformers input module holding the mixture-of-experts BERT.

It takes the place of `models.Transformer` at the head of a SentenceTransformer pipeline
(MoEBert -> Pooling -> Normalize), saves itself in the model folder, and is found again by
`SentenceTransformer(path)` through the dotted class name in `modules.json`. Routing:

- `model.encode(texts, domain="scifact")`: every text goes through the scifact expert;
- `model.encode(texts)`: the router picks an expert per text;
- features carrying a `domain_ids` tensor (one id per row; the trainer sets it) are enforced too.

Why no domain token: the paper swaps [CLS] for a per-domain token seeded from [CLS] and lets
that token pick the expert. Passing the domain id beside the tokens picks the same expert with
the same starting activations ([CLS] unchanged) and needs no tokenizer surgery; see README.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from safetensors.torch import load_model as load_safetensors_model
from sentence_transformers.base.modules.input_module import InputModule
from transformers import AutoTokenizer, BertConfig, BertModel

from encoders.moe.layers import MoEFeedForward, Router, Routing, convert_to_moe, routed


class MoEBert(InputModule):
    """BERT whose MLPs (all, or the middle one) are per-domain experts, plus a router."""

    config_file_name = "moe_config.json"
    config_keys = ["domains", "layers", "max_seq_length", "do_lower_case"]
    forward_kwargs = {"domain"}

    def __init__(
        self,
        bert: BertModel,
        tokenizer: Any,
        domains: Sequence[str],
        layers: str = "middle",
        max_seq_length: int = 256,
        do_lower_case: bool = False,
        convert: bool = True,
    ) -> None:
        super().__init__()
        self.domains = list(domains)
        self.layers = layers
        self.max_seq_length = max_seq_length
        self.do_lower_case = do_lower_case
        self.tokenizer = tokenizer
        self.auto_model = bert
        if convert:
            convert_to_moe(bert, len(self.domains), layers)

    @property
    def router(self) -> Router:
        """The router lives inside the first mixture layer (saved once, with it)."""
        for module in self.auto_model.modules():
            if isinstance(module, MoEFeedForward) and module.router is not None:
                return module.router
        raise RuntimeError("model has no router")

    def domain_id(self, domain: str) -> int:
        return self.domains.index(domain)

    # sentence-transformers module API ---------------------------------------------------------
    def preprocess(
        self, inputs: Sequence[Any], prompt: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        texts = [str(t) for t in inputs]
        if prompt:
            texts = [prompt + t for t in texts]
        if self.do_lower_case:
            texts = [t.lower() for t in texts]
        return dict(
            self.tokenizer(
                texts,
                padding=True,
                truncation="longest_first",
                return_tensors="pt",
                max_length=self.max_seq_length,
            )
        )

    def forward(self, features: dict[str, Any], domain: str | None = None, **kwargs: Any) -> dict:
        ids = features.get("domain_ids")
        if ids is None and domain is not None:
            n = features["input_ids"].shape[0]
            ids = torch.full((n,), self.domain_id(domain), dtype=torch.long)
        # A fresh Routing per call, bound only for this forward (see layers.py): concurrent
        # calls on the shared model each see their own, and no module attribute is written.
        routing = Routing(
            domain_ids=None if ids is None else ids.to(features["input_ids"].device),
            attention_mask=features["attention_mask"],
        )
        with routed(routing):
            out = self.auto_model(
                input_ids=features["input_ids"],
                attention_mask=features["attention_mask"],
                token_type_ids=features.get("token_type_ids"),
                return_dict=True,
            )
        features["token_embeddings"] = out.last_hidden_state
        features["domain_ids"] = routing.domain_ids
        if routing.probs is not None:
            features["router_probs"] = routing.probs
        return features

    def get_embedding_dimension(self) -> int:
        return int(self.auto_model.config.hidden_size)

    def save(
        self, output_path: str, *args: Any, safe_serialization: bool = True, **kw: Any
    ) -> None:
        self.auto_model.config.save_pretrained(output_path)
        self.save_tokenizer(output_path)
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs: Any) -> MoEBert:
        path = os.path.join(model_name_or_path, subfolder)
        config = cls.load_config(path)
        bert = BertModel(BertConfig.from_pretrained(path), add_pooling_layer=False)
        tokenizer = AutoTokenizer.from_pretrained(path)
        module = cls(bert, tokenizer, **config)
        load_safetensors_model(module, os.path.join(path, "model.safetensors"))
        return module.eval()
