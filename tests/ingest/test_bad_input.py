"""Bad input through whole builds: reported with file and line, never a half-written collection."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import DATA

from ingest.errors import BadInput, EmptySource, NothingToWrite, UnsupportedSource
from ingest.summary import Summary

Ingest = Callable[..., Summary]
TEXT = ("--collection", "c", "--encoder", "fake")
VECTORS = ("--collection", "v", "--vector-field", "emb", "--dim", "4", "--index", "flat")


def collections_in(tmp_path: Path) -> list[str]:
    root = tmp_path / "data" / "collections"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_bad_lines_are_skipped_and_reported(
    ingest: Ingest, stored: Callable[..., dict], tmp_path: Path
) -> None:
    source = tmp_path / "mixed.jsonl"
    source.write_text(
        '{"id": "a", "text": "Cats purr."}\n'
        '{"id": "b", "text": "broken"\n'
        '{"text": "no id"}\n'
        '{"id": "c"}\n'
        '{"id": "d", "text": "Dogs bark.", "k": 1}\n'
    )
    summary = ingest(str(source), *TEXT, "--batch-size", "2")
    assert (summary.stats.read, summary.stats.points, summary.count) == (5, 2, 2)
    assert summary.stats.skipped == {"malformed": 1, "missing_id": 1, "missing_text": 1}
    assert summary.stats.examples == [
        "mixed.jsonl line 2: malformed JSON (Expecting ',' delimiter, column 29)",
        "mixed.jsonl line 3: missing id (field 'id')",
        "mixed.jsonl line 4: missing text (field 'text')",
    ]
    assert "skipped           3 (1 malformed, 1 missing_id, 1 missing_text)" in summary.render()
    assert {k: p for k, (_, p) in stored(tmp_path / "data", "c").items()} == {
        "a": {},
        "d": {"k": 1},
    }


def test_duplicate_ids_last_wins_within_and_across_batches(
    ingest: Ingest, stored: Callable[..., dict], tmp_path: Path
) -> None:
    rows = [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("d", 5), ("b", 6), ("b", 7)]
    source = tmp_path / "dups.jsonl"
    source.write_text(
        "".join(json.dumps({"id": i, "text": f"t{v}", "v": v}) + "\n" for i, v in rows)
    )
    summary = ingest(str(source), *TEXT, "--batch-size", "2")
    assert (summary.stats.duplicates, summary.stats.points, summary.count) == (3, 4, 4)
    assert summary.stats.replaced == 0
    points = stored(tmp_path / "data", "c")
    assert {k: p["v"] for k, (_, p) in points.items()} == {"a": 3, "b": 7, "c": 4, "d": 5}
    assert "dups.jsonl line 7: duplicate id 'b' replaces an earlier row" in summary.stats.examples


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_an_empty_file_leaves_nothing(ingest: Ingest, tmp_path: Path, content: str) -> None:
    source = tmp_path / "empty.jsonl"
    source.write_text(content)
    with pytest.raises(EmptySource, match=r"^empty.jsonl: empty source \(no rows to read\)$"):
        ingest(str(source), *TEXT)
    assert collections_in(tmp_path) == []


def test_a_file_of_only_bad_rows_leaves_nothing(ingest: Ingest, tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text('{"id": 1}\nnot json\n')
    with pytest.raises(NothingToWrite, match=r"bad.jsonl: none of its 2 rows could be used"):
        ingest(str(source), *TEXT)
    assert collections_in(tmp_path) == []


def test_strict_fails_on_the_first_bad_row_before_writing(ingest: Ingest, tmp_path: Path) -> None:
    lines = [json.dumps({"id": str(i), "text": f"t{i}"}) for i in range(9)] + ['{"id": "x"']
    source = tmp_path / "late.jsonl"
    source.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInput, match=r"^late.jsonl line 10: malformed JSON \("):
        ingest(str(source), *TEXT, "--strict", "--batch-size", "2")
    assert collections_in(tmp_path) == []
    assert ingest(str(source), *TEXT, "--batch-size", "2").stats.skipped == {"malformed": 1}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_wrong_vector_length(
    ingest: Ingest, stored: Callable[..., dict], tmp_path: Path, fmt: str
) -> None:
    rows = [{"id": "a", "emb": [1.0, 0, 0, 0]}, {"id": "b", "emb": [1.0, 2.0, 3.0]}]
    source = tmp_path / f"vecs.{fmt}"
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), source)
    elif fmt == "csv":
        source.write_text("id,emb\n" + "".join(f'{r["id"]},"{r["emb"]}"\n' for r in rows))
    else:
        source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    where = {
        "jsonl": "vecs.jsonl line 2",
        "csv": "vecs.csv line 3",
        "parquet": "vecs.parquet row 2",
    }
    summary = ingest(str(source), *VECTORS)
    assert summary.stats.examples == [f"{where[fmt]}: vector 'emb' has 3 values, expected 4"]
    assert list(stored(tmp_path / "data", "v")) == ["a"] and summary.encoded == 1
    with pytest.raises(BadInput, match=f"^{where[fmt]}: vector 'emb' has 3 values, expected 4$"):
        ingest(str(source), *VECTORS[:-2], "--collection", "strict", "--strict")


def test_a_vector_past_the_norm_bound_and_a_long_id_are_skipped(
    ingest: Ingest, stored: Callable[..., dict], tmp_path: Path
) -> None:
    # the REST API refuses both (non_finite_vector, invalid_point_id); a build skips the rows
    rows = [
        {"id": "a", "emb": [1.0, 0, 0, 0]},
        {"id": "b", "emb": [3e38, 1, 1, 1]},  # finite in float32, but scores would overflow
        {"id": "x" * 1025, "emb": [0, 1.0, 0, 0]},
    ]
    source = tmp_path / "vecs.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = ingest(str(source), *VECTORS)
    assert summary.stats.examples == [
        "vecs.jsonl line 2: vector 'emb' has a norm past 1e+18 (scores overflow)",
        "vecs.jsonl line 3: point id of 1025 characters is longer than 1024",
    ]
    assert list(stored(tmp_path / "data", "v")) == ["a"]


def _nestvec(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "service.cli", *map(str, argv), "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


# Rows JSON can carry but no store can keep (it would cut an id at NUL, and cannot encode a lone
# surrogate): skipped like any bad row, never the end of the build.
UNSTORABLE = [
    ({"id": "bad\x00id", "text": "t"}, "invalid_id", "point id 'bad\\x00id' holds a NUL character"),
    ({"id": "\ud800", "text": "t"}, "invalid_id", "point id '\\ud800' is not valid Unicode"),
    ({"id": "s", "text": "\ud800"}, "invalid_text", "field 'text' is not valid Unicode"),
    ({"id": "p", "text": "t", "tag": "\udfff"}, "invalid_payload", "payload of point 'p' is not"),
]


def test_ids_texts_and_payloads_no_store_takes_are_skipped(
    stored: Callable[..., dict], tmp_path: Path
) -> None:
    data, report = tmp_path / "data", tmp_path / "summary.json"
    good = [{"id": f"g{i}", "text": f"good {i}"} for i in range(3)]
    rows = [*good, *(row for row, _, _ in UNSTORABLE), {"id": "after", "text": "last"}]
    source = tmp_path / "odd.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ("--batch-size", "2", "--data-dir", data)
    done = _nestvec("ingest", source, *TEXT, *args, "--summary-json", report)
    assert done.returncode == 0, done.stderr
    stats = json.loads(report.read_text())["stats"]
    assert stats["skipped"] == {"invalid_id": 2, "invalid_payload": 1, "invalid_text": 1}
    for line, (example, (_, _, message)) in enumerate(
        zip(stats["examples"], UNSTORABLE, strict=True), 4
    ):
        assert example.startswith(f"odd.jsonl line {line}: {message}"), example
    assert sorted(stored(data, "c")) == ["after", "g0", "g1", "g2"]
    assert collections_in(tmp_path) == ["c"]  # published: no `.building-c` left behind
    # --strict refuses the first such row before a single batch reaches the existing collection
    strict = tmp_path / "strict.jsonl"
    strict.write_text("".join(json.dumps({**r, "id": f"s{r['id']}"}) + "\n" for r in rows))
    done = _nestvec("ingest", strict, *TEXT, *args, "--strict")
    assert done.returncode == 2  # refused before anything was written
    assert done.stderr.splitlines() == [
        "nestvec ingest: error: strict.jsonl line 4: point id 'sbad\\x00id' holds a NUL character"
    ]
    assert sorted(stored(data, "c")) == ["after", "g0", "g1", "g2"]
    assert collections_in(tmp_path) == ["c"]


def test_csv_rows_with_the_wrong_number_of_fields(ingest: Ingest, tmp_path: Path) -> None:
    source = tmp_path / "docs.csv"
    source.write_text("id,text,topic\n1,Cats purr.,pets\n2,Dogs bark.\n")
    summary = ingest(str(source), *TEXT)
    assert summary.stats.examples == ["docs.csv line 3: has 2 fields, the header has 3"]
    assert summary.count == 1


def test_a_csv_field_past_128_kib_is_read(ingest: Ingest, tmp_path: Path) -> None:
    """The csv module's default field limit ended the build at that row, and every resume met
    it again: the collection could never be finished."""
    source = tmp_path / "long.csv"
    long_text = "cats purr " * 20_000  # 200 kB
    source.write_text(f"id,text\n1,Cats purr.\n2,{long_text}\n3,Dogs bark.\n")
    summary = ingest(str(source), *TEXT)
    assert summary.count == 3 and not summary.stats.examples


def test_a_folder_of_images_needs_an_image_encoder(ingest: Ingest, tmp_path: Path) -> None:
    faces = DATA / "faces_deepface" / "images"
    if not faces.exists():
        pytest.skip("../shared/data/faces_deepface not present")
    (tmp_path / "faces").mkdir()
    shutil.copy(faces / "img1.jpg", tmp_path / "faces" / "a.jpg")
    with pytest.raises(UnsupportedSource, match=r"faces: a folder of images cannot feed 'fake'"):
        ingest(str(tmp_path / "faces"), *TEXT)
    assert collections_in(tmp_path) == []


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ("M=8,bogus=1", "--params: bogus: Extra inputs are not permitted; valid keys: M,"),
        ('{"M": 8', "--params is not a JSON object: Expecting"),  # it named no option
    ],
)
def test_a_mistyped_index_param_names_the_flag_and_the_valid_keys(
    tmp_path: Path, params: str, said: str
) -> None:
    """`--params` typos: the CLI's error names the flag and lists what the backend accepts."""
    src = tmp_path / "v.jsonl"
    src.write_text('{"id": "a", "v": [1.0, 0.0]}\n{"id": "b", "v": [0.0, 1.0]}\n')
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "ingest", str(src), "--collection", "c",
         "--vector-field", "v", "--dim", "2", "--params", params,
         "--data-dir", str(tmp_path / "data"), "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2  # the command line's error: said before anything is written
    assert said in done.stderr


