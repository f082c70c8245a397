"""A million vectors on one box: ingest, memory, disk, start-up and search, as ratios to raw.

For each size in `--sizes` (default 100,000 and 1,000,000) it takes that many clustered 128-d
unit vectors (`bench_filtered.clustered`) with an integer payload `n` (0-99) and a keyword
payload `tag` (20 values), and measures in one run:

- ingest: REST upserts (a real `nestvec serve`, batches of 1,000 with payloads, one keep-alive
  client) and the offline build (`nestvec ingest` of a Parquet file of ready vectors, batches of
  1,000; writing the file is not timed) ÷ raw hnswlib `add_items` (M=16, ef_construction=100, the
  thread count hnswlib uses in the server: every core). Raw faiss `IndexHNSWFlat` is shown too.
- memory and disk per point: the server's RSS after the load and after the searches (above its
  idle RSS), and `du` of the data directories ÷ raw hnswlib's vectors + graph (the size of its
  saved index, which is what it holds in memory; the RSS growth of the raw builds is shown too).
- start-up: a restart of the server on the loaded data directory until `/healthz` answers and a
  first search succeeds ÷ raw hnswlib `load_index` (faiss `read_index` shown too).
- search: QPS with one keep-alive client and with `--threads` clients (a keep-alive client
  each), p50 and recall@10 against exact numpy top-10 on `--queries` queries; unfiltered and
  filtered at 1% (`n == 7`), 10% (`n < 10`), 50% (`n < 50`) and 5% on the keyword (`tag ==
  "tag03"`), with payload indexes on `n` and `tag`, against raw hnswlib (a bitmap as the `filter`
  callable, ef=64) and raw faiss (`IDSelectorBitmap` in `SearchParametersHNSW`, efSearch=64).
  The REST client sends bodies serialised once with orjson, so the client spends little CPU; it
  still shares the cores with the server.

One table per section and size, then a growth table from the smallest to the largest size.

    .venv/bin/python loadtest/bench_scale.py [--sizes 100000,1000000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import hnswlib
import httpx
import numpy as np
import orjson
from tqdm import tqdm

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))
from bench_filtered import DIM, EF, EF_CONSTRUCTION, NO_MODEL, K, M, clustered  # noqa: E402
from run_locust import Server  # noqa: E402

from index.sorted_labels import to_bitmap  # noqa: E402
from nestvec.client import Client  # noqa: E402
from service.schemas.collections import IndexSpec  # noqa: E402

BATCH = 1000  # points per REST PUT and per offline commit
TAGS = [f"tag{j:02d}" for j in range(20)]
COLLECTION = "scale"
PAYLOAD_INDEXES = {"n": "integer", "tag": "keyword"}
INDEX_SPEC = {"type": "hnsw", "params": {"M": M, "ef_construction": EF_CONSTRUCTION, "ef": EF}}
RAW_HNSW, RAW_FAISS, REST = "raw hnswlib", "raw faiss", "nestvec REST"
SYSTEMS = (RAW_HNSW, RAW_FAISS, REST)
HEALTHZ = "GET /healthz (REST floor)"
STARTED = "nestvec restart to a first search"
# name -> (REST filter, mask over (n, tag code))
Mask = Callable[[np.ndarray, np.ndarray], np.ndarray]
FILTERS: dict[str, tuple[dict[str, Any] | None, Mask]] = {
    "unfiltered": (None, lambda n, t: np.ones(len(n), bool)),
    "1% n == 7": ({"must": [{"key": "n", "match": {"value": 7}}]}, lambda n, t: n == 7),
    "10% n < 10": ({"must": [{"key": "n", "range": {"lt": 10}}]}, lambda n, t: n < 10),
    "50% n < 50": ({"must": [{"key": "n", "range": {"lt": 50}}]}, lambda n, t: n < 50),
    "5% tag == tag03": (
        {"must": [{"key": "tag", "match": {"value": TAGS[3]}}]},
        lambda n, t: t == 3,
    ),
}
Call = Callable[[int, int], list[int]]  # (thread, query number) -> ids found


@dataclass
class Row:
    """One search measurement: one client, then `threads` clients."""

    qps: float
    p50: float
    recall: float
    answered: int  # queries the recall is over
    qps_threads: float = float("nan")
    p50_threads: float = float("nan")


@dataclass
class SizeResult:
    """Everything measured at one size."""

    n: int
    ingest: dict[str, float] = field(default_factory=dict)  # points per second
    rss: dict[str, float] = field(default_factory=dict)  # bytes
    disk: dict[str, float] = field(default_factory=dict)  # bytes
    startup: dict[str, float] = field(default_factory=dict)  # seconds
    search: dict[tuple[str, str], Row] = field(default_factory=dict)  # (filter, system)


@dataclass
class Data:
    """The points of one size, its queries, filter masks and exact answers."""

    vectors: np.ndarray
    n_of: np.ndarray
    tag_of: np.ndarray
    queries: np.ndarray
    masks: dict[str, np.ndarray]
    truth: dict[str, list[set[int]]]


# measurement helpers --------------------------------------------------------------------------
def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of this process, or of process `pid` and its children (Linux /proc)."""
    if pid is None:  # this process only: the servers it starts are its children
        return 1024 * int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0])
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += 1024 * int(status.split("VmRSS:")[1].split()[0])
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return total


