"""Streaming readers, one per source format, registered by file suffix (a folder under "/").
Each reader yields `RawRow`s one at a time (no whole-file loads) and can start after the first
`start` rows without parsing them, which is how an interrupted build resumes."""

from __future__ import annotations

import base64
import csv
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ingest.errors import BadInput, SourceNotFound, UnsupportedSource
from ingest.inputs import json_kind
from ingest.source_identity import file_identity, folder_identity

FOLDER = "/"  # registry key of a directory source
SAMPLE_LINES = 1000  # lines sampled to estimate a text file's row count (for the ETA)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


@dataclass(frozen=True)
class RawRow:
    """One row as read: its 1-based position, where it is (for messages) and its fields."""

    number: int
    where: str
    fields: dict[str, Any] | None  # None when the row could not be parsed
    error: str | None = None


class SourceFormat:
    """How to stream one kind of source; subclasses register under their suffixes."""

    name: ClassVar[str]
    description: ClassVar[str]  # for messages: "a {description}"
    input_field: ClassVar[str] = "text"  # the default field holding the text (or image path)
    modalities: ClassVar[tuple[str, ...]] = ("text", "image", "graph")
    fixed_columns: ClassVar[bool] = False  # every row has the same fields (a header, a schema)

    def rows(self, path: Path, start: int = 0) -> Iterator[RawRow]:
        """Rows after the first `start` ones, in source order."""
        raise NotImplementedError

    def estimate(self, path: Path) -> int | None:
        """About how many rows the source holds (for the progress bar's ETA)."""
        return _estimate_lines(path)

    def fingerprint(self, path: Path) -> dict[str, Any]:
        """What identifies this source's content: a changed file starts a new build."""
        return file_identity(path)


READERS: dict[str, type[SourceFormat]] = {}


def register_reader(*keys: str) -> Callable[[type[SourceFormat]], type[SourceFormat]]:
    """Class decorator registering a format under file suffixes (or FOLDER)."""

    def decorate(cls: type[SourceFormat]) -> type[SourceFormat]:
        for key in keys:
            READERS[key] = cls
        return cls

    return decorate


def reader_for(path: Path) -> SourceFormat:
    """The format that reads `path`, chosen by its suffix (or FOLDER for a directory)."""
    if not path.exists():
        raise SourceNotFound(f"{path}: no such file or directory", "source")
    key = FOLDER if path.is_dir() else path.suffix.lower()
    if key not in READERS:
        known = ", ".join(sorted(k for k in READERS if k != FOLDER))
        raise UnsupportedSource(
            f"{path.name}: unsupported file type {key or '(none)'!r}; "
            f"read are {known} files and folders of images",
            "source",
        )
    return READERS[key]()


