"""POST /v1/collections/{name}/recommend against brute force on small random vector collections."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import assert_error

from recommend.interests import build_interests, unit_rows

N, DIM, K = 200, 16, 10


def make_collection(
    client: TestClient,
    metric: str = "cosine",
    index: str = "flat",
    name: str = "items",
    seed: int = 0,
) -> np.ndarray:
    """A vector-only collection of N random points "p0".."p199" with payload group = i % 3."""
    vectors = np.random.default_rng(seed).normal(size=(N, DIM)).astype(np.float32)
    body = {"name": name, "dim": DIM, "metric": metric, "index": {"type": index}}
    assert client.post("/v1/collections", json=body).status_code == 201
    points = [
        {"id": f"p{i}", "vector": v.tolist(), "payload": {"group": i % 3}}
        for i, v in enumerate(vectors)
    ]
    assert client.put(f"/v1/collections/{name}/points", json={"points": points}).status_code == 200
    return vectors


def similarity(metric: str, x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Brute-force scores (n, m) of rows x against rows q, higher is closer."""
    if metric == "cosine":
        x, q = unit_rows(x), unit_rows(q)
    if metric == "l2":
        return -np.linalg.norm(x[:, None, :] - q[None, :, :], axis=2)
    return x @ q.T


def core_similarity(metric: str, x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """What Qdrant's strategies compare: the similarity, minus the squared distance under l2."""
    scores = similarity(metric, x, q)
    return -(scores**2) if metric == "l2" else scores


def oracle(
    metric: str, strategy: str, x: np.ndarray, pos: np.ndarray, neg: np.ndarray
) -> np.ndarray:
    """Qdrant's definitions, written out independently of the service."""
    if strategy == "average_vector":
        p = unit_rows(pos) if metric == "cosine" else pos
        n = unit_rows(neg) if metric == "cosine" else neg
        q = p.mean(0) if not len(n) else 2 * p.mean(0) - n.mean(0)
        return similarity(metric, x, q[None, :])[:, 0]
    sp, sn = core_similarity(metric, x, pos), core_similarity(metric, x, neg)
    if strategy == "sum_scores":
        return sp.sum(1) - sn.sum(1)
    sig = lambda v: 0.5 * (v / (1 + np.abs(v)) + 1)  # noqa: E731
    mp = sp.max(1) if sp.shape[1] else np.full(len(x), -np.inf)
    mn = sn.max(1) if sn.shape[1] else np.full(len(x), -np.inf)
    with np.errstate(invalid="ignore"):
        return np.where(mp > mn, sig(mp), -sig(mn))


def recommend(client: TestClient, body: dict[str, Any], name: str = "items") -> Any:
    return client.post(f"/v1/collections/{name}/recommend", json=body)


CASES = [
    ("cosine", "average_vector", [3, 17, 40], [5]),
    ("cosine", "average_vector", [3, 17], []),
    ("cosine", "best_score", [3, 17, 40], [5, 6]),
    ("cosine", "best_score", [], [5, 6]),
    ("cosine", "sum_scores", [3, 17], [5]),
    ("dot", "average_vector", [3, 17, 40], [5]),
    ("dot", "best_score", [3, 17], [5]),
    ("dot", "sum_scores", [3, 17, 40], [5, 6]),
    ("l2", "average_vector", [3, 17], [5]),
    ("l2", "best_score", [3, 17], [5, 6]),
    ("l2", "sum_scores", [3, 17, 40], [5]),
]


@pytest.mark.parametrize(("metric", "strategy", "pos", "neg"), CASES)
def test_strategies_match_brute_force(
    vector_client: TestClient, metric: str, strategy: str, pos: list[int], neg: list[int]
) -> None:
    x = make_collection(vector_client, metric)
    extra = np.random.default_rng(9).normal(size=DIM).astype(np.float32)  # a raw vector example
    body = {
        "positive": [f"p{i}" for i in pos] + ([extra.tolist()] if pos else []),
        "negative": [f"p{i}" for i in neg],
        "strategy": strategy,
        "k": K,
    }
    r = recommend(vector_client, body)
    assert r.status_code == 200, r.text
    got = r.json()["results"]
    pos_v = np.vstack([x[pos], extra[None, :]]) if pos else np.zeros((0, DIM), np.float32)
    scores = oracle(metric, strategy, x, pos_v, x[neg])
    scores[pos + neg] = -np.inf  # the examples themselves are excluded
    want = np.argsort(-scores, kind="stable")[:K]
    assert [h["id"] for h in got] == [f"p{i}" for i in want]
    np.testing.assert_allclose([h["score"] for h in got], scores[want], rtol=1e-4, atol=1e-4)
    assert all(h["payload"] == {"group": int(h["id"][1:]) % 3} for h in got)


@pytest.mark.parametrize("strategy", ["average_vector", "best_score", "sum_scores"])
def test_filter_applies_on_hnsw(vector_client: TestClient, strategy: str) -> None:
    x = make_collection(vector_client, "cosine", index="hnsw")
    body = {
        "positive": ["p1", "p4"],
        "negative": ["p2"],
        "strategy": strategy,
        "k": 5,
        "filter": {"must": [{"key": "group", "match": {"value": 1}}]},
        "with_payload": False,
    }
    got = recommend(vector_client, body).json()["results"]
    scores = oracle("cosine", strategy, x, x[[1, 4]], x[[2]])
    allowed = np.array([i % 3 == 1 and i not in (1, 4, 2) for i in range(N)])
    want = np.argsort(-np.where(allowed, scores, -np.inf), kind="stable")[:5]
    assert [h["id"] for h in got] == [f"p{i}" for i in want]
    assert all("payload" not in h for h in got)


def brute_force_history(
    x: np.ndarray, history: list[int], k: int, interests: int | None
) -> tuple[list[str], list[int]]:
    found = build_interests(x[history], np.arange(len(history), dtype=float), interests)
    sims = unit_rows(x) @ found.vectors.T
    sims[history] = -np.inf
    best = sims.max(1)
    order = np.argsort(-best, kind="stable")[:k]
    return [f"p{i}" for i in order], sims[order].argmax(1).tolist()


@pytest.mark.parametrize("interests", [None, 1, 3])
def test_history_matches_brute_force_max_merge(
    vector_client: TestClient, interests: int | None
) -> None:
    x = make_collection(vector_client)
    history = [7, 21, 33, 48, 50, 61, 77, 90, 101, 150]
    body: dict[str, Any] = {"history": [{"id": f"p{i}"} for i in history], "k": K, "merge": "max"}
    if interests is not None:
        body["interests"] = interests
    r = recommend(vector_client, body)
    assert r.status_code == 200, r.text
    out = r.json()
    want_ids, want_src = brute_force_history(x, history, K, interests)
    assert [h["id"] for h in out["results"]] == want_ids
    assert [h["interest"] for h in out["results"]] == want_src
    members = sorted(m for item in out["interests"] for m in item["members"])
    assert members == sorted(f"p{i}" for i in history)
    assert sum(item["weight"] for item in out["interests"]) == pytest.approx(1.0)
    # λ = 1 leaves the ranking as it was
    same = recommend(vector_client, {**body, "mmr_lambda": 1.0}).json()["results"]
    assert [h["id"] for h in same] == want_ids


@pytest.mark.parametrize("interests", [1, 2])
def test_history_on_l2_searches_at_the_historys_scale(
    vector_client: TestClient, interests: int
) -> None:
    """Interests are directions; on an l2 collection the unit query ranked points near the
    origin first: a user of only far items was recommended only near ones."""
    rng = np.random.default_rng(5)
    direction = rng.normal(size=DIM)
    direction /= np.linalg.norm(direction)
    near = direction + 0.05 * rng.normal(size=(40, DIM))
    far = 10 * direction + 0.5 * rng.normal(size=(40, DIM))
    body = {"name": "scales", "dim": DIM, "metric": "l2", "index": {"type": "flat"}}
    assert vector_client.post("/v1/collections", json=body).status_code == 201
    points = [{"id": f"n{i}", "vector": v.tolist()} for i, v in enumerate(near)]
    points += [{"id": f"f{i}", "vector": v.tolist()} for i, v in enumerate(far)]
    vector_client.put("/v1/collections/scales/points", json={"points": points}).raise_for_status()
    history = [{"id": f"f{i}"} for i in range(12)]
    ask = {"history": history, "k": 10, "interests": interests}
    answer = recommend(vector_client, ask, name="scales")
    assert answer.status_code == 200, answer.text
    assert all(h["id"].startswith("f") for h in answer.json()["results"]), answer.json()


def test_history_timestamps_round_robin_and_mmr(vector_client: TestClient) -> None:
    make_collection(vector_client)
    history = [{"id": f"p{i}", "timestamp": 1000.0 + i} for i in range(12)]  # p11 is latest
    body = {"history": history, "k": 8, "interests": 3, "short_term": 4, "merge": "round_robin"}
    out = recommend(vector_client, body).json()
    shorts = [item for item in out["interests"] if item["term"] == "short"]
    assert sorted(m for s in shorts for m in s["members"]) == ["p10", "p11", "p8", "p9"]
    ids = [h["id"] for h in out["results"]]
    assert len(ids) == 8 == len(set(ids)) and not set(ids) & {f"p{i}" for i in range(12)}
    assert {h["interest"] for h in out["results"]} <= {0, 1, 2}
    diverse = recommend(vector_client, {**body, "mmr_lambda": 0.3, "merge": "max"}).json()[
        "results"
    ]
    assert len({h["id"] for h in diverse}) == 8


def test_bad_inputs_are_4xx(vector_client: TestClient) -> None:
    make_collection(vector_client)
    e = lambda body: recommend(vector_client, body)  # noqa: E731
    assert_error(
        recommend(vector_client, {"positive": ["p1"]}, "nope"), 404, "collection_not_found"
    )
    assert_error(e({"positive": ["p1", "zz"]}), 404, "point_not_found", "positive[1]")
    assert_error(e({"negative": ["zz"], "positive": ["p1"]}), 404, "point_not_found", "negative[0]")
    assert_error(
        e({"history": [{"id": "p1"}, {"id": 99999}]}), 404, "point_not_found", "history[1].id"
    )
    assert_error(e({"history": []}), 422, "invalid_history", "history")
    mixed = {"history": [{"id": "p1", "timestamp": 1}, {"id": "p2"}]}
    assert_error(e(mixed), 422, "invalid_history", "history[1].timestamp")
    for k in (0, -3):
        assert_error(e({"positive": ["p1"], "k": k}), 422, "validation_error", "k")
    assert_error(e({"positive": ["p1"], "k": 10**6}), 422, "limit_exceeded", "k")
    assert_error(e({"positive": ["p1"], "strategy": "magic"}), 422, "unknown_strategy", "strategy")
    assert_error(e({"history": [{"id": "p1"}], "merge": "avg"}), 422, "unknown_merge", "merge")
    both = {"positive": ["p1"], "history": [{"id": "p2"}]}
    assert_error(e(both), 422, "invalid_examples", "history")
    assert_error(e({}), 422, "invalid_examples", "positive")
    assert_error(e({"negative": ["p1"]}), 422, "invalid_examples", "positive")  # average_vector
    assert_error(e({"positive": [], "strategy": "best_score"}), 422, "invalid_examples")
    assert_error(e({"positive": [[0.1] * 3]}), 422, "dimension_mismatch", "positive[0]")
    assert_error(e({"positive": ["p1"], "interests": 2}), 422, "invalid_examples", "interests")
    # options of the other mode were ignored silently
    assert_error(e({"positive": ["p1"], "merge": "max"}), 422, "invalid_examples", "merge")
    history_with_strategy = {"history": [{"id": "p1"}], "strategy": "best_score"}
    assert_error(e(history_with_strategy), 422, "invalid_examples", "strategy")
    assert_error(e({"history": [{"id": "p1"}], "mmr_lambda": 1.5}), 422, "validation_error")
    assert_error(e({"history": [{"id": "p1"}], "interests": 0}), 422, "validation_error")
    assert_error(e({"positive": [{"id": "p1"}]}), 422, "validation_error")
    history = [{"id": f"p{i}"} for i in range(1, 21)]
    negative_seed = {"history": history, "interests": 3, "seed": -1, "k": 3}
    assert_error(e(negative_seed), 422, "validation_error", "seed")  # numpy refused it: a 500
    nan_time = '{"history": [{"id": "p1", "timestamp": NaN}, {"id": "p2", "timestamp": 1}]}'
    path, headers = "/v1/collections/items/recommend", {"content-type": "application/json"}
    answer = vector_client.post(path, content=nan_time, headers=headers)
    assert_error(answer, 422, "validation_error", "history[0].timestamp")


@pytest.mark.parametrize("strategy", ["best_score", "sum_scores"])
def test_custom_objectives_are_exact_past_the_candidate_pool(
    vector_client: TestClient, strategy: str
) -> None:
    """300 points (more than the 256 candidates a seed brought): the best of a sum of scores
    can lie far from every example, and was missed (found by qdrant-client against brute force)."""
    x = np.random.default_rng(5).standard_normal((300, 8)).astype(np.float32)
    body = {"name": "wide", "dim": 8, "metric": "dot", "index": {"type": "hnsw"}}
    assert vector_client.post("/v1/collections", json=body).status_code == 201
    points = [{"id": f"p{i}", "vector": v.tolist()} for i, v in enumerate(x)]
    vector_client.put("/v1/collections/wide/points", json={"points": points}).raise_for_status()
    pos, neg = [139], [192, 180, 91]
    request = {"positive": [f"p{i}" for i in pos], "negative": [f"p{i}" for i in neg]}
    got = recommend(vector_client, {**request, "strategy": strategy, "k": K}, "wide").json()
    scores = oracle("dot", strategy, x, x[pos], x[neg])
    scores[pos + neg] = -np.inf
    want = np.argsort(-scores, kind="stable")[:K]
    assert [h["id"] for h in got["results"]] == [f"p{i}" for i in want]


@pytest.mark.parametrize(
    ("metric", "pos", "neg"),
    [("cosine", [1], [2, 3, 4]), ("dot", [1], [2, 3, 4]), ("l2", [1, 2, 3], [4])],
)
def test_sum_scores_past_the_exhaustive_size_finds_the_true_best(
    vector_client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    metric: str,
    pos: list[int],
    neg: list[int],
) -> None:
    """Above EXHAUSTIVE_POINTS the candidates came from the average_vector query, which points
    elsewhere when the counts of positives and negatives differ: 0 of the true 10 in a 12k
    collection (found from outside). The collection is small and the size lowered to match."""
    monkeypatch.setattr("recommend.recommender.EXHAUSTIVE_POINTS", 100)
    monkeypatch.setattr("recommend.recommender.CANDIDATE_MIN", 20)
    x = np.random.default_rng(11).standard_normal((3000, 8)).astype(np.float32)
    body = {"name": "big", "dim": 8, "metric": metric, "index": {"type": "flat"}}
    assert vector_client.post("/v1/collections", json=body).status_code == 201
    for start in range(0, len(x), 1000):
        points = [{"id": f"p{i}", "vector": x[i].tolist()} for i in range(start, start + 1000)]
        vector_client.put("/v1/collections/big/points", json={"points": points}).raise_for_status()
    request = {"positive": [f"p{i}" for i in pos], "negative": [f"p{i}" for i in neg]}
    got = recommend(vector_client, {**request, "strategy": "sum_scores", "k": K}, "big").json()
    scores = oracle(metric, "sum_scores", x, x[pos], x[neg])
    scores[pos + neg] = -np.inf
    want = np.argsort(-scores, kind="stable")[:K]
    assert [h["id"] for h in got["results"]] == [f"p{i}" for i in want]


def test_sum_scores_of_many_large_l2_examples_stays_finite(vector_client: TestClient) -> None:
    """Each -d^2 fits float32; hundreds summed did not: every score came back null, unranked."""
    body = {"name": "far", "dim": 4, "metric": "l2", "index": {"type": "flat"}}
    assert vector_client.post("/v1/collections", json=body).status_code == 201
    x = np.array([[2.4e17 * (i % 2)] * 3 + [float(i)] for i in range(6)], np.float32)
    points = [{"id": f"p{i}", "vector": v.tolist()} for i, v in enumerate(x)]
    vector_client.put("/v1/collections/far/points", json={"points": points}).raise_for_status()
    far = [[-2.4e17] * 4] * 600
    got = recommend(vector_client, {"negative": far, "strategy": "sum_scores", "k": 3}, "far")
    assert got.status_code == 200, got.text
    hits = got.json()["results"]
    assert all(h["score"] is not None and np.isfinite(h["score"]) for h in hits)
    assert [int(h["id"][1:]) % 2 for h in hits] == [1, 1, 1]  # the far side of the negatives
