"""Vector-search benchmark: recall@10 and QPS of every backend vs exact search and raw libraries.

For two datasets and each backend (flat, hnsw, faiss-hnsw, ivf, ivfpq) this prints one table:
rows are values of the query knob (ef / nprobe), columns recall@10 against exact numpy search,
single-query QPS (one query per `Collection.search` call), batch QPS (all queries in one call)
and, for hnsw / faiss-hnsw / ivf, the same for the raw library (hnswlib.Index, faiss
IndexHNSWFlat / IndexIVFFlat) built on the same vectors with the same parameters and thread
count, with the ratios nestvec÷raw. Each table also gives build time (in-process upsert of every
vector vs raw build) and bytes per vector (saved index snapshot, SQLite store). Then filtered
search (payload `cat` = i % 10, a 10% filter) against exact filtered search, then the REST API
(real `nestvec serve` on loopback) against in-process calls, then the targets.

Datasets:
  scifact  sentences split from the SciFact abstracts (title + text split on [.!?;] boundaries,
           at least 20 characters, deduplicated); every 50th abstract is held out and supplies
           the queries, the others the base set (first N). Encoded once with the project's
           `minilm` encoder and cached under --cache-dir. Metric cosine.
  mnist    ann_mnist10k: 9,000 base and 1,000 query vectors, 784-d uint8 pixels. Metric l2. Its
           groundtruth_euclidean.ivecs cross-checks the exact ground truth computed here.

    .venv/bin/python loadtest/bench_search.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared/data"
DEFAULT_CACHE = ROOT / "data/bench-cache"
sys.path.insert(0, str(ROOT))  # run as a script from a checkout: import the project's packages
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

K = 10
BACKENDS = ("flat", "hnsw", "faiss-hnsw", "ivf", "ivfpq")
EF_GRID = (10, 16, 32, 64, 128, 256)
NPROBE_GRID = (1, 4, 8, 16, 32, 64)
UPSERT_BATCH = 5000  # in-process upserts
REST_UPSERT_BATCH = 1000  # points per PUT (the server allows at most 2048)
CATEGORIES, FILTER_CAT = 10, 3
FILTER = {"must": [{"key": "cat", "match": {"value": FILTER_CAT}}]}
SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
MIN_CHARS, HELD_OUT_EVERY = 20, 50
ENCODER, ENCODE_CHUNK = "minilm", 2048


# datasets ------------------------------------------------------------------------------------
@dataclass
class Dataset:
    name: str
    metric: str  # nestvec metric name: "cosine" or "l2"
    base: np.ndarray  # float32 (n, dim), as upserted
    queries: np.ndarray  # float32 (nq, dim)
    notes: list[str] = field(default_factory=list)
    gt: np.ndarray = field(init=False)  # exact top-K base indices per query
    gt_filtered: np.ndarray = field(init=False)  # exact top-K among points with cat == FILTER_CAT

    def __post_init__(self) -> None:
        self.gt = exact_topk(self.base, self.queries, self.metric, K)
        subset = np.flatnonzero(np.arange(len(self.base)) % CATEGORIES == FILTER_CAT)
        self.gt_filtered = subset[exact_topk(self.base[subset], self.queries, self.metric, K)]

    @property
    def kind(self) -> str:
        return "ip" if self.metric == "cosine" else "l2"

    def prepared(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors as a raw library gets them: unit length for cosine (inner product)."""
        return normalise(vectors) if self.metric == "cosine" else vectors


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def exact_topk(base: np.ndarray, queries: np.ndarray, metric: str, k: int) -> np.ndarray:
    """Exact top-k base indices (float64 scores, ties to the lower index)."""
    b = base.astype(np.float64)
    q = queries.astype(np.float64)
    if metric == "cosine":
        b, q = normalise(b).astype(np.float64), normalise(q).astype(np.float64)
    out = np.empty((len(q), k), np.int64)
    b_sq = (b**2).sum(1)
    for start in range(0, len(q), 250):
        chunk = q[start : start + 250]
        if metric == "cosine":
            dist = -(chunk @ b.T)
        else:
            dist = (chunk**2).sum(1)[:, None] - 2 * chunk @ b.T + b_sq[None, :]
        part = np.argpartition(dist, k, axis=1)[:, : k + 1] if len(b) > k + 1 else None
        cand = part if part is not None else np.tile(np.arange(len(b)), (len(chunk), 1))
        cand_dist = np.take_along_axis(dist, cand, axis=1)
        for row in range(len(chunk)):
            order = np.lexsort((cand[row], cand_dist[row]))[:k]
            out[start + row] = cand[row][order]
    return out


