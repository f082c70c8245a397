"""Mixed-load run with locust: start a real server, run locust headless, print a latency table.

Starts `nestvec serve` (subprocess, temp data dir) unless `--host` is given, runs
`locust -f loadtest/locustfile.py --headless` for a fixed time, then prints per request type and
aggregated: requests, failures, RPS and p50/p95/p99 latency. Exits 1 if any request failed.

    .venv/bin/python loadtest/run_locust.py --users 50 --spawn-rate 10 --duration 300s

Also home of the helpers the other benchmarks here share (`Server`, `scifact_sentences`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared/data"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
_SPLIT = re.compile(r"(?<=[.!?;])\s+")
_SAMPLE = re.compile(r"^(nestvec_encode_\w+?)(_bucket|_sum|_count)\{([^}]*)\}\s+(\S+)$")


def scifact_sentences(n: int, path: Path = DATA / "scifact/corpus.jsonl") -> list[str]:
    """The first `n` unique SciFact sentences (title and text split on [.!?;], 20-300 chars)."""
    seen: dict[str, None] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            for piece in _SPLIT.split(f"{record['title']} {record['text']}"):
                piece = piece.strip()
                if 20 <= len(piece) <= 300:
                    seen.setdefault(piece, None)
                    if len(seen) >= n:
                        return list(seen)
    return list(seen)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`nestvec serve` in a subprocess on loopback; restartable on the same data dir."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir, self.extra_env = data_dir, env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 300.0) -> Server:
        """Start and wait for /readyz (model loading included)."""
        return self.launch().wait_ready(timeout)

    def launch(self) -> Server:
        """Start the process without waiting (overlap its start-up with other work)."""
        cmd = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        env = {**os.environ, "NESTVEC_LOG_LEVEL": "warning", **self.extra_env}
        env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        return self

    def wait_ready(self, timeout: float = 300.0) -> Server:
        """Block until /readyz answers 200; stop it and raise if it exits or times out."""
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"server did not become ready:\n{tail}")
            time.sleep(0.25)
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no snapshots."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self._close_log()

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM (graceful: snapshots written), SIGKILL if it hangs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server process so far (Linux /proc; NaN elsewhere)."""
        try:
            assert self.proc is not None
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, AssertionError, IndexError, ValueError):
            return float("nan")

    def __enter__(self) -> Server:
        return self if self.proc is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


Samples = dict[tuple[str, str, str], float]  # (family, suffix, le) -> value


def scrape(url: str, encoder: str = "minilm") -> Samples:
    """The `nestvec_encode_*` histograms of one encoder from GET /metrics."""
    samples: Samples = {}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        m = _SAMPLE.match(line)
        if m and f'encoder="{encoder}"' in m[3]:
            le = re.search(r'le="([^"]+)"', m[3])
            samples[(m[1], m[2], le[1] if le else "")] = float(m[4])
    return samples


# locust --------------------------------------------------------------------------------------
Row = tuple[str, int, int, float, float, float, float]  # name, requests, failures, rps, p50..p99


