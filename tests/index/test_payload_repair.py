"""Stores written before NaN, Infinity and lone surrogates were refused: their payloads are made
JSON once, on open (one such payload made an upgraded collection unavailable, its source_id
migration refused by SQLite, or its answers not JSON)."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from index.store import PointStore

OLD = {  # payload text as an older nestvec stored it (Python's json.dumps)
    "nan": '{"x": NaN, "y": [Infinity, -Infinity], "ok": 1}',
    "lone": '{"s": "a\\ud800b", "\\udc00k": 2}',
    "emoji": '{"e": "\\ud83d\\ude00"}',  # a surrogate pair: a character, kept as it is
    "plain": '{"n": 1.5, "t": "hi"}',
}
EXPECTED = {
    "nan": {"x": None, "y": [None, None], "ok": 1},
    "lone": {"s": "a\ufffdb", "\ufffdk": 2},
    "emoji": {"e": "😀"},
    "plain": {"n": 1.5, "t": "hi"},
}


@pytest.mark.parametrize("source_id_column", [False, True])
def test_an_old_store_opens_with_its_payloads_made_json(
    tmp_path: Path, source_id_column: bool, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store.sqlite3"
    db = sqlite3.connect(path)
    extra = ", source_id TEXT" if source_id_column else ""
    db.execute("CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE points (label INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, "
        f"vector BLOB NOT NULL, payload TEXT NOT NULL{extra})"
    )
    vector = np.ones(2, np.float32).tobytes()
    for point_id, text in OLD.items():
        db.execute(
            "INSERT INTO points (id, vector, payload) VALUES (?, ?, ?)", (point_id, vector, text)
        )
    db.commit()
    db.close()
    with caplog.at_level(logging.WARNING):
        store = PointStore(path, dim=2)
    got = {p.id: p.payload for p in store.by_ids(list(OLD))}
    assert got == EXPECTED
    assert "2 payloads held NaN, Infinity or a lone surrogate" in caplog.text
    for p in store.by_ids(list(OLD)):  # answers splice the stored text: it is JSON now
        json.loads(p.payload_json, parse_constant=pytest.fail)
    store.close()
    caplog.clear()
    PointStore(path, dim=2).close()  # once: a second open checks nothing
    assert "payloads held" not in caplog.text


def test_a_payload_that_is_no_json_at_all_is_set_aside_not_spliced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Such a row (damaged, or edited by hand) was left as it was: every answer holding it was
    a 200 whose body was no JSON, and Qdrant's scroll a 500."""
    path = tmp_path / "store.sqlite3"
    PointStore(path, dim=2).close()
    broken = {"cut": '{"b": 1', "word": "nul"}
    db = sqlite3.connect(path)
    vector = np.ones(2, np.float32).tobytes()
    rows = [*broken.items(), ("fine", '{"n": NaN}')]
    db.executemany("INSERT INTO points (id, vector, payload) VALUES (?, ?, ?)", [
        (point_id, vector, text) for point_id, text in rows
    ])  # fmt: skip
    db.execute("DELETE FROM config WHERE key = 'payloads_checked'")  # as an older store
    db.commit()
    db.close()
    with caplog.at_level(logging.WARNING):
        store = PointStore(path, dim=2)
    got = {p.id: p.payload_json for p in store.by_ids([*broken, "fine"])}
    assert {k: json.loads(v) for k, v in got.items()} == {
        "cut": {},
        "word": {},
        "fine": {"n": None},
    }
    (aside,) = tmp_path.glob("payloads-unreadable-*.jsonl")
    kept = [json.loads(line)["payload"] for line in aside.read_text().splitlines()]
    assert sorted(kept) == sorted(broken.values())  # the damaged text, for whoever repairs it
    assert "2 payloads were not JSON" in caplog.text and str(aside) in caplog.text
    store.close()
