"""Readers: one per format, streaming, positions for messages and resume; no model needed."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import DATA

from ingest.errors import BadInput, SourceNotFound, UnsupportedSource
from ingest.readers import READERS, reader_for

FACES = DATA / "faces_deepface" / "images"


def test_registry_is_keyed_by_suffix() -> None:
    assert {".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".pq", "/"} <= set(READERS)


def test_unknown_and_missing_sources(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UnsupportedSource, match=r"notes.txt: unsupported file type '.txt'"):
        reader_for(tmp_path / "notes.txt")
    with pytest.raises(SourceNotFound, match=r"nope.jsonl: no such file or directory"):
        reader_for(tmp_path / "nope.jsonl")


def test_jsonl_numbers_lines_and_reports_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"id": 1}\n\n{"id": 2,}\n[1, 2]\n{"x": NaN}\n\xff\xfe{\n{"id": 3}\n')
    rows = list(reader_for(path).rows(path))
    assert [r.number for r in rows] == [1, 3, 4, 5, 6, 7]  # the blank line 2 is no row
    assert rows[0].fields == {"id": 1} and rows[0].where == "a.jsonl line 1"
    assert rows[1].error is not None and rows[1].error.startswith("malformed JSON (")
    assert rows[2].error == "expected a JSON object, got an array"  # not Python's "list"
    assert rows[3].error == "malformed JSON (NaN is not valid JSON)"
    assert rows[4].fields is None and rows[5].fields == {"id": 3}
    assert [r.number for r in reader_for(path).rows(path, start=4)] == [5, 6, 7]


def test_csv_and_tsv(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text('id,text,year\n1,"two\nlines",2020\n\n2,short\n3,ok,2021\n')
    rows = list(reader_for(path).rows(path))
    assert rows[0].fields == {"id": "1", "text": "two\nlines", "year": "2020"}
    assert [r.where for r in rows] == ["a.csv line 3", "a.csv line 5", "a.csv line 6"]
    assert rows[1].error == "has 2 fields, the header has 3"
    assert [r.fields for r in reader_for(path).rows(path, start=2)] == [
        {"id": "3", "text": "ok", "year": "2021"}
    ]
    tsv = tmp_path / "a.tsv"
    tsv.write_text("id\ttext\nx\thello, world\n")
    assert next(reader_for(tsv).rows(tsv)).fields == {"id": "x", "text": "hello, world"}


def test_a_stray_quote_in_a_csv_stops_the_build_naming_where(tmp_path: Path) -> None:
    """The quote opened a field that swallowed the lines up to the next quote: 47 rows were
    lost with "skipped 0" (or, never closed, 97 behind one "has 2 fields" line)."""
    rows = "".join(f"{i},row {i},t\n" for i in range(4, 50))
    path = tmp_path / "a.csv"
    path.write_text(f'id,text,tag\n1,ok,a\n3,"12 inch ruler,c\n{rows}50,a 5" nail,t\n51,x,t\n')
    with pytest.raises(BadInput, match=r"a.csv line 50 \(a quoted field opened on line 3: a stray"):
        list(reader_for(path).rows(path))
    path.write_text(f'id,text,tag\n1,ok,a\n3,"never closed,c\n{rows}')
    with pytest.raises(BadInput, match=r"opened on line 3: a stray quote\?\): unexpected end"):
        list(reader_for(path).rows(path))
    path.write_text('id,text\n1,"a ""quoted"" word, and\na second line"\n2,a 5" nail\n')
    assert [r.fields["text"] for r in reader_for(path).rows(path)] == [
        'a "quoted" word, and\na second line',
        'a 5" nail',
    ]


def test_a_csv_row_that_is_not_utf8_is_skipped_with_its_line(tmp_path: Path) -> None:
    """As a malformed JSON line is: the build goes on (it stopped, naming line 1)."""
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,text\n1,ok\n2,caf\xe9\n3,fine\n")
    rows = list(reader_for(path).rows(path))
    assert [(r.where, r.error) for r in rows] == [
        ("bad.csv line 2", None),
        ("bad.csv line 3", "not UTF-8 text (byte 0xe9)"),
        ("bad.csv line 4", None),
    ]
    assert rows[2].fields == {"id": "3", "text": "fine"}
    path.write_bytes(b"id,t\xffxt\n1,ok\n")
    with pytest.raises(BadInput, match=r"bad.csv line 1: the header is not UTF-8 text"):
        list(reader_for(path).rows(path))


def test_parquet_streams_row_groups_and_makes_values_json(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": list(range(10)),
            "when": [dt.date(2020, 1, i + 1) for i in range(10)],
            "score": [float("nan")] + [float(i) for i in range(1, 10)],
            "blob": [b"\x00\x01"] * 10,
            "price": pa.array([decimal.Decimal("1.10")] * 10, pa.decimal128(5, 2)),
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=3)
    rows = list(reader_for(path).rows(path))
    assert [r.number for r in rows] == list(range(1, 11)) and rows[9].where == "t.parquet row 10"
    assert rows[0].fields == {
        "id": 0,
        "when": "2020-01-01",
        "score": None,
        "blob": "AAE=",
        "price": "1.10",
    }
    assert [r.fields["id"] for r in reader_for(path).rows(path, start=7)] == [7, 8, 9]
    assert reader_for(path).estimate(path) == 10


def test_unreadable_parquet(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(BadInput, match=r"broken.parquet: not a readable Parquet file"):
        list(reader_for(path).rows(path))


def test_image_folder_lists_images_recursively_in_order(tmp_path: Path) -> None:
    if not FACES.exists():
        pytest.skip("../shared/data/faces_deepface not present")
    folder = tmp_path / "faces"
    (folder / "alice").mkdir(parents=True)
    shutil.copy(FACES / "img1.jpg", folder / "alice" / "a.jpg")
    shutil.copy(FACES / "img2.jpg", folder / "b.JPG")
    (folder / "readme.txt").write_text("not an image")
    fmt = reader_for(folder)
    rows = list(fmt.rows(folder))
    assert [r.fields["id"] for r in rows] == ["alice/a.jpg", "b.JPG"]
    assert rows[0].fields["folder"] == "alice" and rows[0].where == "faces/alice/a.jpg"
    assert fmt.input_field == "image" and fmt.estimate(folder) == 2
    before = fmt.fingerprint(folder)
    shutil.copy(FACES / "img3.jpg", folder / "c.png")
    assert fmt.fingerprint(folder) != before
    assert [r.fields["id"] for r in fmt.rows(folder, start=2)] == ["c.png"]


def test_file_fingerprint_follows_content(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": 1}\n')
    fmt = reader_for(path)
    first = fmt.fingerprint(path)
    path.write_text('{"id": 2}\n')
    assert fmt.fingerprint(path) != first
    assert first["path"] == str(path.resolve()) and first["size"] == 10


def test_a_utf16_jsonl_file_is_refused_whole(tmp_path: Path) -> None:
    """Its lines split mid-character: it read as one good row and one malformed (a NUL)."""
    path = tmp_path / "wide.jsonl"
    path.write_bytes('{"id": "1", "text": "hello"}\n{"id": "2", "text": "x"}\n'.encode("utf-16"))
    with pytest.raises(BadInput, match=r"wide.jsonl: UTF-16 text; JSON Lines are UTF-8"):
        list(reader_for(path).rows(path))


def test_file_fingerprint_follows_an_edit_in_place_of_the_same_size(tmp_path: Path) -> None:
    """A label fixed mid-file keeps the size and both hashed ends: the re-run said "nothing to
    do" and kept the old row. The modification time tells the files apart."""
    path = tmp_path / "big.jsonl"
    rows = [f'{{"id": "r{i}", "label": "cat", "pad": "{"x" * 1000}"}}\n' for i in range(3000)]
    path.write_text("".join(rows))
    fmt = reader_for(path)
    first = fmt.fingerprint(path)
    rows[1500] = rows[1500].replace('"cat"', '"dog"')
    path.write_text("".join(rows))
    os.utime(path, ns=(first["mtime_ns"] + 1_000_000, first["mtime_ns"] + 1_000_000))
    assert fmt.fingerprint(path)["size"] == first["size"]
    assert fmt.fingerprint(path) != first


@pytest.mark.parametrize(
    ("header", "repeated"),
    [("id,text,tag,tag", "tag"), ("id,text,id", "id"), ("id,text,text", "text")],
)
def test_a_repeated_csv_column_is_refused(tmp_path: Path, header: str, repeated: str) -> None:
    """The last of two equal names won silently: a payload value lost, or the point stored
    under the wrong id, or its text read from an empty column."""
    path = tmp_path / "dup.csv"
    values = ",".join(["1", "hello", "a", "b"][: header.count(",") + 1])
    path.write_text(f"{header}\n{values}\n")
    with pytest.raises(
        BadInput, match=rf"dup.csv line 1: the header repeats the column '{repeated}'"
    ):
        list(reader_for(path).rows(path))


def test_a_repeated_parquet_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.parquet"
    columns = [pa.array(["1"]), pa.array(["hello"]), pa.array(["a"]), pa.array(["b"])]
    pq.write_table(pa.Table.from_arrays(columns, names=["id", "text", "tag", "tag"]), path)
    with pytest.raises(BadInput, match=r"dup.parquet: the schema repeats the column 'tag'"):
        list(reader_for(path).rows(path))
