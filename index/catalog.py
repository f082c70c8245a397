"""The set of collections under one data directory: create, open, list, drop."""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import uuid
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from index.collection import STORE_FILE, Collection, CollectionConfig, IndexDefaults
from index.errors import (
    CollectionExists,
    CollectionNotFound,
    CollectionUnavailable,
    IndexError_,
    InvalidCollectionConfig,
    InvalidCollectionName,
)
from index.metrics import METRICS
from index.registry import index_class, validate_params
from index.snapshot import INDEX_DIR
from index.texts import TEXTS_FILE
from nestvec import descriptors

log = logging.getLogger(__name__)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
STAGING_PREFIX = ".building-"  # an offline build's collection until it is published (ingest)
WORK_PREFIXES = (".tmp-", ".trash-", STAGING_PREFIX)
MAX_DIM = 65536


class DataDirLocked(IndexError_):
    code = "data_dir_locked"


class DataDirLock:
    """An exclusive lock on a data directory: one writing process at a time (single-writer).

    The service and offline builds take it, so two uvicorn workers or a build running beside a
    server fail loudly instead of corrupting a collection. The OS drops it if the process dies.
    """

    def __init__(self, data_dir: Path) -> None:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        # the directory itself, not a file in it: a lock file deleted by hand (a "stale lock")
        # let a second server in beside the first, and the two diverged
        self._fd: int | None = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise DataDirLocked(
                f"{data_dir} is in use by another nestvec process (one writer per data dir)",
                "data_dir",
            ) from None

    @classmethod
    def held(cls, data_dir: Path) -> bool:
        """Whether another process (a server, a build) holds `data_dir` now."""
        try:
            cls(data_dir).release()
        except DataDirLocked:
            return True
        return False

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def remove_tree(path: Path) -> None:
    """Remove a directory, or a link to one and its target (rmtree refuses a link, silently
    under ignore_errors: a collection moved to another disk and linked back stayed there)."""
    if path.is_symlink():
        shutil.rmtree(path.resolve(), ignore_errors=True)
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def check_name(name: str) -> str:
    """Collection names become directory names: letters, digits, '-' and '_' only."""
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidCollectionName(
            f"invalid collection name {name!r}: use 1-64 letters, digits, '-' or '_'", "name"
        )
    return name


