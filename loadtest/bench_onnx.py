"""ONNX Runtime backends of `minilm` against its torch (sentence-transformers) fp32 model.

On the same SciFact abstracts, in one run, passes interleaved so machine noise hits all alike:
texts/s of torch fp32, ONNX fp32 and ONNX int8 (dynamic, per-channel), the speed ratios to
torch (target: int8 >= 1.5x) and the cosine of each backend's vectors to torch's (target >= 0.99).

    .venv/bin/python loadtest/bench_onnx.py [--n 512] [--repeats 3] [--batch-size 32]
    .venv/bin/python loadtest/bench_onnx.py --sentences 2000   # short texts: the worst cosines
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from encoders.minilm import MiniLMEncoder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_locust import scifact_sentences  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BACKENDS = ("torch", "onnx", "onnx-int8")


def scifact_abstracts(n: int) -> list[str]:
    with (DATA / "scifact" / "corpus.jsonl").open() as lines:
        docs = [json.loads(line) for _, line in zip(range(n), lines, strict=False)]
    return [f"{d['title']} {d['text']}" for d in docs]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="SciFact abstracts (<= 5183)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved passes; best kept")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sentences", type=int, help="this many SciFact sentences, not abstracts")
    args = parser.parse_args(argv)
    texts = scifact_sentences(args.sentences) if args.sentences else scifact_abstracts(args.n)
    print(
        f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} n={len(texts)} "
        f"batch_size={args.batch_size} repeats={args.repeats}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="nestvec-onnx-") as cache:
        encoders = {
            name: MiniLMEncoder(backend=name, batch_size=args.batch_size, onnx_dir=Path(cache))
            for name in BACKENDS
        }
        for encoder in encoders.values():
            encoder.encode(texts[: args.batch_size])  # warm-up
        best = dict.fromkeys(BACKENDS, float("inf"))
        vectors: dict[str, np.ndarray] = {}
        for _ in tqdm(range(args.repeats), desc="passes"):
            for name, encoder in encoders.items():
                start = time.perf_counter()
                vectors[name] = encoder.encode(texts)
                best[name] = min(best[name], time.perf_counter() - start)
    print(f"\n{'backend':<10} | {'texts/s':>8} | {'÷ torch':>7} | cos mean | cos min | cos 0.1%")
    print("+".join("-" * width for width in (11, 10, 9, 10, 9, 9)))
    for name in BACKENDS:
        cosine = (vectors[name] * vectors["torch"]).sum(axis=1)  # both are unit vectors
        print(
            f"{name:<10} | {len(texts) / best[name]:8.1f} | {best['torch'] / best[name]:7.2f} | "
            f"{cosine.mean():8.4f} | {cosine.min():7.4f} | {np.quantile(cosine, 0.001):8.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
