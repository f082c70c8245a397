"""loadtest/bench_scale.py end to end at a tiny size: every table prints, answers are right.

A real `nestvec serve`, a real `nestvec ingest`, raw hnswlib and faiss; no timing assertions,
only that each section is there and that the recall it measures is that of a working search
(a wiring mistake, such as ids read wrongly or a filter not applied, shows as recall near 0).
"""

from __future__ import annotations

import re

from test_loadtest_smoke import run_script

SIZES = ("3000", "6000")  # the 1% filter keeps about 30 points, enough for k=10


def cells(out: str, size: str, section: str) -> dict[str, list[str]]:
    """Rows of one table of the output: first cell -> the other cells."""
    block = out.split(f"== {int(size):,} points: {section}")[1].split("\n\n")[0]
    rows = {}
    for line in block.splitlines()[3:]:
        parts = [c.strip() for c in line.split("|")]
        rows[parts[0]] = parts[1:]
    return rows


def test_bench_scale_prints_every_section_with_working_searches() -> None:
    args = ("--sizes", ",".join(SIZES), "--seconds", "0.1", "--queries", "20", "--threads", "2")
    code, out = run_script("bench_scale.py", *args, timeout=600)
    assert code == 0, out[-3000:]
    for size in SIZES:
        ingest = cells(out, size, "ingest")
        assert {"raw hnswlib", "nestvec REST", "nestvec offline ingest"} <= set(ingest), out
        assert ingest["raw hnswlib"][1] == "1.00"
        for section in ("memory", "disk", "start-up", "search ratios"):
            assert cells(out, size, section), section
        search = cells(out, size, "search (k=10, ef=64)")
        for flt in ("unfiltered", "1% n == 7", "10% n < 10", "50% n < 50", "5% tag == tag03"):
            for system in ("raw hnswlib", "nestvec REST"):
                found = re.match(r"([\d.]+) \((\d+)\)", search[f"{flt}, {system}"][2])
                assert found, search
                assert float(found[1]) >= 0.9 and found[2] == "20", (flt, system, found[0])
    growth = out.split("== growth from 3,000 to 6,000 points")[1]
    assert "disk bytes/point, nestvec REST" in growth and "slope" in growth
