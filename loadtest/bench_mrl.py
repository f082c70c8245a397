"""SciFact test nDCG@10 per Matryoshka dimension: base truncated, PCA rotation, MRL adapter, MRL
fine-tune.

Documents are "title abstract" of all 5,183 SciFact abstracts; queries are the 300 test claims
judged in qrels/test.tsv (training never reads that file). Search is exact cosine over the
prefix of each dimension, renormalised, as the service serves `dim=`. Vectors are cached under
DATA_DIR/models/.cache (the adapter training shares the base encoding of the corpus).

  base      minilm, truncated
  pca       minilm rotated onto its principal axes (fitted on the corpus vectors), truncated
  adapter   minilm + the linear Matryoshka adapter (DATA_DIR/models/mrl-adapter-minilm, else
            the committed one)
  finetune  minilm-mrl from DATA_DIR/models/minilm-mrl (`nestvec train mrl --mode finetune`)

    .venv/bin/python loadtest/bench_mrl.py [--data-dir data]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from encoders.mrl.adapter import LinearAdapter, pca_rotation  # noqa: E402
from encoders.mrl.adapter_encoder import PACKAGED  # noqa: E402
from encoders.mrl.encoder import MRL_DIMS, has_model  # noqa: E402
from encoders.mrl.finetune import SIDECAR  # noqa: E402
from encoders.mrl.fit_adapter import frozen_embeddings  # noqa: E402
from encoders.mrl.pairs import document_text, read_corpus  # noqa: E402
from encoders.registry import encoder_class  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "data" / "scifact"
K = 10


def test_claims() -> tuple[list[str], dict[str, dict[str, int]]]:
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with open(SCIFACT / "qrels" / "test.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels[row["query-id"]][row["corpus-id"]] = int(row["score"])
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as f:
        claims = {q["_id"]: q["text"] for q in map(json.loads, f) if q["_id"] in qrels}
    return list(claims.values()), {qid: qrels[qid] for qid in claims}


def ndcg_at_k(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> float:
    total = 0.0
    for qid, judged in qrels.items():
        dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(run[qid][:K]))
        ideal = sorted(judged.values(), reverse=True)[:K]
        total += dcg / sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return total / len(qrels)


def ndcg_per_dim(docs: np.ndarray, queries: np.ndarray, doc_ids: list[str], qrels: dict) -> list:
    out = []
    for dim in MRL_DIMS:
        d = docs[:, :dim] / np.linalg.norm(docs[:, :dim], axis=1, keepdims=True)
        q = queries[:, :dim] / np.linalg.norm(queries[:, :dim], axis=1, keepdims=True)
        top = np.argsort(-(q @ d.T), axis=1, kind="stable")[:, :K]
        run = {qid: [doc_ids[j] for j in row] for qid, row in zip(qrels, top, strict=True)}
        out.append(ndcg_at_k(run, qrels))
    return out


def finetuned(models: Path, docs: list[str], claims: list[str], cache: Path) -> tuple | None:
    """(docs, queries) from the fine-tuned minilm-mrl, cached by the model's sidecar."""
    path = models / "minilm-mrl"
    if not has_model(path):
        return None
    tag = hashlib.sha256((path / SIDECAR).read_bytes()).hexdigest()[:8]
    name = f"minilm-mrl-{tag}"
    from encoders.mrl.encoder import MiniLMMRLEncoder

    encoder = MiniLMMRLEncoder(models)
    return (
        _cached(name, encoder, docs, cache),
        _cached(name, encoder, claims, cache),
    )


def _cached(name: str, encoder: object, texts: list[str], cache: Path) -> np.ndarray:
    from tqdm import tqdm

    digest = hashlib.sha256("\n".join([name, *texts]).encode()).hexdigest()[:16]
    path = cache / f"{name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    chunks = [
        encoder.encode(texts[i : i + 256])  # type: ignore[attr-defined]
        for i in tqdm(range(0, len(texts), 256), desc=f"encode with {name}", unit="chunk")
    ]
    vectors = np.concatenate(chunks)
    np.save(path, vectors)
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    args = parser.parse_args()
    models = args.data_dir / "models"
    cache = models / ".cache"
    corpus = read_corpus(SCIFACT)
    doc_ids = list(corpus)
    docs_text = [document_text(t, a) for t, a in corpus.values()]
    claims, qrels = test_claims()
    base_docs = frozen_embeddings("minilm", docs_text, cache)
    base_queries = frozen_embeddings("minilm", claims, cache)

    rows: dict[str, list[float]] = {}
    rows["base truncated"] = ndcg_per_dim(base_docs, base_queries, doc_ids, qrels)
    rotation = pca_rotation(base_docs)
    rows["PCA rotation"] = ndcg_per_dim(
        base_docs @ rotation.T, base_queries @ rotation.T, doc_ids, qrels
    )
    served = encoder_class("minilm-mrl-adapter").adapter_path(models)
    for path in dict.fromkeys([served, PACKAGED / "minilm.npz"]):  # the served one, the committed
        if path is None:
            continue
        adapter = LinearAdapter.load(path)
        kinds = "+".join(adapter.meta.get("pair_kinds", []))
        name = f"MRL adapter ({kinds}{', committed' if path.parent == PACKAGED else ''})"
        rows[name] = ndcg_per_dim(
            adapter.apply(base_docs), adapter.apply(base_queries), doc_ids, qrels
        )
    tuned = finetuned(models, docs_text, claims, cache)
    if tuned is not None:
        rows["MRL fine-tune"] = ndcg_per_dim(*tuned, doc_ids, qrels)

    print(f"\nSciFact test nDCG@10 ({len(qrels)} claims, {len(doc_ids)} documents, exact cosine)")
    print(f"served adapter: {served}")
    head = "".join(f"{d:>8}" for d in MRL_DIMS)
    print(f"{'method':<40}{head}  {'64/384':>7}")
    for name, values in rows.items():
        cells = "".join(f"{v:>8.4f}" for v in values)
        print(f"{name:<40}{cells}  {values[3] / values[0]:>7.3f}")
    if tuned is None:
        print("MRL fine-tune: no model under", models / "minilm-mrl", "(nestvec train mrl ...)")
    base_full = rows["base truncated"][0]
    for name, v in rows.items():
        if name.startswith("MRL"):
            print(
                f"targets {name}: 64-d keeps {v[3] / v[0]:.3f} of its full nDCG (goal >= 0.95); "
                f"full {v[0]:.4f} vs base {base_full:.4f} - 0.01 "
                f"({'met' if v[0] >= base_full - 0.01 else 'NOT met'})"
            )


if __name__ == "__main__":
    main()