def read_stats(prefix: Path) -> list[Row]:
    """Rows of locust's `PREFIX_stats.csv`, the aggregated row last."""
    rows: list[Row] = []
    with Path(f"{prefix}_stats.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            name = r["Name"] if r["Name"] == "Aggregated" else f"{r['Type']} {r['Name']}"
            requests, failures = int(r["Request Count"]), int(r["Failure Count"])
            p50, p95, p99 = (_ms(r[p]) for p in ("50%", "95%", "99%"))
            rows.append((name, requests, failures, float(r["Requests/s"]), p50, p95, p99))
    return rows


def _ms(value: str) -> float:
    return float(value) if value not in ("", "N/A") else float("nan")


def print_table(rows: Sequence[Row]) -> None:
    header = ("request", "requests", "failures", "RPS", "p50 ms", "p95 ms", "p99 ms")
    cells = [header] + [
        (n, str(req), str(fail), f"{rps:.2f}", f"{p50:.0f}", f"{p95:.0f}", f"{p99:.0f}")
        for n, req, fail, rps, p50, p95, p99 in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = [
        " | ".join([c[0].ljust(widths[0]), *(c[i].rjust(widths[i]) for i in range(1, 7))])
        for c in cells
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    if len(lines) > 3:
        lines.insert(len(lines) - 1, lines[1])
    print("\n".join(lines))


def print_failures(prefix: Path) -> None:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            print(f"FAILURE x{r['Occurrences']}: {r['Method']} {r['Name']}: {r['Error'][:300]}")


def print_server_summary(samples: Samples, cpu: float, wall: float) -> None:
    """Where the server's time went: model calls, batch sizes, model time, CPU."""
    calls = samples.get(("nestvec_encode_batch_size", "_count", ""), 0.0)
    texts = samples.get(("nestvec_encode_batch_size", "_sum", ""), 0.0)
    model = samples.get(("nestvec_encode_seconds", "_sum", ""), 0.0)
    queued = samples.get(("nestvec_encode_queue_seconds", "_sum", ""), 0.0)
    print(
        f"server: {calls:.0f} model calls, {texts:.0f} texts "
        f"(mean batch {texts / max(calls, 1):.1f}, {texts / wall:.1f} texts/s); "
        f"model busy {model:.0f}s = {100 * model / wall:.0f}% of {wall:.0f}s wall; "
        f"mean queue wait per batch {1000 * queued / max(calls, 1):.0f} ms; "
        f"server CPU {cpu:.0f}s ({cpu / wall:.2f} cores)"
    )


def run_locust(args: argparse.Namespace, host: str, out_dir: Path) -> tuple[int, Path]:
    """Run locust headless; its exit code and the CSV prefix (its log goes to out_dir)."""
    prefix = out_dir / "locust"
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    cmd += ["-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.duration]
    cmd += ["--host", host, "--csv", str(prefix), "--stop-timeout", str(args.stop_timeout)]
    cmd += ["--only-summary", "--logfile", str(out_dir / "locust.log")]
    env = {**os.environ, "LOADTEST_WAIT": f"{args.wait[0]},{args.wait[1]}"}
    limit = _seconds(args.duration) + args.stop_timeout + 180
    with (out_dir / "locust.out").open("wb") as out:
        try:
            rc = subprocess.run(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=limit
            ).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    return rc, prefix


def _seconds(duration: str) -> float:
    """Locust's time format (`300`, `300s`, `5m`, `1h30m`) in seconds."""
    if duration.isdigit():
        return float(duration)
    parts = re.findall(r"(\d+)\s*([hms])", duration)
    if not parts:
        raise ValueError(f"bad duration {duration!r}")
    return float(sum(int(v) * {"h": 3600, "m": 60, "s": 1}[u] for v, u in parts))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent simulated users")
    parser.add_argument("--spawn-rate", type=float, default=10, help="users started per second")
    parser.add_argument("--duration", default="300s", help="run time (300s, 5m, ...)")
    parser.add_argument("--host", help="target a running server instead of starting one")
    parser.add_argument(
        "--wait",
        type=float,
        nargs=2,
        default=(0.5, 1.5),
        metavar=("MIN", "MAX"),
        help="per-user think time between requests, seconds",
    )
    parser.add_argument("--stop-timeout", type=int, default=30, help="let tasks finish (s)")
    parser.add_argument("--out", type=Path, help="keep locust CSVs and logs here")
    args = parser.parse_args(argv)
    try:
        _seconds(args.duration)
    except ValueError as exc:
        parser.error(str(exc))
    with tempfile.TemporaryDirectory(prefix="nestvec-locust-") as tmp:
        out_dir = args.out or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        print(
            f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} users={args.users} "
            f"spawn_rate={args.spawn_rate} duration={args.duration} wait={tuple(args.wait)}",
            flush=True,
        )
        # the locustfile's model loaded before the clock starts (/readyz waits for it): a cold
        # first load took 8 of a 10 s smoke run, and the run measured start-up, not serving
        preload = {"NESTVEC_PRELOAD_ENCODERS": "minilm"}
        server = None if args.host else Server(Path(tmp) / "data", preload)
        try:
            host = args.host or server.start().url  # type: ignore[union-attr]
            started = time.monotonic()
            cpu0 = server.cpu_seconds() if server else float("nan")
            rc, prefix = run_locust(args, host, out_dir)
            wall = time.monotonic() - started
            if server is not None:
                print_server_summary(scrape(host), server.cpu_seconds() - cpu0, wall)
        finally:
            if server is not None:
                server.stop()
        if not Path(f"{prefix}_stats.csv").exists():
            print(f"locust exited {rc} without stats; see {out_dir}/locust.out")
            print((out_dir / "locust.out").read_text(errors="replace")[-3000:])
            return 1
        rows = read_stats(prefix)
        print(f"locust exit={rc} wall={wall:.0f}s load={os.getloadavg()[0]:.1f}")
        print_table(rows)
        print_failures(prefix)
        total, failures = rows[-1][1], rows[-1][2]
        ok = rc == 0 and failures == 0 and total > 0
        print(f"RESULT: {'OK' if ok else 'FAIL'} requests={total} errors={failures}")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
