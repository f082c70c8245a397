"""The ingest progress bar on a terminal: its total is the source's estimate until the source is
read to its end, and then the rows read (it ended at 3000/3101)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import random
import struct
import subprocess
import sys
import termios
from pathlib import Path

NESTVEC = str(Path(sys.executable).parent / "nestvec")


def test_a_finished_bar_shows_the_rows_read_not_the_estimate(tmp_path: Path) -> None:
    rng = random.Random(0)
    source = tmp_path / "s.jsonl"
    with source.open("w") as f:  # rows of uneven length: a size-based estimate is off
        for i in range(3000):
            row = {"id": i, "v": [rng.random() for _ in range(4)], "pad": "x" * rng.randint(0, 80)}
            f.write(json.dumps(row) + "\n")
    argv = [NESTVEC, "ingest", str(source), "--collection", "c", "--vector-field", "v"]
    argv += ["--dim", "4", "--data-dir", str(tmp_path / "data")]
    leader, follower = pty.openpty()  # the bar draws only on a terminal, of some width
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    done = subprocess.run(argv, stderr=follower, stdout=subprocess.DEVNULL, timeout=120)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal's other end closed
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert done.returncode == 0
    last = drawn.replace(b"\r", b"\n").decode().strip().splitlines()[-1]
    assert "3000/3000" in last, drawn.decode()[-500:]
