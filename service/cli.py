"""The `nestvec` command. Each subcommand is a (name, add_arguments, run) entry in COMMANDS."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import SettingsError

from encoders.errors import EncoderError
from index.errors import IndexError_
from ingest.errors import IngestError
from nestvec.cli_types import OneLineParser, path_arg
from nestvec.fields import field_path
from service.commands import analyze, reindex, train
from service.errors import ServiceError
from service.settings import Settings, settings_error
from service.version import nestvec_version

log = logging.getLogger(__name__)
WORKER_THREADS = 40  # anyio's default limit of threads running the sync routes

# Errors of the user's making (bad input, settings, files, a held data dir): one line, no traceback.
# Anything else is a bug and keeps its traceback.
USER_ERRORS = (
    EncoderError,
    IndexError_,  # DataDirLocked included
    IngestError,
    ServiceError,
    ValidationError,
    SettingsError,
    OSError,  # a missing file, a file where a directory goes, a full or read-only disk
    sqlite3.Error,  # a damaged store
)


def _add_serve_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=path_arg, help="data directory (env NESTVEC_DATA_DIR)")
    parser.add_argument("--host", help="bind address (env NESTVEC_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (env NESTVEC_PORT, default 8000)")
    levels = ("critical", "error", "warning", "info", "debug", "trace")
    level_help = "log level (env NESTVEC_LOG_LEVEL, default info)"
    parser.add_argument("--log-level", type=str.lower, choices=levels, help=level_help)
    parser.add_argument(
        "--log-format",
        type=str.lower,  # as --log-level and the variable: TEXT was an argparse error
        choices=("json", "text"),
        help="json: one object per line; text: lines for people (env NESTVEC_LOG_FORMAT)",
    )


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.observability import configure_logging, disable_progress_bars
    from service.stall_guard import stall_guarded

    overrides = {
        key: value
        for key, value in vars(args).items()
        if key in Settings.model_fields and value is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:  # a flag's value: named as the flag, not its variable
        raise ServiceError(settings_error(exc, flags=set(overrides))) from None
    _check_encoders(settings)  # before uvicorn, whose start-up failures come as tracebacks
    _check_host(settings.host)
    _check_port(settings.host, settings.port)
    _check_data_dir(settings.data_dir)
    configure_logging(settings.log_level, settings.json_log_lines)
    _check_descriptors(settings.data_dir)
    disable_progress_bars()  # a bar is not a log line: it would break the JSON stream
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # keep the logging set up above
        access_log=False,  # the app logs each request itself, with its request id
        http=stall_guarded(settings.read_timeout_s),
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )
    return 0


def _check_encoders(settings: Settings) -> None:
    """Encoder names and constructor options from the environment, checked without loading (an
    encoder whose extra is missing is only refused where it must load at start-up)."""
    from encoders.errors import ArtifactMissing, EncoderExtraMissing
    from encoders.registry import check_constructor_options, encoder_class

    checks = [(name, None, "NESTVEC_PRELOAD_ENCODERS") for name in settings.preload_encoders]
    checks.append((settings.default_encoder, None, "NESTVEC_DEFAULT_ENCODER"))
    checks += [
        (name, opts, "NESTVEC_ENCODER_OPTIONS") for name, opts in settings.encoder_options.items()
    ]
    for name, options, variable in checks:
        try:
            encoder_class(name) if options is None else check_constructor_options(name, options)
        except EncoderError as exc:
            if isinstance(exc, EncoderExtraMissing) and variable != "NESTVEC_PRELOAD_ENCODERS":
                continue
            raise type(exc)(f"{variable}: {exc.message}", exc.field) from None
    for name in settings.preload_encoders:  # loaded at start-up: a missing model stops it
        extra = encoder_class(name).describe_extra(settings.resolved_models_dir)
        artifact = extra.get("artifact") or {}
        if artifact and not artifact.get("available") and not artifact.get("fallback"):
            train = artifact.get("train_command") or "its training command"
            message = f"NESTVEC_PRELOAD_ENCODERS: encoder {name!r} is not trained (run `{train}`)"
            raise ArtifactMissing(message, "preload_encoders")


def _check_host(host: str) -> None:
    """A host no resolver can even spell (`not..a..host`) was a 49-line traceback."""
    try:
        host.encode("idna")
    except UnicodeError:
        message = f"--host / NESTVEC_HOST: {host!r} is not a host name or address"
        raise ServiceError(message) from None


def _check_port(host: str, port: int) -> None:
    """A port another process holds: uvicorn found it only after the app had started (ten log
    lines, exit 3); one line here instead (uvicorn binds with SO_REUSEADDR as done here)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServiceError(f"--host / NESTVEC_HOST: cannot resolve {host!r} ({exc})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            reason = "in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            message = f"cannot listen on {host}:{port}: {reason} (--port / NESTVEC_PORT, --host)"
            raise ServiceError(message) from None


def _check_data_dir(data_dir: Path) -> None:
    """Refuse a data dir that is a file, or that another process holds (DataDirLocked), with
    one line; the app's lifespan then takes the lock for good (a process that grabs it in
    between still stops the start, with uvicorn's traceback)."""
    from index.catalog import DataDirLock

    for path, what in ((data_dir, "data directory"), (data_dir / "collections", "collections")):
        if path.exists() and not path.is_dir():
            message = f"{what} {path} is a file, not a directory"
            raise NotADirectoryError(f"{message} (--data-dir, env NESTVEC_DATA_DIR)")
    try:
        DataDirLock(data_dir).release()
        # as the catalog will at start-up: a data dir this user cannot write, or a dangling
        # link for collections/, stopped the start with a traceback there
        (data_dir / "collections").mkdir(exist_ok=True)
        if not os.access(data_dir / "collections", os.W_OK | os.X_OK):  # a read-only mount:
            # every store opened "damaged, restore from a backup", and /readyz said ready
            raise PermissionError(errno.EACCES, "not writable", str(data_dir / "collections"))
    except (FileNotFoundError, FileExistsError, PermissionError, NotADirectoryError) as exc:
        inside = str(exc.filename or "").startswith(str(data_dir))  # else a missing parent
        reason = f"{exc.filename if inside else data_dir}: {exc.strerror}"
        raise type(exc)(f"data directory {reason} (--data-dir, env NESTVEC_DATA_DIR)") from None


def _check_descriptors(data_dir: Path) -> None:
    """Refuse an open-files limit (lifted to the hard one by `_run`) too low to open the
    collections on disk (start-up failed past it; one line here), and warn of one that busy
    worker threads may run past."""
    from index.store_connections import READERS_PER_THREAD
    from nestvec import descriptors

    held = sum(1 for p in (data_dir / "collections").iterdir() if not p.name.startswith("."))
    needed = 4 * held + 256  # a store's file, -wal, -shm, one for readers; the process's own
    limit = descriptors.limit()
    if limit < needed:
        message = f"{held} collections need about {needed} open files; the limit is "
        raise ServiceError(f"{message}{limit} (raise it: ulimit -n {needed})")
    # each thread's readers (2 each), and the descriptors SQLite keeps from readers closed while
    # other threads read (537 collections read by 40 clients held 15.6 per collection)
    busy = 16 * held + 256 + WORKER_THREADS * 2 * READERS_PER_THREAD
    if limit < busy:
        log.warning(
            "the open-files limit %d may run out under load with %d collections (about %d "
            "needed); raise it: ulimit -n %d",
            limit, held, busy, busy,
        )  # fmt: skip


def _add_ingest_args(parser: argparse.ArgumentParser) -> None:
    from ingest.cli import add_arguments

    add_arguments(parser)


def _ingest(args: argparse.Namespace) -> int:
    from ingest.cli import run

    if getattr(args, "url", None):  # the server's settings apply: offline options are refused
        return run(args)
    # the data directory and Milvus `serve` would use (env NESTVEC_DATA_DIR, NESTVEC_MILVUS_URI)
    given = {"data_dir": args.data_dir, "milvus_uri": args.milvus_uri}
    settings = Settings(**{key: value for key, value in given.items() if value is not None})
    args.data_dir, args.index_defaults = settings.data_dir, settings.index_defaults
    args.models_dir = settings.resolved_models_dir  # trained encoders (graph-cora) load from here
    return run(args)


Command = tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[..., int]]
COMMANDS: list[Command] = [
    ("serve", "run the HTTP API (interactive docs at /docs)", _add_serve_args, _serve),
    (
        "analyze",
        "diagnostics: intrinsic dimension, LID, insertion order, recall",
        analyze.add_arguments,
        analyze.run,
    ),
    ("ingest", "build a collection offline from a file or a folder", _add_ingest_args, _ingest),
    (
        "train",
        "train an encoder: Matryoshka (mrl), mixture of experts (moe) or graph",
        train.add_arguments,
        train.run,
    ),
    (
        "reindex",
        "re-encode a collection after its encoder's model changed",
        reindex.add_arguments,
        reindex.run,
    ),
]


