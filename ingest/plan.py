"""Options of an offline build, resolved against the source and any existing collection."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from encoders import encoder_class
from ingest import encoding
from ingest.errors import BadInput, EmptySource, InvalidOption, UnsupportedSource
from ingest.inputs import INPUT_KINDS
from ingest.ordering import OrderSpec
from ingest.readers import SourceFormat, reader_for
from ingest.records import FieldSpec, RecordMaker, make_batches
from ingest.target import CollectionRequest, existing_config


@dataclass(frozen=True)
class IngestOptions:
    """Everything `nestvec ingest` takes; None means "the default, or what was recorded"."""

    source: Path
    collection: str
    data_dir: Path = Path("data")
    encoder: str | None = None
    dim: int | None = None
    metric: str | None = None
    index_type: str | None = None
    index_params: dict[str, Any] | None = None
    id_field: str = "id"
    input_fields: tuple[str, ...] | None = None  # None: the format's ("text" or "image")
    vector_field: str | None = None
    batch_size: int = 256
    insertion_order: str | None = None  # None: as-is, or the order recorded by an earlier run
    seed: int | None = None
    strict: bool = False
    workers: int = 1
    ray_address: str | None = None
    progress: bool = True
    edges: Path | None = None  # graph encoders: edge list giving each node its neighbours
    models_dir: Path | None = None  # trained encoders' artifacts (default DATA_DIR/models)
    # backend parameters a collection leaves unset (the Milvus URI), from Settings
    index_defaults: dict[str, dict[str, Any]] | None = None


@dataclass(frozen=True)
class Plan:
    """The options resolved against the source and any existing collection."""

    options: IngestOptions
    fmt: SourceFormat
    request: CollectionRequest
    job: encoding.EncodeJob | None  # None: rows carry their vectors
    maker: RecordMaker
    key: dict[str, Any]


def plan_build(options: IngestOptions) -> Plan:
    """Check the options and the source before anything is written."""
    for flag, value in (("batch_size", options.batch_size), ("workers", options.workers)):
        if value < 1:
            raise InvalidOption(f"--{flag.replace('_', '-')} must be at least 1, got {value}", flag)
    cores = os.cpu_count() or 1
    if options.ray_address is None and options.workers > cores:  # each loads its own model
        message = f"--workers {options.workers}: this machine has {cores} cores"
        raise InvalidOption(f"{message}, and each worker loads its own model", "workers")
    if options.data_dir.exists() and not options.data_dir.is_dir():
        message = f"data directory {options.data_dir} is a file, not a directory"
        raise InvalidOption(f"{message} (--data-dir, env NESTVEC_DATA_DIR)", "data_dir")
    if options.insertion_order is not None:
        OrderSpec.parse(options.insertion_order)  # refuse a bad name before reading anything
    source, fmt = options.source, reader_for(options.source)
    existing = existing_config(options.data_dir, options.collection)
    if existing is not None:  # before the dim check, whose message would blame the encoder
        given_settings(options).check_against(existing)
    encoder = options.encoder or (existing.encoder if existing else None)
    dim = _dim(options, encoder, existing.dim if existing else None)
    job = _job(options, fmt, encoder, dim, existing.domain if existing else None)
    kind = INPUT_KINDS[job.modality] if job else None
    default = options.id_field if kind is not None and kind.node_ids else fmt.input_field
    fields = options.input_fields or (default,)
    spec = FieldSpec(options.id_field, fields if job else (), options.vector_field)
    maker = RecordMaker(spec, kind, dim, source if source.is_dir() else source.parent)
    request = CollectionRequest(
        options.collection, dim, encoder, options.metric, options.index_type, options.index_params
    )
    if existing is None:  # a bad --metric, --index or --params: said before anything is written
        request.new_config()
    # as JSON gives it back from the store (tuples become lists), so keys compare equal
    parts = {"source": fmt.fingerprint(source), "fields": asdict(spec)}
    if options.edges is not None:  # another edge list is another build
        parts["edges"] = reader_for(options.edges).fingerprint(options.edges)
    key = json.loads(json.dumps(parts))
    check_not_empty(fmt, source, spec)
    if options.strict:  # every row read before anything is written: a bad one is refused here
        for _ in make_batches(fmt.rows(source), maker, 4096, strict=True):
            pass
    return Plan(options, fmt, request, job, maker, key)


def given_settings(options: IngestOptions) -> CollectionRequest:
    """The collection settings the command line gave (None where left to the collection)."""
    return CollectionRequest(
        options.collection,
        options.dim,
        options.encoder,
        options.metric,
        options.index_type,
        options.index_params,
    )


def check_not_empty(fmt: SourceFormat, source: Path, spec: FieldSpec | None = None) -> None:
    """Raise EmptySource if the source has not a single row to read, and BadInput if a source
    of fixed columns (CSV, Parquet) lacks a field `spec` reads: every row would be skipped."""
    first = next(iter(fmt.rows(source)), None)
    if first is None:
        raise EmptySource(f"{source.name}: empty source (no rows to read)", "source")
    if spec is None or not fmt.fixed_columns or first.fields is None:
        return
    missing = [name for name in sorted(spec.used()) if name not in first.fields]
    if missing:  # a `;`-separated CSV, an `ID` header: "missing id" on every row, said nothing
        columns = ", ".join(repr(c) for c in first.fields)
        message = f"{source.name} has no column {missing[0]!r} (its columns: {columns})"
        raise BadInput(f"{message}; name the fields with --id-field, --text-field", "source")


def _dim(options: IngestOptions, encoder: str | None, existing: int | None) -> int:
    """The collection's dimension: the encoder's (or a nested one), else --dim for vectors."""
    if options.dim is not None and options.dim < 1:  # 0 read as "not given" (an encoder's dim)
        raise InvalidOption(f"--dim must be a positive integer, got {options.dim}", "dim")
    if encoder is not None:
        cls: Any = encoder_class(encoder)
        dim = options.dim or existing or cls.dim
        if dim not in cls.nested_dims:
            allowed = ", ".join(str(d) for d in cls.nested_dims)
            raise InvalidOption(f"encoder {encoder!r} cannot produce dim={dim}; allowed: {allowed}")
        return int(dim)
    if options.vector_field is None:
        raise InvalidOption("give --encoder, or --vector-field with --dim", "encoder")
    dim = options.dim or existing
    if dim is None:
        raise InvalidOption("--vector-field without --encoder needs --dim", "dim")
    return int(dim)


def _job(
    options: IngestOptions, fmt: SourceFormat, encoder: str | None, dim: int, domain: str | None
) -> encoding.EncodeJob | None:
    """What encoding needs, or None when rows carry their vectors."""
    if options.vector_field is not None or encoder is None:
        return None
    modality = str(getattr(encoder_class(encoder), "modality", ""))
    if modality not in fmt.modalities or modality not in INPUT_KINDS:
        raise UnsupportedSource(
            f"{options.source.name}: a {fmt.description} cannot feed {encoder!r}, "
            f"a {modality} encoder",
            "encoder",
        )
    if options.edges is not None and not INPUT_KINDS[modality].node_ids:
        raise InvalidOption(f"--edges is for graph encoders; {encoder!r} is a {modality} one")
    edges = None if options.edges is None else str(options.edges.resolve())
    models_dir = None if options.models_dir is None else str(options.models_dir)
    return encoding.EncodeJob(encoder, dim, modality, edges, models_dir, options.strict, domain)
