"""Validation-gated experts: a domain keeps its trained expert only where it beats the base.

A few hundred steps can leave an expert worse on its own domain than the MLP it was copied from
(NFCorpus's scored 0.318 against base 0.330 on dev). Each domain's validation queries are held
out of training (`data.split_validation`); they are scored with enforced routing before training,
when the model is exactly the base, and again after. A domain whose expert does not raise
nDCG@10 there gets its starting expert (and gate) back, so enforced routing to it is the base.
Only the experts trained, so putting one back changes nothing else (with `--backbone` the shared
BERT moved too and the gate does not apply).
"""

from __future__ import annotations

from typing import Any

import torch
from tqdm import tqdm

from encoders.moe.data import Retrieval
from encoders.moe.metrics import ndcg_at_k, rankings


def expert_weights(model: Any) -> dict[str, torch.Tensor]:
    """A copy of every expert's parameters (both dense layers and the gate), by state-dict key."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if ".experts." in k}


def restore_expert(model: Any, start: dict[str, torch.Tensor], index: int) -> None:
    """Put expert `index` of every mixture layer back to its weights in `start`."""
    own = {k: v for k, v in start.items() if f".experts.{index}." in k}
    unexpected = model.load_state_dict(own, strict=False).unexpected_keys
    if not own or unexpected:
        raise RuntimeError(f"expert {index}: nothing to restore or unknown keys {unexpected}")


@torch.no_grad()
def validation_ndcg(model: Any, tasks: dict[str, Retrieval], max_seq_length: int) -> dict:
    """nDCG@10 per domain, queries and documents through that domain's expert."""
    serve_length = model.max_seq_length
    model.max_seq_length = max_seq_length
    out = {}
    try:
        for domain, task in tqdm(tasks.items(), desc="validation"):
            vectors = [
                model.encode(
                    list(texts.values()), domain=domain, batch_size=32, normalize_embeddings=True
                )
                for texts in (task.queries, task.corpus)
            ]
            dids = list(task.corpus)
            ranked = [[dids[j] for j in row] for row in rankings(*vectors, 10)]
            out[domain] = round(ndcg_at_k(ranked, [task.qrels[q] for q in task.queries]), 4)
    finally:
        model.max_seq_length = serve_length
    return out


def keep_better_experts(
    model: Any, start: dict[str, torch.Tensor], before: dict[str, float], after: dict[str, float]
) -> dict[str, dict[str, Any]]:
    """Restore the expert of every domain that did not gain on validation; the decisions."""
    domains = model[0].domains
    decisions = {}
    for domain, base in before.items():
        kept = after[domain] > base
        if not kept:
            restore_expert(model, start, domains.index(domain))
        decisions[domain] = {"base": base, "trained": after[domain], "kept": kept}
    return decisions
