"""Data for bench_recommend.py: Cora histories and SciFact documents with cached embeddings."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_CACHE = ROOT / "data" / "bench-cache"
ENCODE_CHUNK = 256


# Cora -------------------------------------------------------------------------------------------
def cora_bow_vectors(tfidf: bool = True) -> np.ndarray:
    """Cora's binary bag-of-words rows, TF-IDF weighted (or raw) and L2-normalised, float32."""
    from scipy.sparse import load_npz

    x = load_npz(SHARED_DATA / "cora_planetoid/features.npz").toarray().astype(np.float32)
    if tfidf:
        df = (x > 0).sum(0)
        x = x * np.log((1 + len(x)) / (1 + df) + 1.0).astype(np.float32)[None, :]
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cora_neighbours() -> dict[int, list[int]]:
    """Undirected adjacency lists of the Planetoid Cora graph, sorted."""
    adj: dict[int, set[int]] = defaultdict(set)
    with (SHARED_DATA / "cora_planetoid/edges.csv").open() as f:
        for row in csv.DictReader(f):
            a, b = int(row["source"]), int(row["target"])
            adj[a].add(b)
            adj[b].add(a)
    return {node: sorted(n) for node, n in adj.items()}


@dataclass(frozen=True)
class HeldOut:
    node: int
    history: list[int]  # the other linked papers, oldest first (synthetic timestamps)
    target: int


def cora_tasks(min_links: int, seed: int) -> list[HeldOut]:
    """One held-out link per paper with at least `min_links` links, chosen by `seed`."""
    rng = np.random.default_rng(seed)
    tasks = []
    for node, linked in sorted(cora_neighbours().items()):
        if len(linked) < min_links:
            continue
        target = int(rng.choice(linked))
        tasks.append(HeldOut(node, [n for n in linked if n != target], target))
    return tasks


# SciFact ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SciFact:
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]


def load_scifact(split: str = "test") -> SciFact:
    """Corpus (title + abstract), the judged queries of `split` and their qrels."""
    root = SHARED_DATA / "scifact"
    ids, texts = [], []
    with (root / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            ids.append(str(doc["_id"]))
            texts.append(f"{doc['title']} {doc['text']}".strip())
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with (root / "qrels" / f"{split}.tsv").open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels[row["query-id"]][row["corpus-id"]] = int(row["score"])
    queries = {}
    with (root / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            if str(q["_id"]) in qrels:
                queries[str(q["_id"])] = q["text"]
    qids = sorted(queries, key=int)
    return SciFact(ids, texts, qids, [queries[q] for q in qids], dict(qrels))


def encode_cached(
    encoder_name: str, texts: list[str], cache_dir: Path, tag: str, dim: int | None = None
) -> np.ndarray:
    """Vectors of `texts` from a registered encoder, cached as .npy keyed by encoder and texts."""
    from tqdm import tqdm

    key = "\n".join([encoder_name, str(dim), *texts]).encode()
    path = (
        cache_dir
        / f"{tag}-{encoder_name}-{dim or 'full'}-{hashlib.sha256(key).hexdigest()[:12]}.npy"
    )
    if path.exists():
        return np.load(path)
    import torch

    from encoders import EncoderPool

    torch.set_num_threads(2)
    encoder = EncoderPool().get(encoder_name)
    parts = []
    for start in tqdm(range(0, len(texts), ENCODE_CHUNK), desc=f"encoding {tag}", unit="chunk"):
        parts.append(encoder.encode(texts[start : start + ENCODE_CHUNK], dim=dim))
    vectors = np.concatenate(parts).astype(np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, vectors)
    os.replace(tmp, path)
    return vectors


def truncate(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The first `dim` coordinates, renormalised (a Matryoshka-style prefix)."""
    head = vectors[:, :dim]
    return head / np.maximum(np.linalg.norm(head, axis=1, keepdims=True), 1e-12)


if __name__ == "__main__":  # warm the SciFact cache: python loadtest/recommend_data.py
    data = load_scifact()
    encode_cached("minilm", data.doc_texts, DEFAULT_CACHE, "scifact-docs")
    encode_cached("minilm", data.query_texts, DEFAULT_CACHE, "scifact-test-queries")
