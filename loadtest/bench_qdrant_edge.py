"""Side by side with Qdrant's engine: nestvec in process and over REST ÷ qdrant-edge-py.

The data and filters of bench_filtered.py: `--points` clustered 128-d vectors with an integer
payload `n` (0-99); unfiltered, a 50% filter (`n < 50`) and a 1% filter (`n == 7`); hnsw M=16,
ef_construction=100, ef=64; an integer payload index on `n` on every side. In one run, one thread
each, one query a call:
  - Qdrant Edge (PyPI `qdrant-edge-py` 0.9.0, in process, one segment, one search thread), in a
    venv of its own that this script creates on first use (`--qdrant-venv`), run as a
    subprocess (loadtest/qdrant_edge_worker.py) on the same vectors, saved as .npy;
  - nestvec in process (`Catalog` → `Collection.search`, no payloads returned);
  - nestvec over REST (a real `nestvec serve` on loopback, one keep-alive httpx client).
Inserts go in batches of 1,000 with payloads; Qdrant's rate includes the optimisation that
builds its graph. Prints QPS, p50 and recall@10 (against exact filtered top-10 in numpy) of each,
then nestvec in process ÷ Qdrant and nestvec REST ÷ Qdrant per filter, and for inserts. Last,
nestvec in process at Qdrant's recall: per filter, the smallest query ef whose recall@10 reaches
Qdrant's, timed the same way (the two engines' defaults land at different recalls).

    .venv/bin/python loadtest/bench_qdrant_edge.py [--points 100000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run as a script from a checkout: the project's packages
sys.path.insert(0, str(HERE))
from bench_filtered import (  # noqa: E402
    DIM,
    EF,
    EF_CONSTRUCTION,
    FILTERS,
    NO_MODEL,
    K,
    M,
    clustered,
    exact_top,
    load,
    recall,
    timed,
)
from run_locust import Server  # noqa: E402

QDRANT_EDGE = "qdrant-edge-py==0.9.0"
DEFAULT_VENV = Path(tempfile.gettempdir()) / "nestvec-qdrant-edge-venv"
BATCH = 1000
Row = tuple[float, float, float]  # QPS, p50 ms, recall@10
INSERTS = "inserts (1,000 a batch, with payloads)"
EF_LADDER = (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def qdrant_python(venv: Path) -> Path:
    """The venv's interpreter, with qdrant-edge-py and numpy installed (created on first use)."""
    python = venv / "bin" / "python"
    probe = "import importlib.metadata as m, numpy; print(m.version('qdrant-edge-py'))"
    if python.exists():
        got = subprocess.run([python, "-c", probe], capture_output=True, text=True)
        if got.returncode == 0 and got.stdout.strip() == QDRANT_EDGE.split("==")[1]:
            return python
    print(f"installing {QDRANT_EDGE} into {venv} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, QDRANT_EDGE, "numpy"], check=True)
    return python


def run_qdrant(
    python: Path, data: np.ndarray, n_of: np.ndarray, queries: np.ndarray, seconds: float
) -> dict[str, Any]:
    """Qdrant Edge in its venv on the same arrays; the worker's JSON answer."""
    with tempfile.TemporaryDirectory(prefix="nestvec-qdrant-arrays-") as tmp:
        for name, array in (("data", data), ("n", n_of), ("queries", queries)):
            np.save(Path(tmp) / f"{name}.npy", array)
        cmd = [str(python), str(HERE / "qdrant_edge_worker.py"), tmp, "--seconds", str(seconds)]
        cmd += ["--m", str(M), "--ef-construction", str(EF_CONSTRUCTION), "--ef", str(EF)]
        done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"qdrant_edge_worker failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_in_process(
    data: np.ndarray,
    n_of: np.ndarray,
    queries: np.ndarray,
    truth: dict[str, list[set[int]]],
    seconds: float,
    targets: dict[str, float],
) -> tuple[float, dict[str, Row], dict[str, tuple[int, Row]]]:
    """nestvec's in-process path: (insert rate, rows by filter at the default ef, and by filter
    the smallest ef of EF_LADDER whose recall@10 reaches `targets[filter]` with its row)."""
    from index import CollectionConfig
    from index.catalog import Catalog

    with tempfile.TemporaryDirectory(prefix="nestvec-qdrant-inproc-") as tmp:
        catalog = Catalog(Path(tmp))
        try:
            params = {"M": M, "ef_construction": EF_CONSTRUCTION, "ef": EF}
            config = CollectionConfig(name="c", dim=DIM, metric="cosine", index_params=params)
            col = catalog.create(config)
            col.create_payload_index("n", "integer")
            start = time.perf_counter()
            for lo in range(0, len(data), BATCH):
                hi = min(lo + BATCH, len(data))
                payloads = [{"n": int(n_of[i])} for i in range(lo, hi)]
                col.upsert([str(i) for i in range(lo, hi)], data[lo:hi], payloads)
            rate = len(data) / (time.perf_counter() - start)
            rows: dict[str, Row] = {}
            for name, flt in FILTERS.items():
                found: list[set[int]] = []

                def search(i: int, flt: Any = flt, found: list[set[int]] = found) -> None:
                    q = queries[i % len(queries)][None, :]
                    hits = col.search(q, K, filter=flt, with_payload=False)[0]
                    if len(found) < len(queries):
                        found.append({int(h.id) for h in hits})

                qps, p50 = timed(search, seconds)
                rows[name] = (qps, p50, recall(found, truth[name]))
            matched = {
                name: equal_recall(col, flt, queries, truth[name], targets[name], seconds)
                for name, flt in FILTERS.items()
            }
        finally:
            catalog.close()
    return rate, rows, matched


