"""nDCG@10 per Matryoshka width on SciFact test and NFCorpus dev, with NFCorpus held out of one
fine-tune: do the small prefixes carry over to a domain the training never saw?

Models (all encoded with sentence-transformers at 256 tokens, exact cosine over each renormalised
prefix, as the service serves `dim=`):
  base MiniLM        all-MiniLM-L6-v2, truncated
  PCA rotation       base rotated onto its principal axes (fitted on that corpus), truncated
  adapter            base + the committed linear Matryoshka adapter (encoders/mrl/adapters)
  minilm-mrl         DATA_DIR/models/minilm-mrl: the README's default command
                     `nestvec train mrl --mode finetune` (SciFact + NFCorpus train + AG News)
  minilm-mrl -nfc    DATA_DIR/models/minilm-mrl-holdout-nfcorpus: the same command with
                     `--hold-out nfcorpus` (SciFact + AG News only): NFCorpus dev is unseen

Queries: the 300 SciFact test claims (qrels/test.tsv) and the 324 NFCorpus dev questions
(qrels/dev.tsv); training reads neither file. `--train` first runs the two training commands for
the models missing under DATA_DIR (timed). Vectors are cached under DATA_DIR/models/.cache.

    .venv/bin/python loadtest/bench_mrl.py --data-dir /tmp/clean --train   # ~30 min, 2 idle cores
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from encoders.mrl.adapter import LinearAdapter, pca_rotation  # noqa: E402
from encoders.mrl.adapter_encoder import PACKAGED  # noqa: E402
from encoders.mrl.encoder import MRL_DIMS, has_model  # noqa: E402
from encoders.mrl.finetune import SIDECAR  # noqa: E402
from encoders.mrl.pairs import DATA, document_text  # noqa: E402

K = 10
MAX_SEQ_LENGTH = 256
HOLDOUT = "minilm-mrl-holdout-nfcorpus"
NESTVEC = str(Path(sys.executable).parent / "nestvec")
GOAL_RATIO = 0.9  # 64-d nDCG / full nDCG on the unseen domain


def beir(folder: Path, split: str) -> tuple[list[str], list[str], list[str], dict]:
    """(doc ids, doc texts, query texts, qrels by query) of a BEIR-layout split."""
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with open(folder / "qrels" / f"{split}.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels[row["query-id"]][row["corpus-id"]] = int(row["score"])
    with open(folder / "queries.jsonl", encoding="utf-8") as f:
        queries = {q["_id"]: q["text"] for q in map(json.loads, f) if q["_id"] in qrels}
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        corpus = {d["_id"]: document_text(d["title"], d["text"]) for d in map(json.loads, f)}
    return (
        list(corpus),
        list(corpus.values()),
        list(queries.values()),
        {q: qrels[q] for q in queries},
    )


def ndcg_at_k(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> float:
    """Mean nDCG@10 with linear gain (as trec_eval and BEIR)."""
    total = 0.0
    for qid, judged in qrels.items():
        dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(run[qid][:K]))
        ideal = sorted(judged.values(), reverse=True)[:K]
        total += dcg / sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return total / len(qrels)


def ndcg_per_dim(docs: np.ndarray, queries: np.ndarray, doc_ids: list[str], qrels: dict) -> list:
    """nDCG@10 of exact cosine search over each renormalised prefix width."""
    out = []
    for dim in MRL_DIMS:
        d = docs[:, :dim] / np.linalg.norm(docs[:, :dim], axis=1, keepdims=True)
        q = queries[:, :dim] / np.linalg.norm(queries[:, :dim], axis=1, keepdims=True)
        top = np.argsort(-(q @ d.T), axis=1, kind="stable")[:, :K]
        run = {qid: [doc_ids[j] for j in row] for qid, row in zip(qrels, top, strict=True)}
        out.append(ndcg_at_k(run, qrels))
    return out


def encode(model: Any, tag: str, texts: list[str], cache: Path) -> np.ndarray:
    """Unit vectors of `texts`, cached by model tag and content."""
    digest = hashlib.sha256("\n".join([tag, str(MAX_SEQ_LENGTH), *texts]).encode()).hexdigest()
    path = cache / f"{tag}-{digest[:16]}.npy"
    if path.exists():
        return np.load(path)
    model.max_seq_length = MAX_SEQ_LENGTH
    vectors = model.encode(
        texts, batch_size=64, normalize_embeddings=True, show_progress_bar=True
    ).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def train_missing(models: Path) -> dict[str, float]:
    """Run the default command (and its hold-out twin) for each model not yet trained."""
    commands = {  # the hold-out run first: the unseen-domain figure is the one that matters
        HOLDOUT: [NESTVEC, "train", "mrl", "--mode", "finetune", "--hold-out", "nfcorpus"],
        "minilm-mrl": [NESTVEC, "train", "mrl", "--mode", "finetune"],
    }
    walls = {}
    for name, cmd in commands.items():
        if has_model(models / name):
            continue
        cmd = [*cmd, "--out", str(models / name)]
        print("$", " ".join(cmd[1:]), flush=True)
        started = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
        walls[name] = time.perf_counter() - started
        report = json.loads(done.stdout)
        print(f"  {walls[name] / 60:.1f} min wall, {report['steps']} steps, {report['domains']}")
    return walls


def plot(table: dict[str, dict[str, list[float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(table), figsize=(6 * len(table), 4.5))
    for ax, (dataset, rows) in zip(np.atleast_1d(axes), table.items(), strict=True):
        for name, values in rows.items():
            ax.plot(MRL_DIMS, values, marker="o", label=name)
        ax.set_xscale("log", base=2)
        ax.set_xticks(MRL_DIMS, [str(d) for d in MRL_DIMS])
        ax.set_xlabel("prefix width (dims)")
        ax.set_ylabel("nDCG@10")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--train", action="store_true", help="train the missing models first")
    parser.add_argument("--png", type=Path, default=None, help="default DATA_DIR/bench_mrl.png")
    args = parser.parse_args()
    models = args.data_dir / "models"
    cache = models / ".cache"
    walls = train_missing(models) if args.train else {}

    from sentence_transformers import SentenceTransformer

    from encoders.minilm import load_minilm

    tuned = {
        "minilm-mrl (default)": models / "minilm-mrl",
        "minilm-mrl --hold-out nfcorpus": models / HOLDOUT,
    }
    datasets = {
        "SciFact test": beir(DATA / "scifact", "test"),
        "NFCorpus dev": beir(DATA / "nfcorpus", "dev"),
    }
    adapter = LinearAdapter.load(PACKAGED / "minilm.npz")
    table: dict[str, dict[str, list[float]]] = {}
    for dataset, (doc_ids, docs, queries, qrels) in datasets.items():
        base = load_minilm()
        bd, bq = encode(base, "minilm", docs, cache), encode(base, "minilm", queries, cache)
        rows = {"base MiniLM": ndcg_per_dim(bd, bq, doc_ids, qrels)}
        rotation = pca_rotation(bd)
        rows["PCA rotation"] = ndcg_per_dim(bd @ rotation.T, bq @ rotation.T, doc_ids, qrels)
        rows["adapter (committed)"] = ndcg_per_dim(
            adapter.apply(bd), adapter.apply(bq), doc_ids, qrels
        )
        for name, path in tuned.items():
            if not has_model(path):
                print(f"{name}: no model under {path} (run with --train)")
                continue
            tag = "ft-" + hashlib.sha256((path / SIDECAR).read_bytes()).hexdigest()[:8]
            model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            vectors = encode(model, tag, docs, cache), encode(model, tag, queries, cache)
            rows[name] = ndcg_per_dim(*vectors, doc_ids, qrels)
        table[f"{dataset} ({len(qrels)} queries, {len(doc_ids)} docs)"] = rows

    head = "".join(f"{d:>8}" for d in MRL_DIMS)
    for dataset, rows in table.items():
        print(f"\nnDCG@10, {dataset}, exact cosine")
        print(f"{'model':<32}{head}  {'64/full':>7}")
        for name, v in rows.items():
            print(f"{name:<32}{''.join(f'{x:>8.4f}' for x in v)}  {v[3] / v[0]:>7.3f}")
    nfc = next(rows for dataset, rows in table.items() if dataset.startswith("NFCorpus"))
    held = nfc.get("minilm-mrl --hold-out nfcorpus")
    if held is not None:
        ratio, base_full = held[3] / held[0], nfc["base MiniLM"][0]
        print(
            f"\nunseen NFCorpus (hold-out run): 64-d keeps {ratio:.3f} of full "
            f"(goal >= {GOAL_RATIO}: {'met' if ratio >= GOAL_RATIO else 'NOT met'}); "
            f"full {held[0]:.4f} vs base {base_full:.4f} "
            f"({'met' if held[0] >= base_full else 'NOT met'})"
        )
    for name, seconds in walls.items():
        print(f"train wall {name}: {seconds / 60:.1f} min")
    png = args.png or args.data_dir / "bench_mrl.png"
    plot(table, png)
    print("plot:", png)


if __name__ == "__main__":
    main()
