"""What the data directory may hold besides whole collections, and what its disk may refuse:
a store that holds no collection (empty, foreign, or another collection's copy) is left as
found and answered 503; a name taken by a stray folder is 409; a delete the disk refuses keeps
the collection served; an acknowledged rebuild survives a kill."""

from __future__ import annotations

import errno
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import assert_error

from index import Catalog, CollectionConfig

DIM = 4


def _make(data: Path, *names: str) -> None:
    catalog = Catalog(data)
    for name in names:
        collection = catalog.create(CollectionConfig(name, DIM, index_type="flat"))
        collection.upsert(["p0", "p1"], np.eye(2, DIM, dtype=np.float32), [{}, {}])
    catalog.close()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _empty_file(store: Path) -> None:
    store.write_bytes(b"")


def _foreign_sqlite(store: Path) -> None:
    store.unlink()
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE notes (x)")
    db.close()


def _config_without_dim(store: Path) -> None:
    with sqlite3.connect(store) as db:
        db.execute("DELETE FROM config WHERE key = 'dim'")
    db.close()


def _missing(store: Path) -> None:
    store.unlink()  # the collection vanished without a word: 404, yet its name was taken (409)


def _copied_from_good(store: Path) -> None:
    store.write_bytes((store.parents[1] / "good" / "store.sqlite3").read_bytes())


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (_empty_file, "cannot be read"),
        (_foreign_sqlite, "cannot be read"),
        (_config_without_dim, "no collection config"),
        (_copied_from_good, 'belongs to collection "good"'),
        (_missing, "store.sqlite3 is missing"),
    ],
)
def test_a_store_holding_no_such_collection_is_unavailable_and_untouched(
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    damage: Callable[[Path], None],
    said: str,
) -> None:
    data = tmp_path / "data"
    _make(data, "bad", "good")
    folder = data / "collections" / "bad"
    for extra in folder.glob("store.sqlite3-*"):  # closed cleanly: no WAL left to matter
        extra.unlink()
    damage(folder / "store.sqlite3")
    before = _files(folder)
    client = make_client(data)
    listed = client.get("/v1/collections").json()["collections"]
    assert [c["name"] for c in listed] == ["good"]  # never "good" twice
    answer = client.get("/v1/collections/bad")
    assert_error(answer, 503, "collection_unavailable", "name")
    assert said in answer.json()["message"]
    assert client.get("/v1/collections/good").json()["count"] == 2
    assert _files(folder) == before