def test_a_category_order_on_a_field_no_payload_has_is_one_line(tmp_path: Path) -> None:
    """It built "by category" in the stored order and said so."""
    source = tmp_path / "docs.jsonl"
    rows = [{"id": str(i), "text": f"text {i}", "topic": i % 2} for i in range(6)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ("--data-dir", tmp_path / "data", "--no-progress")
    done = _nestvec("ingest", source, *TEXT, *args, "--insertion-order", "category:nope")
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'nope' is in no payload" in lines[0], done.stderr
    # the build was stuck: a resume re-applied the recorded order, and nothing said what to do
    assert "run again with --insertion-order as-is" in lines[0]
    done = _nestvec("ingest", source, *TEXT, *args, "--insertion-order", "category:topic")
    assert done.returncode == 0, done.stderr
    assert "category:topic" in done.stdout


def test_a_damaged_store_or_a_row_nested_too_deep_is_one_line_not_a_traceback(
    tmp_path: Path,
) -> None:
    """A row of 5,000 nested brackets (RecursionError) and a store that is not SQLite
    ended `ingest` and `reindex` in tracebacks."""
    source = tmp_path / "s.jsonl"
    deep = "[" * 5000 + "]" * 5000
    source.write_text(f'{{"id": "a", "text": "ok"}}\n{{"id": "b", "text": "x", "p": {deep}}}\n')
    data = tmp_path / "data"
    done = _nestvec("ingest", source, *TEXT, "--data-dir", data)
    assert done.returncode == 0 and "line 2: malformed JSON (nested too deeply)" in done.stdout
    (data / "collections" / "c" / "store.sqlite3").write_bytes(b"not a database" * 100)
    for argv in (("ingest", source, *TEXT), ("reindex", "c")):
        done = _nestvec(*argv, "--data-dir", data)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and "error:" in done.stderr, done.stderr


def test_worker_and_batch_counts_are_refused_by_name_before_anything_is_written(
    tmp_path: Path,
) -> None:
    """`--workers 1000` started a model process per batch (memory for 1,000 models); a zero
    named both flags and exited 1 as if a build had failed."""
    source = tmp_path / "s.jsonl"
    source.write_text('{"id": "a", "text": "hello"}\n')
    cores = os.cpu_count() or 1
    for flags, said in (
        (("--workers", str(cores + 1)), f"--workers {cores + 1}: this machine has {cores} cores"),
        (("--workers", "0"), "--workers must be at least 1, got 0"),
        (("--batch-size", "-1"), "--batch-size must be at least 1, got -1"),
        # it was stored with the build, and every later run of it failed
        (("--insertion-order", "random", "--seed", "-1"), "--seed: -1 is not a seed from 0 to"),
    ):
        done = _nestvec("ingest", source, *TEXT, *flags, "--data-dir", tmp_path / "data")
        assert done.returncode == 2 and said in done.stderr, done.stderr
    assert collections_in(tmp_path) == []


def test_dim_zero_is_refused_not_taken_as_not_given(tmp_path: Path) -> None:
    source = tmp_path / "s.jsonl"
    source.write_text('{"id": "a", "text": "hello", "emb": [1, 0, 0, 0]}\n')
    for how in (("--encoder", "fake"), ("--vector-field", "emb")):
        argv = ("--collection", "a", *how, "--dim", "0", "--data-dir", tmp_path / "data")
        done = _nestvec("ingest", source, *argv)
        assert done.returncode == 2 and "--dim must be a positive integer, got 0" in done.stderr
    assert collections_in(tmp_path) == []


def test_no_progress_draws_no_bar_at_all(tmp_path: Path) -> None:
    """transformers drew its 'Loading weights' bar on stderr all the same."""
    source = tmp_path / "s.jsonl"
    source.write_text('{"id": "a", "text": "hello world"}\n')
    argv = ("--collection", "c", "--encoder", "minilm", "--data-dir", tmp_path / "data")
    done = _nestvec("ingest", source, *argv)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_a_stray_entry_under_the_collections_name_is_refused_before_the_build(
    tmp_path: Path,
) -> None:
    """It was found only after the whole source was encoded ('appeared meanwhile'), and every
    re-run encoded it all again to fail the same way."""
    source = tmp_path / "s.jsonl"
    source.write_text('{"id": "a", "text": "hello"}\n')
    root = tmp_path / "data" / "collections"
    (root / "folder").mkdir(parents=True)
    (root / "file").write_text("x")
    for name, what in (("folder", "a folder"), ("file", "a file")):
        argv = ("--collection", name, "--encoder", "fake", "--data-dir", tmp_path / "data")
        done = _nestvec("ingest", source, *argv)
        assert done.returncode == 1 and f"is {what} but no collection" in done.stderr
        assert "items read" not in done.stdout
    assert collections_in(tmp_path) == ["file", "folder"]  # no `.building-*` left either


def test_an_unwritable_summary_path_is_refused_before_the_build(tmp_path: Path) -> None:
    """It failed after the collection was built and published, with a bare `[Errno 2]`."""
    source = tmp_path / "s.jsonl"
    source.write_text('{"id": "a", "text": "hello"}\n')
    for path, what in ((tmp_path / "no" / "s.json", "has no folder"), (tmp_path, "is a folder")):
        argv = ("--encoder", "fake", "--data-dir", tmp_path / "data", "--summary-json", path)
        done = _nestvec("ingest", source, "--collection", "c", *argv)
        assert done.returncode == 2 and f"--summary-json {path} {what}" in done.stderr
    assert collections_in(tmp_path) == []


def test_a_summary_path_holding_another_file_is_never_overwritten(tmp_path: Path) -> None:
    """The source, another collection's store or a progress file named by mistake was replaced
    by the summary (exit 0): the source's rows or a whole collection lost."""
    source = tmp_path / "s.jsonl"
    source.write_text('{"id": "a", "text": "hello"}\n{"id": "b", "text": "hi"}\n')
    one_row = tmp_path / "one.jsonl"
    one_row.write_text('{"id": "a", "text": "hello"}\n')  # a JSON object, yet no summary
    argv = ("--collection", "c", "--encoder", "fake", "--data-dir", tmp_path / "data")
    for victim in (source, one_row):
        before = victim.read_bytes()
        done = _nestvec("ingest", victim, *argv, "--no-progress", "--summary-json", victim)
        assert done.returncode == 2 and "is no summary of an ingest" in done.stderr, done.stderr
        assert victim.read_bytes() == before
    assert collections_in(tmp_path) == []
    summary = tmp_path / "summary.json"
    for _ in range(2):  # an earlier run's summary is overwritten, as a rerun expects
        done = _nestvec("ingest", source, *argv, "--no-progress", "--summary-json", summary)
        assert done.returncode == 0, done.stderr
        assert json.loads(summary.read_text())["collection"] == "c"
    store = tmp_path / "data" / "collections" / "c" / "store.sqlite3"
    before = store.read_bytes()
    argv = ("--collection", "d", "--encoder", "fake", "--data-dir", tmp_path / "data")
    done = _nestvec("ingest", source, *argv, "--no-progress", "--summary-json", store)
    assert done.returncode == 2 and store.read_bytes() == before


def test_a_csv_without_the_id_or_text_column_is_refused_naming_its_columns(
    tmp_path: Path,
) -> None:
    """Each row was skipped as 'missing id' (a `;`-separated file, an `ID` header)."""
    for header, rows in (("ID;text", "1;hello\n"), ("ID,text", "1,hello\n"), ("id,body", "1,x\n")):
        source = tmp_path / "s.csv"
        source.write_text(f"{header}\n{rows}")
        done = _nestvec("ingest", source, *TEXT, "--data-dir", tmp_path / "data")
        missing = "text" if header == "id,body" else "id"
        assert done.returncode == 2 and f"s.csv has no column {missing!r}" in done.stderr
    assert collections_in(tmp_path) == []


def test_a_data_dir_a_server_holds_is_refused_before_writing_exit_2(tmp_path: Path) -> None:
    from index.catalog import DataDirLock

    source, data = tmp_path / "s.jsonl", tmp_path / "data"
    source.write_text(json.dumps({"id": "a", "text": "some text"}) + "\n")
    held = DataDirLock(data)  # what a running `nestvec serve` holds
    try:
        done = _nestvec("ingest", source, *TEXT, "--data-dir", data)
    finally:
        held.release()
    assert done.returncode == 2, done.stderr
    assert "is held by a running nestvec server" in done.stderr
    assert not (data / "collections" / "c").exists()


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path) -> None:
    """It said only "No module named 'pyarrow'"."""
    source = tmp_path / "s.parquet"
    pq.write_table(pa.table({"id": ["a"], "text": ["hello"]}), source)
    code = (
        "import sys; sys.modules['pyarrow'] = None; from service.cli import main; "
        "raise SystemExit(main(sys.argv[1:]))"
    )
    argv = ["ingest", str(source), *TEXT, "--data-dir", str(tmp_path / "data"), "--no-progress"]
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "pip install 'nestvec[parquet]'" in done.stderr and "Traceback" not in done.stderr


def test_a_text_field_named_twice_is_refused(tmp_path: Path) -> None:
    """`--text-field text,text` stored each text twice over, without a word."""
    source = tmp_path / "s.jsonl"
    source.write_text('{"id": "a", "text": "hello"}\n')
    argv = ("--collection", "c", "--encoder", "fake", "--data-dir", tmp_path / "data")
    done = _nestvec("ingest", source, *argv, "--text-field", "text,text", "--no-progress")
    assert done.returncode == 2 and "--text-field names 'text' twice" in done.stderr, done.stderr
    assert collections_in(tmp_path) == []


def test_a_source_without_one_usable_row_exits_2_as_refused_before_any_write(
    tmp_path: Path,
) -> None:
    """README: 2 for whatever a source is refused for before anything is written; it was 1."""
    source = tmp_path / "floats.jsonl"
    source.write_text('{"id": 1.5, "text": "a"}\n{"id": 2.5, "text": "b"}\n')
    argv = ("--collection", "c", "--encoder", "fake", "--data-dir", tmp_path / "data")
    done = _nestvec("ingest", source, *argv, "--no-progress")
    assert done.returncode == 2 and "none of its 2 rows could be used" in done.stderr, done.stderr
    assert collections_in(tmp_path) == []
