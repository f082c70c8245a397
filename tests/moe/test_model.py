"""The MoE model itself: equal to base when untrained, routing, router, save/load, training."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from support import DATA

from encoders.moe import data
from encoders.moe.layers import Expert, MoEFeedForward
from encoders.moe.model import build_moe
from encoders.moe.train import TrainConfig, train_contrastive

DOMAINS = list(data.DOMAINS)


@pytest.fixture(scope="module")
def texts() -> list[tuple[str, str]]:
    """Two real texts per domain: SciFact and NFCorpus queries, AG News held-out titles."""
    held = data.ag_split(DATA)
    samples = data.router_texts(DATA, held, train=False, per_domain=2, seed=1)
    assert sorted({d for _, d in samples}) == sorted(DOMAINS)
    return samples


@pytest.fixture(scope="module")
def untrained(base_model: Any) -> Any:
    return build_moe(DOMAINS, "all", base_model)


def test_untrained_moe_equals_base(untrained: Any, base_model: Any, texts: list) -> None:
    strings = [t for t, _ in texts]
    reference = base_model.encode(strings, convert_to_numpy=True)
    for domain in DOMAINS[:2] + [None]:  # enforced to an expert, and router-chosen
        got = untrained.encode(strings, domain=domain, convert_to_numpy=True)
        np.testing.assert_allclose(got, reference, atol=1e-5)
    middle = build_moe(DOMAINS, "middle", base_model)
    np.testing.assert_allclose(middle.encode(strings, domain="news"), reference, atol=1e-5)


def _expert_calls(model: Any) -> tuple[dict[tuple[int, int], int], list[Any]]:
    """Rows each (layer, expert) processed, recorded by forward hooks."""
    calls: dict[tuple[int, int], int] = {}
    handles = []
    layers = [m for m in model[0].modules() if isinstance(m, MoEFeedForward)]
    for li, layer in enumerate(layers):
        for ei, expert in enumerate(layer.experts):
            assert isinstance(expert, Expert)

            def hook(_m: Any, args: tuple, _out: Any, key: tuple[int, int] = (li, ei)) -> None:
                calls[key] = calls.get(key, 0) + args[0].shape[0]

            handles.append(expert.register_forward_hook(hook))
    return calls, handles


def test_enforced_routing_runs_exactly_the_domain_expert(tiny_moe: Any, texts: list) -> None:
    order = random.Random(0).sample(texts, len(texts))  # domains interleaved in one batch
    features = tiny_moe.preprocess([t for t, _ in order])
    ids = torch.tensor([DOMAINS.index(d) for _, d in order])
    features["domain_ids"] = ids
    calls, handles = _expert_calls(tiny_moe)
    try:
        with torch.inference_mode():
            out = tiny_moe(features)
    finally:
        for h in handles:
            h.remove()
    assert out["domain_ids"].tolist() == ids.tolist()
    n_layers = len({layer for layer, _ in calls})
    assert n_layers == 1  # --tiny trains the default: experts in the middle layer only
    expected = {(0, DOMAINS.index(d)): 2 for d in DOMAINS}
    assert calls == expected  # each expert saw its two rows, no row went anywhere else

    # One domain for the whole call: only that expert runs, on every row.
    calls, handles = _expert_calls(tiny_moe)
    try:
        tiny_moe.encode([t for t, _ in order], domain="nfcorpus")
    finally:
        for h in handles:
            h.remove()
    assert calls == {(0, 1): len(order)}


def test_router_outputs_probabilities(tiny_moe: Any, texts: list) -> None:
    features = tiny_moe.preprocess([t for t, _ in texts])
    with torch.inference_mode():
        out = tiny_moe(features)
    probs = out["router_probs"]
    assert probs.shape == (len(texts), len(DOMAINS))
    assert bool((probs >= 0).all())
    np.testing.assert_allclose(probs.sum(dim=1).numpy(), 1.0, atol=1e-5)
    assert out["domain_ids"].tolist() == probs.argmax(dim=1).tolist()
    # Router-chosen rows are encoded exactly as if that domain had been enforced.
    chosen = DOMAINS[int(out["domain_ids"][0])]
    enforced = tiny_moe.encode([texts[0][0]], domain=chosen)
    np.testing.assert_allclose(out["sentence_embedding"][:1].numpy(), enforced, atol=1e-5)


def test_save_load_round_trip(tiny_moe: Any, tiny_data_dir: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    strings = ["Vitamin D supplements and bone density", "Stocks rallied on Friday."]
    tiny_moe.save(str(tmp_path / "copy"))
    again = SentenceTransformer(str(tmp_path / "copy"), device="cpu", trust_remote_code=True)
    assert type(again[0]).__name__ == "MoEBert" and again[0].domains == DOMAINS
    for domain in ("scifact", "news", None):
        np.testing.assert_allclose(
            again.encode(strings, domain=domain), tiny_moe.encode(strings, domain=domain), atol=1e-6
        )
    for (name, a), (_, b) in zip(
        tiny_moe.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    # the trained gates moved away from their (w=0, b=1) start on at least one domain
    gates = [m.gate for m in tiny_moe[0].modules() if isinstance(m, Expert)]
    assert any(float(g.weight.detach().abs().max()) > 0 for g in gates)
    assert (tiny_data_dir / "models" / "minilm-generalist" / "modules.json").is_file()
    assert data.load_split(tiny_data_dir / "models" / "moe-minilm") == data.ag_split(DATA)


def test_short_training_lowers_the_loss(base_model: Any) -> None:
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    held = data.ag_split(DATA)
    pairs = {"news": data.training_pairs(DATA, held)["news"][:8]}
    model = build_moe(DOMAINS, "middle", base_model)
    loss_fn = MultipleNegativesRankingLoss(model)

    def loss_now() -> float:
        model.max_seq_length = 32
        features = [model.preprocess([p[i] for p in pairs["news"]]) for i in (0, 1)]
        for f in features:
            f["domain_ids"] = torch.full((8,), DOMAINS.index("news"))
        with torch.no_grad():
            return float(loss_fn(features, None))

    before = loss_now()
    cfg = TrainConfig(steps=4, batch_size=8, lr=1e-4, max_seq_length=32)
    train_contrastive(model, pairs, cfg, domains=DOMAINS, desc="test")
    model.eval()
    assert loss_now() < before * 0.9
