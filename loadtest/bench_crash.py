"""Crash-safety soak: SIGKILL the real server mid-stream, many times; no acknowledged write lost.

Like tests/service/test_crash_safety.py with more trials: each trial starts `nestvec serve` on
the same data dir, streams upserts of random vectors from `--writers` threads, and SIGKILLs the
server at a random moment. Every `--clean-every` trials a graceful restart writes index snapshots,
so later starts reconcile a stale snapshot with SQLite instead of rebuilding. At the end every
acknowledged id must be stored with its payload and vector and be found by a search for its
vector. Prints trials, acknowledged writes and lost writes (target 0); exits 1 on any loss.

    .venv/bin/python loadtest/bench_crash.py [--trials 20] [--writers 2] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_locust import Server  # noqa: E402

DIM = 8
COLLECTION = "crash"
POINTS = f"/v1/collections/{COLLECTION}/points"
NO_MODEL = {"NESTVEC_PRELOAD_ENCODERS": "[]"}  # vectors only: start fast


@dataclass
class Ledger:
    """What the server acknowledged (id -> vector, payload), filled by the writer threads."""

    acked: dict[str, tuple[np.ndarray, dict[str, Any]]] = field(default_factory=dict)
    requests: int = 0
    rejected: list[str] = field(default_factory=list)  # non-200 answers (none expected)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ids: list[str], vectors: np.ndarray, payloads: list[dict[str, Any]]) -> None:
        with self.lock:
            self.acked.update(zip(ids, zip(vectors, payloads, strict=True), strict=True))
            self.requests += 1


def writer(url: str, tag: str, seed: int, ledger: Ledger, stop: threading.Event) -> None:
    """Upsert batches of 1-40 new points until the server dies; record what was acknowledged."""
    rng = np.random.default_rng(seed)
    i = 0
    with httpx.Client(base_url=url, timeout=30) as api:
        while not stop.is_set():
            n = int(rng.integers(1, 41))
            ids = [f"{tag}-{i + j}" for j in range(n)]
            vectors = rng.normal(size=(n, DIM)).astype(np.float32)
            payloads = [{"n": i + j, "tag": tag} for j in range(n)]
            points = [
                {"id": pid, "vector": v.tolist(), "payload": p}
                for pid, v, p in zip(ids, vectors, payloads, strict=True)
            ]
            try:
                r = api.put(POINTS, json={"points": points})
            except httpx.TransportError:
                return
            if r.status_code == 200 and r.json() == {"upserted": n}:
                ledger.add(ids, vectors, payloads)
            else:
                with ledger.lock:
                    ledger.rejected.append(f"{r.status_code} {r.text[:200]}")
            i += n


def count(url: str) -> int:
    r = httpx.post(f"{url}/v1/collections/{COLLECTION}/count", json={}, timeout=60)
    r.raise_for_status()
    return int(r.json()["count"])


@dataclass
class Report:
    missing: list[str] = field(default_factory=list)
    bad_payload: list[str] = field(default_factory=list)
    bad_vector: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    stored: int = 0


def verify(url: str, ledger: Ledger) -> Report:
    """Every acknowledged id: stored, same payload, same direction, top-10 for its own vector."""
    report = Report(stored=count(url))
    ids = list(ledger.acked)
    with httpx.Client(base_url=url, timeout=120) as api:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            r = api.get(POINTS, params={"ids": chunk, "with_vector": True})
            r.raise_for_status()
            got = {p["id"]: p for p in r.json()["points"]}
            for pid in chunk:
                vector, payload = ledger.acked[pid]
                if pid not in got:
                    report.missing.append(pid)
                    continue
                if got[pid]["payload"] != payload:
                    report.bad_payload.append(pid)
                if not _same_direction(vector, np.asarray(got[pid]["vector"], np.float32)):
                    report.bad_vector.append(pid)
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            searches = [
                {
                    "query": {"vector": ledger.acked[pid][0].tolist()},
                    "k": 10,
                    "params": {"ef": 128},
                    "with_payload": False,
                }
                for pid in chunk
            ]
            r = api.post(f"/v1/collections/{COLLECTION}/search/batch", json={"searches": searches})
            r.raise_for_status()
            for pid, hits in zip(chunk, r.json()["results"], strict=True):
                if pid not in {h["id"] for h in hits}:
                    report.not_found.append(pid)
    return report


def _same_direction(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to the normalisation a cosine collection may apply."""
    if a.shape != b.shape:
        return False
    cos = float(a @ b) / (float(np.linalg.norm(a)) * float(np.linalg.norm(b)) or 1.0)
    return cos > 1 - 1e-5