def du_bytes(path: Path) -> int:
    """Bytes allocated on disk under `path`, as `du` counts them."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_blocks * 512 for p in files)


def exact_truth(data: np.ndarray, queries: np.ndarray, masks: dict[str, np.ndarray]) -> Any:
    """Exact top-K ids (inner product of unit vectors) per query among each mask's points."""
    truth: dict[str, list[set[int]]] = {name: [] for name in masks}
    for lo in tqdm(range(0, len(queries), 50), desc="exact top-10", leave=False):
        scores = queries[lo : lo + 50] @ data.T
        for name, mask in masks.items():
            masked = np.where(mask[None, :], scores, -np.inf)
            top = np.argpartition(-masked, K, axis=1)[:, :K]
            truth[name] += [set(row[mask[row]].tolist()) for row in top]  # fewer than K match
    return truth


def recall(found: list[list[int]], truth: list[set[int]]) -> float:
    """Share of the exact top-K found, over the queries answered."""
    pairs = list(zip(found, truth, strict=False))
    total = sum(len(t) for _, t in pairs)
    return sum(len(set(f) & t) for f, t in pairs) / total if total else float("nan")


def single(call: Call, seconds: float, nq: int, min_answers: int) -> tuple[float, float, list]:
    """(QPS, p50 ms, answers) of one client: at least `seconds`, and until every query was
    answered once, unless that takes over 10x `seconds` and `min_answers` are in."""
    call(0, 0)  # warm-up: lazy structures (a filter's first bitmap, the vector table)
    latencies: list[float] = []
    found: list[list[int]] = []
    start = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and (
            len(found) >= nq or (elapsed >= 10 * seconds and len(found) >= min_answers)
        ):
            break
        i = len(latencies)
        t0 = time.perf_counter()
        ids = call(0, i % nq)
        latencies.append(time.perf_counter() - t0)
        if i < nq:
            found.append(ids)
    wall = time.perf_counter() - start
    return len(latencies) / wall, 1000 * statistics.median(latencies), found