def scifact_sentences(path: Path) -> tuple[list[str], list[str]]:
    """(base pool, held-out pool): unique sentences in file order; every 50th abstract held out."""
    base: list[str] = []
    held: list[str] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as lines:
        for i, line in enumerate(lines):
            record = json.loads(line)
            dest = held if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else base
            for text in [record["title"], *SENTENCE_END.split(record["text"])]:
                text = " ".join(text.split())
                if len(text) >= MIN_CHARS and text not in seen:
                    seen.add(text)
                    dest.append(text)
    return base, held


class LazyEncoder:
    """The project's encoder, loaded on first use only (cached runs never load torch)."""

    def __init__(self) -> None:
        self._encoder: Any = None

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._encoder is None:
            from encoders import EncoderPool

            self._encoder = EncoderPool().get(ENCODER)
        return np.asarray(self._encoder.encode(texts, batch_size=64), np.float32)


def encode_cached(pool: list[str], n: int, path: Path, encoder: LazyEncoder) -> np.ndarray:
    """Vectors of pool[:n]. The cache file holds a prefix of the pool and is extended as needed
    (saved every few chunks, so an interrupted encode resumes)."""
    from tqdm import tqdm

    have = np.load(path) if path.exists() else np.empty((0, 0), np.float32)
    if len(have) >= n:
        return have[:n]
    parts = [have] if len(have) else []
    done = len(have)
    with tqdm(total=n, initial=done, desc=f"encoding {path.name}", unit="sent") as bar:
        while done < n:
            chunk = pool[done : min(n, done + ENCODE_CHUNK)]
            parts.append(encoder.encode(chunk))
            done += len(chunk)
            bar.update(len(chunk))
            if len(parts) >= 5 or done >= n:
                parts = [np.concatenate(parts)]
                tmp = path.with_name(path.name + ".tmp.npy")
                np.save(tmp, parts[0])
                os.replace(tmp, path)
    return parts[0][:n]


