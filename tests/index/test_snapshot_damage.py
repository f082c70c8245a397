"""A damaged or half-written index snapshot never stops a collection from opening: it is
rebuilt from the store (which holds every point), with a warning that names the collection."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from index import Catalog, CollectionConfig

DIM, N = 24, 300
VECTORS = np.random.default_rng(3).normal(size=(N, DIM)).astype(np.float32)
IDS = [f"p{i}" for i in range(N)]
# settings under which a query equal to a stored vector finds that point first
PARAMS = {
    "hnsw": {"ef": 200},
    "flat": {},
    "faiss-hnsw": {"ef": 200},
    "ivf": {"nlist": 4, "nprobe": 4},
}


def build(data: Path, index_type: str) -> Path:
    """A closed collection `c` with N points and its snapshot; returns the snapshot dir."""
    catalog = Catalog(data)
    config = CollectionConfig("c", DIM, index_type=index_type, index_params=PARAMS[index_type])
    col = catalog.create(config)
    col.upsert(IDS, VECTORS, [{"i": i} for i in range(N)])
    catalog.close()
    snapshot = data / "collections" / "c" / "index"
    assert (snapshot / "index.json").exists()
    return snapshot


def main_file(snapshot: Path) -> Path:
    """The index's own data file (hnsw.bin, faiss.index): the largest in the snapshot."""
    return max((p for p in snapshot.iterdir() if p.name != "index.json"), key=os.path.getsize)


def truncate(snapshot: Path) -> None:
    target = main_file(snapshot)
    os.truncate(target, target.stat().st_size // 2)


def garbage(snapshot: Path) -> None:
    target = main_file(snapshot)
    target.write_bytes(np.random.default_rng(0).bytes(target.stat().st_size))


def delete_file(snapshot: Path) -> None:
    main_file(snapshot).unlink()


def bad_meta(snapshot: Path) -> None:
    (snapshot / "index.json").write_text("{not json")


def only_tmp(snapshot: Path) -> None:
    """A crash between removing the old snapshot and renaming the new one in (older saves)."""
    snapshot.rename(snapshot.with_name("index.tmp"))


def torn_tmp_beside_old(snapshot: Path) -> None:
    """A crash mid-save: the previous snapshot moved aside, the new one torn."""
    old, tmp = snapshot.with_name("index.old"), snapshot.with_name("index.tmp")
    shutil.copytree(snapshot, old)
    snapshot.rename(tmp)
    truncate(tmp)


def files_under_snapshot_names(snapshot: Path) -> None:
    """Stray files where the snapshot folders go (rmtree left a file `index.old` in place)."""
    shutil.rmtree(snapshot)
    for name in ("index", "index.tmp", "index.old"):
        snapshot.with_name(name).write_bytes(b"stray")


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": truncate,
    "garbage": garbage,
    "deleted file": delete_file,
    "bad index.json": bad_meta,
    "only index.tmp": only_tmp,
    "torn index.tmp beside index.old": torn_tmp_beside_old,
}


def test_stray_files_under_the_snapshot_names_are_replaced(tmp_path: Path) -> None:
    files_under_snapshot_names(build(tmp_path, "hnsw"))
    catalog = Catalog(tmp_path)
    assert_all_found(catalog)
    catalog.close()
    folder = tmp_path / "collections" / "c"
    assert sorted(p.name for p in folder.iterdir()) == ["index", "store.sqlite3"]
    assert (folder / "index").is_dir()


def assert_all_found(catalog: Catalog) -> None:
    col = catalog.get("c")
    assert col.count() == len(col.index) == N
    hits = col.search(VECTORS, 1, with_payload=False)
    assert [h[0].id for h in hits] == IDS


@pytest.mark.parametrize("index_type", list(PARAMS))
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_snapshot_is_rebuilt_from_the_store(
    tmp_path: Path, index_type: str, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    snapshot = build(tmp_path, index_type)
    DAMAGE[damage](snapshot)
    with caplog.at_level(logging.WARNING, logger="index.collection"):
        catalog = Catalog(tmp_path)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'c'" in message for message in warnings), warnings
    assert_all_found(catalog)
    catalog.close()  # writes a sound snapshot back in place
    names = sorted(p.name for p in (tmp_path / "collections" / "c").iterdir())
    assert "index" in names and "index.tmp" not in names and "index.old" not in names
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="index.collection"):
        again = Catalog(tmp_path)
    assert not caplog.records  # loaded as it is, nothing to repair
    assert_all_found(again)


def test_snapshot_records_a_checksum_of_every_file(tmp_path: Path) -> None:
    import hashlib

    snapshot = build(tmp_path, "hnsw")
    meta = json.loads((snapshot / "index.json").read_text())
    files = {p.name for p in snapshot.iterdir()} - {"index.json"}
    assert set(meta["files"]) == files
    for name, digest in meta["files"].items():
        assert hashlib.sha256((snapshot / name).read_bytes()).hexdigest() == digest


def test_a_flipped_byte_is_caught_by_the_checksum(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Damage the backend itself would load without a word (a label list off by one bit)."""
    snapshot = build(tmp_path, "hnsw")
    labels = snapshot / "live_labels.npy"
    data = bytearray(labels.read_bytes())
    data[-1] ^= 1  # the last label now names a point that does not exist
    labels.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="index.collection"):
        catalog = Catalog(tmp_path)
    assert any("checksum" in r.getMessage() for r in caplog.records)
    assert_all_found(catalog)


def test_server_restarts_on_a_truncated_snapshot(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client()
    body = {"name": "c", "dim": DIM, "index": {"type": "hnsw", "params": {"ef": 200}}}
    assert client.post("/v1/collections", json=body).status_code == 201
    points = [{"id": pid, "vector": v.tolist()} for pid, v in zip(IDS, VECTORS, strict=True)]
    r = client.put("/v1/collections/c/points", json={"points": points})
    assert r.status_code == 200, r.text
    client.__exit__(None, None, None)  # clean shutdown: the snapshot is written
    truncate(tmp_path / "data" / "collections" / "c" / "index")
    again = make_client()  # the same data dir
    assert again.get("/v1/collections/c").json()["count"] == N
    searches = [{"query": {"vector": v.tolist()}, "k": 1} for v in VECTORS[:50]]
    r = again.post("/v1/collections/c/search/batch", json={"searches": searches})
    assert r.status_code == 200, r.text
    assert [result[0]["id"] for result in r.json()["results"]] == IDS[:50]


def test_an_hnsw_graph_saved_before_tombstones_is_rebuilt_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Graphs saved while deleted slots were reused may have lost moved points for good: an
    upgraded collection kept serving them (66 of 716 moved points never found, ef 64)."""
    import hashlib

    snapshot = build(tmp_path, "hnsw")
    graph_meta = snapshot / "hnsw.json"
    graph_meta.write_text(
        json.dumps({"max_elements": json.loads(graph_meta.read_text())["max_elements"]})
    )
    meta = json.loads((snapshot / "index.json").read_text())  # a sound snapshot of that format
    meta["files"]["hnsw.json"] = hashlib.sha256(graph_meta.read_bytes()).hexdigest()
    (snapshot / "index.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="index.collection"):
        catalog = Catalog(tmp_path)
    assert any("reused deleted slots" in r.getMessage() for r in caplog.records)
    assert_all_found(catalog)
    catalog.close()
    assert json.loads(graph_meta.read_text())["format"] == 2
