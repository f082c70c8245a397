"""Rows to records: every check, with the file position in the message; no model needed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import DATA

from ingest.errors import BadInput
from ingest.inputs import INPUT_KINDS, Skip
from ingest.readers import RawRow
from ingest.records import FieldSpec, RecordMaker, make_batches

FACES = DATA / "faces_deepface" / "images"


def row(fields: dict[str, Any] | None, number: int = 1, error: str | None = None) -> RawRow:
    return RawRow(number, f"f.jsonl line {number}", fields, error)


def text_maker(**spec: Any) -> RecordMaker:
    return RecordMaker(FieldSpec(**spec), INPUT_KINDS["text"], 384, Path("."))


def skip_of(maker: RecordMaker, raw: RawRow) -> tuple[str, str]:
    with pytest.raises(Skip) as caught:
        maker(raw)
    return caught.value.reason, caught.value.message


def test_a_good_row() -> None:
    record = text_maker()(row({"id": 7, "text": " Hello ", "topic": "x", "n": [1]}))
    assert (record.id, record.input, record.vector) == ("7", "Hello", None)
    assert record.payload == {"topic": "x", "n": [1]}


def test_several_text_fields_are_joined() -> None:
    maker = text_maker(id_field="_id", input_fields=("title", "text"))
    record = maker(row({"_id": "a", "title": "T.", "text": "Body.", "metadata": {}}))
    assert record.input == "T. Body." and record.payload == {"metadata": {}}
    assert maker(row({"_id": "a", "title": None, "text": "Body."})).input == "Body."


@pytest.mark.parametrize(
    ("fields", "reason", "message"),
    [
        (None, "malformed", "f.jsonl line 1: malformed JSON (x)"),
        ({"text": "t"}, "missing_id", "f.jsonl line 1: missing id (field 'id')"),
        ({"id": "", "text": "t"}, "missing_id", "f.jsonl line 1: missing id (field 'id')"),
        ({"id": 1.5, "text": "t"}, "invalid_id", "id must be text or an integer, not a float"),
        ({"id": True, "text": "t"}, "invalid_id", "id must be text or an integer, not a bool"),
        ({"id": "a"}, "missing_text", "f.jsonl line 1: missing text (field 'text')"),
        ({"id": "a", "text": "  "}, "missing_text", "missing text (field 'text')"),
        ({"id": "a", "text": 3}, "invalid_text", "field 'text' is a number, not text"),
    ],
)
def test_bad_rows_are_skipped_with_a_reason(
    fields: dict[str, Any] | None, reason: str, message: str
) -> None:
    got = skip_of(text_maker(), row(fields, error="malformed JSON (x)"))
    assert got[0] == reason and message in got[1]


def vector_maker() -> RecordMaker:
    return RecordMaker(FieldSpec(input_fields=(), vector_field="v"), None, 3, Path("."))


def test_vectors_are_checked() -> None:
    maker = vector_maker()
    record = maker(row({"id": "a", "v": [1, 2.5, 3], "text": "kept as payload"}))
    np.testing.assert_array_equal(record.vector, np.array([1, 2.5, 3], np.float32))
    assert record.payload == {"text": "kept as payload"}
    assert maker(row({"id": "a", "v": "[1, 2, 3]"})).vector.dtype == np.float32  # a CSV cell
    cases = {
        "f.jsonl line 1: vector 'v' has 2 values, expected 3": [1, 2],
        "f.jsonl line 1: vector 'v' must be a list of numbers": [1, "2", 3],
        "f.jsonl line 1: vector 'v' is not a JSON array": "[1, 2",
        "f.jsonl line 1: missing vector (field 'v')": None,
        "f.jsonl line 1: vector 'v' overflows float32": [1e300, 0, 0],
    }
    for message, value in cases.items():
        assert skip_of(maker, row({"id": "a", "v": value}))[1] == message
    assert skip_of(maker, row({"id": "a", "v": [True, 0, 0]}))[0] == "invalid_vector"


def test_unreadable_images_are_skipped(tmp_path: Path) -> None:
    if not FACES.exists():
        pytest.skip("../shared/data/faces_deepface not present")
    shutil.copy(FACES / "img1.jpg", tmp_path / "ok.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    maker = RecordMaker(FieldSpec(input_fields=("image",)), INPUT_KINDS["image"], 128, tmp_path)
    record = maker(row({"id": "1", "image": "ok.jpg"}))
    assert record.input == str(tmp_path / "ok.jpg")
    assert INPUT_KINDS["image"].load(record.input) == (tmp_path / "ok.jpg").read_bytes()
    reason, message = skip_of(maker, row({"id": "2", "image": "bad.jpg"}))
    assert reason == "unreadable_image" and message.startswith("f.jsonl line 1: unreadable image")
    assert skip_of(maker, row({"id": "3", "image": "gone.png"}))[0] == "unreadable_image"
    assert skip_of(maker, row({"id": "4"}))[0] == "missing_image"


@pytest.mark.parametrize("value", ["/etc/hosts", "../ok.jpg", "sub/../../ok.jpg", ".."])
def test_image_paths_outside_the_source_folder_are_skipped(tmp_path: Path, value: str) -> None:
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    if FACES.exists():  # a readable image there, so only the path's place refuses it
        shutil.copy(FACES / "img1.jpg", tmp_path / "ok.jpg")
    maker = RecordMaker(FieldSpec(input_fields=("image",)), INPUT_KINDS["image"], 128, source)
    reason, message = skip_of(maker, row({"id": "1", "image": value}))
    assert reason == "image_outside_source"
    assert message == f"f.jsonl line 1: image path {value!r} is outside the source file's folder"


def test_image_paths_may_step_up_inside_the_folder(tmp_path: Path) -> None:
    if not FACES.exists():
        pytest.skip("../shared/data/faces_deepface not present")
    (tmp_path / "sub").mkdir()
    shutil.copy(FACES / "img1.jpg", tmp_path / "ok.jpg")
    maker = RecordMaker(FieldSpec(input_fields=("image",)), INPUT_KINDS["image"], 128, tmp_path)
    assert maker(row({"id": "1", "image": "sub/../ok.jpg"})).input == str(tmp_path / "ok.jpg")


def test_batches_keep_the_last_of_repeated_ids_and_count_skips() -> None:
    rows = [
        row({"id": "a", "text": "1"}, 1),
        row({"id": "b", "text": "2"}, 2),
        row({"id": "a", "text": "3"}, 3),
        row({"text": "no id"}, 4),
        row({"id": "c", "text": "5"}, 5),
        row({"id": "d", "text": "6"}, 6),
    ]
    batches = list(make_batches(rows, text_maker(), size=3, strict=False))
    assert [[r.input for r in b.records] for b in batches] == [["2", "3", "5"], ["6"]]
    assert [b.end for b in batches] == [5, 6]
    first, second = (b.tally for b in batches)
    assert (first.read, first.duplicates, first.skipped) == (5, 1, {"missing_id": 1})
    assert (second.read, second.duplicates, second.skipped) == (1, 0, {})
    assert first.examples == [
        "f.jsonl line 3: duplicate id 'a' replaces an earlier row",
        "f.jsonl line 4: missing id (field 'id')",
    ]


def test_trailing_skips_still_make_a_batch_so_their_rows_commit() -> None:
    rows = [row({"id": "a", "text": "1"}, 1), row({"id": "b"}, 2)]
    batches = list(make_batches(rows, text_maker(), size=1, strict=False))
    assert [(len(b.records), b.end, b.tally.read) for b in batches] == [(1, 1, 1), (0, 2, 1)]


def test_strict_turns_a_skip_into_a_failure() -> None:
    rows = [row({"id": "a", "text": "1"}, 1), row({"id": "b"}, 2)]
    with pytest.raises(BadInput, match=r"^f.jsonl line 2: missing text \(field 'text'\)$"):
        list(make_batches(rows, text_maker(), size=10, strict=True))