def load_scifact(n: int, n_queries: int, cache_dir: Path) -> Dataset:
    base_pool, held = scifact_sentences(SHARED_DATA / "scifact/corpus.jsonl")
    if n > len(base_pool) or n_queries > len(held):
        raise SystemExit(
            f"scifact has {len(base_pool)} base and {len(held)} held-out sentences; "
            f"asked for {n} and {n_queries}"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    encoder = LazyEncoder()
    vectors = {}
    for part, pool in (("base", base_pool), ("queries", held)):
        digest = hashlib.sha256("\n".join([ENCODER, *pool]).encode()).hexdigest()[:12]
        path = cache_dir / f"scifact-{ENCODER}-{part}-{digest}.npy"
        vectors[part] = encode_cached(pool, n if part == "base" else n_queries, path, encoder)
    notes = [
        f"{len(base_pool)} base-pool and {len(held)} held-out sentences available; "
        f"base = first {n}, queries = first {n_queries} held-out"
    ]
    return Dataset(f"scifact-{n // 1000}k", "cosine", vectors["base"], vectors["queries"], notes)


def read_vecs(path: Path, dtype: str) -> np.ndarray:
    """TEXMEX .bvecs / .ivecs / .fvecs: per row an int32 dimension, then the values."""
    raw = np.fromfile(path, np.uint8)
    dim = int(raw[:4].view("<i4")[0])
    rows = raw.reshape(-1, 4 + dim * np.dtype(dtype).itemsize)
    if not (rows[:, :4].copy().view("<i4") == dim).all():
        raise ValueError(f"{path}: rows of differing dimension")
    return rows[:, 4:].copy().view(dtype)


def load_mnist(n: int | None, n_queries: int) -> Dataset:
    folder = SHARED_DATA / "ann_mnist10k"
    base = read_vecs(folder / "base.bvecs", "u1").astype(np.float32)
    queries = read_vecs(folder / "query.bvecs", "u1").astype(np.float32)[:n_queries]
    full = n is None or n >= len(base)
    ds = Dataset("mnist-9k" if full else f"mnist-{n}", "l2", base[:n], queries)
    if full:
        given = read_vecs(folder / "groundtruth_euclidean.ivecs", "<i4")[:n_queries, :K]
        same_lists = float((given == ds.gt).all(axis=1).mean())
        overlap = recall(ds.gt, given)
        ds.notes.append(
            f"exact ground truth vs groundtruth_euclidean.ivecs: top-{K} lists identical for "
            f"{same_lists:.1%} of queries, set overlap {overlap:.4f}"
        )
    else:
        ds.notes.append("base subset: groundtruth_euclidean.ivecs cross-check skipped")
    return ds


def recall(found: np.ndarray, gt: np.ndarray) -> float:
    """Mean recall@k of result rows (-1 = missing) against exact rows."""
    hits = sum(len(set(f.tolist()) & set(g.tolist())) for f, g in zip(found, gt, strict=True))
    return hits / gt.size


# nestvec in-process ----------------------------------------------------------------------------
def hit_ids(results: Sequence[Sequence[Any]]) -> np.ndarray:
    """(nq, K) base indices of Collection.search hits (ids are the decimal base index)."""
    out = np.full((len(results), K), -1, np.int64)
    for row, hits in enumerate(results):
        for col, hit in enumerate(hits[:K]):
            out[row, col] = int(hit.id if hasattr(hit, "id") else hit.point.id)
    return out


def build_collection(catalog: Any, ds: Dataset, backend: str) -> tuple[Any, float, int | None]:
    """Create and fill a collection in UPSERT_BATCH upserts; (collection, seconds, trained at)."""
    from index import CollectionConfig

    config = CollectionConfig(
        name=backend.replace("-", "_"), dim=ds.base.shape[1], metric=ds.metric, index_type=backend
    )
    col = catalog.create(config)
    trained_at = None
    start = time.perf_counter()
    for lo in range(0, len(ds.base), UPSERT_BATCH):
        hi = min(lo + UPSERT_BATCH, len(ds.base))
        ids = [str(i) for i in range(lo, hi)]
        col.upsert(ids, ds.base[lo:hi], [{"cat": i % CATEGORIES} for i in range(lo, hi)])
        if trained_at is None and getattr(col.index, "is_trained", False):
            trained_at = hi
    return col, time.perf_counter() - start, trained_at


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# raw libraries ---------------------------------------------------------------------------------
class RawIndex:
    """A raw-library index built like the nestvec backend; `search` takes prepared queries."""

    library = ""

    def build(self, base: np.ndarray) -> None:
        raise NotImplementedError

    def search(self, queries: np.ndarray, knob: int) -> np.ndarray:
        raise NotImplementedError

    def nbytes(self, tmp: Path) -> int:
        raise NotImplementedError


class RawHnswlib(RawIndex):
    library = "hnswlib"

    def __init__(self, ds: Dataset, params: Any, threads: int) -> None:
        import hnswlib

        self.index = hnswlib.Index(space=ds.kind, dim=ds.base.shape[1])
        self.index.init_index(
            max_elements=len(ds.base),
            ef_construction=params.ef_construction,
            M=params.M,
            random_seed=getattr(params, "seed", 100),
        )
        self.index.set_num_threads(threads)

    def build(self, base: np.ndarray) -> None:
        self.index.add_items(base, np.arange(len(base)))

    def search(self, queries: np.ndarray, knob: int) -> np.ndarray:
        self.index.set_ef(max(knob, K))
        return self.index.knn_query(queries, k=K)[0]

    def nbytes(self, tmp: Path) -> int:
        self.index.save_index(str(tmp / "raw.bin"))
        return (tmp / "raw.bin").stat().st_size


class RawFaiss(RawIndex):
    def __init__(self, index: Any, library: str, set_knob: Callable[[Any, int], None]) -> None:
        self.index, self.library, self._set_knob = index, library, set_knob

    def build(self, base: np.ndarray) -> None:
        if not self.index.is_trained:
            self.index.train(base)
        self.index.add(base)

    def search(self, queries: np.ndarray, knob: int) -> np.ndarray:
        self._set_knob(self.index, knob)
        return self.index.search(queries, K)[1]

    def nbytes(self, tmp: Path) -> int:
        import faiss

        faiss.write_index(self.index, str(tmp / "raw.faiss"))
        return (tmp / "raw.faiss").stat().st_size


class RawIvf(RawFaiss):
    """IndexIVFFlat trained on the vectors nestvec trained on (its first `train_rows`)."""

    def __init__(self, ds: Dataset, params: Any, train_rows: int | None) -> None:
        import faiss

        metric = faiss.METRIC_INNER_PRODUCT if ds.kind == "ip" else faiss.METRIC_L2
        quantizer = faiss.IndexFlat(ds.base.shape[1], metric)
        index = faiss.IndexIVFFlat(quantizer, ds.base.shape[1], params.nlist, metric)
        self.quantizer = quantizer  # the index does not own its quantizer: keep it alive
        super().__init__(index, "faiss IVFFlat", _set_nprobe)
        self.train_rows = train_rows

    def build(self, base: np.ndarray) -> None:
        self.index.train(base[: self.train_rows] if self.train_rows else base)
        self.index.add(base)


def _set_nprobe(index: Any, nprobe: int) -> None:
    index.nprobe = nprobe


def _set_ef(index: Any, ef: int) -> None:
    index.hnsw.efSearch = max(ef, K)


def raw_index(backend: str, ds: Dataset, col: Any, trained_at: int | None) -> RawIndex | None:
    import faiss

    params = col.params
    if backend == "hnsw":
        threads = getattr(getattr(col.index, "_index", None), "num_threads", -1)
        return RawHnswlib(ds, params, threads)
    if backend == "faiss-hnsw":
        metric = faiss.METRIC_INNER_PRODUCT if ds.kind == "ip" else faiss.METRIC_L2
        index = faiss.IndexHNSWFlat(ds.base.shape[1], params.M, metric)
        index.hnsw.efConstruction = params.ef_construction
        return RawFaiss(index, "faiss HNSWFlat", _set_ef)
    if backend == "ivf":
        return RawIvf(ds, params, trained_at)
    return None


# measurement -----------------------------------------------------------------------------------
def best_time(call: Callable[[], Any], best: float) -> float:
    start = time.perf_counter()
    call()
    return min(best, time.perf_counter() - start)


def best_qps(call: Callable[[], int], best: float) -> float:
    """Run `call` (it returns how many queries it answered); the better of its QPS and `best`."""
    start = time.perf_counter()
    answered = call()
    return max(best, answered / (time.perf_counter() - start))


def single_loop(
    search: Callable[[np.ndarray], Any], queries: np.ndarray, budget: float
) -> Callable[[], int]:
    """One query per call, in order, stopping early once `budget` seconds have passed."""
    rows = [q[None, :] for q in queries]

    def run() -> int:
        deadline = time.perf_counter() + budget
        for done, q in enumerate(rows, 1):
            search(q)
            if time.perf_counter() > deadline:
                return done
        return len(rows)

    return run


def batch_call(search: Callable[[np.ndarray], Any], queries: np.ndarray) -> Callable[[], int]:
    def run() -> int:
        search(queries)
        return len(queries)

    return run


@dataclass
class Row:
    label: str
    recall: float
    single: float
    batch: float
    raw_recall: float | None = None
    raw_single: float | None = None
    raw_batch: float | None = None


@dataclass
class BackendResult:
    dataset: str
    backend: str
    default_label: str
    rows: list[Row]
    build_s: float
    raw_build_s: float | None
    index_bytes: int
    store_bytes: tuple[int, int]  # SQLite file, its write-ahead log
    raw_bytes: int | None
    n: int
    notes: list[str]
    filtered: dict[str, Any]
    library: str = ""


def sweep(backend: str, col: Any) -> list[tuple[str, str | None, int | None, bool]]:
    """(row label, knob, value, rescore) per table row; the default row is marked with '*'."""
    knob = {"hnsw": "ef", "faiss-hnsw": "ef", "ivf": "nprobe", "ivfpq": "nprobe"}.get(backend)
    if knob is None:
        return [("exact", None, None, False)]
    default = getattr(col.params, knob)
    grid = EF_GRID if knob == "ef" else NPROBE_GRID
    rows = [(f"{knob}={v}{'*' if v == default else ''}", knob, v, False) for v in grid]
    if backend == "ivfpq":
        rows += [(f"{knob}={v}{'*' if v == default else ''} +rescore", knob, v, True) for v in grid]
    return rows


def bench_backend(ds: Dataset, backend: str, catalog: Any, args: argparse.Namespace) -> Any:
    """Build, measure and print one backend; returns (result, collection)."""
    col, build_s, trained_at = build_collection(catalog, ds, backend)
    col.save_snapshot()
    index_bytes = dir_bytes(col.path / "index")
    wal = col.path / "store.sqlite3-wal"
    store_bytes = (
        (col.path / "store.sqlite3").stat().st_size,
        wal.stat().st_size if wal.exists() else 0,
    )
    notes = []
    if trained_at is not None:
        same = "; raw IVFFlat trained on the same points" if backend == "ivf" else ""
        notes.append(
            f"trained automatically on the first {trained_at} points (the upsert that reached "
            f"the training size){same}"
        )
    elif hasattr(col.index, "is_trained"):
        notes.append(
            f"NOT trained ({len(ds.base)} points < training size "
            f"{getattr(col.index, 'training_size', '?')}): searches use the exact staging index"
        )
    raw = raw_index(backend, ds, col, trained_at)
    raw_build_s = raw_bytes = None
    base_p, queries_p = ds.prepared(ds.base), ds.prepared(ds.queries)
    if raw is not None:
        start = time.perf_counter()
        raw.build(base_p)
        raw_build_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            raw_bytes = raw.nbytes(Path(tmp))
    if backend == "ivf" and trained_at is not None and trained_at < len(ds.base):
        full = RawIvf(ds, col.params, None)  # what training on every vector would give
        full.build(base_p)
        nprobe = col.params.nprobe
        notes.append(
            f"raw IVFFlat trained on all {len(ds.base)} vectors instead: recall@10 at "
            f"nprobe={nprobe} {recall(full.search(queries_p, nprobe), ds.gt):.4f}"
        )
    singles = ds.queries[: args.single]
    rows = []
    for label, knob, value, rescore in sweep(backend, col):
        params: dict[str, Any] = {} if knob is None else {knob: value}
        if rescore:
            params["rescore"] = True

        def ours(q: np.ndarray, params: dict[str, Any] = params) -> Any:
            return col.search(q, K, params=params, with_payload=False)

        found = hit_ids(ours(ds.queries))  # also the warm-up
        row = Row(label, recall(found, ds.gt), 0.0, 0.0)
        budget = args.single_budget
        timed = {
            "single": single_loop(ours, singles, budget),
            "batch": batch_call(ours, ds.queries),
        }
        if raw is not None:
            row.raw_recall = recall(raw.search(queries_p, value), ds.gt)

            def theirs(q: np.ndarray, r: RawIndex = raw, v: Any = value) -> Any:
                return r.search(q, v)

            timed["raw_single"] = single_loop(theirs, queries_p[: args.single], budget)
            timed["raw_batch"] = batch_call(theirs, queries_p)
        best = dict.fromkeys(timed, 0.0)
        for _ in range(args.repeats):  # interleaved, best of each: fair on a noisy machine
            for key, call in timed.items():
                best[key] = best_qps(call, best[key])
        row.single, row.batch = best["single"], best["batch"]
        row.raw_single, row.raw_batch = best.get("raw_single"), best.get("raw_batch")
        rows.append(row)
    default_label = next((r.label for r in rows if "*" in r.label), rows[0].label)
    result = BackendResult(
        ds.name,
        backend,
        default_label,
        rows,
        build_s,
        raw_build_s,
        index_bytes,
        store_bytes,
        raw_bytes,
        len(ds.base),
        notes,
        bench_filtered(ds, col, args),
        raw.library if raw is not None else "",
    )
    print_backend(result, col)
    return result, col


def bench_filtered(ds: Dataset, col: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Filtered search at default params vs exact filtered search; batch and single QPS."""
    from index.plans import EXACT_FILTER_LIMIT

    def ours(q: np.ndarray) -> Any:
        return col.search(q, K, filter=FILTER, with_payload=False)

    start = time.perf_counter()
    found = hit_ids(ours(ds.queries))
    batch_s = time.perf_counter() - start
    singles = ds.queries[: args.filtered_single]
    single_qps = best_qps(single_loop(ours, singles, args.single_budget), 0.0)
    matching = int(np.sum(np.arange(len(ds.base)) % CATEGORIES == FILTER_CAT))
    path = "exact (store)" if matching <= EXACT_FILTER_LIMIT else "index + allowed set"
    return {
        "recall": recall(found, ds.gt_filtered),
        "short": int((found < 0).sum()),
        "matching": matching,
        "path": path,
        "batch_qps": len(ds.queries) / batch_s,
        "single_qps": single_qps,
    }


# REST ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(data_dir: Path, timeout: float = 180.0) -> Iterator[tuple[str, int]]:
    """A real `nestvec serve` subprocess without encoders; yields (base URL, pid) once ready."""
    import httpx

    port, log_path = free_port(), data_dir / "server.log"
    cmd = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--data-dir", str(data_dir), "--log-level", "warning"]
    env = {**os.environ, "NESTVEC_PRELOAD_ENCODERS": "[]"}
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(f"server not ready:\n{log_path.read_text()[-2000:]}")
                time.sleep(0.25)
            yield base, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post_all(
    base: str, path: str, bodies: Sequence[bytes], concurrency: int
) -> tuple[float, list[Any]]:
    """POST every body from `concurrency` threads (an httpx.Client each); wall seconds, JSON."""
    import httpx

    def work(worker: int) -> list[tuple[int, Any]]:
        out = []
        headers = {"content-type": "application/json"}
        with httpx.Client(base_url=base, timeout=120) as client:
            for i in range(worker, len(bodies), concurrency):
                resp = client.post(path, content=bodies[i], headers=headers)
                resp.raise_for_status()
                out.append((i, resp.json()))
        return out

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        done = [row for rows in pool.map(work, range(concurrency)) for row in rows]
    wall = time.perf_counter() - start
    done.sort(key=lambda row: row[0])
    return wall, [row[1] for row in done]


def rest_ids(results: Sequence[Sequence[dict[str, Any]]]) -> np.ndarray:
    out = np.full((len(results), K), -1, np.int64)
    for row, hits in enumerate(results):
        for col, hit in enumerate(hits[:K]):
            out[row, col] = int(hit["id"])
    return out


def bench_rest(
    ds: Dataset, col: Any, build_s: float, args: argparse.Namespace
) -> tuple[list[Any], list[str]]:
    """hnsw over REST (8 client threads; batch endpoint) vs the same Collection.search calls."""
    from nestvec.client import Client

    name, dim, n = "bench", ds.base.shape[1], len(ds.base)
    vec_json = [json.dumps(q.tolist()) for q in ds.queries]
    single_bodies = [
        f'{{"query":{{"vector":{v}}},"k":{K},"with_payload":false}}'.encode() for v in vec_json
    ]
    batches = [
        range(lo, min(lo + args.rest_batch, len(vec_json)))
        for lo in range(0, len(vec_json), args.rest_batch)
    ]
    batch_bodies = [
        json.dumps(
            {
                "searches": [
                    {"query": {"vector": ds.queries[i].tolist()}, "k": K, "with_payload": False}
                    for i in b
                ]
            }
        ).encode()
        for b in batches
    ]
    with (
        tempfile.TemporaryDirectory(prefix="nestvec-bench-rest-") as tmp,
        server(Path(tmp)) as (base, pid),
        Client(base) as client,
    ):
        # setup through the Python client; the timed search loops (post_all) send raw bodies
        client.create_collection(name, dim=dim, metric=ds.metric, index="hnsw")
        start = time.perf_counter()
        points = ({"id": i, "vector": ds.base[i], "payload": {"cat": i % 10}} for i in range(n))
        client.upload_points(name, points, batch_size=REST_UPSERT_BATCH, progress=False)
        rest_upsert_s = time.perf_counter() - start
        count = client.get_collection(name).count
        search = f"/v1/collections/{name}/search"
        batch_path = f"{search}/batch"
        post_all(base, search, single_bodies[:20], 1)  # warm-up
        post_all(base, batch_path, batch_bodies[:1], 1)

        def local_single() -> None:
            for q in ds.queries:
                col.search(q[None, :], K, with_payload=False)

        def local_batch() -> None:
            for b in batches:
                col.search(ds.queries[b.start : b.stop], K, with_payload=False)

        rest_single = rest_batch = loc_single = loc_batch = float("inf")
        single_res = batch_res = None
        cpu = {"server": 0.0, "client": 0.0}
        for _ in range(args.repeats):
            cpu0, c0 = cpu_seconds(pid), time.process_time()
            wall, single_res = post_all(base, search, single_bodies, args.concurrency)
            if wall < rest_single:
                rest_single = wall
                cpu = {"server": cpu_seconds(pid) - cpu0, "client": time.process_time() - c0}
            wall, batch_res = post_all(base, batch_path, batch_bodies, 1)
            rest_batch = min(rest_batch, wall)
            loc_single = best_time(local_single, loc_single)
            loc_batch = best_time(local_batch, loc_batch)
    nq = len(ds.queries)
    assert single_res is not None and batch_res is not None
    single_recall = recall(rest_ids([r["results"] for r in single_res]), ds.gt)
    batch_recall = recall(rest_ids([h for r in batch_res for h in r["results"]]), ds.gt)
    c = args.concurrency
    rows = [
        (
            "upsert points/s (REST 1 client x 1000/req; in-process 5000/call)",
            n / rest_upsert_s,
            n / build_s,
            build_s / rest_upsert_s,
            None,
        ),
        (
            f"single-query QPS (REST {c} clients; in-process 1 thread)",
            nq / rest_single,
            nq / loc_single,
            loc_single / rest_single,
            None,
        ),
        (
            f"single-query QPS (REST {c} clients; in-process x 2 cores)",
            nq / rest_single,
            2 * nq / loc_single,
            loc_single / (2 * rest_single),
            0.6,
        ),
        (
            f"batch QPS (REST {args.rest_batch}/request, 1 client; in-process "
            f"{args.rest_batch}/Collection.search call)",
            nq / rest_batch,
            nq / loc_batch,
            loc_batch / rest_batch,
            0.8,
        ),
    ]
    notes = [
        f"points stored over REST: {count} of {n}; recall@10 REST single {single_recall:.4f}, "
        f"REST batch {batch_recall:.4f}",
        f"CPU per 1000 single queries in the best REST pass: server {1000 * cpu['server'] / nq:.2f}"
        f" s, client (this process, {c} threads) {1000 * cpu['client'] / nq:.2f} s; in-process "
        f"wall {1000 * loc_single / nq:.2f} s",
    ]
    return rows, notes


# printing --------------------------------------------------------------------------------------
def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def fmt(x: float | None, spec: str = ".0f") -> str:
    return "-" if x is None else format(x, spec)


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}"


def print_backend(r: BackendResult, col: Any) -> None:
    params = col.params.model_dump() if hasattr(col.params, "model_dump") else {}
    print(f"\n[{r.dataset}] {r.backend}  params={json.dumps(params)}  n={r.n}")
    mb = 1 << 20
    build = f"build: nestvec upsert {r.build_s:.1f} s ({r.n / r.build_s:.0f} points/s)"
    if r.raw_build_s is not None:
        build += f" | raw {r.library} {r.raw_build_s:.1f} s | nestvec÷raw time "
        build += f"{r.build_s / r.raw_build_s:.2f}"
    print(build)
    size = f"size: index snapshot {r.index_bytes / mb:.1f} MiB = {r.index_bytes / r.n:.0f} B/vector"
    if r.raw_bytes is not None:
        size += f" (raw {r.raw_bytes / r.n:.0f} B/vector)"
    db, wal = r.store_bytes
    size += (
        f" | SQLite store {db / mb:.1f} MiB = {db / r.n:.0f} B/vector (+ WAL {wal / mb:.1f} MiB)"
    )
    print(size)
    for note in r.notes:
        print(f"note: {note}")
    has_raw = r.rows[0].raw_single is not None
    header = ["knob", "recall@10", "single QPS", "batch QPS"]
    if has_raw:
        header += ["raw recall", "raw single", "raw batch", "single ÷raw", "batch ÷raw"]
    rows = []
    for row in r.rows:
        cells = [row.label, f"{row.recall:.4f}", fmt(row.single), fmt(row.batch)]
        if has_raw:
            cells += [
                f"{row.raw_recall:.4f}",
                fmt(row.raw_single),
                fmt(row.raw_batch),
                ratio(row.single, row.raw_single),
                ratio(row.batch, row.raw_batch),
            ]
        rows.append(cells)
    print(table(header, rows))
    sys.stdout.flush()


def print_filtered(results: Sequence[BackendResult]) -> None:
    print(f"\n== filtered search: cat == {FILTER_CAT} (10% of points), default params ==")
    header = [
        "dataset",
        "backend",
        "matching",
        "path",
        "recall@10",
        "short rows",
        "batch QPS",
        "single QPS",
    ]
    rows = [
        [
            r.dataset,
            r.backend,
            str(f["matching"]),
            f["path"],
            f"{f['recall']:.4f}",
            str(f["short"]),
            fmt(f["batch_qps"]),
            fmt(f["single_qps"]),
        ]
        for r in results
        for f in [r.filtered]
    ]
    print(table(header, rows))


def print_rest(rest: tuple[list[Any], list[str]], ds_name: str) -> None:
    print(f"\n== REST (hnsw, {ds_name}, loopback, real server) vs in-process Collection.search ==")
    header = ["measurement", "REST", "in-process", "ratio", "target"]
    cells = [
        [m, f"{a:.0f}", f"{b:.0f}", f"{q:.3f}", "-" if t is None else f">= {t}"]
        for m, a, b, q, t in rest[0]
    ]
    print(table(header, cells))
    for note in rest[1]:
        print(f"note: {note}")


def targets(results: Sequence[BackendResult], rest_rows: Any) -> list[str]:
    lines = []

    def check(what: str, value: float, target: float) -> None:
        verdict = "ok  " if value >= target else "MISS"
        lines.append(f"{verdict} {what}: {value:.3f} (target >= {target})")

    for r in results:
        row = next(x for x in r.rows if x.label == r.default_label)
        if r.backend == "hnsw":
            for mode in ("single", "batch"):
                ratios = [getattr(x, mode) / getattr(x, f"raw_{mode}") for x in r.rows]
                default = getattr(row, mode) / getattr(row, f"raw_{mode}")
                check(f"[{r.dataset}] hnsw {mode} QPS ÷ raw hnswlib at {row.label}", default, 0.95)
                check(f"[{r.dataset}] hnsw {mode} QPS ÷ raw hnswlib, worst ef", min(ratios), 0.95)
        if r.backend != "flat":
            untrained = any(note.startswith("NOT trained") for note in r.notes)
            what = f"[{r.dataset}] {r.backend} recall@10 at default {row.label}"
            check(what + (" (UNTRAINED: exact search)" if untrained else ""), row.recall, 0.95)
        check(f"[{r.dataset}] {r.backend} filtered recall@10", r.filtered["recall"], 0.95)
    for m, _, _, q, t in rest_rows[0] if rest_rows else []:
        if t is not None:
            check(f"REST: {m.strip()}", q, t)
    return lines


# main ------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 2 minutes)")
    parser.add_argument("--n", type=int, help="scifact base sentences (default 50000)")
    parser.add_argument("--queries", type=int, help="queries per dataset (default 1000)")
    parser.add_argument("--repeats", type=int, help="timed passes, best kept (default 3)")
    parser.add_argument(
        "--single-budget", type=float, help="seconds per single-query pass (default 1.5)"
    )
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated")
    parser.add_argument("--datasets", default="scifact,mnist", help="comma-separated")
    parser.add_argument("--no-rest", action="store_true", help="skip the REST section")
    parser.add_argument("--concurrency", type=int, default=8, help="REST client threads")
    parser.add_argument("--rest-batch", type=int, default=100, help="queries per batch request")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="embedding cache")
    args = parser.parse_args(argv)
    args.n = args.n or (2000 if args.quick else 50_000)
    args.queries = args.queries or (200 if args.quick else 1000)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.single = args.queries  # single-query passes: every query, within the time budget
    args.filtered_single = min(args.queries, 200)
    args.single_budget = args.single_budget or (0.3 if args.quick else 1.5)
    backends = [b for b in args.backends.split(",") if b]
    datasets = [d for d in args.datasets.split(",") if d]
    unknown = set(backends) - set(BACKENDS) | set(datasets) - {"scifact", "mnist"}
    if unknown or not 1 <= args.concurrency <= 64 or args.rest_batch < 1:
        parser.error(f"bad arguments: {sorted(unknown) or 'concurrency / rest-batch'}")

    from importlib.metadata import version

    import faiss

    t_start = time.perf_counter()
    print(
        f"bench_search: cpus={os.cpu_count()} faiss omp threads={faiss.omp_get_max_threads()} "
        f"faiss {faiss.__version__} hnswlib {version('hnswlib')} "
        f"numpy {np.__version__} k={K}; timings: best of {args.repeats} interleaved passes; "
        f"single-query passes stop after {args.single_budget} s"
    )
    loaded = []
    for name in datasets:
        start = time.perf_counter()
        if name == "scifact":
            ds = load_scifact(args.n, args.queries, args.cache_dir)
        else:
            ds = load_mnist(2000 if args.quick else None, args.queries)
        loaded.append(ds)
        print(
            f"dataset {ds.name}: base {ds.base.shape}, queries {ds.queries.shape}, "
            f"metric {ds.metric}; loaded + exact ground truth {time.perf_counter() - start:.1f} s"
        )
        for note in ds.notes:
            print(f"  {note}")
    sys.stdout.flush()

    from index import Catalog

    results: list[BackendResult] = []
    rest_rows = None
    with tempfile.TemporaryDirectory(prefix="nestvec-bench-search-") as tmp:
        for ds in loaded:
            print(f"\n===== {ds.name} =====")
            for backend in backends:
                catalog = Catalog(Path(tmp) / f"{ds.name}-{backend}")
                try:
                    result, col = bench_backend(ds, backend, catalog, args)
                    results.append(result)
                    if backend == "hnsw" and ds.metric == "cosine" and not args.no_rest:
                        rest_rows = bench_rest(ds, col, result.build_s, args)
                        rest_name = ds.name
                finally:
                    catalog.close()
                    shutil.rmtree(Path(tmp) / f"{ds.name}-{backend}", ignore_errors=True)
    print_filtered(results)
    if rest_rows is not None:
        print_rest(rest_rows, rest_name)
    print("\n== targets ==")
    print("\n".join(targets(results, rest_rows)))
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
