"""From raw rows to records: id, input (or vector) and payload, with every check on the way."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import InvalidPayload, InvalidPointId
from index.stored_point import check_point_id, payload_json
from index.vectors import MAX_NORM
from ingest.errors import BadInput
from ingest.inputs import InputKind, Skip
from ingest.progress import Stats
from ingest.readers import RawRow


@dataclass(frozen=True)
class FieldSpec:
    """Which fields hold the id, the encoder's input and (optionally) a ready vector."""

    id_field: str = "id"
    input_fields: tuple[str, ...] = ("text",)  # () when rows carry their vectors
    vector_field: str | None = None

    def used(self) -> set[str]:
        """Fields that are not payload."""
        extra = () if self.vector_field is None else (self.vector_field,)
        return {self.id_field, *self.input_fields, *extra}


@dataclass(frozen=True)
class Record:
    """One valid row: what is written (id, payload) and what is encoded (input) or stored."""

    id: str
    input: Any
    vector: np.ndarray | None
    payload: dict[str, Any]
    where: str


class RecordMaker:
    """Turns a RawRow into a Record, or raises Skip with the reason and the file position."""

    def __init__(self, spec: FieldSpec, kind: type[InputKind] | None, dim: int, base: Path) -> None:
        self.spec, self.kind, self.dim, self.base = spec, kind, dim, base
        self._used = spec.used()

    def __call__(self, row: RawRow) -> Record:
        if row.fields is None:
            raise Skip("malformed", f"{row.where}: {row.error}")
        fields = row.fields
        point_id = self._id(fields.get(self.spec.id_field), row.where)
        return Record(
            id=point_id,
            input=self._input(fields, row.where),
            vector=self._vector(fields, row.where),
            payload=self._payload(point_id, fields, row.where),
            where=row.where,
        )

    def _id(self, value: Any, where: str) -> str:
        if value is None or value == "":
            raise Skip("missing_id", f"{where}: missing id (field {self.spec.id_field!r})")
        if isinstance(value, bool) or not isinstance(value, str | int):
            kind = type(value).__name__
            raise Skip("invalid_id", f"{where}: id must be text or an integer, not a {kind}")
        point_id = str(value)
        try:  # the store's own rule (no NUL, no lone surrogate): refused here, not mid-build
            check_point_id(point_id, new=True)
        except InvalidPointId as exc:
            raise Skip("invalid_id", f"{where}: {exc.message}") from None
        return point_id

    def _payload(self, point_id: str, fields: dict[str, Any], where: str) -> dict[str, Any]:
        payload = {k: v for k, v in fields.items() if k not in self._used}
        try:  # what the store would refuse at commit (a lone surrogate, nesting too deep)
            payload_json(point_id, payload)
        except InvalidPayload as exc:
            raise Skip("invalid_payload", f"{where}: {exc.message}") from None
        return payload

    def _input(self, fields: dict[str, Any], where: str) -> Any:
        if self.kind is None:
            return None
        values = [fields.get(name) for name in self.spec.input_fields]
        return self.kind.check(values, self.spec.input_fields, self.base, where)

    def _vector(self, fields: dict[str, Any], where: str) -> np.ndarray | None:
        name = self.spec.vector_field
        if name is None:
            return None
        value = fields.get(name)
        if isinstance(value, str):  # CSV cells hold the vector as a JSON array
            try:
                value = json.loads(value)
            except ValueError:
                message = f"{where}: vector {name!r} is not a JSON array"
                raise Skip("invalid_vector", message) from None
        if value is None:
            raise Skip("missing_vector", f"{where}: missing vector (field {name!r})")
        if not isinstance(value, list) or not all(_is_number(x) for x in value):
            raise Skip("invalid_vector", f"{where}: vector {name!r} must be a list of numbers")
        if len(value) != self.dim:
            message = f"{where}: vector {name!r} has {len(value)} values, expected {self.dim}"
            raise Skip("invalid_vector", message)
        vector = np.asarray(value, dtype=np.float64)
        if np.abs(vector).max(initial=0.0) > np.finfo(np.float32).max:
            raise Skip("invalid_vector", f"{where}: vector {name!r} overflows float32")
        if float(np.sqrt(vector @ vector)) > MAX_NORM:  # the service's own bound (index.vectors)
            message = f"{where}: vector {name!r} has a norm past {MAX_NORM:g} (scores overflow)"
            raise Skip("invalid_vector", message)
        return vector.astype(np.float32)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class Batch:
    """Records to encode and commit together (ids unique), and what reading them added up to."""

    records: list[Record]
    end: int  # source rows consumed once this batch is committed
    tally: Stats  # counters of the rows since the previous batch
    wholes: list[str] = field(default_factory=list)  # inputs split into these parts (photos)

    @property
    def inputs(self) -> list[Any]:
        return [r.input for r in self.records]


def make_batches(
    rows: Iterable[RawRow], maker: RecordMaker, size: int, strict: bool, start: int = 0
) -> Iterator[Batch]:
    """Group records `size` at a time; a repeated id replaces the pending one (last wins)."""
    tally, pending, end = Stats(), dict[str, Record](), start
    for row in rows:
        tally.read, end = tally.read + 1, row.number
        try:
            record = maker(row)
        except Skip as skip:
            if strict:
                raise BadInput(skip.message, skip.reason) from None
            tally.skip(skip.reason, skip.message)
            continue
        if pending.pop(record.id, None) is not None:
            tally.duplicate(f"{row.where}: duplicate id {record.id!r} replaces an earlier row")
        pending[record.id] = record
        if len(pending) >= size:
            yield Batch(list(pending.values()), end, tally)
            tally, pending = Stats(), {}
    if pending or tally.read:
        yield Batch(list(pending.values()), end, tally)


def repeats_counted(batch: Batch, seen: set[int]) -> Stats:
    """The batch's tally, its ids that an earlier batch of this run sent counted as duplicates
    (as an offline build counts them from its store); `seen` gathers the ids' hashes. A batch
    repeats no id itself: make_batches kept the last."""
    tally = Stats().add(batch.tally)
    for record in batch.records:
        if hash(record.id) in seen:
            tally.duplicate(f"{record.where}: duplicate id {record.id!r} replaces an earlier row")
        seen.add(hash(record.id))
    return tally