DESCRIPTION = "nestvec: an embedding and vector-search service, and its offline tools."


def build_parser() -> argparse.ArgumentParser:
    """The `nestvec` parser with every subcommand."""
    parser = OneLineParser(prog="nestvec", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"nestvec {nestvec_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text, add_arguments, run in COMMANDS:
        command = sub.add_parser(name, help=help_text)
        add_arguments(command)
        command.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `nestvec` command; 2 with a one-line message on a user error."""
    try:
        return _run(argv)
    except BrokenPipeError:  # `nestvec ... | head` left early: nothing more to say, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # for the exit's flush
        return 1


def _run(argv: Sequence[str] | None) -> int:
    from nestvec import descriptors

    args = build_parser().parse_args(argv)
    descriptors.raise_limit()  # every command opens every collection (serve, analyze, reindex)
    try:
        return int(args.run(args))
    except BrokenPipeError:  # main's: not a user error
        raise
    except USER_ERRORS as exc:
        print(f"nestvec: error: {user_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nestvec: interrupted", file=sys.stderr)
        return 130


def user_message(exc: Exception) -> str:
    """The one-line message of a user error (settings errors name their NESTVEC_* variable)."""
    if isinstance(exc, SettingsError) or (
        isinstance(exc, ValidationError) and exc.title == Settings.__name__
    ):
        message = settings_error(exc)  # type: ignore[arg-type]
    elif isinstance(exc, ValidationError):  # a request model built from command-line flags
        first = exc.errors()[0]
        where = field_path(first["loc"])
        message = f"{where}: {first['msg']}" if where else first["msg"]
    else:
        message = getattr(exc, "message", None) or str(exc)
    return " ".join(message.split())  # one line, whatever the message held


if __name__ == "__main__":
    raise SystemExit(main())
