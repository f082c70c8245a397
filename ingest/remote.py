"""`nestvec ingest --url`: load a source into a running server through its REST API.

The server encodes (texts and raw inputs are sent; rows with `--vector-field` send vectors), so
its in-memory index stays current. Progress is kept in a small JSON state file, rewritten after
every batch the server acknowledged: the same command run again after a crash or a kill goes on
after the last acknowledged batch. A batch sent twice is harmless (an upsert of the same ids).
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from encoders import encoder_class
from encoders.errors import EncoderNotFound
from ingest.errors import IngestError, InvalidOption
from ingest.inputs import INPUT_KINDS
from ingest.plan import IngestOptions
from ingest.progress import ProgressBar, Stats
from ingest.readers import reader_for
from ingest.records import FieldSpec, Record, RecordMaker, make_batches

STATE_SUFFIX = ".nestvec-progress.json"
RETRIED = frozenset({429, 502, 503, 504})  # busy or restarting: wait and send again
MAX_ATTEMPTS = 8
MAX_WAIT_S = 30.0
TIMEOUT_S = 300.0  # a batch is encoded before it is acknowledged


class RemoteError(IngestError):
    """The server refused a request (a 4xx or 5xx that waiting does not cure)."""

    code = "remote_error"


@dataclass(frozen=True)
class Remote:
    """Where to load: the server's base URL and an API key with write access."""

    url: str
    api_key: str | None = None

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.Client(base_url=self.url.rstrip("/"), headers=headers, timeout=TIMEOUT_S)


@dataclass
class UploadState:
    """What the server acknowledged of one source; rewritten after each batch."""

    key: dict[str, Any]
    rows: int = 0
    done: bool = False
    stats: Stats = field(default_factory=Stats)

    def save(self, path: Path) -> None:
        """Write atomically: a kill mid-write leaves the previous state."""
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(asdict(self), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, key: dict[str, Any]) -> UploadState:
        """The recorded state of this upload, or a fresh one (another source or target)."""
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("key") == key:
                return cls(key, saved["rows"], saved["done"], Stats(**saved["stats"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no state, or an unreadable one: start from the top (upserts are idempotent)
        return cls(key)


def state_path(source: Path, given: Path | None) -> Path:
    """`--state`, else `<source>.nestvec-progress.json` beside the source."""
    return given if given is not None else source.with_name(source.name + STATE_SUFFIX)


def upload(
    options: IngestOptions, remote: Remote, state_file: Path | None = None
) -> dict[str, Any]:
    """Send the source (or what is left of it) to the server; returns the summary as JSON."""
    if options.batch_size < 1:
        raise InvalidOption("--batch-size must be at least 1", "batch_size")
    started, source, fmt = time.perf_counter(), options.source, reader_for(options.source)
    with remote.client() as client:
        config = _collection(client, options)
        modality = _modality(options, config)
        kind = INPUT_KINDS[modality] if modality is not None else None
        default = options.id_field if kind is not None and kind.node_ids else fmt.input_field
        spec = FieldSpec(
            options.id_field,
            (options.input_fields or (default,)) if kind is not None else (),
            options.vector_field,
        )
        base = source if source.is_dir() else source.parent
        maker = RecordMaker(spec, kind, int(config["dim"]), base)
        parts = {"source": fmt.fingerprint(source), "fields": asdict(spec)}
        key = json.loads(json.dumps({**parts, "url": remote.url, "collection": options.collection}))
        path = state_path(source, state_file)
        state = UploadState.load(path, key)
        status = "unchanged" if state.done else "resumed" if state.rows else "uploaded"
        sent = 0
        if not state.done:
            rows = fmt.rows(source, start=state.rows)
            batches = make_batches(rows, maker, options.batch_size, options.strict, state.rows)
            bar = ProgressBar(fmt.estimate(source), state.rows, options.progress)
            try:
                for batch in batches:
                    points = [_point(r, modality) for r in batch.records]
                    if points:
                        _send(client, "PUT", _points_url(options.collection), {"points": points})
                    sent += len(points)
                    state.rows, state.stats = batch.end, state.stats.add(batch.tally)
                    state.save(path)
                    bar.advance_to(state.rows)
            finally:
                bar.close()
            state.done = True
            state.save(path)
        count = _send(client, "GET", _collection_url(options.collection)).json()["count"]
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


def _points_url(name: str) -> str:
    return _collection_url(name) + "/points"


def _collection_url(name: str) -> str:
    return f"/v1/collections/{quote(name, safe='')}"


def _collection(client: httpx.Client, options: IngestOptions) -> dict[str, Any]:
    """The server's collection, created with the offline build's options when missing."""
    found = _send(client, "GET", _collection_url(options.collection), missing_ok=True)
    if found is not None:
        return dict(found.json())
    if options.encoder is None and options.vector_field is None:
        raise InvalidOption("give --encoder, or --vector-field with --dim", "encoder")
    body: dict[str, Any] = {
        "name": options.collection,
        "encoder": options.encoder,
        "dim": options.dim,
        "metric": options.metric or "cosine",
        "index": {"type": options.index_type or "hnsw", "params": options.index_params or {}},
    }
    return dict(_send(client, "POST", "/v1/collections", body).json())


def _modality(options: IngestOptions, config: dict[str, Any]) -> str | None:
    """What the rows carry: None for ready vectors, else the modality of the server's encoder."""
    if options.vector_field is not None:
        return None
    encoder = config.get("encoder")
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
        point["vector"] = record.vector.tolist()
    elif modality == "text":
        point["text"] = record.input
    elif modality == "image":
        data = INPUT_KINDS["image"].load(record.input)
        point["input"] = {"image_b64": base64.b64encode(data).decode("ascii")}
    else:
        point["input"] = record.input
    return point


def _send(
    client: httpx.Client,
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    missing_ok: bool = False,
) -> Any:
    """One request, sent again while the server is busy or unreachable; 4xx stop with a line."""
    for attempt in range(MAX_ATTEMPTS):
        last = attempt == MAX_ATTEMPTS - 1
        try:
            response = client.request(method, url, json=body)
        except httpx.TransportError as exc:
            if last:
                reason = str(exc) or type(exc).__name__
                raise RemoteError(f"{client.base_url}: {reason}", "url") from None
            time.sleep(min(MAX_WAIT_S, 0.5 * 2**attempt))
            continue
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code in RETRIED and not last:
            time.sleep(_wait(response, attempt))
            continue
        if response.is_error:
            raise RemoteError(_error_line(response), "url")
        return response
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _wait(response: httpx.Response, attempt: int) -> float:
    """Retry-After when the server gives it, else exponential backoff."""
    try:
        return min(MAX_WAIT_S, max(0.0, float(response.headers["retry-after"])))
    except (KeyError, ValueError):
        return min(MAX_WAIT_S, 0.5 * 2**attempt)


def _error_line(response: httpx.Response) -> str:
    request = response.request
    try:
        body = response.json()
        detail = f"{body['code']}: {body['message']}"
    except (ValueError, KeyError, TypeError):
        detail = response.text[:200].replace("\n", " ")
    return f"{request.method} {request.url.path} answered {response.status_code} ({detail})"