def concurrent(call: Call, threads: int, seconds: float, nq: int) -> tuple[float, float]:
    """(QPS, p50 ms) of `threads` clients calling together for `seconds`."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()

    def work(t: int) -> None:
        barrier.wait()
        i = t
        try:
            while not stop.is_set():
                t0 = time.perf_counter()
                call(t, i % nq)
                latencies[t].append(time.perf_counter() - t0)
                i += threads
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            errors.append(exc)
            stop.set()

    pool = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - start
    if errors:
        raise errors[0]
    every = [x for lat in latencies for x in lat]
    return len(every) / wall, 1000 * statistics.median(every) if every else float("nan")


def measure(call: Call, truth: list[set[int]], args: argparse.Namespace) -> Row:
    """One client (with recall), then `args.threads` clients."""
    nq = len(truth)
    qps, p50, found = single(call, args.seconds, nq, min(nq, 20))
    qps_t, p50_t = concurrent(call, args.threads, args.seconds, nq)
    return Row(qps, p50, recall(found, truth[: len(found)]), len(found), qps_t, p50_t)


# raw libraries --------------------------------------------------------------------------------
def raw_hnswlib(d: Data, res: SizeResult, tmp: Path, args: argparse.Namespace) -> None:
    """Build, save, load and search raw hnswlib with the server's parameters."""
    n = len(d.vectors)
    index = hnswlib.Index(space="ip", dim=DIM)
    before = rss_bytes()
    index.init_index(max_elements=n, M=M, ef_construction=EF_CONSTRUCTION, random_seed=100)
    index.set_num_threads(args.build_threads)
    t0 = time.perf_counter()
    step = max(10_000, n // 50)
    for lo in tqdm(range(0, n, step), desc=f"raw hnswlib add_items {n:,}", leave=False):
        index.add_items(d.vectors[lo : lo + step], np.arange(lo, min(lo + step, n)))
    res.ingest[RAW_HNSW] = n / (time.perf_counter() - t0)
    res.rss[RAW_HNSW] = rss_bytes() - before
    path = tmp / "raw.hnsw"
    index.save_index(str(path))
    res.disk[RAW_HNSW] = du_bytes(path)
    del index
    t0 = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=DIM)
    index.load_index(str(path), max_elements=n)
    res.startup[RAW_HNSW] = time.perf_counter() - t0
    index.set_ef(EF)
    for name, mask in d.masks.items():
        accept = None if name == "unfiltered" else mask.__getitem__

        def call(t: int, i: int, accept: Any = accept) -> list[int]:
            return index.knn_query(d.queries[i], k=K, filter=accept)[0][0].tolist()

        res.search[(name, RAW_HNSW)] = measure(call, d.truth[name], args)


