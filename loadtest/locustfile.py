"""Mixed load for `nestvec serve`: embed, upsert, search, filtered search and fetch by ids.

    .venv/bin/locust -f loadtest/locustfile.py --headless -u 50 -r 10 -t 5m \
        --host http://127.0.0.1:8000

(`loadtest/run_locust.py` starts a server, runs this and prints a table.) Every user upserts
points with ids of its own into the collection "load" (created on start if missing), so fetches
of its ids must find all of them. Any non-2xx answer, or a body that is wrong, is a failure.
Think time between requests: env `LOADTEST_WAIT="MIN,MAX"` seconds (default 0.5,1.5).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from locust import HttpUser, between, task

DATA = Path(__file__).resolve().parents[1].parent / "shared/data"
COLLECTION = "load"
POINTS = f"/v1/collections/{COLLECTION}/points"
SEARCH = f"/v1/collections/{COLLECTION}/search"
TOPICS = [f"t{i}" for i in range(10)]
FALLBACK = [
    "Cats purr when they are content.",
    "Dogs bark at the mail carrier.",
    "Stock markets fell sharply on Monday.",
    "Bond yields rose after the rate decision.",
    "Vitamin D deficiency is associated with bone loss.",
    "Aspirin reduces the risk of a second heart attack.",
    "Regular exercise lowers blood pressure in adults.",
    "Smoking increases the incidence of lung cancer.",
    "Sleep deprivation impairs working memory.",
    "Antibiotics do not treat viral infections.",
]

Check = Callable[[Any], str | None]  # the response body -> a problem, or None when it is right


def load_texts(n: int = 400) -> list[str]:
    """The first `n` unique SciFact sentences (20-300 chars), or a small fallback list."""
    path = DATA / "scifact/corpus.jsonl"
    if not path.exists():
        return FALLBACK
    texts: dict[str, None] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            for piece in re.split(r"(?<=[.!?;])\s+", f"{record['title']} {record['text']}"):
                if 20 <= len(piece.strip()) <= 300:
                    texts.setdefault(piece.strip(), None)
            if len(texts) >= n:
                break
    return list(texts)[:n] or FALLBACK


def _wait() -> tuple[float, float]:
    low, high = (float(x) for x in os.environ.get("LOADTEST_WAIT", "0.5,1.5").split(","))
    return low, high


TEXTS = load_texts()  # read once per locust process


class NestvecUser(HttpUser):
    """One client: a random mix of the five operations, with think time between them."""

    wait_time = between(*_wait())

    def on_start(self) -> None:
        self.rng = random.Random()
        self.prefix = uuid.uuid4().hex[:12]  # ids unique to this user
        self.counter = itertools.count()
        self.ids: list[str] = []
        self.ensure_collection()
        self.upsert_points(4)  # something of its own to fetch from the start

    def ensure_collection(self) -> None:
        path = f"/v1/collections/{COLLECTION}"
        with self.client.get(path, name="collection get", catch_response=True) as r:
            if r.status_code == 200:
                r.success()
                return
            if r.status_code != 404:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")
                return
            r.success()
        spec = {"name": COLLECTION, "encoder": "minilm", "index": {"type": "hnsw"}}
        with self.client.post(
            "/v1/collections", json=spec, name="collection create", catch_response=True
        ) as r:
            if r.status_code in (201, 409):  # 409: another user created it first
                r.success()
            else:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")

    def call(self, method: str, path: str, name: str, check: Check, **kwargs: Any) -> Any:
        """One request; non-2xx, non-JSON or a failed `check` is recorded as a failure."""
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as r:
            if not 200 <= r.status_code < 300:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")
                return None
            try:
                body = r.json()
            except ValueError:
                r.failure(f"not JSON: {r.text[:200]}")
                return None
            problem = check(body)
            if problem:
                r.failure(problem)
                return None
            r.success()
            return body

    def texts(self, n: int) -> list[str]:
        return self.rng.sample(TEXTS, min(n, len(TEXTS)))

    def upsert_points(self, n: int) -> None:
        texts = self.texts(n)
        ids = [f"{self.prefix}-{next(self.counter)}" for _ in texts]
        points = [
            {"id": i, "text": t, "payload": {"topic": self.rng.choice(TOPICS), "user": self.prefix}}
            for i, t in zip(ids, texts, strict=True)
        ]
        want = {"upserted": len(points)}
        check: Check = lambda b: _expect(b, want)  # noqa: E731
        if self.call("PUT", POINTS, "upsert", check, json={"points": points}) is not None:
            self.ids.extend(ids)

    @task(3)
    def embed(self) -> None:
        texts = self.texts(self.rng.randint(1, 8))

        def check(b: Any) -> str | None:
            vectors = b.get("embeddings", [])
            if len(vectors) != len(texts) or any(len(v) != 384 for v in vectors):
                return f"expected {len(texts)} vectors of 384, got {len(vectors)}"
            return None

        self.call("POST", "/v1/embed", "embed", check, json={"encoder": "minilm", "inputs": texts})

    @task(2)
    def upsert(self) -> None:
        self.upsert_points(self.rng.randint(1, 4))

    @task(3)
    def search(self) -> None:
        body = {"query": {"text": self.texts(1)[0]}, "k": 10}
        self.call("POST", SEARCH, "search", _hits_check(None), json=body)

    @task(2)
    def search_filtered(self) -> None:
        topic = self.rng.choice(TOPICS)
        body = {
            "query": {"text": self.texts(1)[0]},
            "k": 10,
            "filter": {"must": [{"key": "topic", "match": {"value": topic}}]},
        }
        self.call("POST", SEARCH, "search filtered", _hits_check(topic), json=body)

    @task(2)
    def fetch(self) -> None:
        ids = self.rng.sample(self.ids, min(5, len(self.ids)))
        if not ids:
            return

        def check(b: Any) -> str | None:
            got = {p["id"] for p in b.get("points", [])}
            return None if got == set(ids) else f"asked {sorted(ids)}, got {sorted(got)}"

        self.call("GET", POINTS, "fetch by ids", check, params={"ids": ids})


def _expect(body: Any, want: dict[str, Any]) -> str | None:
    return None if body == want else f"expected {want}, got {body}"


def _hits_check(topic: str | None) -> Check:
    """At most 10 hits, scores descending, and every hit in `topic` when filtered."""

    def check(body: Any) -> str | None:
        hits = body.get("results")
        if not isinstance(hits, list) or len(hits) > 10:
            return f"bad results: {str(body)[:200]}"
        scores = [h["score"] for h in hits]
        if scores != sorted(scores, reverse=True):
            return "scores not in descending order"
        if topic is not None and any((h.get("payload") or {}).get("topic") != topic for h in hits):
            return f"a hit outside topic {topic}"
        return None

    return check
