"""Smoke runs of the load-test scripts: a short locust run and a tiny embed benchmark.

Each script starts its own `nestvec serve` subprocess; timeouts are generous for a loaded
2-core machine, and on a timeout the script's whole process group is killed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import LiveServer

ROOT = Path(__file__).resolve().parents[1]
LOADTEST = ROOT / "loadtest"


def run_script(name: str, *args: str, timeout: float = 300) -> tuple[int, str]:
    """Run loadtest/`name` in a session of its own; exit code and stdout+stderr."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen(
        [sys.executable, str(LOADTEST / name), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        start_new_session=True,  # its server and locust share the group: one kill ends all
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{name} timed out after {timeout}s:\n{out[-3000:]}")
    return proc.returncode, out


def table_rows(out: str) -> dict[str, list[str]]:
    """The rows of run_locust's table: request name -> the other cells."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 7 and cells[1].isdigit():
            rows[cells[0]] = cells[1:]
    return rows


def test_short_locust_run_has_no_failures(tmp_path: Path) -> None:
    if importlib.util.find_spec("locust") is None:  # not imported here: it monkey-patches
        pytest.skip("locust is not installed (pip install -e '.[dev]')")
    args = ["--users", "4", "--spawn-rate", "4", "--duration", "10s", "--out", str(tmp_path)]
    code, out = run_script("run_locust.py", *args)
    assert code == 0, out
    rows = table_rows(out)
    assert "Aggregated" in rows, out
    assert int(rows["Aggregated"][0]) > 0
    assert all(cells[1] == "0" for cells in rows.values()), out  # failures column
    assert {"POST embed", "POST search"} <= set(rows), out
    assert "RESULT: OK" in out


def test_bench_embed_prints_a_ratio() -> None:
    code, out = run_script("bench_embed.py", "--n", "32", "--repeats", "1")
    assert code == 0, out
    match = re.search(r"ratio REST÷plain: (\d+\.\d+)", out)
    assert match and float(match[1]) > 0, out
    assert "nestvec_encode_batch_size" in out


def test_bench_embed_times_a_peer_through_its_openai_endpoint(live_server: LiveServer) -> None:
    """Another nestvec serves as the peer: its /v1/embeddings has the OpenAI shape that infinity
    and TEI answer too."""
    peer = ("--peer-url", f"{live_server.url}/v1", "--peer-model", "minilm")
    code, out = run_script("bench_embed.py", "--n", "24", "--repeats", "1", *peer)
    assert code == 0, out
    match = re.search(r"peer÷plain: (\d+\.\d+); nestvec÷peer: (\d+\.\d+); .* (\d\.\d+)$", out, re.M)
    assert match and float(match[1]) > 0 and float(match[2]) > 0, out
    # the peer embedded the same texts with the same model, in nestvec's default runtime (int8 on
    # CPUs without AMX: cosine >= 0.99 to the plain float32 encode)
    assert float(match[3]) >= 0.99, out


def test_bench_families_prints_each_row(tmp_path: Path) -> None:
    # an empty models dir: the MoE row must say how to get its model instead of failing
    args = [
        "--n",
        "24",
        "--repeats",
        "1",
        "--rows",
        "minilm,moe,face",
        "--models-dir",
        str(tmp_path),
    ]
    code, out = run_script("bench_families.py", *args, timeout=600)
    assert code == 0, out
    row = re.search(r"minilm, torch\s+\|\s+([\d.]+)\s+\|\s+([\d.]+)\s+\|\s+([\d.]+)", out)
    assert row and float(row[3]) > 0, out
    assert re.search(r"minilm ÷ its encoder in process\s+\|\s+[\d.]+.*both (float32|bfloat16)", out)
    assert re.search(r"moe-minilm.*skipped.*not trained", out), out
    assert re.search(r"face-dlib, 4 clients x 1 photo\s+\|\s+[\d.]+", out) or "no " in out, out


def test_onnx_domains_compares_both_int8_exports_per_domain() -> None:
    code, out = run_script("onnx_domains.py", "--n", "8")
    assert code == 0, out[-3000:]
    rows = [line.split("|") for line in out.splitlines() if line.count("|") == 6]
    exports = [cells[2].strip() for cells in rows[1:]]  # after the header
    assert exports.count("plain int8") == exports.count("shipped int8") == 6, out[-3000:]
    assert all(0.9 < float(cells[4]) <= 1.0001 for cells in rows[1:]), out[-3000:]
    assert re.search(r"shipped int8: \d of 6 domains", out)
