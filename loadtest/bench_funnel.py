"""Matryoshka funnel search vs full-width hnsw on 50,000 real vectors: the recall@10 / QPS curve.

Vectors: 50,000 SciFact sentences and 1,000 held-out query sentences (the set and cache of
bench_search.py: abstracts split into sentences, every 50th abstract held out for queries),
encoded with `minilm` and mapped by the committed Matryoshka adapter, i.e. exactly what the
`minilm-mrl-adapter` encoder serves (`--vectors pca` uses the PCA rotation instead, `--vectors
raw` plain minilm). All searches go through `Collection.search` (the service's in-process path),
one query per call, interleaved, best of --repeats.

Rows: exact search (a `flat` collection, recall 1 by definition); an `hnsw` collection at its
defaults (M=16, ef_construction=200) over ef 16..256; funnels whose first tier is an HNSW graph
over the prefix (the default tier; shortlist × ef) or a flat scan of it. Each funnel's QPS is
divided by hnsw's at the same recall@10: by the cheapest hnsw ef that reaches it, and by linear
interpolation along hnsw's curve. The curve is drawn to --plot.

    .venv/bin/python loadtest/bench_funnel.py [--queries 300] [--vectors adapter] [--plot PNG]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "loadtest"))
from bench_search import DEFAULT_CACHE, load_scifact  # noqa: E402

from encoders.mrl.adapter import LinearAdapter, pca_rotation  # noqa: E402
from encoders.mrl.adapter_encoder import PACKAGED  # noqa: E402
from index.collection import Collection, CollectionConfig  # noqa: E402
from index.funnel_spec import DEFAULT_TIER  # noqa: E402

K, N = 10, 50_000
HNSW_EFS = (16, 24, 32, 48, 64, 96, 128, 256)  # hnsw collection (M=16, ef_construction=200)
# Funnels with the default tier (an HNSW graph over the prefix, ef = the shortlist unless given),
# a wider beam at the same shortlist, and the flat tier they replace.
FUNNELS: list[dict[str, Any]] = (
    [{"dims": [64], "shortlist": s} for s in (50, 100, 200, 400)]
    + [{"dims": [64], "shortlist": 100, "ef": 200}, {"dims": [128], "shortlist": 50, "ef": 100}]
    + [{"dims": [32], "shortlist": s} for s in (200, 400)]
    + [{"dims": [128], "shortlist": s} for s in (25, 40, 50, 75, 100, 200)]
    + [{"dims": [64, 128], "shortlist": [400, 100]}]
    + [{"dims": [64], "shortlist": s, "tier": "flat"} for s in (100, 200, 400)]
    + [{"dims": [128], "shortlist": 50, "tier": "flat"}]
)
DEFAULT_HNSW_EF = 64  # HnswParams.ef
DEFAULT_PLOT = ROOT / "data" / "bench_funnel.png"
GOAL = 1.5  # issue 18: funnel QPS >= 1.5x hnsw QPS at equal recall@10


def vectors(kind: str, n_queries: int) -> tuple[np.ndarray, np.ndarray, str]:
    data = load_scifact(N, 1000, DEFAULT_CACHE)
    base, queries = data.base, data.queries[:n_queries]
    if kind == "raw":
        return base, queries, "minilm (not Matryoshka)"
    if kind == "pca":
        r = pca_rotation(base)
        return base @ r.T, queries @ r.T, "minilm + PCA rotation"
    adapter = LinearAdapter.load(PACKAGED / "minilm.npz")
    return adapter.apply(base), adapter.apply(queries), "minilm-mrl-adapter (committed adapter)"


def build(path: Path, index_type: str, base: np.ndarray) -> Collection:
    config = CollectionConfig(name=index_type, dim=base.shape[1], index_type=index_type)
    collection = Collection.create(path / index_type, config)
    ids = [str(i) for i in range(len(base))]
    for start in range(0, len(base), 5000):
        stop = start + 5000
        collection.upsert(ids[start:stop], base[start:stop], [{}] * (stop - start))
    return collection


def single_queries(search: Callable[[np.ndarray], list[Any]], queries: np.ndarray) -> tuple:
    """(top-k ids per query, seconds) with one query per call, as REST searches arrive."""
    found, start = [], time.perf_counter()
    for q in queries:
        found.append([int(h.id) for h in search(q[None, :])[0]])
    return np.array(found), time.perf_counter() - start


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def funnel_name(f: dict[str, Any]) -> str:
    tier = f.get("tier", DEFAULT_TIER)
    ef = f" ef {f['ef']}" if "ef" in f else ""
    return f"funnel {tier} {f['dims']} / {f['shortlist']}{ef}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vectors", choices=["adapter", "pca", "raw"], default="adapter")
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help="PNG of the curve")
    args = parser.parse_args()
    base, queries, label = vectors(args.vectors, args.queries)
    normed_b = base / np.linalg.norm(base, axis=1, keepdims=True)
    normed_q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    truth = np.argsort(-(normed_q @ normed_b.T), axis=1, kind="stable")[:, :K]
    with tempfile.TemporaryDirectory() as tmp:
        flat = build(Path(tmp), "flat", base)
        hnsw = build(Path(tmp), "hnsw", base)
        runs: dict[str, Callable[[np.ndarray], list[Any]]] = {
            "exact (flat)": lambda q: flat.search(q, K, with_payload=False)
        }
        for ef in HNSW_EFS:
            runs[f"hnsw ef {ef}"] = lambda q, ef=ef: hnsw.search(
                q, K, with_payload=False, params={"ef": ef}
            )
        for f in FUNNELS:
            runs[funnel_name(f)] = lambda q, f=f: flat.search(q, K, with_payload=False, funnel=f)
        plain_write = rewrite_seconds(flat, base)
        start = time.perf_counter()
        for f in FUNNELS:  # build the in-memory tiers and graphs before timing
            flat.search(queries[:1], K, funnel=f)
        print(f"funnel tiers built in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        funnel_write = rewrite_seconds(flat, base)
        best = {name: float("inf") for name in runs}
        recalls: dict[str, float] = {}
        for _ in range(args.repeats):  # interleaved, so load changes hit every row alike
            for name, search in runs.items():
                found, seconds = single_queries(search, queries)
                best[name] = min(best[name], seconds)
                recalls[name] = recall(found, truth)
    qps = {name: len(queries) / seconds for name, seconds in best.items()}
    title = f"{len(base):,} SciFact sentences, {len(queries)} held-out queries; {label}"
    report(title, qps, recalls)
    plot(qps, recalls, title, args.plot)
    print(
        f"one-point upsert (a stored point rewritten) with the funnel's tiers and graphs built "
        f"÷ before any: {funnel_write / plain_write:.2f}x (the write keeps them in step)"
    )
    print(f"\nplot: {args.plot}")


def rewrite_seconds(collection: Collection, base: np.ndarray, n: int = 50) -> float:
    """Median seconds of a one-point upsert that rewrites a stored point unchanged."""
    times = []
    for i in range(n):
        start = time.perf_counter()
        collection.upsert([str(i)], base[i : i + 1], [{}])
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def hnsw_curve(qps: dict[str, float], recalls: dict[str, float]) -> list[tuple[float, float]]:
    """(recall, QPS) of full-width hnsw, Pareto front by rising recall."""
    points = sorted((recalls[m], qps[m]) for m in qps if m.startswith("hnsw"))
    return [p for i, p in enumerate(points) if all(p[1] > q[1] for q in points[i + 1 :])]


def hnsw_qps_at(curve: list[tuple[float, float]], r: float) -> tuple[float | None, float | None]:
    """hnsw QPS at recall r: (the cheapest ef reaching r, linear interpolation); None above."""
    reaching = [q for rec, q in curve if rec >= r]
    if not reaching:
        return None, None
    recs, rates = zip(*curve, strict=True)
    return max(reaching), float(np.interp(r, recs, rates))


def report(title: str, qps: dict[str, float], recalls: dict[str, float]) -> None:
    exact, curve = qps["exact (flat)"], hnsw_curve(qps, recalls)
    print(f"\nfunnel search vs hnsw at full width on {title}")
    print(
        f"{'search':<40} {'recall@10':>9} {'QPS':>8} {'÷ exact':>8} "
        f"{'÷ hnsw (ef reaching)':>21} {'÷ hnsw (interp.)':>17}"
    )
    ratios: dict[str, float] = {}
    for name, rate in qps.items():
        paired, interp = hnsw_qps_at(curve, recalls[name])
        cells = ["", ""]
        if name.startswith("funnel") and paired is not None and interp is not None:
            ratios[name] = rate / paired
            cells = [f"{rate / paired:.2f}x", f"{rate / interp:.2f}x"]
        elif name.startswith("funnel"):
            cells = ["above hnsw", "above hnsw"]
        print(
            f"{name:<40} {recalls[name]:>9.4f} {rate:>8.1f} {rate / exact:>7.2f}x "
            f"{cells[0]:>21} {cells[1]:>17}"
        )
    default = recalls[f"hnsw ef {DEFAULT_HNSW_EF}"]
    reach = [m for m in ratios if recalls[m] >= default]
    if reach:
        pick = max(reach, key=lambda m: qps[m])
        print(
            f"\nat hnsw's default ef {DEFAULT_HNSW_EF} (recall@10 {default:.4f}): fastest funnel "
            f"reaching it is {pick}: recall@10 {recalls[pick]:.4f}, "
            f"{qps[pick] / qps[f'hnsw ef {DEFAULT_HNSW_EF}']:.2f}x hnsw ef {DEFAULT_HNSW_EF} QPS"
        )
    if ratios:
        pick = max(ratios, key=lambda m: ratios[m])
        print(
            f"best funnel ÷ hnsw at equal recall@10: {pick}: {ratios[pick]:.2f}x "
            f"(recall@10 {recalls[pick]:.4f}; goal >= {GOAL}x)"
        )


def plot(qps: dict[str, float], recalls: dict[str, float], title: str, path: Path) -> None:
    """recall@10 (x) against QPS (y, log) for hnsw, the hnsw-tier and flat-tier funnels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    series = {
        "hnsw, full width (ef)": [m for m in qps if m.startswith("hnsw")],
        "funnel, hnsw tier": [m for m in qps if m.startswith("funnel hnsw")],
        "funnel, flat tier": [m for m in qps if m.startswith("funnel flat")],
        "exact (flat)": ["exact (flat)"],
    }
    for (label, names), marker in zip(series.items(), "os^D", strict=True):
        names = sorted(names, key=lambda m: recalls[m])
        xs, ys = [recalls[m] for m in names], [qps[m] for m in names]
        line = "-" if label.startswith("hnsw") else ""
        ax.plot(xs, ys, marker=marker, linestyle=line, label=label)
        for m, x, y in zip(names, xs, ys, strict=True):
            text = m.split(" ", 2)[-1] if m.startswith("funnel") else m.removeprefix("hnsw ")
            ax.annotate(text, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_yscale("log")
    ax.set_xlabel("recall@10 against exact full-width kNN")
    ax.set_ylabel("single-query QPS (Collection.search)")
    ax.set_title(f"Matryoshka funnel vs hnsw — {title}", fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


if __name__ == "__main__":
    main()
