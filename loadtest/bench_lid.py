"""Time pointwise LID (MLE over exact kNN) against a bare faiss exact kNN search.

    python loadtest/bench_lid.py --n 100000 --dim 384
    python loadtest/bench_lid.py --npy vectors.npy --k 100

Prints a table with both times and the ratio ours / bare faiss (target <= 1.3). Runs are
interleaved and the best of --repeat counts; CPU seconds (all threads of this process) are
shown beside wall time because they barely move when other work shares the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from index.analysis.intrinsic_dimension import lid_mle
from index.analysis.knn import available_cores
from index.analysis.synthetic import subspace_vectors


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=100_000, help="synthetic vectors (default 100000)")
    p.add_argument("--dim", type=int, default=384, help="synthetic dimension (default 384)")
    p.add_argument("--rank", type=int, default=48, help="synthetic subspace rank (default 48)")
    p.add_argument("--noise", type=float, default=0.01, help="synthetic noise (default 0.01)")
    p.add_argument("--npy", type=Path, help="use these (n, dim) vectors instead of synthetic ones")
    p.add_argument("--k", type=int, default=100, help="neighbours (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="default: all cores")
    p.add_argument(
        "--repeat", type=int, default=2, help="interleaved runs of each; the best counts (2)"
    )
    return p.parse_args(argv)


def load_vectors(args: argparse.Namespace) -> tuple[np.ndarray, str]:
    if args.npy is not None:
        x = np.load(args.npy, mmap_mode="r")
        return np.ascontiguousarray(x, dtype=np.float32), f"{args.npy.name}"
    x = subspace_vectors(args.n, args.dim, args.rank, seed=args.seed, noise=args.noise)
    return x, f"synthetic rank-{args.rank} subspace + noise {args.noise}"


Timing = tuple[float, float]  # (wall seconds, CPU seconds of this process, all threads)


def _clock() -> Timing:
    return time.perf_counter(), time.process_time()


def _since(start: Timing) -> Timing:
    now = _clock()
    return now[0] - start[0], now[1] - start[1]


def bare_faiss(x: np.ndarray, k: int, threads: int) -> Timing:
    faiss.omp_set_num_threads(threads)
    start = _clock()
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    index.search(x, k)
    return _since(start)


def ours(x: np.ndarray, k: int, threads: int) -> tuple[Timing, np.ndarray]:
    start = _clock()
    lid = lid_mle(x, k, threads=threads)
    return _since(start), lid


def _fmt(runs: list[Timing]) -> str:
    return ", ".join(f"{wall:.2f}" for wall, _ in runs)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    x, source = load_vectors(args)
    threads = args.threads or available_cores()
    print(f"data: {source}; n={x.shape[0]:,} dim={x.shape[1]} k={args.k} threads={threads}")
    print(f"faiss {faiss.__version__}, numpy {np.__version__}")
    faiss_runs: list[Timing] = []
    our_runs: list[Timing] = []
    for _ in range(max(1, args.repeat)):  # interleaved, so a busy spell hits both alike
        faiss_runs.append(bare_faiss(x, args.k, threads))
        timing, lid = ours(x, args.k, threads)
        our_runs.append(timing)
    f_wall, f_cpu = min(r[0] for r in faiss_runs), min(r[1] for r in faiss_runs)
    o_wall, o_cpu = min(r[0] for r in our_runs), min(r[1] for r in our_runs)
    print(f"{'step':<28} {'wall s':>8} {'CPU s':>8}  wall of each run")
    print(f"{'bare faiss IndexFlatL2 kNN':<28} {f_wall:8.2f} {f_cpu:8.2f}  {_fmt(faiss_runs)}")
    print(f"{'lid_mle (kNN + MLE)':<28} {o_wall:8.2f} {o_cpu:8.2f}  {_fmt(our_runs)}")
    print(f"{'ratio ours / faiss':<28} {o_wall / f_wall:8.2f} {o_cpu / f_cpu:8.2f}  target <= 1.30")
    print(f"LID: mean {lid.mean():.2f}, median {np.median(lid):.2f} (k={args.k})")
    return 0 if min(o_wall / f_wall, o_cpu / f_cpu) <= 1.3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