def raw_faiss(d: Data, res: SizeResult, tmp: Path, args: argparse.Namespace) -> None:
    """Build, save, load and search raw faiss IndexHNSWFlat; filters as IDSelectorBitmap."""
    n = len(d.vectors)
    faiss.omp_set_num_threads(args.build_threads)
    before = rss_bytes()
    index = faiss.IndexHNSWFlat(DIM, M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    t0 = time.perf_counter()
    step = max(10_000, n // 50)
    for lo in tqdm(range(0, n, step), desc=f"raw faiss add {n:,}", leave=False):
        index.add(d.vectors[lo : lo + step])
    res.ingest[RAW_FAISS] = n / (time.perf_counter() - t0)
    res.rss[RAW_FAISS] = rss_bytes() - before
    path = tmp / "raw.faiss"
    faiss.write_index(index, str(path))
    res.disk[RAW_FAISS] = du_bytes(path)
    del index
    t0 = time.perf_counter()
    index = faiss.read_index(str(path))
    res.startup[RAW_FAISS] = time.perf_counter() - t0
    one_thread = threading.local()  # OpenMP's thread count belongs to each calling thread
    for name, mask in d.masks.items():
        params = faiss.SearchParametersHNSW()
        params.efSearch = EF
        keep: list[Any] = []  # the bitmap and selector must outlive the searches
        if name != "unfiltered":
            bitmap = to_bitmap(np.flatnonzero(mask), n)
            selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
            params.sel = selector
            keep += [bitmap, selector]

        def call(t: int, i: int, params: Any = params, keep: Any = keep) -> list[int]:
            if not getattr(one_thread, "set", False):  # one query: waking threads costs more
                faiss.omp_set_num_threads(1)
                one_thread.set = True
            labels = index.search(d.queries[i : i + 1], K, params=params)[1][0]
            return labels[labels >= 0].tolist()

        res.search[(name, RAW_FAISS)] = measure(call, d.truth[name], args)
    faiss.omp_set_num_threads(args.build_threads)


# nestvec over REST ----------------------------------------------------------------------------
def rest_load(api: httpx.Client, d: Data) -> float:
    """Create the collection (payload indexes on n and tag) and upsert in batches of 1,000;
    returns points per second. Bodies are built in the timed loop, as a client would."""
    Client(http=api).create_collection(
        COLLECTION,
        dim=DIM,
        metric="cosine",
        index=IndexSpec.model_validate(INDEX_SPEC),
        payload_indexes=PAYLOAD_INDEXES,
    )
    n = len(d.vectors)
    headers = {"content-type": "application/json"}
    start = time.perf_counter()
    for lo in tqdm(range(0, n, BATCH), desc=f"REST upserts {n:,}", leave=False):
        hi = min(lo + BATCH, n)
        points = [
            {"id": str(i), "vector": d.vectors[i], "payload": {"n": int(d.n_of[i]), "tag": tag}}
            for i, tag in zip(range(lo, hi), (TAGS[t] for t in d.tag_of[lo:hi]), strict=True)
        ]
        body = orjson.dumps({"points": points}, option=orjson.OPT_SERIALIZE_NUMPY)
        url = f"/v1/collections/{COLLECTION}/points"
        api.put(url, content=body, headers=headers).raise_for_status()
    return n / (time.perf_counter() - start)


def search_bodies(d: Data, flt: dict[str, Any] | None) -> list[bytes]:
    """One serialised search body per query."""
    bodies = []
    for q in d.queries:
        body: dict[str, Any] = {"query": {"vector": q}, "k": K, "with_payload": False}
        if flt is not None:
            body["filter"] = flt
        bodies.append(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY))
    return bodies


def rest_caller(clients: list[httpx.Client], bodies: list[bytes]) -> Call:
    """POST the i-th body on thread t's own keep-alive client; the ids found."""
    url, headers = f"/v1/collections/{COLLECTION}/search", {"content-type": "application/json"}

    def call(t: int, i: int) -> list[int]:
        r = clients[t].post(url, content=bodies[i], headers=headers)
        r.raise_for_status()
        return [int(h["id"]) for h in orjson.loads(r.content)["results"]]

    return call


def restart(
    data_dir: Path, first_search: bytes, timeout: float = 900.0
) -> tuple[Server, float, float]:
    """Start the server on a loaded data dir; (server, s to /healthz 200, s to a first search)."""
    server = Server(data_dir, NO_MODEL)
    t0 = time.perf_counter()
    server.launch()
    healthz = search = float("nan")
    url = f"/v1/collections/{COLLECTION}/search"
    with httpx.Client(base_url=server.url, timeout=300) as api:
        while math.isnan(search):
            exited = server.proc is not None and server.proc.poll() is not None
            if exited or time.perf_counter() - t0 > timeout:
                server.stop()
                tail = server.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"server did not answer a search after a restart:\n{tail}")
            try:
                if math.isnan(healthz):
                    if api.get("/healthz").status_code == 200:
                        healthz = time.perf_counter() - t0
                    else:
                        time.sleep(0.02)
                    continue
                headers = {"content-type": "application/json"}
                if api.post(url, content=first_search, headers=headers).status_code == 200:
                    search = time.perf_counter() - t0
                else:
                    time.sleep(0.02)
            except httpx.TransportError:
                time.sleep(0.02)
    return server, healthz, search


def nestvec_rest(d: Data, res: SizeResult, tmp: Path, args: argparse.Namespace) -> None:
    """Load over REST, stop, restart (timed), then search with one and `threads` clients."""
    data_dir = tmp / "rest-data"
    server = Server(data_dir, NO_MODEL).start()
    try:
        with httpx.Client(base_url=server.url, timeout=300) as api:
            api.get("/healthz").raise_for_status()
            res.rss["server idle"] = rss_bytes(server.proc.pid)  # type: ignore[union-attr]
            res.ingest[REST] = rest_load(api, d)
            res.rss["server after load"] = rss_bytes(server.proc.pid)  # type: ignore[union-attr]
    finally:
        server.stop()  # graceful: the index snapshot is written
    res.disk[REST] = du_bytes(data_dir)
    bodies = {name: search_bodies(d, flt) for name, (flt, _) in FILTERS.items()}
    server, res.startup["nestvec restart to /healthz"], res.startup[STARTED] = restart(
        data_dir, bodies["unfiltered"][0]
    )
    try:
        clients = [httpx.Client(base_url=server.url, timeout=300) for _ in range(args.threads)]
        try:

            def healthz(t: int, i: int) -> list[int]:
                clients[t].get("/healthz").raise_for_status()
                return []

            floor = measure(healthz, [set()] * len(d.queries), args)
            floor.recall = float("nan")
            res.search[(HEALTHZ, REST)] = floor
            for name in FILTERS:
                call = rest_caller(clients, bodies[name])
                res.search[(name, REST)] = measure(call, d.truth[name], args)
            res.rss["server after searches"] = rss_bytes(server.proc.pid)  # type: ignore[union-attr]
        finally:
            for client in clients:
                client.close()
    finally:
        server.stop()