@register_reader(".jsonl", ".ndjson")
class JsonLines(SourceFormat):
    """One JSON object per line; blank lines are ignored; rows are numbered by line."""

    name = "jsonl"
    description = "JSON Lines file"

    def rows(self, path: Path, start: int = 0) -> Iterator[RawRow]:
        with path.open("rb") as f:
            if f.read(2) in (b"\xff\xfe", b"\xfe\xff"):  # its lines would split mid-character
                message = f"{path.name}: UTF-16 text; JSON Lines are UTF-8 (iconv -t UTF-8)"
                raise BadInput(message, "source")
            f.seek(0)
            for number, line in enumerate(f, 1):
                if number > start and line.strip():
                    yield _json_row(line, number, f"{path.name} line {number}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json_row(line: bytes, number: int, where: str) -> RawRow:
    try:
        fields = json.loads(line.rstrip(b"\r\n"), parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return RawRow(number, where, None, f"malformed JSON ({exc.msg}, column {exc.colno})")
    except (ValueError, UnicodeDecodeError) as exc:
        return RawRow(number, where, None, f"malformed JSON ({exc})")
    except RecursionError:  # thousands of nested brackets: the parser's stack ran out
        return RawRow(number, where, None, "malformed JSON (nested too deeply)")
    if not isinstance(fields, dict):
        return RawRow(number, where, None, f"expected a JSON object, got {json_kind(fields)}")
    return RawRow(number, where, fields)


@register_reader(".csv", ".tsv")
class Csv(SourceFormat):
    """A header row naming the fields, then one row per item (values are strings)."""

    name = "csv"
    description = "CSV file"
    fixed_columns = True

    def rows(self, path: Path, start: int = 0) -> Iterator[RawRow]:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        # undecodable bytes come through as lone surrogates: the row that holds them is skipped
        # and named, as a malformed JSON line is (a decode error would end the file unnamed)
        # the csv module's default field limit (128 KiB) ended a build at a long abstract, for
        # good (each resume met it again); a JSON line has none
        csv.field_size_limit(CSV_FIELD_LIMIT)
        with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
            # strict: a quoted field closed mid-field (`"12 inch ruler,c` ... `a 5" nail`) is an
            # error, not one field swallowing every line between (rows lost, none reported)
            reader = csv.reader(f, delimiter=delimiter, strict=True)
            begun = [1]  # the line the record being read began on
            try:
                yield from _csv_rows(reader, path.name, start, begun)
            except csv.Error as exc:
                where = f"{path.name} line {reader.line_num}"
                if reader.line_num > begun[0]:
                    where += f" (a quoted field opened on line {begun[0]}: a stray quote?)"
                raise BadInput(f"{where}: {exc}", "source") from None


CSV_FIELD_LIMIT = 2**31 - 1  # the most a C long holds on every platform


def _csv_rows(reader: Any, name: str, start: int, begun: list[int]) -> Iterator[RawRow]:
    header = next(reader, None)
    if header is None:
        return
    if _undecodable(header):
        raise BadInput(f"{name} line 1: the header is not UTF-8 text", "source")
    _check_unique(header, f"{name} line 1: the header")
    number = 0
    begun[0] = reader.line_num + 1
    for values in reader:
        begun[0] = reader.line_num + 1
        if not values:
            continue  # blank line
        number += 1
        if number <= start:
            continue
        where = f"{name} line {reader.line_num}"
        if len(values) != len(header):
            error = f"has {len(values)} fields, the header has {len(header)}"
            yield RawRow(number, where, None, error)
        elif (byte := _undecodable(values)) is not None:
            yield RawRow(number, where, None, f"not UTF-8 text (byte 0x{byte:02x})")
        else:
            yield RawRow(number, where, dict(zip(header, values, strict=True)))


def _check_unique(columns: list[str], where: str) -> None:
    """Refuse a repeated column name: the last one silently won (even over the id column)."""
    repeated = sorted(c for c, n in Counter(columns).items() if n > 1)
    if repeated:
        raise BadInput(f"{where} repeats the column {repeated[0]!r}; name each once", "source")


ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # how surrogateescape carries a non-UTF-8 byte


def _undecodable(values: list[str]) -> int | None:
    """The first byte that was not UTF-8 (read back from its surrogate escape), if any."""
    for value in values:
        if (found := ESCAPED_BYTE.search(value)) is not None:
            return ord(found.group()) - 0xDC00
    return None


@register_reader(".parquet", ".pq")
class Parquet(SourceFormat):
    """Apache Parquet read one record batch at a time; whole row groups are skipped on resume."""

    name = "parquet"
    fixed_columns = True
    description = "Parquet file"
    batch_rows = 1024

    def rows(self, path: Path, start: int = 0) -> Iterator[RawRow]:
        pf = _open_parquet(path)
        _check_unique(pf.schema_arrow.names, f"{path.name}: the schema")
        number = 0
        for group in range(pf.num_row_groups):
            size = pf.metadata.row_group(group).num_rows
            if number + size <= start:
                number += size
                continue
            for batch in pf.iter_batches(batch_size=self.batch_rows, row_groups=[group]):
                for fields in batch.to_pylist():
                    number += 1
                    if number > start:
                        yield RawRow(number, f"{path.name} row {number}", jsonable(fields))

    def estimate(self, path: Path) -> int | None:
        return int(_open_parquet(path).metadata.num_rows)


def _open_parquet(path: Path) -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # it said only "No module named 'pyarrow'"
        hint = f"{path.name}: reading Parquet needs pyarrow: pip install 'nestvec[parquet]'"
        raise ImportError(hint, name=exc.name) from exc

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"{path.name}: not a readable Parquet file ({exc})", "source") from None


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it: NaN to null, dates to ISO text, bytes to base64."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)  # Decimal and the like, exactly as written


@register_reader(FOLDER)
class ImageFolder(SourceFormat):
    """Image files under a folder (recursively, sorted); id and payload `path` are relative."""

    name = "images"
    description = "folder of images"
    input_field = "image"
    modalities = ("image",)

    def rows(self, path: Path, start: int = 0) -> Iterator[RawRow]:
        for number, file in enumerate(self._files(path), 1):
            if number > start:
                rel = file.relative_to(path).as_posix()
                # relative, as a CSV's image column: the records resolve it against the folder
                fields = {"id": rel, "image": rel, "path": rel}
                if file.parent != path:
                    fields["folder"] = file.parent.relative_to(path).as_posix()
                yield RawRow(number, f"{path.resolve().name}/{rel}", fields)

    def estimate(self, path: Path) -> int | None:
        return len(self._files(path))

    def fingerprint(self, path: Path) -> dict[str, Any]:
        return folder_identity(path, self._files(path))

    @staticmethod
    def _files(path: Path) -> list[Path]:
        return sorted(
            p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )


def _estimate_lines(path: Path) -> int | None:
    """Rows of a text file, from the mean length of its first lines (no full read)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        sample = [len(line) for _, line in zip(range(SAMPLE_LINES), f, strict=False)]
    if not sample:
        return 0
    if len(sample) < SAMPLE_LINES:
        return len(sample)
    return max(1, round(size / (sum(sample) / len(sample))))
