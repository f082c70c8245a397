"""Choose `nestvec train mrl --mode finetune`'s defaults on an unseen validation domain.

Every candidate trains with `--hold-out scifact` (NFCorpus train + AG News only: SciFact's corpus,
claims and qrels never reach training) under a short budget, and is scored on SciFact's *train*
claims (qrels/train.tsv) against the whole SciFact corpus: nDCG@10 per nested width and the 64/full
ratio. Neither NFCorpus dev nor SciFact test is read, so the test figures of bench_mrl.py stay
unseen by the choice. Base MiniLM and a PCA rotation fitted on SciFact itself are shown alongside.
Caveat: `--init-adapter auto` starts from the committed adapter, which was fitted on SciFact's
train claims, so A_default is NOT blind to this validation set (its 64/full is inflated here);
`pca` fits its start on the training texts only and is the blind counterpart.

    .venv/bin/python loadtest/mrl_select.py --data-dir /tmp/mrl_sel --train     # ~7 min/candidate
    .venv/bin/python loadtest/mrl_select.py --data-dir /tmp/mrl_sel --only B_noinit C_noinit_w2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_mrl import NESTVEC, beir, encode, ndcg_per_dim  # noqa: E402

from encoders.mrl.adapter import pca_rotation  # noqa: E402
from encoders.mrl.encoder import MRL_DIMS, has_model  # noqa: E402
from encoders.mrl.finetune import SIDECAR  # noqa: E402
from encoders.mrl.pairs import DATA  # noqa: E402

BUDGET = ["--budget", "5"]
# Each knob spelled out, so a candidate means the same run after the defaults change.
CANDIDATES: dict[str, list[str]] = {
    "A_default": ["--init-adapter", "auto", "--weights", "1", "1", "1", "1", "1"],
    "B_noinit": ["--init-adapter", "none", "--weights", "1", "1", "1", "1", "1"],
    "C_noinit_w2": ["--init-adapter", "none", "--weights", "1", "1", "1", "2", "2"],
    "D_pca": ["--init-adapter", "pca", "--weights", "1", "1", "1", "1", "1"],
    "E_pca_w2": ["--init-adapter", "pca", "--weights", "1", "1", "1", "2", "2"],
}


def train(models: Path, name: str) -> float:
    """Train candidate `name` with SciFact held out; its wall seconds."""
    cmd = [NESTVEC, "train", "mrl", "--mode", "finetune", "--hold-out", "scifact", *BUDGET]
    cmd += [*CANDIDATES[name], "--out", str(models / name)]
    print("$", " ".join(cmd[1:]), flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--train", action="store_true", help="train the missing candidates first")
    parser.add_argument("--only", nargs="+", choices=sorted(CANDIDATES), default=None)
    args = parser.parse_args()
    models = args.data_dir / "models"
    cache = models / ".cache"
    names = args.only or list(CANDIDATES)
    if args.train:
        for name in names:
            if not has_model(models / name):
                train(models, name)

    from sentence_transformers import SentenceTransformer

    from encoders.minilm import load_minilm

    doc_ids, docs, queries, qrels = beir(DATA / "scifact", "train")
    base = load_minilm()
    bd, bq = encode(base, "minilm", docs, cache), encode(base, "minilm", queries, cache)
    rotation = pca_rotation(bd)
    rows = {
        "base MiniLM": (ndcg_per_dim(bd, bq, doc_ids, qrels), None),
        "PCA (fitted on SciFact)": (
            ndcg_per_dim(bd @ rotation.T, bq @ rotation.T, doc_ids, qrels),
            None,
        ),
    }
    for name in names:
        path = models / name
        if not has_model(path):
            print(f"{name}: not trained under {path} (use --train)")
            continue
        sidecar = (path / SIDECAR).read_bytes()
        tag = "ft-" + hashlib.sha256(sidecar).hexdigest()[:8]
        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        vectors = encode(model, tag, docs, cache), encode(model, tag, queries, cache)
        report = json.loads(sidecar)
        rows[name] = (ndcg_per_dim(*vectors, doc_ids, qrels), report)

    print(f"\nnDCG@10, SciFact train claims ({len(qrels)} queries, {len(doc_ids)} docs), unseen")
    head = "".join(f"{d:>8}" for d in MRL_DIMS)
    print(f"{'candidate':<26}{head}  {'64/full':>7}  train")
    results = []
    for name, (v, report) in rows.items():
        trained = "" if report is None else f"{report['train_seconds'] / 60:.1f} min"
        steps = "" if report is None else f", {report['steps']} steps"
        cells = "".join(f"{x:>8.4f}" for x in v)
        print(f"{name:<26}{cells}  {v[3] / v[0]:>7.3f}  {trained}{steps}")
        results.append({"name": name, "args": CANDIDATES.get(name), "ndcg": v})
    (args.data_dir / "mrl_select.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
