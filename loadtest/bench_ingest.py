"""Offline build throughput against raw `SentenceTransformer.encode`, and peak memory vs size.

Throughput: the first `--docs` SciFact documents are written to a JSONL file; in one process
with one loaded model, raw `model.encode(texts)` (all texts in one call, so it sorts them all
by length) alternates with full `ingest.pipeline.build`s of the same file (reading, checks,
encoding, SQLite commits, HNSW build, snapshot, publish): raw, build, raw, build, raw. The
ratio is build items/s over raw items/s (means); the target is >= 0.9 (the build is bound by
encoding). It is given on the wall clock and on this process's CPU time: on a shared machine
the wall clock moves with other load, CPU seconds much less.

Memory: `nestvec ingest` runs as a subprocess on `--rss-docs` and twice as many titles; the
table shows each one's peak RSS (flat means streaming: no whole-file loads).

    .venv/bin/python loadtest/bench_ingest.py [--docs 2000] [--rss-docs 2500] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared/data/scifact/corpus.jsonl"
sys.path.insert(0, str(ROOT))  # run as a script from a checkout: import the project's packages
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # keep the table readable


def write_slice(corpus: Path, n: int, out: Path, title_only: bool = False) -> list[str]:
    """Write the first `n` documents to `out` (ids made unique past the corpus); return texts."""
    with corpus.open(encoding="utf-8") as f:
        docs = [json.loads(line) for line in f]
    rows = []
    for i in range(n):
        doc = dict(docs[i % len(docs)], _id=f"{docs[i % len(docs)]['_id']}-{i // len(docs)}")
        if title_only:
            doc["text"] = ""
        rows.append(doc)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return [" ".join(p.strip() for p in (r["title"], r["text"]) if p.strip()) for r in rows]


@dataclass(frozen=True)
class Timing:
    """Wall seconds and this process's CPU seconds (all threads) for one run."""

    wall: float
    cpu: float


@contextmanager
def timed(into: list[Timing]) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into.append(Timing(time.perf_counter() - wall, time.process_time() - cpu))


def raw_encode(model: Any, texts: list[str]) -> None:
    """One raw sentence-transformers encode of every text (one call: sorted by length)."""
    model.encode(texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False)


def build_file(pool: Any, source: Path, data_dir: Path) -> Any:
    """A whole offline build of `source` with the already loaded model; its summary."""
    from ingest.pipeline import build
    from ingest.plan import IngestOptions

    options = IngestOptions(
        source=source,
        collection="bench",
        data_dir=data_dir,
        encoder="minilm",
        id_field="_id",
        input_fields=("title", "text"),
        progress=False,
    )
    return build(options, pool, notes=lambda _: None)


def peak_rss_mb(source: Path, data_dir: Path) -> float:
    """Peak resident memory (MB) of a `nestvec ingest` subprocess building `source`."""
    command = [str(Path(sys.executable).parent / "nestvec"), "ingest", str(source)]
    command += ["--collection", "rss", "--encoder", "minilm", "--id-field", "_id"]
    command += ["--text-field", "title,text", "--data-dir", str(data_dir), "--no-progress"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"nestvec ingest failed ({status})")
    return usage.ru_maxrss / 1024  # KiB on Linux


def throughput(args: argparse.Namespace, work: Path) -> list[tuple[str, str]]:
    from encoders import EncoderPool
    from encoders.minilm import load_minilm

    source = work / "docs.jsonl"
    texts = write_slice(args.corpus, args.docs, source)
    pool = EncoderPool()
    model = load_minilm()  # the plain float32 SentenceTransformer a user would run
    raw_encode(model, texts[:64])  # warm-up
    raw: list[Timing] = []
    built: list[Timing] = []
    summary = None
    for i in range(args.repeats):  # raw, build, raw, build, raw: drift hits both alike
        with timed(raw):
            raw_encode(model, texts)
        with timed(built):
            summary = build_file(pool, source, work / f"data{i}")
    with timed(raw):
        raw_encode(model, texts)
    assert summary is not None and summary.count == args.docs
    rows = [("documents (SciFact title + abstract)", f"{args.docs}")]
    for clock in ("wall", "cpu"):
        raw_rate = args.docs / statistics.mean(getattr(t, clock) for t in raw)
        build_rate = args.docs / statistics.mean(getattr(t, clock) for t in built)
        unit = "items/s" if clock == "wall" else "items per CPU-s"
        rows += [
            (f"raw SentenceTransformer.encode {unit}", f"{raw_rate:.1f}"),
            (f"nestvec ingest (whole build) {unit}", f"{build_rate:.1f}"),
            (f"ratio ingest / raw, {clock} clock (target >= 0.9)", f"{build_rate / raw_rate:.3f}"),
        ]
    walls = ", ".join(f"{t.wall:.0f}" for t in raw)
    rows += [
        ("raw encode wall s, in run order", walls),
        (
            "build: encode+commit s, index s",
            f"{summary.write_seconds:.1f}, {summary.index['seconds']:.1f}",
        ),
    ]
    return rows


def memory(args: argparse.Namespace, work: Path) -> list[tuple[str, str]]:
    rows = []
    for n in (args.rss_docs, 2 * args.rss_docs):
        source = work / f"titles-{n}.jsonl"
        write_slice(args.corpus, n, source, title_only=True)
        rows.append(
            (f"peak RSS, {n} items (titles) MB", f"{peak_rss_mb(source, work / f'rss{n}'):.0f}")
        )
    return rows


def print_table(rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>12}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000, help="SciFact documents (max 5183)")
    parser.add_argument("--rss-docs", type=int, default=2500, help="items of the 1x RSS run")
    parser.add_argument("--repeats", type=int, default=2, help="builds, each between raws")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="BEIR corpus.jsonl")
    parser.add_argument("--skip-memory", action="store_true", help="throughput only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        rows = throughput(args, Path(tmp))
        if not args.skip_memory:
            rows += memory(args, Path(tmp))
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
