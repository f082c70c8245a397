"""Offline builds on the `fake` encoder: formats, serving the result, re-runs, orders."""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from encoders import EncoderPool
from ingest.cli import add_arguments, run
from ingest.errors import ConfigConflict, InvalidOption
from ingest.summary import Summary

Docs = Callable[[int], list[dict[str, Any]]]


def rows_of(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SciFact titles as rows with a string payload field (CSV keeps strings only)."""
    return [{"id": d["_id"], "text": d["title"], "topic": f"t{i % 3}"} for i, d in enumerate(docs)]


def write_formats(tmp_path: Path, rows: list[dict[str, Any]]) -> dict[str, Path]:
    paths = {fmt: tmp_path / f"docs.{fmt}" for fmt in ("jsonl", "csv", "parquet")}
    paths["jsonl"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    with paths["csv"].open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), paths["parquet"], row_group_size=3)
    return paths


def test_every_format_gives_the_same_collection(
    ingest: Callable[..., Summary],
    scifact_docs: Docs,
    stored: Callable[..., dict],
    encoder_pool: EncoderPool,
    tmp_path: Path,
) -> None:
    rows = rows_of(scifact_docs(8))
    expected = encoder_pool.get("fake").encode([r["text"] for r in rows])
    for fmt, path in write_formats(tmp_path, rows).items():
        summary = ingest(str(path), "--collection", fmt, "--encoder", "fake")
        assert (summary.status, summary.stats.read, summary.stats.points) == ("built", 8, 8)
        points = stored(tmp_path / "data", fmt)
        assert list(points) == [r["id"] for r in rows], fmt
        for row, vector in zip(rows, expected, strict=True):
            np.testing.assert_allclose(points[row["id"]][0], vector, atol=1e-6)
            assert points[row["id"]][1] == {"topic": row["topic"]}


def test_the_service_opens_the_build_unchanged(
    ingest: Callable[..., Summary],
    scifact_docs: Docs,
    write_jsonl: Callable[..., Path],
    make_client: Callable[..., Any],
    tmp_path: Path,
) -> None:
    docs = scifact_docs(30)
    source = write_jsonl(tmp_path / "corpus.jsonl", docs)
    argv = [str(source), "--collection", "sci", "--encoder", "fake", "--id-field", "_id"]
    summary = ingest(*argv, "--text-field", "title,text", "--params", "M=8,ef_construction=64")
    assert summary.index["params"]["M"] == 8 and summary.count == 30
    client = make_client(data_dir=tmp_path / "data")
    info = client.get("/v1/collections/sci").json()
    assert info["count"] == 30 and info["index"]["params"]["ef_construction"] == 64
    # the fake encoder has no meaning: the document's whole text finds it (same word tokens)
    query = {"query": {"text": f"{docs[7]['title']} {docs[7]['text']}"}, "k": 3}
    hits = client.post("/v1/collections/sci/search", json=query).json()["results"]
    assert hits[0]["id"] == docs[7]["_id"]
    assert hits[0]["payload"] == {"metadata": docs[7]["metadata"]}


def test_rerun_is_a_noop_and_a_new_order_only_rebuilds_the_index(
    ingest: Callable[..., Summary],
    scifact_docs: Docs,
    write_jsonl: Callable[..., Path],
    config_rows: Callable[[Path], dict],
    tmp_path: Path,
) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", rows_of(scifact_docs(12)))
    argv = [str(source), "--collection", "c", "--encoder", "fake"]
    first = ingest(*argv, "--insertion-order", "random", "--seed", "3")
    again = ingest(*argv)  # the recorded order and seed apply
    assert (again.status, again.encoded, again.count) == ("unchanged", 0, 12)
    assert "is already built from" in again.render() and "nothing to do" in again.render()
    assert again.stats == first.stats
    reordered = ingest(*argv, "--insertion-order", "category:topic")
    assert (reordered.status, reordered.encoded) == ("reordered", 0)
    home = tmp_path / "data" / "collections" / "c"
    record = config_rows(home / "store.sqlite3")["ingest"]
    assert (record["insertion_order"], record["done"], record["rows"]) == ("category:topic", 1, 12)
    assert record["seed"] == 0  # the default: seed 3 went with the random order
    snapshot = json.loads((home / "index" / "index.json").read_text())
    assert snapshot["insertion_order"] == "category:topic" and snapshot["count"] == 12


def test_a_second_file_adds_to_an_existing_collection(
    ingest: Callable[..., Summary],
    scifact_docs: Docs,
    write_jsonl: Callable[..., Path],
    tmp_path: Path,
) -> None:
    rows = rows_of(scifact_docs(10))
    a = write_jsonl(tmp_path / "a.jsonl", rows[:6])
    b = write_jsonl(tmp_path / "b.jsonl", rows[4:])
    ingest(str(a), "--collection", "c", "--encoder", "fake", "--index", "flat")
    summary = ingest(str(b), "--collection", "c")  # encoder and index: the collection's
    assert (summary.stats.read, summary.stats.replaced, summary.stats.duplicates) == (6, 2, 0)
    assert summary.count == 10 and summary.index["type"] == "flat"
    with pytest.raises(ConfigConflict, match=r"exists with index_type='flat'"):
        ingest(str(b), "--collection", "c", "--index", "hnsw")
    # named as the conflict it is (it was "encoder 'minilm' cannot produce dim=64")
    with pytest.raises(ConfigConflict, match=r"exists with encoder='fake'"):
        ingest(str(b), "--collection", "c", "--encoder", "minilm")


def test_unknown_order_is_refused_before_anything_is_written(
    ingest: Callable[..., Summary], write_jsonl: Callable[..., Path], tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": "x"}])
    with pytest.raises(InvalidOption, match=r"unknown insertion order 'category'; use one of"):
        ingest(
            str(source), "--collection", "c", "--encoder", "fake", "--insertion-order", "category"
        )
    assert not (tmp_path / "data").exists()


def test_cli_prints_the_summary_and_writes_it_as_json(
    write_jsonl: Callable[..., Path],
    encoder_pool: EncoderPool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [{"id": "a", "text": "Cats purr."}, {"id": "b"}, {"id": "a", "text": "Cats nap."}]
    source = write_jsonl(tmp_path / "pets.jsonl", rows)
    out = tmp_path / "summary.json"
    argv = [str(source), "--collection", "pets", "--encoder", "fake", "--summary-json", str(out)]
    assert run(cli_args(argv, tmp_path), encoder_pool) == 0
    printed = capsys.readouterr().out
    assert "built collection 'pets' from" in printed
    assert "items read        3" in printed and "points written    1" in printed
    assert "skipped           1 (1 missing_text)" in printed
    assert "pets.jsonl line 2: missing text (field 'text')" in printed
    assert "pets.jsonl line 3: duplicate id 'a' replaces an earlier row" in printed
    summary = json.loads(out.read_text())
    assert summary["stats"]["skipped"] == {"missing_text": 1} and summary["count"] == 1
    assert summary["index"]["insertion_order"] == "as-is" and summary["items_per_second"] > 0
    assert run(cli_args(argv, tmp_path), encoder_pool) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_cli_reports_errors_of_the_command_line_with_status_2(
    encoder_pool: EncoderPool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(tmp_path / "missing.jsonl"), "--collection", "c", "--encoder", "fake"]
    assert run(cli_args(argv, tmp_path), encoder_pool) == 2
    assert "nestvec ingest: error: " in capsys.readouterr().err
    (tmp_path / "x.txt").write_text("hello\n")
    argv = [str(tmp_path / "x.txt"), "--collection", "c", "--encoder", "fake"]
    assert run(cli_args(argv, tmp_path), encoder_pool) == 2
    assert "x.txt: unsupported file type '.txt'" in capsys.readouterr().err


def cli_args(argv: list[str], tmp_path: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args([*argv, "--data-dir", str(tmp_path / "data"), "--no-progress"])
