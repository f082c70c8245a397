"""`nestvec ingest --url`: load a source into a running server through its REST API.

The server encodes (texts and raw inputs are sent; rows with `--vector-field` send vectors), so
its in-memory index stays current. Progress is kept in a small JSON state file, rewritten after
every batch the server acknowledged: the same command run again after a crash or a kill goes on
after the last acknowledged batch. A batch sent twice is harmless (an upsert of the same ids).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from encoders import encoder_class
from encoders.errors import EncoderNotFound
from index.collection_config import CollectionConfig
from ingest.errors import BadInput, IngestError, InvalidOption, NothingToWrite
from ingest.inputs import INPUT_KINDS
from ingest.plan import IngestOptions, check_not_empty, given_settings
from ingest.progress import ProgressBar
from ingest.readers import SourceFormat, reader_for
from ingest.records import FieldSpec, Record, RecordMaker, make_batches, repeats_counted
from ingest.summary import nothing_to_write
from ingest.upload_state import UploadState, state_path
from nestvec.client import Client, NestvecError, NotFound, Retry
from service.schemas.collections import CollectionInfo

# busy (429) or restarting (502-504, connection lost): wait and send again, within these bounds
RETRY = Retry(attempts=8, backoff=0.5, max_wait=30.0, max_total_wait=240.0)
TIMEOUT_S = 300.0  # a batch is encoded before it is acknowledged


class RemoteError(IngestError):
    """The server refused a request (a 4xx or 5xx that waiting does not cure)."""

    code = "remote_error"


@dataclass(frozen=True)
class Remote:
    """Where to load: the server's base URL and an API key with write access."""

    url: str
    api_key: str | None = None

    @contextmanager
    def client(self) -> Iterator[Client]:
        """A client of the server whose refusals become `RemoteError`s."""
        with Client(self.url, api_key=self.api_key, timeout=TIMEOUT_S, retry=RETRY) as client:
            try:
                yield client
            except NestvecError as exc:
                raise RemoteError(_error_line(self.url, exc), "url") from None


def upload(
    options: IngestOptions, remote: Remote, state_file: Path | None = None
) -> dict[str, Any]:
    """Send the source (or what is left of it) to the server; returns the summary as JSON."""
    started, source = time.perf_counter(), options.source
    with remote.client() as client:
        with _before_sending(remote.url):
            fmt, path, saved = _checked_source(options, state_file)
            config, created = _collection(client, options)
            try:
                modality = _modality(options, config)
                maker = _maker(options, fmt, config, modality)
                if options.strict:  # as offline: the first bad row fails before anything is sent
                    for _ in make_batches(fmt.rows(source), maker, 4096, strict=True):
                        pass
            except IngestError:
                if created:  # as offline: none left behind
                    client.delete_collection(options.collection)
                raise
        parts = {"source": fmt.fingerprint(source), "fields": asdict(maker.spec)}
        key = json.loads(json.dumps({**parts, "url": remote.url, "collection": options.collection}))
        # another source's or target's progress: start from the top
        state = saved if saved is not None and saved.key == key else UploadState(key)
        status = "unchanged" if state.done else "resumed" if state.rows else "uploaded"
        sent = 0
        if not state.done:
            try:
                sent = _send(client, options, maker, modality, state, path)
            except (BadInput, NothingToWrite):
                if created and client.get_collection(options.collection).count == 0:
                    client.delete_collection(options.collection)  # as offline: none left behind
                raise
            state.done = True
            state.save(path)
        count = client.get_collection(options.collection).count
    return {
        "collection": options.collection,
        "source": str(source),
        "url": remote.url,
        "status": status,
        "state_file": str(path),
        "stats": {**asdict(state.stats), "points": state.stats.points},
        "sent": sent,
        "count": count,
        "seconds": time.perf_counter() - started,
    }


class Refused(IngestError):
    """The options, the source or the server (a 4xx) refused the load before a point was sent:
    the command line's error (exit 2), not a load that stopped (exit 1)."""

    code = "refused"


@contextmanager
def _before_sending(url: str) -> Iterator[None]:
    try:
        yield
    except NestvecError as exc:
        if exc.status is None or exc.status >= 500:
            raise  # unreachable or failing: a load that could not go on
        raise Refused(_error_line(url, exc), "url") from None
    except IngestError as exc:
        raise Refused(exc.message, exc.field) from exc


def _checked_source(
    options: IngestOptions, state_file: Path | None
) -> tuple[SourceFormat, Path, UploadState | None]:
    """The source's format, the progress file and what it holds, all checked before the server
    is asked anything."""
    if options.batch_size < 1:
        raise InvalidOption("--batch-size must be at least 1", "batch_size")
    if options.edges is not None:  # it was dropped silently: nodes kept their trained edges
        message = "--edges is not sent with --url: build offline with --data-dir, or upsert"
        raise InvalidOption(f'{message} inputs {{"id", "edges"}} to the server', "edges")
    source, fmt = options.source, reader_for(options.source)
    check_not_empty(fmt, source)
    path = state_path(source, state_file)
    if not path.parent.is_dir():  # found out only after the upload, which then left no progress
        raise InvalidOption(f"--state {path}: no folder {path.parent} to write it in", "state")
    return fmt, path, UploadState.read(path)  # a bad file: refused before the server is asked


