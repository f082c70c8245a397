"""Matryoshka fine-tune pairs from every text domain, balanced, with a domain held out entirely.

Reads the real files of ../shared/data; the CLI test trains `--tiny` as a user runs it.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from support import DATA

from encoders.mrl.finetune import _lr_factor
from encoders.mrl.pairs import DOMAINS, domain_batches, domain_pairs

NESTVEC = str(Path(sys.executable).parent / "nestvec")
pytestmark = pytest.mark.skipif(
    not all((DATA / d).exists() for d in ("scifact", "nfcorpus", "ag_news_test")),
    reason="../shared/data text domains not present",
)


def _qrels_queries(split: str) -> set[str]:
    with open(DATA / "nfcorpus" / "qrels" / f"{split}.tsv", encoding="utf-8") as f:
        return {row["query-id"] for row in csv.DictReader(f, delimiter="\t")}


def test_pairs_are_balanced_across_every_domain() -> None:
    pairs = domain_pairs(DATA, per_domain=300)
    assert Counter(p.domain for p in pairs) == {d: 300 for d in DOMAINS}
    kinds = {p.domain: set() for p in pairs}
    for p in pairs:
        kinds[p.domain].add(p.kind)
    assert kinds["nfcorpus"] == {"question"} and kinds["agnews"] == {"headline"}
    assert "claim" in kinds["scifact"]
    assert all(p.anchor.strip() and p.positive.strip() and "#39;" not in p.anchor for p in pairs)


def test_nfcorpus_questions_come_from_train_qrels_only() -> None:
    with open(DATA / "nfcorpus" / "queries.jsonl", encoding="utf-8") as f:
        text = {q["_id"]: q["text"] for q in map(json.loads, f)}
    train_texts = {text[q] for q in _qrels_queries("train") if q in text}
    dev_only = {text[q] for q in _qrels_queries("dev") if q in text} - train_texts
    anchors = {p.anchor for p in domain_pairs(DATA, ("nfcorpus",))}
    assert dev_only and anchors <= train_texts and not anchors & dev_only


def test_held_out_domain_is_never_read(tmp_path: Path) -> None:
    # Only the two other folders exist here: a read of NFCorpus would fail.
    for folder in ("scifact", "ag_news_test"):
        (tmp_path / folder).symlink_to(DATA / folder)
    pairs = domain_pairs(tmp_path, ("scifact", "agnews"), per_domain=500)
    assert Counter(p.domain for p in pairs) == {"scifact": 500, "agnews": 500}


def test_batches_hold_one_domain_and_no_repeated_positive() -> None:
    pairs = domain_pairs(DATA, per_domain=200)
    batches = domain_batches(pairs, 16)
    assert sum(len(b) for b in batches) >= 0.95 * len(pairs)
    for batch in batches:
        assert len({p.domain for p in batch}) == 1
        assert len({p.positive for p in batch}) == len(batch)


def test_lr_decays_to_zero_by_the_budget_even_when_steps_remain() -> None:
    total, warm = 1000, 100
    assert _lr_factor(0, total, warm, 0.0, None) == pytest.approx(0.01)
    assert _lr_factor(500, total, warm, 0.0, None) == pytest.approx(500 / 900)
    # 50 of 1000 steps done but the whole budget spent: no learning left to do.
    assert _lr_factor(50, total, warm, 600.0, 600.0) == 0.0
    assert _lr_factor(200, total, warm, 300.0, 600.0) == pytest.approx(0.5 / 0.9)


def test_tiny_hold_out_run_trains_on_the_other_domains(tmp_path: Path) -> None:
    cmd = [NESTVEC, "train", "mrl", "--mode", "finetune", "--tiny", "--hold-out", "nfcorpus"]
    done = subprocess.run(
        [*cmd, "--out", str(tmp_path / "m")], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["hold_out"] == "nfcorpus"
    assert set(report["domains"]) == {"scifact", "agnews"} and report["pairs"] == 32
    assert report["probe_loss_after"] < report["probe_loss_before"]
    sidecar = json.loads((tmp_path / "m" / "nestvec-mrl.json").read_text())
    assert set(sidecar["domains"]) == {"scifact", "agnews"}