def offline_ingest(d: Data, res: SizeResult, tmp: Path) -> None:
    """`nestvec ingest` of a Parquet file of ready vectors with payloads (the file is not timed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(d.vectors)
    source = tmp / "points.parquet"
    table = pa.table(
        {
            "id": pa.array([str(i) for i in range(n)]),
            "v": pa.FixedSizeListArray.from_arrays(pa.array(d.vectors.ravel()), DIM),
            "n": pa.array(d.n_of.astype(np.int64)),
            "tag": pa.array([TAGS[t] for t in d.tag_of]),
        }
    )
    pq.write_table(table, source)
    data_dir, summary = tmp / "offline-data", tmp / "summary.json"
    params = ",".join(f"{k}={v}" for k, v in INDEX_SPEC["params"].items())  # type: ignore[attr-defined]
    cmd = [sys.executable, "-m", "service.cli", "ingest", str(source), "--collection", COLLECTION]
    cmd += ["--data-dir", str(data_dir), "--vector-field", "v", "--dim", str(DIM)]
    cmd += ["--metric", "cosine", "--index", "hnsw", "--params", params]
    cmd += ["--batch-size", str(BATCH), "--no-progress", "--summary-json", str(summary)]
    print(f"  offline: nestvec ingest of {n:,} points ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **NO_MODEL}, capture_output=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(
            f"nestvec ingest failed:\n{done.stdout[-2000:]!r}{done.stderr[-2000:]!r}"
        )
    seconds = json.loads(summary.read_text()).get("seconds") or wall
    res.ingest["nestvec offline ingest"] = n / seconds
    res.ingest["nestvec offline ingest, command wall"] = n / wall
    res.disk["nestvec offline"] = du_bytes(data_dir)
    source.unlink()


# report ---------------------------------------------------------------------------------------
def table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a table: first column left-aligned, the others right-aligned."""
    cells = [list(header), *map(list, rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    print(f"\n{title}")
    for j, c in enumerate(cells):
        line = [c[0].ljust(widths[0]), *(c[i].rjust(widths[i]) for i in range(1, len(c)))]
        print(" | ".join(line))
        if j == 0:
            print("-+-".join("-" * w for w in widths))
    sys.stdout.flush()  # before the next progress bar writes to stderr


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and not math.isnan(a) and not math.isnan(b) else "-"


def server_rss_per_point(res: SizeResult, when: str) -> float:
    """The server's RSS above its idle RSS, per point."""
    return (res.rss[f"server {when}"] - res.rss["server idle"]) / res.n


def report_memory(res: SizeResult) -> None:
    """Memory per point: the server above its idle RSS ÷ raw hnswlib's vectors + graph."""
    n, mib = res.n, 2**20
    # hnswlib holds its vectors and graph in memory as it saves them; an RSS delta inside this
    # process is shown too but is noisy (the allocator reuses what earlier steps freed)
    graph = res.disk[RAW_HNSW]
    rows = [("raw hnswlib vectors + graph (its saved index)", graph, graph / n)]
    rows += [(f"{s}: RSS growth of its build", res.rss[s], res.rss[s] / n) for s in SYSTEMS[:2]]
    for when in ("after load", "after searches"):
        rows.append(
            (f"nestvec server {when}", res.rss[f"server {when}"], server_rss_per_point(res, when))
        )
    cells = [
        (name, f"{b / mib:,.0f}", f"{per:,.0f}", ratio(per, graph / n)) for name, b, per in rows
    ]
    cells.append(
        ("nestvec server idle (no collection)", f"{res.rss['server idle'] / mib:,.0f}", "-", "-")
    )
    title = f"== {n:,} points: memory (server: RSS; per point: above its idle RSS)"
    table(title, ("process", "MiB", "bytes/point", "÷ raw vectors + graph"), cells)


def report_size(res: SizeResult, threads: int) -> None:
    """The four tables of one size."""
    n, raw = res.n, res.ingest[RAW_HNSW]
    rows = [(name, f"{rate:,.0f}", ratio(rate, raw)) for name, rate in res.ingest.items()]
    table(f"== {n:,} points: ingest", ("path", "points/s", "÷ raw hnswlib add_items"), rows)

    report_memory(res)
    mib, raw_disk = 2**20, res.disk[RAW_HNSW] / n
    rows = [
        (s, f"{b / mib:,.1f}", f"{b / n:,.0f}", ratio(b / n, raw_disk)) for s, b in res.disk.items()
    ]
    table(
        f"== {n:,} points: disk (raw: saved index = vectors + graph; nestvec: du of the data dir)",
        ("files", "MiB", "bytes/point", "÷ raw hnswlib"),
        rows,
    )

    raw_load = res.startup[RAW_HNSW]
    rows = [(s, f"{sec:.4f}", ratio(sec, raw_load)) for s, sec in res.startup.items()]
    table(
        f"== {n:,} points: start-up (nestvec: restart until /healthz answers, then until a "
        "first search succeeds)",
        ("what", "seconds", "÷ raw hnswlib load_index"),
        rows,
    )
    report_search(res, threads)


def report_search(res: SizeResult, threads: int) -> None:
    """The search table of one size, with nestvec ÷ raw on each filter."""
    rows = []
    for (name, system), r in res.search.items():
        rec = "-" if math.isnan(r.recall) else f"{r.recall:.3f} ({r.answered})"
        rows.append(
            (
                f"{name}, {system}",
                f"{r.qps:,.0f}",
                f"{r.p50:.3f}",
                rec,
                f"{r.qps_threads:,.0f}",
                f"{r.p50_threads:.3f}",
            )
        )
    header = (
        "filter, system",
        "QPS 1 client",
        "p50 ms",
        "recall@10 (queries)",
        f"QPS {threads} clients",
        f"p50 ms {threads}",
    )
    table(f"== {res.n:,} points: search (k=10, ef=64)", header, rows)
    rows = []
    for name in FILTERS:
        nv = res.search[(name, REST)]
        for system in (RAW_HNSW, RAW_FAISS):
            r = res.search[(name, system)]
            rows.append(
                (
                    f"{name}: REST ÷ {system}",
                    ratio(nv.qps, r.qps),
                    ratio(nv.qps_threads, r.qps_threads),
                    f"{nv.recall - r.recall:+.3f}",
                )
            )
        unf = res.search[("unfiltered", REST)]
        if name != "unfiltered":
            rows.append(
                (
                    f"{name}: REST ÷ REST unfiltered",
                    ratio(nv.qps, unf.qps),
                    ratio(nv.qps_threads, unf.qps_threads),
                    "-",
                )
            )
    floor = res.search[(HEALTHZ, REST)]
    unf = res.search[("unfiltered", REST)]
    rows.append(
        (
            "unfiltered REST ÷ GET /healthz",
            ratio(unf.qps, floor.qps),
            ratio(unf.qps_threads, floor.qps_threads),
            "-",
        )
    )
    table(
        f"== {res.n:,} points: search ratios",
        ("ratio", "1 client", f"{threads} clients", "recall difference"),
        rows,
    )


def growth_metrics(res: SizeResult) -> dict[str, float]:
    """The costs whose growth with N the growth table shows (per point, or per call)."""
    m: dict[str, float] = {}
    for name, rate in res.ingest.items():
        m[f"ingest µs/point, {name}"] = 1e6 / rate
    m["memory bytes/point, raw hnswlib vectors + graph"] = res.disk[RAW_HNSW] / res.n
    m["RSS bytes/point, server after load"] = server_rss_per_point(res, "after load")
    m["RSS bytes/point, server after searches"] = server_rss_per_point(res, "after searches")
    for name, size in res.disk.items():
        m[f"disk bytes/point, {name}"] = size / res.n
    for name, sec in res.startup.items():
        m[f"start-up s, {name}"] = sec
    for (name, system), r in res.search.items():
        m[f"p50 ms 1 client, {name}, {system}"] = r.p50
        if not math.isnan(r.recall):
            m[f"recall@10, {name}, {system}"] = r.recall
    return m


def number(v: float) -> str:
    """A figure with as many decimals as its size needs."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) >= 1 else f"{v:.4f}"


def report_growth(results: list[SizeResult]) -> None:
    """How each cost grows from the smallest size to the largest."""
    small, big = results[0], results[-1]
    a, b = growth_metrics(small), growth_metrics(big)
    n_factor = big.n / small.n
    rows = []
    for key, va in a.items():
        vb = b[key]
        factor = vb / va if va > 0 else float("nan")
        slope = math.log(factor) / math.log(n_factor) if factor > 0 else float("nan")
        rows.append((key, number(va), number(vb), f"{factor:.2f}", f"{slope:+.2f}"))
    header = ("cost", f"at {small.n:,}", f"at {big.n:,}", "factor", "slope")
    table(f"== growth from {small.n:,} to {big.n:,} points (N x{n_factor:g})", header, rows)
    print(
        "slope = log(factor) / log(N factor): 0 = flat in N, 1 = linear in N. A per-point cost "
        "with slope 0 means the total grows linearly; a per-call latency with slope 1 means each "
        "search touches every point (O(N)); HNSW search should be near 0 (log N)."
    )


# main -----------------------------------------------------------------------------------------
def prepare(vectors: np.ndarray, n_of: np.ndarray, tag_of: np.ndarray, queries: np.ndarray) -> Data:
    """Masks and exact answers of one size."""
    masks = {name: mask(n_of, tag_of) for name, (_, mask) in FILTERS.items()}
    return Data(vectors, n_of, tag_of, queries, masks, exact_truth(vectors, queries, masks))


def run_size(d: Data, args: argparse.Namespace) -> SizeResult:
    """Every measurement at one size, in its own temporary directory."""
    res = SizeResult(len(d.vectors))
    with tempfile.TemporaryDirectory(prefix="nestvec-scale-", dir=args.work_dir) as tmp:
        raw_hnswlib(d, res, Path(tmp), args)
        raw_faiss(d, res, Path(tmp), args)
        nestvec_rest(d, res, Path(tmp), args)
        offline_ingest(d, res, Path(tmp))
    return res


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="point counts, comma-separated")
    parser.add_argument("--queries", type=int, default=300, help="distinct query vectors")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing window per row")
    parser.add_argument("--threads", type=int, default=4, help="concurrent clients")
    parser.add_argument("--work-dir", type=Path, help="temporary data here (default: system temp)")
    args = parser.parse_args(argv)
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--sizes: not a list of integers: {args.sizes!r}")
    if not sizes or sizes[0] < 2 * K:
        parser.error(f"--sizes: each size must be at least {2 * K}")
    # hnswlib's default in the server: one thread per core; the raw builds use the same
    args.build_threads = os.cpu_count() or 1
    print(
        f"bench_scale: sizes {sizes}, {args.queries} queries, {args.seconds} s a row, "
        f"{args.threads} clients, cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f}",
        flush=True,
    )
    vectors = clustered(sizes[-1], seed=0)  # each size is a prefix of the largest
    queries = clustered(args.queries, seed=1)
    n_of = np.random.default_rng(2).integers(0, 100, sizes[-1])
    tag_of = np.random.default_rng(3).integers(0, len(TAGS), sizes[-1])
    results = []
    for n in sizes:
        d = prepare(vectors[:n], n_of[:n], tag_of[:n], queries)
        results.append(run_size(d, args))
        report_size(results[-1], args.threads)
    if len(results) > 1:
        report_growth(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