def _send(
    client: Client,
    options: IngestOptions,
    maker: RecordMaker,
    modality: str | None,
    state: UploadState,
    path: Path,
) -> int:
    """Upsert the rest of the source batch by batch, saving `state` after each; points sent."""
    fmt, source, sent = reader_for(options.source), options.source, 0
    rows = fmt.rows(source, start=state.rows)
    batches = make_batches(rows, maker, options.batch_size, options.strict, state.rows)
    bar = ProgressBar(fmt.estimate(source), state.rows, options.progress)
    seen: set[int] = set()  # hashes of the ids sent by this run (an offline build asks its store)
    try:
        for batch in batches:
            points = [_point(r, modality) for r in batch.records]
            if points:
                client.upsert(options.collection, points)
            sent += len(points)
            state.rows, state.stats = batch.end, state.stats.add(repeats_counted(batch, seen))
            state.save(path)
            bar.advance_to(state.rows)
        bar.finish()
    finally:
        bar.close()
    if state.stats.points == 0:  # as offline; nothing is recorded, so a re-run reads it again
        path.unlink(missing_ok=True)
        raise nothing_to_write(source, state.stats)
    return sent


def _maker(
    options: IngestOptions, fmt: SourceFormat, config: CollectionInfo, modality: str | None
) -> RecordMaker:
    """What turns the source's rows into records for this collection."""
    kind = INPUT_KINDS[modality] if modality is not None else None
    default = options.id_field if kind is not None and kind.node_ids else fmt.input_field
    spec = FieldSpec(
        options.id_field,
        (options.input_fields or (default,)) if kind is not None else (),
        options.vector_field,
    )
    source = options.source
    return RecordMaker(spec, kind, config.dim, source if source.is_dir() else source.parent)


def render(summary: dict[str, Any]) -> str:
    """Human-readable lines of an upload's summary."""
    s = summary["stats"]
    name, url = summary["collection"], summary["url"]
    if summary["status"] == "unchanged":
        return (
            f"{summary['source']} was already loaded into {name!r} at {url} "
            f"({summary['count']} points); nothing to do (state: {summary['state_file']})"
        )
    reasons = ", ".join(f"{n} {r}" for r, n in sorted(s["skipped"].items()))
    lines = [
        f"{summary['status']} {summary['source']} into collection {name!r} at {url}",
        f"  items read        {s['read']}",
        f"  points sent       {s['points']} (collection holds {summary['count']})",
        f"  skipped           {sum(s['skipped'].values())}" + (f" ({reasons})" if reasons else ""),
        f"  duplicate ids     {s['duplicates']} (last occurrence kept)",
        f"  this run          {summary['sent']} points in {summary['seconds']:.1f} s",
        f"  progress          {summary['state_file']}",
    ]
    return "\n".join(lines + [f"  ! {m}" for m in s["examples"]])


def _collection(client: Client, options: IngestOptions) -> tuple[CollectionInfo, bool]:
    """The server's collection, created with the offline build's options when missing (True)."""
    try:
        info = client.get_collection(options.collection)
    except NotFound as exc:
        if exc.code != "collection_not_found":
            raise
    else:  # refused as the offline build refuses it: the server would encode with its own
        existing = CollectionConfig(
            info.name, info.dim, info.metric, info.encoder, info.index.type, info.index.params
        )
        given_settings(options).check_against(existing)
        return info, False
    if options.encoder is None and options.vector_field is None:
        raise InvalidOption("give --encoder, or --vector-field with --dim", "encoder")
    info = client.create_collection(
        options.collection,
        encoder=options.encoder,
        dim=options.dim,
        metric=options.metric or "cosine",
        index=options.index_type or "hnsw",
        index_params=options.index_params or {},
    )
    return info, True


def _modality(options: IngestOptions, config: CollectionInfo) -> str | None:
    """What the rows carry: None for ready vectors, else the modality of the server's encoder."""
    if options.vector_field is not None:
        return None
    encoder = config.encoder
    if encoder is None:
        raise InvalidOption(
            f"collection {options.collection!r} has no encoder; give --vector-field", "encoder"
        )
    try:
        return str(encoder_class(encoder).modality)
    except EncoderNotFound:
        return "text"  # a plugin only the server has: send the rows' text


def _point(record: Record, modality: str | None) -> dict[str, Any]:
    point: dict[str, Any] = {"id": record.id, "payload": record.payload}
    if record.vector is not None:
        point["vector"] = record.vector
    elif modality == "text":
        point["text"] = record.input
    elif modality == "image":
        data = INPUT_KINDS["image"].load(record.input)
        point["input"] = {"image_b64": base64.b64encode(data).decode("ascii")}
    else:
        point["input"] = record.input
    return point


def _error_line(url: str, exc: NestvecError) -> str:
    if exc.status is None:  # never answered: the message names the address and the reason
        return exc.message
    return f"{url} answered {exc.status} ({exc.code}: {exc.message})"