def test_a_name_taken_by_a_stray_folder_or_file_is_409(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    root = tmp_path / "data" / "collections"
    (root / "folder").mkdir(parents=True)
    (root / "folder" / "notes.txt").write_text("mine")
    (root / "file").write_text("mine too")
    client = make_client()
    for name in ("folder", "file"):
        answer = client.post("/v1/collections", json={"name": name, "dim": DIM})
        assert_error(answer, 409, "collection_exists", "name")
    assert (root / "folder" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in root.iterdir()) == ["file", "folder"]  # no .tmp- left


def test_a_delete_the_disk_refuses_keeps_the_collection_served(
    make_client: Callable[..., TestClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the rename into the trash fails as on a read-only file system (root
    ignores permissions, so the test cannot make the disk refuse it for real)."""
    _make(tmp_path / "data", "kept")
    client = make_client()
    real_rename = Path.rename

    def refused(self: Path, target: Path) -> Path:
        if Path(target).name.startswith(".trash-"):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", refused)
    answer = client.delete("/v1/collections/kept")
    assert_error(answer, 503, "storage_unavailable")
    assert "Read-only file system" in answer.json()["message"]
    monkeypatch.undo()
    assert client.get("/v1/collections/kept").json()["count"] == 2
    hits = client.post("/v1/collections/kept/search", json={"query": {"id": "p0"}, "k": 1})
    assert hits.status_code == 200 and hits.json()["results"][0]["id"] == "p1"
    assert client.delete("/v1/collections/kept").status_code == 200


def test_an_acknowledged_rebuild_is_on_disk_at_once(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    """Written only at shutdown, a kill -9 after the 200 lost the order it answered."""
    client = make_client()
    client.post("/v1/collections", json={"name": "r", "dim": DIM, "index": {"type": "hnsw"}})
    points = [{"id": str(i), "vector": np.random.default_rng(i).normal(size=DIM).tolist()}
              for i in range(40)]  # fmt: skip
    client.put("/v1/collections/r/points", json={"points": points}).raise_for_status()
    answer = client.post("/v1/collections/r/rebuild", json={"insertion_order": "lid-desc"})
    assert answer.status_code == 200, answer.text
    snapshot = tmp_path / "data" / "collections" / "r" / "index" / "index.json"
    assert json.loads(snapshot.read_text())["insertion_order"] == "lid-desc"


def test_a_text_write_the_disk_refuses_changes_nothing(
    make_client: Callable[..., TestClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The points committed first and their texts after: a texts file the disk refused gave
    a 503 "nothing was changed" over points that were stored. Now the texts go first, and a
    points write that fails puts the texts back."""
    from index.store import PointStore
    from index.texts import TEXTS_FILE, read_texts

    client = make_client()
    assert client.post("/v1/collections", json={"name": "t", "encoder": "fake"}).status_code == 201
    first = {"points": [{"id": "a", "text": "cats purr"}]}
    assert client.put("/v1/collections/t/points", json=first).status_code == 200
    folder = tmp_path / "data" / "collections" / "t"

    def stored() -> dict[str, list[float]]:
        got = client.get(
            "/v1/collections/t/points", params={"ids": ["a", "b"], "with_vector": "true"}
        )
        return {p["id"]: p["vector"] for p in got.json()["points"]}

    before = stored()
    change = {"points": [{"id": "b", "text": "new"}, {"id": "a", "text": "bond yields fell"}]}
    texts = folder / TEXTS_FILE
    for suffix in ("", "-wal", "-shm"):
        Path(f"{texts}{suffix}").unlink(missing_ok=True)
    texts.mkdir()  # SQLite cannot open it: the texts write fails
    assert_error(client.put("/v1/collections/t/points", json=change), 503, "storage_unavailable")
    assert stored() == before
    texts.rmdir()
    client.put("/v1/collections/t/points", json=first).raise_for_status()

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PointStore, "upsert", full)
    assert_error(client.put("/v1/collections/t/points", json=change), 503, "storage_unavailable")
    monkeypatch.undo()
    assert stored() == before
    assert read_texts(folder, ["a", "b"]) == {"a": "cats purr"}  # put back as it was


@pytest.mark.parametrize("index_type", ["hnsw", "faiss-hnsw", "flat"])
def test_a_snapshot_cut_short_by_a_file_size_limit_is_a_503_and_the_old_one_stays(
    make_client: Callable[..., TestClient], tmp_path: Path, index_type: str
) -> None:
    """hnswlib's save_index ignores write errors: the rebuild answered 200 over a truncated,
    checksummed snapshot and dropped the good one; faiss's write error was a 500."""
    import resource

    client = make_client()
    body = {"name": "s", "dim": 64, "index": {"type": index_type}}
    assert client.post("/v1/collections", json=body).status_code == 201
    vectors = np.random.default_rng(0).normal(size=(3000, 64))
    for lo in range(0, 3000, 1000):
        points = [{"id": str(i), "vector": vectors[i].tolist()} for i in range(lo, lo + 1000)]
        client.put("/v1/collections/s/points", json={"points": points}).raise_for_status()
    assert client.post("/v1/collections/s/rebuild", json={}).status_code == 200
    snapshot = tmp_path / "data" / "collections" / "s" / "index"
    before = _files(snapshot)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, hard))  # Python ignores SIGXFSZ
    try:
        answer = client.post("/v1/collections/s/rebuild", json={"insertion_order": "random"})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert_error(answer, 503, "storage_unavailable")
    assert _files(snapshot) == before  # the sound snapshot is still the one in place
    hits = client.post("/v1/collections/s/search", json={"query": {"id": "7"}, "k": 1})
    assert hits.status_code == 200 and len(hits.json()["results"]) == 1


