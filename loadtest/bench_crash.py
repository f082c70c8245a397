"""Crash-safety soak: faults injected into the real server, many times; no acknowledged write lost.

Each fault kind runs `--trials` trials on its own data dir and its own ledger of acknowledged
points, then restarts the server once more and checks every acknowledged id: stored with its
payload and vector, and found by a search for its vector. Fault kinds (`--faults`, all by default):

- `upserts`: SIGKILL at a random moment while writers stream upserts (every `--clean-every`
  trials a graceful restart writes snapshots, so later starts reconcile a stale snapshot);
- `snapshot`: SIGTERM, then SIGKILL a few milliseconds later, while shutdown writes the snapshots;
- `ingest`: SIGKILL at a random moment while `nestvec ingest --url` loads a file into a live
  server: the server on even trials (restarted on its port while the ingest retries), the ingest
  on odd ones (the same command is run again and resumes after its last acknowledged batch);
- `damage`: after a graceful stop, truncate, corrupt or delete the snapshot before the restart.

Prints one table: trials, acknowledged points, lost points (target 0) and restarts that failed
(target 0) per kind; exits 1 on any loss or failed restart.

    .venv/bin/python loadtest/bench_crash.py [--trials 20] [--faults upserts,snapshot,ingest,damage]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nestvec.client import NO_RETRY, Client, Conflict, NestvecError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_locust import ROOT, Server  # noqa: E402

DIM = 8
COLLECTION = "crash"
NO_MODEL = {"NESTVEC_PRELOAD_ENCODERS": "[]"}  # vectors only: start fast


@dataclass
class Ledger:
    """What the server acknowledged (id -> vector, payload), filled by the writer threads."""

    acked: dict[str, tuple[np.ndarray, dict[str, Any]]] = field(default_factory=dict)
    requests: int = 0
    rejected: list[str] = field(default_factory=list)  # non-200 answers (none expected)
    failed_restarts: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ids: list[str], vectors: np.ndarray, payloads: list[dict[str, Any]]) -> None:
        with self.lock:
            self.acked.update(zip(ids, zip(vectors, payloads, strict=True), strict=True))
            self.requests += 1


def writer(url: str, tag: str, seed: int, ledger: Ledger, stop: threading.Event) -> None:
    """Upsert batches of 1-40 new points until the server dies; record what was acknowledged."""
    rng = np.random.default_rng(seed)
    i = 0
    # no retries: a lost answer is the crash this benchmark counts, not something to hide
    with Client(url, timeout=30, retry=NO_RETRY) as api:
        while not stop.is_set():
            n = int(rng.integers(1, 41))
            ids = [f"{tag}-{i + j}" for j in range(n)]
            vectors = rng.normal(size=(n, DIM)).astype(np.float32)
            payloads = [{"n": i + j, "tag": tag} for j in range(n)]
            points = [
                {"id": pid, "vector": v, "payload": p}
                for pid, v, p in zip(ids, vectors, payloads, strict=True)
            ]
            try:
                upserted = api.upsert(COLLECTION, points)
            except NestvecError as exc:
                if exc.status is None:  # the server went away mid-request
                    return
                upserted, reason = -1, str(exc)[:200]
            else:
                reason = f"upserted {upserted} of {n}"
            if upserted == n:
                ledger.add(ids, vectors, payloads)
            else:
                with ledger.lock:
                    ledger.rejected.append(reason)
            i += n


@dataclass
class Streams:
    """Upsert streams writing until `halt`."""

    stop: threading.Event
    threads: list[threading.Thread]

    def halt(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def stream(url: str, tag: str, writers: int, rnd: random.Random, ledger: Ledger) -> Streams:
    """Start `writers` upsert streams of new points."""
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=writer, args=(url, f"{tag}w{w}", rnd.randrange(2**32), ledger, stop)
        )
        for w in range(writers)
    ]
    for t in threads:
        t.start()
    return Streams(stop, threads)


def start(data_dir: Path, ledger: Ledger, what: str, port: int | None = None) -> Server | None:
    """Start the server; a start that fails is recorded (and retried once, to go on measuring)."""
    for attempt in range(2):
        try:
            server = Server(data_dir, NO_MODEL)
            if port is not None:  # where a client is still retrying
                server.port, server.url = port, f"http://127.0.0.1:{port}"
            return server.start(timeout=120)
        except RuntimeError as exc:
            ledger.failed_restarts.append(f"{what} (attempt {attempt + 1}): {str(exc)[-300:]}")
    return None


def count(url: str) -> int:
    with Client(url, timeout=60) as api:
        return api.count(COLLECTION)


def ensure_collection(url: str) -> None:
    with Client(url, timeout=60) as api:
        try:
            api.create_collection(COLLECTION, dim=DIM, index="hnsw")
        except Conflict as exc:
            if exc.code != "collection_exists":
                raise


# fault kinds --------------------------------------------------------------------------------------
def upserts_trial(
    data_dir: Path, n: int, args: argparse.Namespace, rnd: random.Random, ledger: Ledger
) -> str:
    """Stream upserts, SIGKILL at a random moment."""
    server = start(data_dir, ledger, f"upserts trial {n + 1}")
    if server is None:
        return f"trial {n + 1:3d}: RESTART FAILED"
    ensure_collection(server.url)
    before = len(ledger.acked)
    stop = stream(server.url, f"u{n}", args.writers, rnd, ledger)
    delay = rnd.uniform(args.min_delay, args.max_delay)
    time.sleep(delay)
    server.kill()
    stop.halt()
    if args.clean_every and (n + 1) % args.clean_every == 0:
        again = start(data_dir, ledger, f"upserts graceful restart {n + 1}")
        if again is not None:
            again.stop()  # SIGTERM: snapshots written, so later starts reconcile a stale one
    return f"trial {n + 1:3d}: killed after {delay:4.2f}s, +{len(ledger.acked) - before} acked"


def write_a_while(
    data_dir: Path,
    tag: str,
    seconds: tuple[float, float],
    args: argparse.Namespace,
    rnd: random.Random,
    ledger: Ledger,
) -> tuple[Server | None, int]:
    """Start the server and stream upserts for a random while; (server, acked before)."""
    server = start(data_dir, ledger, f"{tag} start")
    before = len(ledger.acked)
    if server is not None:
        ensure_collection(server.url)
        stop = stream(server.url, tag, args.writers, rnd, ledger)
        time.sleep(rnd.uniform(*seconds))
        stop.halt()
    return server, before


def snapshot_trial(
    data_dir: Path, n: int, args: argparse.Namespace, rnd: random.Random, ledger: Ledger
) -> str:
    """Write for a while, then SIGTERM and SIGKILL a few ms later, inside the snapshot write."""
    server, before = write_a_while(data_dir, f"s{n}", (0.5, 1.5), args, rnd, ledger)
    if server is None:
        return f"trial {n + 1:3d}: RESTART FAILED"
    assert server.proc is not None  # every acknowledged upsert is in; shutdown writes the snapshot
    delay = rnd.uniform(0.0, args.snapshot_window)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(delay)
    exited = server.proc.poll() is not None
    server.kill()
    when = "after a clean exit" if exited else "inside shutdown"
    return (
        f"trial {n + 1:3d}: SIGKILL {delay * 1000:5.1f} ms after SIGTERM ({when}), "
        f"+{len(ledger.acked) - before} acked"
    )


def damage_trial(
    data_dir: Path, n: int, args: argparse.Namespace, rnd: random.Random, ledger: Ledger
) -> str:
    """Write, stop gracefully (snapshot written), damage the snapshot, start again."""
    server, before = write_a_while(data_dir, f"d{n}", (0.3, 1.0), args, rnd, ledger)
    if server is None:
        return f"trial {n + 1:3d}: RESTART FAILED"
    server.stop()
    how = damage(data_dir / "collections" / COLLECTION / "index", rnd)
    return f"trial {n + 1:3d}: snapshot {how}, +{len(ledger.acked) - before} acked"


def damage(snapshot: Path, rnd: random.Random) -> str:
    """Truncate, overwrite with garbage, or delete a snapshot file, or the whole snapshot."""
    files = sorted(p for p in snapshot.iterdir() if p.is_file()) if snapshot.exists() else []
    if not files:
        return "absent"
    how = rnd.choice(["truncated", "garbage", "deleted file", "deleted dir", "bad index.json"])
    target = rnd.choice(files)
    if how == "truncated":
        size = target.stat().st_size
        os.truncate(target, rnd.randrange(size) if size else 0)
    elif how == "garbage":
        data = bytearray(target.read_bytes())
        for _ in range(max(1, len(data) // 100)):
            if data:
                data[rnd.randrange(len(data))] = rnd.randrange(256)
        target.write_bytes(bytes(data))
    elif how == "deleted file":
        target.unlink()
    elif how == "deleted dir":
        shutil.rmtree(snapshot)
        return how
    else:
        target = snapshot / "index.json"
        target.write_text("{not json")
    return f"{how} ({target.name})"


def ingest_trial(
    data_dir: Path, n: int, args: argparse.Namespace, rnd: random.Random, ledger: Ledger
) -> str:
    """SIGKILL mid-load during `nestvec ingest --url`: the server (restarted on the same port
    while the ingest retries) on even trials, the ingest itself (then re-run: it resumes) on odd.
    """
    server = start(data_dir, ledger, f"ingest trial {n + 1}")
    if server is None:
        return f"trial {n + 1:3d}: RESTART FAILED"
    source = data_dir.parent / f"ingest-{n}.jsonl"
    rng = np.random.default_rng(rnd.randrange(2**32))
    vectors = rng.normal(size=(args.ingest_rows, DIM)).astype(np.float32)
    rows = [
        {"id": f"i{n}-{j}", "vector": v.tolist(), "payload_n": j} for j, v in enumerate(vectors)
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    delay = rnd.uniform(args.min_delay, args.ingest_max_delay)
    victim = "server" if n % 2 == 0 else "ingest"
    proc = launch_ingest(source, server.url)
    try:
        proc.wait(timeout=delay)
        landed = False  # the ingest was done before the kill came
    except subprocess.TimeoutExpired:
        landed = True
        if victim == "server":
            server.kill()
            server = start(data_dir, ledger, f"ingest restart {n + 1}", port=server.port)
            if server is None:
                proc.kill()
                return f"trial {n + 1:3d}: RESTART FAILED"
        else:
            proc.kill()
    code, runs = proc.wait(timeout=300), 1
    while code != 0 and runs < 4:  # the same command again: it resumes after the last ack
        code, runs = launch_ingest(source, server.url).wait(timeout=300), runs + 1
    if code == 0:
        for row, vector in zip(rows, vectors, strict=True):
            ledger.acked[row["id"]] = (vector, {"payload_n": row["payload_n"]})
    else:
        ledger.rejected.append(f"ingest trial {n + 1} did not complete in {runs} runs")
    server.kill()  # the next trial starts from a crash, too
    when = "mid-load" if landed else "too late: the load had finished"
    return (
        f"trial {n + 1:3d}: SIGKILL of the {victim} {delay:4.2f}s into the ingest ({when}); "
        f"complete after {runs} run(s)"
    )


def launch_ingest(source: Path, url: str) -> subprocess.Popen[bytes]:
    """`nestvec ingest SOURCE --url URL` in a subprocess (vectors from the file, no model)."""
    cmd = [sys.executable, "-m", "service.cli", "ingest", str(source), "--collection"]
    cmd += [COLLECTION, "--url", url, "--vector-field", "vector", "--dim", str(DIM)]
    cmd += ["--batch-size", "25", "--no-progress"]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


KINDS: dict[str, Callable[..., str]] = {
    "upserts": upserts_trial,
    "snapshot": snapshot_trial,
    "ingest": ingest_trial,
    "damage": damage_trial,
}


# verification -------------------------------------------------------------------------------------
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
    with Client(url, timeout=120) as api:
        for start_at in range(0, len(ids), 500):
            chunk = ids[start_at : start_at + 500]
            got = {p.id: p for p in api.get_points(COLLECTION, chunk, with_vector=True)}
            for pid in chunk:
                vector, payload = ledger.acked[pid]
                if pid not in got:
                    report.missing.append(pid)
                    continue
                if got[pid].payload != payload:
                    report.bad_payload.append(pid)
                if not _same_direction(vector, np.asarray(got[pid].vector, np.float32)):
                    report.bad_vector.append(pid)
        for start_at in range(0, len(ids), 100):
            chunk = ids[start_at : start_at + 100]
            searches = [
                {
                    "query": {"vector": ledger.acked[pid][0].tolist()},
                    "k": 10,
                    "params": {"ef": 128},
                    "with_payload": False,
                }
                for pid in chunk
            ]
            answers = api.search_batch(COLLECTION, searches)
            for pid, hits in zip(chunk, answers, strict=True):
                if pid not in {h.id for h in hits}:
                    report.not_found.append(pid)
    return report


def _same_direction(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to the normalisation a cosine collection may apply."""
    if a.shape != b.shape:
        return False
    cos = float(a @ b) / (float(np.linalg.norm(a)) * float(np.linalg.norm(b)) or 1.0)
    return cos > 1 - 1e-5


