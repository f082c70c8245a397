"""Analyses and deletes racing writes and each other (all found from outside):
- a recall analysis while points were re-upserted answered 500 (its labels and ids were read at
  two commits);
- an analysis whose collection was deleted meanwhile answered 500 (the delete took its plot
  folder mid-write), or, with a new collection of that name made meanwhile, 200 about the old
  one, its plot then served as the new collection's;
- a delete waiting for a rebuild held the whole catalog: creating any other collection waited."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from support import LiveServer

from index import Catalog, CollectionConfig
from index.plans import concat

ENV = {"NESTVEC_PRELOAD_ENCODERS": ""}


def _points(n: int, dim: int, seed: int = 0) -> list[dict[str, object]]:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).round(4)
    return [{"id": i, "vector": v.tolist()} for i, v in enumerate(vectors)]


def _load(api: httpx.Client, name: str, index: str, n: int, dim: int) -> None:
    body = {"name": name, "dim": dim, "index": {"type": index}}
    assert api.post("/v1/collections", json=body).status_code == 201
    points = _points(n, dim)
    for start in range(0, n, 1000):
        chunk = {"points": points[start : start + 1000]}
        assert api.put(f"/v1/collections/{name}/points", json=chunk).status_code == 200


def test_a_recall_analysis_while_points_are_re_upserted_answers(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", env=ENV).start()
    stop = threading.Event()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as api:
            _load(api, "churn", "flat", 3000, 16)

            # the same ids and vectors again: each gets a new label (what broke the analysis),
            # and exact recall stays 1.0 (new vectors landing mid-analysis made it 0.99 at times)
            def re_upsert() -> None:
                points = _points(200, 16)
                with httpx.Client(base_url=server.url, timeout=60) as writer:
                    while not stop.is_set():
                        writer.put("/v1/collections/churn/points", json={"points": points})

            writer = threading.Thread(target=re_upsert)
            writer.start()
            answers = [
                api.post("/v1/collections/churn/analysis/recall", json={"k": 10, "queries": 50})
                for _ in range(15)
            ]
            stop.set()
            writer.join()
        assert [a.status_code for a in answers] == [200] * 15, answers[0].text
        assert all(a.json()["recall"] == 1.0 for a in answers)  # flat: exact
    finally:
        stop.set()
        server.stop()


@pytest.mark.parametrize("made_anew", [True, False])
def test_an_analysis_whose_collection_is_deleted_and_made_anew_is_not_found(
    tmp_path: Path, made_anew: bool
) -> None:
    """Deleted and not made anew, its plot folder was left behind, empty (the plot's write had
    made it again after the delete)."""
    server = LiveServer(tmp_path / "data", env=ENV).start()
    try:
        with httpx.Client(base_url=server.url, timeout=120) as api:
            _load(api, "plots", "hnsw", 4000, 32)
            answer: list[httpx.Response] = []
            body = {"orders": ["random", "lid-desc", "lid-asc"], "seeds": [0, 1]}

            def analyse() -> None:
                with httpx.Client(base_url=server.url, timeout=120) as other:
                    path = "/v1/collections/plots/analysis/insertion-order"
                    answer.append(other.post(path, json=body))

            running = threading.Thread(target=analyse)
            running.start()
            time.sleep(0.3)
            assert api.delete("/v1/collections/plots").status_code == 200
            if made_anew:
                body = {"name": "plots", "dim": 8}
                assert api.post("/v1/collections", json=body).status_code == 201
            running.join()
        assert answer[0].status_code == 404, answer[0].text
        assert answer[0].json()["code"] == "collection_not_found"
        folder = tmp_path / "data" / "analysis" / "plots"
        assert not folder.exists() or not list(folder.iterdir())  # no old plot for the new one
        assert made_anew or not folder.exists()
    finally:
        server.stop()


def test_one_read_sees_one_commit(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    collection = catalog.create(CollectionConfig(name="one", dim=2, metric="l2", index_type="flat"))
    collection.upsert(["a", "b"], np.eye(2, dtype=np.float32), [{}, {}])
    try:
        with collection.store.one_read():
            ids = collection.store.label_ids()
            writer = threading.Thread(
                target=collection.upsert, args=(["a"], np.ones((1, 2), np.float32), [{}])
            )
            writer.start()
            writer.join()  # committed: "a" has a new label now
            labels, _ = concat(collection.store.iter_vectors(), 2)
        assert sorted(ids) == labels.tolist()
        labels, _, ids = collection.stored_points()
        assert sorted(ids) == labels.tolist() and sorted(ids.values()) == ["a", "b"]
    finally:
        catalog.close()


def test_a_delete_waiting_for_a_rebuild_does_not_hold_up_other_collections(
    tmp_path: Path,
) -> None:
    catalog = Catalog(tmp_path)
    big = catalog.create(CollectionConfig(name="big", dim=64, metric="l2"))
    vectors = np.random.default_rng(0).normal(size=(20_000, 64)).astype(np.float32)
    big.upsert([str(i) for i in range(len(vectors))], vectors, [{}] * len(vectors))
    rebuild = threading.Thread(target=big.rebuild, args=(None, 0))
    drop = threading.Thread(target=catalog.drop, args=("big",))
    try:
        rebuild.start()
        time.sleep(0.2)  # the rebuild holds the collection's writer lock
        drop.start()
        time.sleep(0.2)  # the delete waits for it
        catalog.create(CollectionConfig(name="other", dim=4, metric="l2"))
        assert rebuild.is_alive() and drop.is_alive()  # made while both were still running
        assert catalog.names() == ["other"]
        drop.join()
        rebuild.join()
        assert not (tmp_path / "collections" / "big").exists()
    finally:
        drop.join()
        rebuild.join()
        catalog.close()