def test_store_damage_found_past_start_up_is_503_collection_unavailable(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    """Start-up reads only the config and the id index; a read of damaged pages later was a
    500 `internal_error`."""
    catalog = Catalog(tmp_path / "data")
    collection = catalog.create(CollectionConfig("d", DIM, index_type="flat"))
    n = 3000
    vectors = np.random.default_rng(1).normal(size=(n, DIM)).astype(np.float32)
    collection.upsert(
        [f"p{i}" for i in range(n)], vectors, [{"g": i % 7, "pad": "x" * 200} for i in range(n)]
    )
    catalog.close()
    store = tmp_path / "data" / "collections" / "d" / "store.sqlite3"
    raw = bytearray(store.read_bytes())
    at = int(len(raw) * 0.6) // 4096 * 4096
    raw[at : at + 3 * 4096] = (
        np.random.default_rng(2).integers(0, 256, 3 * 4096, np.uint8).tobytes()
    )
    store.write_bytes(bytes(raw))
    client = make_client()
    search = {
        "query": {"vector": [1.0, 0, 0, 0]},
        "k": 5,
        "filter": {"must": [{"key": "g", "match": {"value": 3}}]},
    }
    answer = client.post("/v1/collections/d/search", json=search)
    assert_error(answer, 503, "collection_unavailable")
    assert "malformed" in answer.json()["message"]


def test_concurrent_text_upserts_all_land_with_their_texts(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    """Texts written before the commit but outside the writer mutex: concurrent first writes
    met a locked texts file (a 500 in the CI load test), and texts could land in another order
    than their points."""
    from concurrent.futures import ThreadPoolExecutor

    from index.texts import read_texts

    client = make_client()
    assert client.post("/v1/collections", json={"name": "tc", "encoder": "fake"}).status_code == 201

    def write(worker: int) -> list[int]:
        codes = []
        for n in range(8):
            points = [
                {"id": f"p{i}", "text": f"worker {worker} round {n} item {i}"} for i in range(5)
            ]
            codes.append(
                client.put("/v1/collections/tc/points", json={"points": points}).status_code
            )
        return codes

    with ThreadPoolExecutor(6) as pool:
        codes = [c for got in pool.map(write, range(6)) for c in got]
    assert set(codes) == {200}, codes
    texts = read_texts(tmp_path / "data" / "collections" / "tc", [f"p{i}" for i in range(5)])
    stored = client.get(
        "/v1/collections/tc/points", params={"ids": list(texts), "with_vector": "true"}
    )
    for point in stored.json()["points"]:  # each point's vector is its recorded text's
        again = client.post("/v1/embed", json={"encoder": "fake", "inputs": [texts[point["id"]]]})
        np.testing.assert_allclose(point["vector"], again.json()["embeddings"][0], atol=1e-6)


def test_a_damaged_texts_file_is_set_aside_and_writes_go_on(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    """It failed every write of the collection, text or vector, with a 503 telling to restore
    store.sqlite3 (which was whole); it only keeps texts for reindex."""
    from index.texts import TEXTS_FILE, read_texts

    client = make_client()
    assert client.post("/v1/collections", json={"name": "t", "encoder": "fake"}).status_code == 201
    first = {"points": [{"id": "a", "text": "first text"}]}
    assert client.put("/v1/collections/t/points", json=first).status_code == 200
    client.__exit__(None, None, None)
    folder = tmp_path / "data" / "collections" / "t"
    (folder / TEXTS_FILE).write_bytes(b"this is no SQLite database" * 200)
    client = make_client()
    for body in (
        {"points": [{"id": "b", "text": "second text"}]},
        {"points": [{"id": "c", "vector": [0.5] * 64}]},
    ):
        assert client.put("/v1/collections/t/points", json=body).status_code == 200
    assert client.get("/v1/collections/t").json()["count"] == 3
    assert read_texts(folder, ["a", "b", "c"]) == {"b": "second text"}
    assert len(list(folder.glob(f"{TEXTS_FILE}.damaged-*"))) == 1
    client.__exit__(None, None, None)
    assert make_client().get("/v1/collections/t").json()["count"] == 3  # the file aside is no bar
