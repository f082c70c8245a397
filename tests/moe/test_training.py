"""Training recipe: equal steps per domain, clean in-batch negatives, experts-only updates,
gate movement and the router's held-out report."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from support import DATA

from encoders.moe import data
from encoders.moe.model import build_moe
from encoders.moe.train import (
    TrainConfig,
    batches,
    clean_batch,
    confusion,
    gate_movement,
    related_texts,
    train_contrastive,
)

DOMAINS = list(data.DOMAINS)


def test_domains_are_balanced_by_steps_not_pairs() -> None:
    held = data.ag_split(DATA)
    pairs = data.training_pairs(DATA, held)
    assert len(pairs["nfcorpus"]) > 15 * len(pairs["news"])  # very unequal pair counts
    cfg = TrainConfig(steps=60, batch_size=4)
    drawn = list(batches(pairs, cfg))
    assert Counter(d for d, _ in drawn) == dict.fromkeys(pairs, 60 // len(pairs))
    for start in range(0, 60, len(pairs)):  # every round visits every domain once
        assert {d for d, _ in drawn[start : start + len(pairs)]} == set(pairs)
    for domain, batch in drawn:
        assert len(batch) == 4 and all(p in pairs[domain] for p in batch)


def test_batches_hold_no_judged_positive_as_a_negative() -> None:
    nf = data.beir(DATA / "nfcorpus", "train")
    pool = [(nf.queries[q], nf.corpus[d]) for q, ds in nf.qrels.items() for d in ds]
    related = related_texts(pool)
    rng = random.Random(0)
    for _ in range(20):
        batch = clean_batch(pool, related, 16, rng)
        assert len(batch) == 16
        for i, (anchor, _) in enumerate(batch):
            others = {p for j, (_, p) in enumerate(batch) if j != i}
            assert not related[anchor] & others


def test_moe_training_moves_only_experts_and_their_gates(base_model: Any) -> None:
    held = data.ag_split(DATA)
    # two of the three domains: the third's expert and gate must stay as built
    pairs = {d: p[:32] for d, p in data.training_pairs(DATA, held).items() if d != "nfcorpus"}
    model = build_moe(DOMAINS, "middle", base_model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(steps=2, batch_size=4, max_seq_length=32)
    run = train_contrastive(model, pairs, cfg, domains=DOMAINS, desc="test")
    assert run["steps_per_domain"] == dict.fromkeys(pairs, 1)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(".experts." in k for k in changed)
    trained = {DOMAINS.index(d) for d in pairs}
    assert {int(k.split(".experts.")[1].split(".")[0]) for k in changed} == trained
    moved = gate_movement(model)[0]
    for i, (w, b) in enumerate(
        zip(moved["per_expert_abs_weight"], moved["per_expert_bias_minus_1"], strict=True)
    ):
        assert (w > 0 and b > 0) if i in trained else (w == 0 and b == 0)
    assert all(p.requires_grad for p in model.parameters())  # the model is left as found


def test_confusion_rows_are_true_domains() -> None:
    names = ["a", "b", "c"]
    assert confusion(["a", "a", "b", "c"], ["a", "b", "b", "a"], names) == [
        [1, 1, 0],
        [0, 1, 0],
        [1, 0, 0],
    ]


def test_router_reports_held_out_accuracy_and_confusion(tiny_data_dir: Path) -> None:
    report = json.loads((tiny_data_dir / "models" / "moe-minilm" / "train_report.json").read_text())
    assert report["steps_per_domain"] == dict.fromkeys(DOMAINS, 6 // len(DOMAINS))  # --tiny: 6
    matrix = report["router_confusion"]["matrix"]
    assert report["router_confusion"]["rows_true_columns_chosen"] == DOMAINS
    assert sum(map(sum, matrix)) == report["router_held_out_texts"] == 24 * len(DOMAINS)
    hits = sum(matrix[i][i] for i in range(len(DOMAINS)))
    assert abs(hits / report["router_held_out_texts"] - report["router_held_out_accuracy"]) < 1e-3
    assert len(report["gate_movement"]) == 1  # --layers middle: one mixture layer
    # the texts it is scored on are never the texts it was fitted on
    held = data.load_split(tiny_data_dir / "models" / "moe-minilm")
    fit = data.router_texts(DATA, held, train=True, per_domain=24)
    scored = data.router_texts(DATA, held, train=False, per_domain=24, seed=1)
    assert not {t for t, _ in fit} & {t for t, _ in scored}


def test_training_the_generalist_alone_leaves_the_moe_folder_as_it_was(
    tiny_data_dir: Path, tmp_path: Path
) -> None:
    """`--only generalist` wrote its report into moe-minilm/, so the MoE's fingerprint changed
    over unchanged weights: every MoE collection would answer `encoder_changed`."""
    import shutil
    import subprocess
    import sys

    from encoders.artifacts import folder_fingerprint

    moe = tmp_path / "models" / "moe-minilm"
    shutil.copytree(tiny_data_dir / "models" / "moe-minilm", moe)
    before = {p.name: p.read_bytes() for p in moe.iterdir() if p.is_file()}
    cli = Path(sys.executable).parent / "nestvec"
    cmd = [str(cli), "train", "moe", "--tiny", "--only", "generalist", "--threads", "1"]
    done = subprocess.run(
        [*cmd, "--models-dir", str(tmp_path / "models")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert {p.name: p.read_bytes() for p in moe.iterdir() if p.is_file()} == before
    assert folder_fingerprint("x", moe) == folder_fingerprint(
        "x", tiny_data_dir / "models" / "moe-minilm"
    )
    assert (tmp_path / "models" / "minilm-generalist" / "train_report.json").is_file()


def test_training_the_generalist_alone_makes_no_moe_folder(tmp_path: Path) -> None:
    """It left an empty moe-minilm/ (as did an interrupted run): nothing half-written."""
    import subprocess
    import sys

    cli = Path(sys.executable).parent / "nestvec"
    cmd = [str(cli), "train", "moe", "--tiny", "--only", "generalist", "--threads", "1"]
    models = tmp_path / "models"
    done = subprocess.run([*cmd, "--models-dir", str(models)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in models.iterdir()) == ["minilm-generalist"]
