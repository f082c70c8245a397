"""`nestvec ingest`: the command line of offline builds (heavy imports wait until `run`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingest.stopping import interrupted, terminated_as_interrupt
from nestvec.cli_types import path_arg, seed_arg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `nestvec ingest`."""
    parser.add_argument(
        "source", type=Path, help="JSONL, CSV/TSV or Parquet file, or a folder of images"
    )
    parser.add_argument("--collection", required=True, help="collection to build or add to")
    parser.add_argument("--data-dir", type=path_arg, help="data directory (env NESTVEC_DATA_DIR)")
    parser.add_argument("--encoder", help="encoder name (default: the collection's)")
    parser.add_argument("--dim", type=int, help="vector dimension (a nested dim, or for vectors)")
    parser.add_argument("--metric", help="cosine (default), dot or l2")
    parser.add_argument("--index", dest="index_type", help="hnsw (default), flat, faiss-hnsw, ...")
    parser.add_argument(
        "--params", metavar="K=V,...", help="index parameters: K=V pairs or a JSON object"
    )
    parser.add_argument(
        "--milvus-uri",
        help="Milvus of --index milvus: a *.db file (Milvus Lite) or http://host:19530 "
        "(env NESTVEC_MILVUS_URI; default DATA_DIR/milvus.db)",
    )
    parser.add_argument("--id-field", default="id", help="field holding the id (default: id)")
    parser.add_argument(
        "--text-field",
        help="field holding the text or image path (default: text; for folders: image); "
        "several comma-separated text fields are joined with a space",
    )
    parser.add_argument("--vector-field", help="field holding ready vectors (nothing is encoded)")
    parser.add_argument(
        "--edges",
        type=Path,
        help="graph encoders: edge list (CSV/JSONL/Parquet; source,target) giving each node of "
        "the node table its neighbours; without it, nodes keep the trained graph's edges",
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, help="items per encode and commit (default 256)"
    )
    parser.add_argument(
        "--insertion-order",
        help="as-is (default), random, lid-desc, lid-asc, cluster, cluster-interleaved "
        "or category:FIELD",
    )
    parser.add_argument(
        "--seed", type=seed_arg, help="seed of random and cluster orders (default 0)"
    )
    parser.add_argument("--strict", action="store_true", help="fail on the first bad row")
    parser.add_argument("--workers", type=int, default=1, help="local encoder processes or actors")
    parser.add_argument("--ray-address", help="encode on Ray: auto or ray://HOST:PORT")
    parser.add_argument("--summary-json", type=Path, help="also write the summary as JSON here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--url",
        help="load into the nestvec server running at this URL (REST; it encodes) instead of "
        "building offline into --data-dir",
    )
    parser.add_argument("--api-key", help="--url: an API key with write access")
    parser.add_argument(
        "--state",
        type=Path,
        help="--url: progress file that lets a re-run resume "
        "(default: SOURCE.nestvec-progress.json beside the source)",
    )


def parse_params(text: str | None) -> dict[str, Any] | None:
    """`M=32,ef_construction=200` (values read as JSON when they parse) or a JSON object."""
    if text is None:
        return None
    if text.lstrip().startswith("{"):
        try:
            params = json.loads(text)
        except ValueError as exc:  # the bare parser's words named no option
            raise ValueError(f"--params is not a JSON object: {exc}") from None
        if not isinstance(params, dict):
            raise ValueError("--params JSON must be an object")
        return params
    params = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--params takes KEY=VALUE pairs, got {item!r}")
        try:
            params[key.strip()] = json.loads(raw)
        except ValueError:
            params[key.strip()] = raw.strip()
    return params


def _index_defaults(args: argparse.Namespace) -> dict[str, dict[str, Any]] | None:
    """`nestvec ingest` resolves them from Settings; in-process callers may give --milvus-uri."""
    resolved = getattr(args, "index_defaults", None)
    if resolved is None and args.milvus_uri:
        return {"milvus": {"uri": args.milvus_uri}}
    return resolved


def options_from_args(args: argparse.Namespace) -> Any:
    """The parsed command line as IngestOptions."""
    from ingest.errors import BadInput
    from ingest.plan import IngestOptions

    fields = tuple(f.strip() for f in args.text_field.split(",")) if args.text_field else None
    if fields and len(set(fields)) < len(fields):  # `text,text` stored every text twice
        twice = next(f for f in fields if fields.count(f) > 1)
        raise BadInput(f"--text-field names {twice!r} twice", "text_field")
    return IngestOptions(
        source=args.source,
        collection=args.collection,
        data_dir=args.data_dir or Path("data"),
        encoder=args.encoder,
        dim=args.dim,
        metric=args.metric,
        index_type=args.index_type,
        index_params=parse_params(args.params),
        id_field=args.id_field,
        input_fields=fields,
        vector_field=args.vector_field,
        batch_size=args.batch_size,
        insertion_order=args.insertion_order,
        seed=args.seed,
        strict=args.strict,
        workers=args.workers,
        ray_address=args.ray_address,
        progress=not args.no_progress,
        edges=args.edges,
        models_dir=getattr(args, "models_dir", None) or (args.data_dir or Path("data")) / "models",
        index_defaults=_index_defaults(args),
    )


def run(args: argparse.Namespace, encoders: Any = None) -> int:
    """Run the build; print the summary (stdout) or the error (stderr); 0 on success."""
    with terminated_as_interrupt():
        return _run(args, encoders)


