"""A file-descriptor limit too low for the collections on disk: one line at start, never a
collection marked damaged; lower ones are lifted to the hard limit."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

from index.catalog import Catalog, CollectionConfig

NESTVEC = str(Path(sys.executable).parent / "nestvec")


def limited(soft: int, hard: int):  # noqa: ANN201 (preexec_fn)
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def make_collections(data: Path, n: int) -> None:
    catalog = Catalog(data)
    for i in range(n):
        catalog.create(CollectionConfig(name=f"c{i}", dim=2))
    catalog.close()


def test_serve_refuses_a_limit_the_collections_need_more_than(tmp_path: Path) -> None:
    make_collections(tmp_path / "data", 20)  # 20 x 4 + 256 = 336 descriptors
    env = {**os.environ, "NESTVEC_PRELOAD_ENCODERS": ""}
    args = [NESTVEC, "serve", "--data-dir", str(tmp_path / "data"), "--port", "1"]
    done = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=30, preexec_fn=limited(300, 300)
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "nestvec: error: 20 collections need about 336 open files; the limit is 300 "
        "(raise it: ulimit -n 336)"
    ]


def test_running_out_of_descriptors_at_start_marks_no_collection_unavailable(
    tmp_path: Path,
) -> None:
    """SQLite says only "unable to open database file": it read as a damaged store, and every
    collection past the limit was refused until restored from a backup."""
    make_collections(tmp_path / "data", 12)
    script = textwrap.dedent(f"""
        import errno, os, resource, sys
        from index.catalog import Catalog
        used = len(os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (used + 40, used + 40))
        try:
            catalog = Catalog({str(tmp_path / "data")!r})
        except OSError as exc:
            print("refused", exc.errno == errno.EMFILE, exc.strerror)
            sys.exit(0)
        print("opened", sorted(catalog.unavailable))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # EMFILE, raised where the limit was met (opening a store, or loading its snapshot), never
    # a collection listed as unavailable
    assert done.stdout.lower().startswith("refused true too many open files"), done.stdout


def test_every_command_lifts_a_soft_limit_below_the_hard_one(tmp_path: Path) -> None:
    """`analyze` opens every collection: with a soft 256 it stopped at the 64th, EMFILE."""
    make_collections(tmp_path / "data", 100)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    args = [NESTVEC, "analyze", "recall", "--data-dir", str(tmp_path / "data")]
    args += ["--collection", "c0", "--out", str(tmp_path / "out")]
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=60, preexec_fn=limited(256, hard)
    )
    assert done.stderr.strip().splitlines() == [
        "nestvec analyze recall: error: --collection: a recall measurement needs at least 1 "
        "point; the collection has 0"
    ]