def equal_recall(
    col: Any, flt: Any, queries: np.ndarray, truth: list[set[int]], target: float, seconds: float
) -> tuple[int, Row]:
    """The smallest ef of EF_LADDER at which this filter's recall@10 reaches `target` (the
    largest if none does), timed like the default rows: a comparison at the same recall."""

    def hits(q: np.ndarray, ef: int) -> set[int]:
        found = col.search(q[None, :], K, filter=flt, params={"ef": ef}, with_payload=False)
        return {int(h.id) for h in found[0]}

    for ef in EF_LADDER:
        got = recall([hits(q, ef) for q in queries], truth)
        if got >= target:
            break
    qps, p50 = timed(lambda i: hits(queries[i % len(queries)], ef), seconds)
    return ef, (qps, p50, got)


def run_rest(
    data: np.ndarray,
    n_of: np.ndarray,
    queries: np.ndarray,
    truth: dict[str, list[set[int]]],
    seconds: float,
) -> tuple[float, dict[str, Row]]:
    """nestvec over REST, one keep-alive client: (insert rate, rows by filter)."""
    with tempfile.TemporaryDirectory(prefix="nestvec-qdrant-rest-") as tmp:
        server = Server(Path(tmp) / "data", NO_MODEL).start()
        try:
            with httpx.Client(base_url=server.url, timeout=120) as api:
                rate = load(api, "c", data, n_of, indexed=True)
                rows: dict[str, Row] = {}
                for name, flt in FILTERS.items():
                    found: list[set[int]] = []

                    def search(i: int, flt: Any = flt, found: list[set[int]] = found) -> None:
                        body: dict[str, Any] = {
                            "query": {"vector": queries[i % len(queries)].tolist()},
                            "k": K,
                            "with_payload": False,
                        }
                        if flt is not None:
                            body["filter"] = flt
                        r = api.post("/v1/collections/c/search", json=body)
                        r.raise_for_status()
                        if len(found) < len(queries):
                            found.append({int(h["id"]) for h in r.json()["results"]})

                    qps, p50 = timed(search, seconds)
                    rows[name] = (qps, p50, recall(found, truth[name]))
        finally:
            server.stop()
    return rate, rows


def report(
    qdrant: dict[str, Any],
    truth: dict[str, list[set[int]]],
    sides: dict[str, tuple[float, dict[str, Row]]],
) -> None:
    """The table, then the ratios to Qdrant per filter and for inserts."""
    q_rows: dict[str, Row] = {
        name: (r["qps"], r["p50_ms"], recall([set(f) for f in r["found"]], truth[name]))
        for name, r in qdrant["rows"].items()
    }
    label = f"Qdrant Edge {qdrant['version']}"
    table = {label: (qdrant["insert_rate"], q_rows), **sides}
    width = max(len(INSERTS), *(len(f"{s}, {f}") for s in table for f in FILTERS))
    print(f"\n{'search (one thread, k=10)':<{width}} | {'QPS':>9} | {'p50 ms':>8} | recall@10")
    print("-" * width + "-+-----------+----------+----------")
    for side, (_, rows) in table.items():
        for name, (qps, p50, rec) in rows.items():
            print(f"{side + ', ' + name:<{width}} | {qps:9.1f} | {p50:8.3f} | {rec:.3f}")
    print(f"\n{INSERTS:<{width}} | points/s")
    for side, (rate, _) in table.items():
        print(f"{side:<{width}} | {rate:9.0f}")
    # Qdrant keeps an empty appendable segment beside the one that holds every point.
    print(f"\nratios to Qdrant Edge (same run; its shard has {qdrant['segments']} segments)")
    for side, (rate, rows) in sides.items():
        for name, (qps, p50, _) in rows.items():
            q_qps, q_p50, _ = q_rows[name]
            print(
                f"  {side} ÷ Qdrant, {name}: QPS {qps / q_qps:.3f}, p50 {p50 / q_p50:.2f}× Qdrant's"
            )
        print(f"  {side} ÷ Qdrant, inserts: {rate / qdrant['insert_rate']:.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="vectors (128-d)")
    parser.add_argument("--queries", type=int, default=200, help="distinct query vectors")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing window per row")
    parser.add_argument("--qdrant-venv", type=Path, default=DEFAULT_VENV, help="created if absent")
    args = parser.parse_args(argv)
    python = qdrant_python(args.qdrant_venv)
    data = clustered(args.points, seed=0)
    queries = clustered(args.queries, seed=1)
    n_of = np.random.default_rng(2).integers(0, 100, args.points)
    masks = {"unfiltered": np.ones(args.points, bool), "50% filter": n_of < 50}
    masks["1% filter"] = n_of == 7
    truth = {name: exact_top(data, mask, queries) for name, mask in masks.items()}
    # One side at a time, so no side's build or searches compete with another's.
    qdrant = run_qdrant(python, data, n_of, queries, args.seconds)
    targets = {
        name: recall([set(f) for f in r["found"]], truth[name])
        for name, r in qdrant["rows"].items()
    }
    rate, rows, matched = run_in_process(data, n_of, queries, truth, args.seconds, targets)
    sides = {
        "nestvec in process": (rate, rows),
        "nestvec REST": run_rest(data, n_of, queries, truth, args.seconds),
    }
    report(qdrant, truth, sides)
    print("\nin process at Qdrant's recall (the smallest ef reaching it; the default ef is 64)")
    for name, (ef, (qps, _, rec)) in matched.items():
        q_qps = qdrant["rows"][name]["qps"]
        print(
            f"  {name}: ef {ef}, recall@10 {rec:.3f} (Qdrant {targets[name]:.3f}), "
            f"QPS {qps:.1f} ÷ Qdrant = {qps / q_qps:.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