def run_kind(kind: str, args: argparse.Namespace, rnd: random.Random, root: Path) -> dict[str, Any]:
    """All trials of one fault kind on a fresh data dir, then the final check."""
    data_dir = root / kind / "data"
    data_dir.parent.mkdir(parents=True)
    ledger = Ledger()
    print(f"\n== {kind}", flush=True)
    for n in range(args.trials):
        print(KINDS[kind](data_dir, n, args, rnd, ledger), flush=True)
    server = start(data_dir, ledger, f"{kind} final restart")
    report = Report() if server is None else verify(server.url, ledger)
    if server is not None:
        server.stop()
    for line in ledger.failed_restarts[:3]:
        print("failed restart:", line)
    for answer in ledger.rejected[:3]:
        print("non-200:", answer)
    for sample in (report.missing, report.bad_payload, report.bad_vector, report.not_found):
        if sample:
            print("e.g.", sample[:5])
    return {
        "fault": kind,
        "trials": args.trials,
        "acknowledged points": len(ledger.acked),
        "lost (acknowledged, missing)": len(report.missing) if server else len(ledger.acked),
        "payload/vector mismatches": len(report.bad_payload) + len(report.bad_vector),
        "not found by search": len(report.not_found),
        "non-200 while streaming": len(ledger.rejected),
        "restarts failed": len(ledger.failed_restarts),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="trials per fault kind")
    parser.add_argument("--faults", default=",".join(KINDS), help="comma-separated fault kinds")
    parser.add_argument("--writers", type=int, default=2, help="concurrent upsert streams")
    parser.add_argument("--min-delay", type=float, default=0.2, help="earliest kill (s)")
    parser.add_argument("--max-delay", type=float, default=3.0, help="latest kill (s)")
    parser.add_argument(
        "--snapshot-window",
        type=float,
        default=0.3,
        help="SIGKILL lands this many seconds after SIGTERM at most (snapshot)",
    )
    parser.add_argument("--ingest-rows", type=int, default=4000, help="rows per ingest trial")
    parser.add_argument(
        "--ingest-max-delay", type=float, default=0.8, help="latest kill into an ingest (s)"
    )
    parser.add_argument("--clean-every", type=int, default=5, help="graceful restart every N")
    parser.add_argument("--seed", type=int, help="random seed (printed when not given)")
    args = parser.parse_args(argv)
    kinds = [k for k in args.faults.split(",") if k]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        parser.error(f"unknown fault kinds {unknown}; known: {', '.join(KINDS)}")
    if args.trials < 1 or args.writers < 1 or not 0 <= args.min_delay <= args.max_delay:
        parser.error("need trials >= 1, writers >= 1, 0 <= min-delay <= max-delay")
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    print(f"trials={args.trials} faults={','.join(kinds)} writers={args.writers} seed={seed}")
    rnd = random.Random(seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nestvec-crash-") as tmp:
        rows = [run_kind(kind, args, rnd, Path(tmp)) for kind in kinds]
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("\n" + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(row[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))
    print(f"wall {time.monotonic() - started:.0f}s")
    bad = sum(
        r["lost (acknowledged, missing)"]
        + r["payload/vector mismatches"]
        + r["not found by search"]
        + r["restarts failed"]
        + r["non-200 while streaming"]
        for r in rows
    )
    ok = bad == 0 and all(r["acknowledged points"] > 0 for r in rows)
    print(f"RESULT: {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
