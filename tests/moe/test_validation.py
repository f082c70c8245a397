"""The expert gate: validation queries never train, and a domain whose expert did not gain on
them gets exactly its starting expert back (enforced routing there is the base model)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from support import DATA

from encoders.moe import data
from encoders.moe.model import build_moe
from encoders.moe.train import TrainConfig, train_contrastive
from encoders.moe.validation import expert_weights, keep_better_experts, validation_ndcg

DOMAINS = list(data.DOMAINS)


def test_validation_queries_are_held_out_of_training() -> None:
    held = data.ag_split(DATA)
    pairs, tasks = data.training_split(DATA, held, 20, 120, seed=0)
    full = data.training_pairs(DATA, held)
    for domain in DOMAINS:
        task = tasks[domain]
        anchors = set(task.queries.values())
        assert 0 < len(anchors) <= 20 and len(task.corpus) == 120
        assert not anchors & {a for a, _ in pairs[domain]}  # no held-out question trains
        known = set(full[domain])
        assert set(pairs[domain]) < known
        assert len(pairs[domain]) + sum(a in anchors for a, _ in full[domain]) == len(full[domain])
        for q, judged in task.qrels.items():  # relevant = paired with that question
            assert judged and all((task.queries[q], task.corpus[d]) in known for d in judged)
    again = data.training_split(DATA, held, 20, 120, seed=0)[1]
    assert {d: t.queries for d, t in again.items()} == {d: t.queries for d, t in tasks.items()}
    other = data.training_split(DATA, held, 20, 120, seed=1)[1]
    assert other["scifact"].queries != tasks["scifact"].queries


def test_a_domain_that_did_not_gain_gets_its_starting_expert_back(base_model: Any) -> None:
    held = data.ag_split(DATA)
    pairs, tasks = data.training_split(DATA, held, 6, 30, seed=0)
    model = build_moe(DOMAINS, "middle", base_model)
    start = expert_weights(model)
    before = validation_ndcg(model, tasks, 64)
    cfg = TrainConfig(steps=3, batch_size=4, max_seq_length=32, lr=1e-2, gate_lr=1e-2)
    few = {d: random.Random(0).sample(p, 24) for d, p in pairs.items()}  # many anchors each
    train_contrastive(model, few, cfg, domains=DOMAINS)
    trained = expert_weights(model)
    assert all(not torch.equal(trained[k], start[k]) for k in start if ".gate." in k)
    # scifact: pretend its expert gained; the others lost (or tied)
    after = {d: (1.0 if d == "scifact" else before[d]) for d in DOMAINS}
    decisions = keep_better_experts(model, start, before, after)
    assert [d for d in DOMAINS if decisions[d]["kept"]] == ["scifact"]
    now = expert_weights(model)
    for key in start:
        expected = trained[key] if ".experts.0." in key else start[key]
        assert torch.equal(now[key], expected), key
    texts = ["Aspirin lowers the risk of heart attack."]
    base = base_model.encode(texts)
    for domain in ("nfcorpus", "news"):  # restored: enforced routing is the base model
        assert np.allclose(model.encode(texts, domain=domain), base, atol=1e-6)
    assert not np.allclose(model.encode(texts, domain="scifact"), base, atol=1e-3)


def test_the_training_report_gives_each_domains_decision(tmp_path: Path) -> None:
    cli = Path(sys.executable).parent / "nestvec"
    out = tmp_path / "moe-minilm"
    cmd = [str(cli), "train", "moe", "--tiny", "--validation-queries", "3", "--threads", "1"]
    done = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "train_report.json").read_text())
    decisions = report["validation"]
    assert set(decisions) == set(DOMAINS)
    moved = report["gate_movement"][0]["per_expert_abs_weight"]
    for i, domain in enumerate(DOMAINS):
        d = decisions[domain]
        assert 0 <= d["base"] <= 1 and 0 <= d["trained"] <= 1
        assert d["kept"] == (d["trained"] > d["base"])
        assert (moved[i] > 0) == d["kept"]  # a restored expert's gate is back at its start
