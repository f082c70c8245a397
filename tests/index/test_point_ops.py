"""Collection's filtered scroll and payload-only updates (index.point_ops), on a real store,
hnswlib index and payload index; and that no code outside a class takes its private locks."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import numpy as np

from index import Catalog, CollectionConfig
from index.collection import Collection

DIM, N = 8, 30
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("service", "index", "recommend", "diagnostics", "ingest", "encoders", "loadtest")


def make(tmp_path: Path) -> tuple[Collection, np.ndarray]:
    col = Catalog(tmp_path).create(CollectionConfig("c", DIM, index_type="hnsw"))
    col.create_payload_index("group", "keyword")
    vectors = np.random.default_rng(0).normal(size=(N, DIM)).astype(np.float32)
    payloads = [{"group": "ab"[i % 2], "n": i, "meta": {"a": 1, "b": 2}} for i in range(N)]
    col.upsert([f"p{i:02d}" for i in range(N)], vectors, payloads)
    return col, vectors


def payload(col: Collection, point_id: str) -> dict[str, object]:
    return col.get([point_id])[0].payload


def test_payload_updates_keep_vectors_and_the_payload_index(tmp_path: Path) -> None:
    col, vectors = make(tmp_path)
    group_a = {"must": [{"key": "group", "match": {"value": "a"}}]}
    assert col.set_payload(None, group_a, {"x": 1}, key=["meta"]) == N // 2
    assert payload(col, "p00")["meta"] == {"a": 1, "b": 2, "x": 1}
    assert col.overwrite_payload(["p01", "missing"], None, {"group": "c"}) == 1
    assert payload(col, "p01") == {"group": "c"}
    assert col.count({"must": [{"key": "group", "match": {"value": "c"}}]}) == 1
    assert col.count({"must": [{"key": "group", "match": {"value": "b"}}]}) == N // 2 - 1
    assert col.delete_payload_keys(["p02"], None, [["meta", "a"], ["n"], ["absent", "key"]]) == 1
    assert payload(col, "p02") == {"group": "a", "meta": {"b": 2, "x": 1}}
    assert col.clear_payload(["p03"], None) == 1 and payload(col, "p03") == {}
    stored = col.get([f"p{i:02d}" for i in range(4)], with_vector=True)
    assert np.allclose([p.vector for p in stored], vectors[:4])
    assert col.search(vectors[1:2], 1)[0][0].id == "p01"  # the ANN index still has it


def test_page_matching_is_inclusive_and_bound(tmp_path: Path) -> None:
    col, _ = make(tmp_path)
    group_b = {"must": [{"key": "group", "match": {"value": "b"}}]}
    page = col.page_matching(group_b, "p05", 3)
    assert [p.id for p in page] == ["p05", "p07", "p09"]
    assert [p.id for p in col.page_matching(None, "p28", 10)] == ["p28", "p29"]
    # a hostile cursor is a bound value, never SQL
    assert col.page_matching(None, "' OR 1=1 --", 2, with_vector=True)[0].vector is not None


def test_a_page_reads_one_commit_when_a_write_lands_between_its_reads(tmp_path: Path) -> None:
    """A point re-written after the page's labels were read and before its rows were had a new
    label: it dropped out, and Qdrant's scroll, short a page, stopped with no next offset."""
    col, vectors = make(tmp_path)
    read_labels, store_upsert = col.store.labels_matching, col.store.upsert
    committed = threading.Event()

    def commit_then_signal(*args: object, **kwargs: object) -> object:
        done = store_upsert(*args, **kwargs)  # type: ignore[arg-type]
        committed.set()  # the store holds the new label; the writer then waits for the view
        return done

    def labels_then_a_write(where: str, params: list[object]) -> np.ndarray:
        labels = read_labels(where, params)
        if not committed.is_set():
            payloads = [{"group": "a", "n": 5}]
            writer = threading.Thread(target=col.upsert, args=(["p05"], vectors[5:6], payloads))
            writer.start()
            assert committed.wait(10)
        return labels

    col.store.upsert = commit_then_signal  # type: ignore[method-assign]
    col.store.labels_matching = labels_then_a_write  # type: ignore[method-assign]
    page = col.page_matching(None, None, 100)
    assert [p.id for p in page] == [f"p{i:02d}" for i in range(N)]
    col.store.labels_matching = read_labels  # type: ignore[method-assign]
    assert payload(col, "p05") == {"group": "a", "n": 5}  # the write itself landed


def test_concurrent_payload_updates_lose_nothing(tmp_path: Path) -> None:
    col, _ = make(tmp_path)
    threads = [
        threading.Thread(target=col.set_payload, args=(["p00"], None, {f"k{i}": i}))
        for i in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {f"k{i}" for i in range(16)} <= set(payload(col, "p00"))


def test_no_code_takes_another_objects_private_lock() -> None:
    """`_lock` and `_rw` are taken only by the class (and mixins) that own them."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr in ("_lock", "_rw")
                    and not (isinstance(node.value, ast.Name) and node.value.id == "self")
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