def _run(args: argparse.Namespace, encoders: Any) -> int:
    from encoders.errors import EncoderError
    from index.errors import IndexError_
    from ingest.errors import DataDirBusy, IngestError, NothingToWrite
    from ingest.pipeline import build_planned
    from ingest.plan import plan_build

    if args.no_progress:  # none at all: the model loaders' bars too
        from service.observability import disable_progress_bars

        disable_progress_bars()
    for flag, path in (("--summary-json", args.summary_json), ("--state", args.state)):
        if path is not None and (path.is_dir() or not path.parent.is_dir()):  # not at the end
            where = "is a folder" if path.is_dir() else f"has no folder {path.parent}"
            print(f"nestvec ingest: error: {flag} {path} {where}", file=sys.stderr)
            return 2
    if args.summary_json is not None and not _summary_or_absent(args.summary_json):
        message = f"--summary-json {args.summary_json} exists and is no summary of an ingest"
        print(f"nestvec ingest: error: {message}; it is never overwritten", file=sys.stderr)
        return 2
    if getattr(args, "url", None):
        return _run_remote(args)
    usage = (IngestError, IndexError_, EncoderError, ValueError, ImportError)
    failures = (OSError, sqlite3.Error)  # a full, read-only or damaged disk or store
    try:  # the options and the source checked, nothing written: their errors are usage's, 2
        plan = plan_build(options_from_args(args))
    except usage as exc:
        return _failed(exc, 2)
    except failures as exc:
        return _failed(exc, 1)
    try:
        summary = build_planned(plan, encoders)
    except (DataDirBusy, NothingToWrite) as exc:  # a held data dir, no usable row: no write
        return _failed(exc, 2)
    except (*usage, *failures) as exc:
        return _failed(exc, 1)
    except KeyboardInterrupt as exc:
        return interrupted(exc)
    print(summary.render())
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary.to_json(), indent=2))
    return 0


def _summary_or_absent(path: Path) -> bool:
    """Whether `path` may take the summary: absent, or an earlier run's summary (the source, a
    store or a progress file named there by mistake was overwritten)."""
    try:
        if path.stat().st_size > 1_000_000:  # a summary is a few hundred bytes
            return False
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and {"collection", "status", "stats"} <= set(document)


def _failed(exc: Exception, code: int) -> int:
    """Say `exc` in one line (naming --params for an index parameter); return `code`."""
    field = getattr(exc, "field", None) or ""
    flag = "--params: " if "params" in field.split(".") else ""
    print(f"nestvec ingest: error: {flag}{getattr(exc, 'message', exc)}", file=sys.stderr)
    return code


# options of an offline build: with --url the server encodes, indexes and stores (they were
# ignored silently, and the build answered 0)
OFFLINE_ONLY = ("data_dir", "ray_address", "insertion_order", "milvus_uri")


def _remote_refusal(args: argparse.Namespace) -> str | None:
    """Why `--url` cannot start, found before the source is read: a URL that is none (the
    client retried it for a minute in silence), offline-only options (usage errors, exit 2)."""
    url = urlsplit(args.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        return f"--url {args.url!r} is not an http:// or https:// URL"
    given = [name for name in OFFLINE_ONLY if getattr(args, name, None) is not None]
    if args.workers != 1:
        given.append("workers")
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        return f"{flags}: for offline builds; with --url the server encodes and indexes"
    return None


def _unreachable(url: str) -> str | None:
    """Why the server at `url` cannot be asked (a failure, exit 1), or None."""
    import httpx

    try:
        httpx.get(url.rstrip("/") + "/healthz", timeout=10)
    except httpx.TransportError as exc:
        return f"--url {url}: cannot reach the server ({exc or type(exc).__name__})"
    return None


@contextlib.contextmanager
def _progress_lock(state: Path) -> Iterator[None]:
    """One `--url` run per progress file: two resumed the same file at once, each rewriting it
    (the data came out right; the counts did not)."""
    import fcntl

    from ingest.remote import Refused

    lock = state.with_name(state.name + ".lock")
    with lock.open("a") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            message = f"another `nestvec ingest --url` is loading with progress file {state}"
            raise Refused(f"{message}; wait for it, or give another --state", "state") from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


def _run_remote(args: argparse.Namespace) -> int:
    """`--url`: send the source to a running server; same errors and summary as offline."""
    from encoders.errors import EncoderError
    from ingest.errors import IngestError, NothingToWrite
    from ingest.remote import Refused, Remote, render, state_path, upload

    if (refused := _remote_refusal(args)) is not None:
        print(f"nestvec ingest: error: {refused}", file=sys.stderr)
        return 2
    if (unreachable := _unreachable(args.url)) is not None:
        print(f"nestvec ingest: error: {unreachable}", file=sys.stderr)
        return 1
    try:
        with _progress_lock(state_path(Path(args.source), args.state)):
            summary = upload(options_from_args(args), Remote(args.url, args.api_key), args.state)
    except (Refused, NothingToWrite) as exc:  # before a point was sent: the command line's error
        print(f"nestvec ingest: error: {exc.message}", file=sys.stderr)
        return 2
    except (IngestError, EncoderError) as exc:
        print(f"nestvec ingest: error: {exc.message}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        print(f"nestvec ingest: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        return interrupted(exc)
    print(render(summary))
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary, indent=2))
    return 0
