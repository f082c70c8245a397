"""bench_recommend.py cora: multi-interest vs single-vector users, chosen on validation users.

The papers (users) are split in half by a seeded shuffle: every choice (interests per history
size, merge, MMR λ, the recency half-life) is made on the validation half by recall@20 on
histories of >= 5 items; the test half is scored once with the chosen settings, against the mean
vector and the recency-weighted mean vector, with a per-length breakdown.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from nestvec.client import Client

K = 21  # one more than recall@20 needs: the paper itself is dropped client-side
MIN_GOAL = 5  # the goal is measured on histories of at least this many items
ITEMS_PER_INTEREST = (2, 3, 4, 6)  # K = size // c, clipped to 1..8 (4 = today's REST rule)
MERGES = ("round_robin", "max")
LAMBDAS = (None, 0.5, 0.7, 0.9)
HALF_LIVES = (2.0, 5.0, 10.0)  # recency weight 0.5 ** (items newer than this one / half-life)
LENGTHS = ((2, 4), (5, 9), (10, 19), (20, 10_000))

Method = Callable[[list[int]], list[str]]


@dataclass(frozen=True)
class Choice:
    """One multi-interest setting: K rule, merge and MMR λ (None = no MMR)."""

    per_interest: int
    merge: str
    mmr_lambda: float | None
    short_term: int | None = None  # None: the REST default (latest third); 0: no split

    def label(self) -> str:
        mmr = "" if self.mmr_lambda is None else f", MMR λ={self.mmr_lambda}"
        short = "" if self.short_term is None else f", short_term={self.short_term}"
        return f"multi-interest (K=size/{self.per_interest}, {self.merge}{short}{mmr})"


def split_by_user(tasks: list[Any], seed: int) -> tuple[list[Any], list[Any]]:
    """(validation, test): a seeded half/half split of the papers, so no user is in both."""
    order = np.random.default_rng(seed + 100).permutation(len(tasks))
    half = len(tasks) // 2
    return [tasks[i] for i in sorted(order[:half])], [tasks[i] for i in sorted(order[half:])]


def recency_vector(vectors: np.ndarray, history: list[int], half_life: float) -> np.ndarray:
    """Mean of the history's unit vectors weighted by recency (timestamp = node id)."""
    order = np.argsort(history, kind="stable")
    age = np.empty(len(history))
    age[order] = np.arange(len(history))[::-1]  # 0 for the newest item
    w = 0.5 ** (age / half_life)
    v = (w[:, None] * vectors[history]).sum(0)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def methods(api: Client, vectors: np.ndarray) -> dict[str, Callable[..., Method]]:
    """Factories of the compared user models; each returns hit ids for a history."""

    def ids(found: Any) -> list[str]:
        return [h.id for h in found]

    def mean() -> Method:
        h = lambda hist: [str(i) for i in hist]  # noqa: E731
        return lambda hist: ids(api.recommend("cora", positive=h(hist), k=K).results)

    def recency(half_life: float) -> Method:
        def run(hist: list[int]) -> list[str]:
            # a plain search: leave the history out, as recommend does with its examples
            v = recency_vector(vectors, hist, half_life)
            found = ids(api.search("cora", v, k=K + len(hist), with_payload=False))
            seen = {str(i) for i in hist}
            return [i for i in found if i not in seen][:K]

        return run

    def multi(choice: Choice) -> Method:
        def run(hist: list[int]) -> list[str]:
            body: dict[str, Any] = {
                "history": [{"id": str(i), "timestamp": i} for i in hist],
                "k": K,
                "with_payload": False,
                "interests": min(8, max(1, len(hist) // choice.per_interest)),
                "merge": choice.merge,
            }
            if choice.mmr_lambda is not None:
                body["mmr_lambda"] = choice.mmr_lambda
            if choice.short_term is not None:
                body["short_term"] = choice.short_term
            return ids(api.recommend("cora", **body).results)

        return run

    return {"mean": mean, "recency": recency, "multi": multi}


def ranks_of(method: Method, tasks: list[Any], desc: str) -> list[int | None]:
    """0-based rank of each task's held-out paper in the method's top 20 (None = missed)."""
    out: list[int | None] = []
    for t in tqdm(tasks, desc=desc, leave=False, mininterval=5):
        got = [i for i in method(t.history) if i != str(t.node)][:20]
        out.append(got.index(str(t.target)) if str(t.target) in got else None)
    return out


def recall20(ranks: list[int | None], sizes: np.ndarray, lo: int = 0, hi: int = 1 << 30) -> float:
    """recall@20 over the tasks whose history size is in [lo, hi]."""
    keep = [r for r, s in zip(ranks, sizes, strict=True) if lo <= s <= hi]
    return sum(r is not None for r in keep) / max(len(keep), 1)


def ndcg10(ranks: list[int | None]) -> float:
    return sum(1 / math.log2(r + 2) for r in ranks if r is not None and r < 10) / len(ranks)


def choose(api: Client, vectors: np.ndarray, val: list[Any]) -> tuple[Choice, float, list]:
    """The validation winners: (multi-interest choice, recency half-life, the validation rows)."""
    make = methods(api, vectors)
    sizes = np.array([len(t.history) for t in val])
    rows, score = [], {}
    base = ranks_of(make["mean"](), val, "val mean")
    rows.append(["mean vector", recall20(base, sizes, MIN_GOAL), recall20(base, sizes)])
    for c in ITEMS_PER_INTEREST:  # K rule and merge first, without MMR
        for m in MERGES:
            ch = Choice(c, m, None)
            r = ranks_of(make["multi"](ch), val, ch.label())
            score[ch] = recall20(r, sizes, MIN_GOAL)
            rows.append([ch.label(), score[ch], recall20(r, sizes)])
    best = max(score, key=score.get)
    for lam, short in [(lam, None) for lam in LAMBDAS[1:]] + [(None, 0)]:  # λ, then no split
        ch = Choice(best.per_interest, best.merge, lam, short)
        r = ranks_of(make["multi"](ch), val, ch.label())
        score[ch] = recall20(r, sizes, MIN_GOAL)
        rows.append([ch.label(), score[ch], recall20(r, sizes)])
    best = max(score, key=score.get)
    half = {}
    for h in HALF_LIVES:
        r = ranks_of(make["recency"](h), val, f"recency {h}")
        half[h] = recall20(r, sizes, MIN_GOAL)
        rows.append([f"recency-weighted mean (half-life {h:g})", half[h], recall20(r, sizes)])
    return best, max(half, key=half.get), rows


def run_cora_split(args: argparse.Namespace, client: Any, vectors: np.ndarray, tasks: list) -> dict:
    """Choose on validation users, report once on test users; returns the printed numbers."""
    from bench_recommend import table  # the one table printer

    api = Client(http=client)
    val, test = split_by_user(tasks, args.seed)
    best, half_life, val_rows = choose(api, vectors, val)
    n_goal = sum(len(t.history) >= MIN_GOAL for t in val)
    print(f"\nvalidation: {len(val)} papers ({n_goal} with >= {MIN_GOAL} items)")
    print(table(val_rows, ["method", f"recall@20 (>= {MIN_GOAL})", "recall@20 (all)"]))
    print(f"chosen: {best.label()}; recency half-life {half_life:g}")
    make = methods(api, vectors)
    today = Choice(4, "round_robin", None)
    chosen = {
        "mean vector (average_vector)": make["mean"](),
        f"recency-weighted mean (half-life {half_life:g})": make["recency"](half_life),
        f"before: {today.label()}": make["multi"](today),
        f"chosen: {best.label()}": make["multi"](best),
    }
    if best == today:  # the REST defaults won on validation: one row for both
        del chosen[f"before: {today.label()}"]
        chosen[f"chosen = REST default: {best.label()}"] = chosen.pop(f"chosen: {best.label()}")
    ranks = {name: ranks_of(m, test, name) for name, m in chosen.items()}
    sizes = np.array([len(t.history) for t in test])
    header = ["method", "nDCG@10", "recall@20", f">= {MIN_GOAL}"] + [
        f"{lo}-{hi}" if hi < 10_000 else f">= {lo}" for lo, hi in LENGTHS
    ]
    rows = [
        [name, ndcg10(r), recall20(r, sizes), recall20(r, sizes, MIN_GOAL)]
        + [recall20(r, sizes, lo, hi) for lo, hi in LENGTHS]
        for name, r in ranks.items()
    ]
    counts = [int(((sizes >= lo) & (sizes <= hi)).sum()) for lo, hi in LENGTHS]
    print(f"\ntest (reported once): {len(test)} papers; per-length counts {counts}")
    print(table(rows, header))
    base = rows[0][3]
    for row in rows[1:]:
        print(
            f"{row[0]}: recall@20 on >= {MIN_GOAL} items {100 * (row[3] / base - 1):+.1f}% vs mean"
        )
    return {"ranks": ranks, "sizes": sizes, "best": best, "half_life": half_life}