class Catalog:
    """Open collections of `data_dir/collections/`, each in its own directory."""

    def __init__(self, data_dir: Path, index_defaults: IndexDefaults | None = None) -> None:
        self.root = Path(data_dir) / "collections"
        self.index_defaults = index_defaults
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK | os.X_OK):  # SQLite writes its WAL beside a store:
            # each was "damaged, restore it from a backup" on a read-only mount
            raise PermissionError(errno.EACCES, "not writable (a read-only mount?)", str(self.root))
        self._lock = threading.Lock()
        self._open: dict[str, Collection] = {}
        # names being deleted -> set once the delete is done (a create of the name waits)
        self._leaving: dict[str, threading.Event] = {}
        # collections whose store could not be opened -> why; their files are left as found
        self.unavailable: dict[str, str] = {}
        for path in sorted(self.root.iterdir()):
            # ours, mid-create, mid-delete or an offline build's staging (ingest.target)
            if not _looks_like_a_collection(path) or path.name.startswith(WORK_PREFIXES):
                continue
            if NAME_PATTERN.fullmatch(path.name):
                self._open_existing(path)
            else:  # a backup restored under another name is not served: say so
                log.warning("%s holds a collection under a name no collection can have", path)

    def _open_existing(self, path: Path) -> None:
        """Open a collection found on disk; one whose store SQLite cannot read, or that holds
        no collection of this name, is logged and skipped, so the others are served (it is
        answered `CollectionUnavailable`) and its files are left as they are."""
        store = path / STORE_FILE
        # read-only: opening writes the schema. A lost store lost every point: said, not hidden
        problem = "is missing" if not store.exists() else _store_problem(store, path.name)
        if problem is None:
            try:
                self._open[path.name] = Collection.open(path, self.index_defaults)
                return
            except sqlite3.DatabaseError as exc:
                problem = f"cannot be read ({exc})"
            except OSError:  # the disk or the process (descriptors), not this collection
                raise
            except Exception as exc:  # a config row damaged or edited: one collection, not all
                problem = f"cannot be opened ({type(exc).__name__}: {exc})"
        if descriptors.exhausted():  # not this store's fault: never mark it unavailable for it
            limit = descriptors.limit()
            message = f"too many open files opening collection {path.name!r} (limit {limit})"
            raise OSError(errno.EMFILE, f"{message}: raise it (ulimit -n)")
        log.error(
            "collection %r is unavailable: its store %s %s; it is not served and its files are "
            "left untouched",
            path.name,
            store,
            problem,
        )
        where = store.relative_to(self.root.parent)  # answers: a path in the data dir only
        self.unavailable[path.name] = f"its store {where} {problem}"

    def remove_leftovers(self) -> None:
        """Remove what a process killed mid-create or mid-delete left: `.tmp-*` (never opened)
        and `.trash-*` (already renamed away). Call it only holding the data dir's lock."""
        for path in self.root.glob(".t*-*"):
            if path.is_dir() and path.name.startswith((".tmp-", ".trash-")):
                log.info("removing %s, left by an interrupted create or delete", path.name)
                remove_tree(path)

    def names(self) -> list[str]:
        """The collections being served (not those `unavailable`)."""
        return sorted(self._open)

    def get(self, name: str) -> Collection:
        try:
            return self._open[name]
        except KeyError:
            if name in self.unavailable:
                raise CollectionUnavailable(
                    f"collection {name!r} could not be opened at start-up: "
                    f"{self.unavailable[name]}; restore the file from a backup and restart, "
                    "or move the collection's directory away to create it anew",
                    "name",
                ) from None
            raise CollectionNotFound(f"collection {name!r} does not exist", "name") from None

    def find(self, name: str) -> Collection | None:
        """The collection served under `name`, or None."""
        return self._open.get(name)

    def create(self, config: CollectionConfig) -> Collection:
        """Validate and create a collection; it exists only once fully written."""
        check_name(config.name)
        config = validate_config(config)
        while True:
            with self._lock:
                leaving = self._leaving.get(config.name)
                if leaving is None:
                    return self._create(config)
            leaving.wait()  # a delete of this name is still closing it; its folder goes first

    def _create(self, config: CollectionConfig) -> Collection:
        """Create under the catalog lock."""
        if config.name in self._open:
            raise CollectionExists(f"collection {config.name!r} already exists", "name")
        if (self.root / config.name).exists() and config.name not in self.unavailable:
            raise CollectionExists(  # a folder or file that holds no collection
                f"{config.name!r} is taken in the collections directory by something that "
                "is not a collection; move it away to create this collection",
                "name",
            )
        if config.name in self.unavailable:  # its damaged files are never overwritten
            raise CollectionExists(
                f"collection {config.name!r} already exists but could not be opened: "
                f"{self.unavailable[config.name]}; move its directory away to create it anew",
                "name",
            )
        tmp = self.root / f".tmp-{config.name}-{uuid.uuid4().hex}"
        try:
            collection = Collection.create(tmp, config, self.index_defaults)
            collection.close()
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # e.g. Milvus unreachable: leave nothing
            raise
        tmp.rename(self.root / config.name)
        self._open[config.name] = Collection.open(self.root / config.name, self.index_defaults)
        return self._open[config.name]

    def drop(self, name: str) -> None:
        with self._lock:
            collection = self.get(name)
            # a Milvus collection first: if Milvus is down (503) the collection stays whole
            collection.index.drop()
            del self._open[name]  # new requests no longer find it
            self._leaving[name] = done = threading.Event()
        try:
            # waits for the requests on this collection (later ones get 404), a rebuild too, but
            # not under the catalog lock: other collections are made and deleted meanwhile
            collection.close(save=False)
            # Rename first so a crash mid-delete never leaves a half collection that loads.
            trash = self.root / f".trash-{name}-{uuid.uuid4().hex}"
            try:
                collection.path.rename(trash)
            except OSError:  # e.g. a read-only disk: the collection is still whole, serve it
                with self._lock:
                    self._open_existing(collection.path)
                raise
        finally:
            with self._lock:
                del self._leaving[name]
            done.set()
        remove_tree(trash)

    def close(self) -> None:
        """Close every collection. One whose snapshot cannot be written (Milvus down) is logged
        and closed all the same: its store holds every point, the next start reconciles."""
        with self._lock:
            for name, collection in self._open.items():
                try:
                    collection.close()
                except Exception as exc:  # noqa: BLE001 - the others must close too
                    log.warning("collection %r: snapshot not saved at close (%s)", name, exc)
            self._open.clear()


def _looks_like_a_collection(path: Path) -> bool:
    """A store, or what a collection keeps beside it (its index folder, its texts)."""
    return any((path / name).exists() for name in (STORE_FILE, INDEX_DIR, TEXTS_FILE))


def _store_problem(store: Path, name: str) -> str | None:
    """Why `store` holds no collection `name` (None: it does), read without writing to it: an
    empty or foreign SQLite file, a config without name or dim, or another collection's store
    (a copy would be served under two names)."""
    # without a WAL nothing is pending: immutable reads create no -shm/-wal beside the file
    pending = store.with_name(store.name + "-wal").exists()
    uri = f"file:{quote(str(store))}?mode=ro{'' if pending else '&immutable=1'}"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as db:
            stored = dict(db.execute("SELECT key, value FROM config WHERE key IN ('name', 'dim')"))
    except sqlite3.DatabaseError as exc:
        return f"cannot be read ({exc})"
    if set(stored) != {"name", "dim"}:
        return "holds no collection config (name and dim)"
    if stored["name"] != json.dumps(name):
        return f"belongs to collection {stored['name']} (copied from there?)"
    return None


def validate_config(config: CollectionConfig) -> CollectionConfig:
    """Reject unknown metrics/backends and bad parameters; fill in parameter defaults."""
    if config.metric not in METRICS:
        known = ", ".join(METRICS)
        raise InvalidCollectionConfig(
            f"unknown metric {config.metric!r}; available: {known}", "metric"
        )
    if not 1 <= config.dim <= MAX_DIM:
        raise InvalidCollectionConfig(f"dim must be between 1 and {MAX_DIM}", "dim")
    backend = index_class(config.index_type)
    params = validate_params(backend.Params, config.index_params, "index.params", config.dim)
    return replace(config, index_params=params.model_dump())