def trial(
    data_dir: Path, n: int, args: argparse.Namespace, rnd: random.Random, ledger: Ledger
) -> str:
    """Start, stream upserts, SIGKILL at a random moment; one line describing the trial."""
    server = Server(data_dir, NO_MODEL)
    t0 = time.monotonic()
    server.start()
    started = time.monotonic() - t0
    if n == 0:
        spec = {"name": COLLECTION, "dim": DIM, "index": {"type": "hnsw"}}
        httpx.post(f"{server.url}/v1/collections", json=spec, timeout=60).raise_for_status()
    stored = count(server.url)
    before, requests = len(ledger.acked), ledger.requests
    note = "" if stored >= before else f"  LOSS: {stored} stored < {before} acknowledged"
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=writer, args=(server.url, f"t{n}w{w}", rnd.randrange(2**32), ledger, stop)
        )
        for w in range(args.writers)
    ]
    for t in threads:
        t.start()
    delay = rnd.uniform(args.min_delay, args.max_delay)
    time.sleep(delay)
    server.kill()
    stop.set()
    for t in threads:
        t.join()
    return (
        f"trial {n + 1:3d}: ready in {started:4.1f}s, stored at start {stored:6d}, "
        f"killed after {delay:4.2f}s, +{len(ledger.acked) - before:5d} acknowledged "
        f"in {ledger.requests - requests:4d} requests{note}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="kill -9 cycles")
    parser.add_argument("--writers", type=int, default=2, help="concurrent upsert streams")
    parser.add_argument("--min-delay", type=float, default=0.2, help="earliest kill (s)")
    parser.add_argument("--max-delay", type=float, default=3.0, help="latest kill (s)")
    parser.add_argument("--clean-every", type=int, default=5, help="graceful restart every N")
    parser.add_argument("--seed", type=int, help="random seed (printed when not given)")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.writers < 1 or not 0 <= args.min_delay <= args.max_delay:
        parser.error("need trials >= 1, writers >= 1, 0 <= min-delay <= max-delay")
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    print(f"trials={args.trials} writers={args.writers} seed={seed} dim={DIM}", flush=True)
    rnd, ledger = random.Random(seed), Ledger()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nestvec-crash-") as tmp:
        data_dir = Path(tmp) / "data"
        for n in range(args.trials):
            print(trial(data_dir, n, args, rnd, ledger), flush=True)
            if args.clean_every and (n + 1) % args.clean_every == 0:
                Server(data_dir, NO_MODEL).start().stop()  # SIGTERM: snapshots written
                print("           graceful restart: snapshots written", flush=True)
        with Server(data_dir, NO_MODEL) as server:
            report = verify(server.url, ledger)
    lost = len(report.missing)
    problems = lost + len(report.bad_payload) + len(report.bad_vector) + len(report.not_found)
    rows = [
        ("trials (SIGKILL)", args.trials),
        ("acknowledged requests", ledger.requests),
        ("acknowledged writes (points)", len(ledger.acked)),
        ("stored points after restart", report.stored),
        ("  of which committed, never acknowledged", report.stored - len(ledger.acked) + lost),
        ("lost writes (acknowledged, missing)", lost),
        ("payload mismatches", len(report.bad_payload)),
        ("vector mismatches", len(report.bad_vector)),
        ("not found by search (top-10, own vector)", len(report.not_found)),
        ("non-200 answers while streaming", len(ledger.rejected)),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"\n{'measurement':<{width}} | value")
    print("-" * width + "-+------")
    for name, value in rows:
        print(f"{name:<{width}} | {value}")
    for sample in (report.missing, report.bad_payload, report.bad_vector, report.not_found):
        if sample:
            print("e.g.", sample[:5])
    for answer in ledger.rejected[:5]:
        print("non-200:", answer)
    print(f"wall {time.monotonic() - started:.0f}s")
    ok = problems == 0 and not ledger.rejected and len(ledger.acked) > 0
    print(f"RESULT: {'OK' if ok else 'FAIL'} lost={lost}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
