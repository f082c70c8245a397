"""Index snapshots beside the store: find, verify, load and write them; reconcile with the store.

The store is the source of truth. A snapshot is the ANN index written atomically with an
`index.json` that describes its config and checksums every file; on open the newest sound one is
loaded and whatever the store holds beyond it is replayed (`_reconcile`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.base import VectorIndex
from index.collection_config import CollectionConfig
from index.errors import IndexBackendUnavailable
from index.locks import ReadWriteLock
from index.metrics import Metric
from index.store import PointStore
from nestvec import descriptors

INDEX_DIR = "index"
# a snapshot being written, and the previous one while the new one is moved in (save_snapshot)
TMP_SUFFIX, OLD_SUFFIX = ".tmp", ".old"
META_FILE = "index.json"

log = logging.getLogger(__name__)


class Snapshots:
    """Collection's snapshot and reconcile half (a mixin: `Collection` holds the state)."""

    path: Path
    config: CollectionConfig
    store: PointStore
    metric: Metric
    backend: type[VectorIndex]
    params: Any
    index: VectorIndex
    insertion_order: str | None
    _lock: threading.RLock
    _rw: ReadWriteLock
    _ids: dict[int, str]
    _dirty: bool
    _pending: bool
    _native_filter: bool

    def _open_index(self) -> VectorIndex:
        """Load the newest sound snapshot built with this config, then replay what it misses.

        A snapshot that is missing files, fails its checksums or does not load is skipped with a
        warning: the store holds every point, so the index is rebuilt from it rather than
        failing start-up. An unreachable remote backend is not damage and is raised as it is.
        """
        for snapshot in self._snapshot_candidates():
            try:
                meta = self._verified_meta(snapshot)
                if meta is None:
                    continue  # its own, built with an older config: rebuilt below
                index = self.backend.load(snapshot, self.config.dim, self.metric, self.params)
                self._reconcile(index)
            except IndexBackendUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - any damage means: rebuild from the store
                if descriptors.exhausted():  # no damage: a good snapshot was rebuilt over
                    raise
                log.warning(
                    "collection %r: index snapshot %s is unusable (%s: %s); rebuilding it "
                    "from the store",
                    self.config.name,
                    snapshot.name,
                    type(exc).__name__,
                    exc,
                )
                continue
            if snapshot.name != INDEX_DIR:
                log.warning(
                    "collection %r: a snapshot write was interrupted; loaded %s instead",
                    self.config.name,
                    snapshot.name,
                )
                self._dirty = True  # the next save puts a snapshot back in its place
            self.insertion_order = meta.get("insertion_order")
            return index
        index = self.backend(self.config.dim, self.metric, self.params)
        self._reconcile(index)
        self._dirty = True
        return index

    def _snapshot_candidates(self) -> list[Path]:
        """Snapshot directories worth trying, best first.

        `save_snapshot` renames the old snapshot aside before moving the new one in, so a crash
        between the two leaves `index.tmp` (complete, checksummed) and `index.old`.
        """
        names = (INDEX_DIR, INDEX_DIR + TMP_SUFFIX, INDEX_DIR + OLD_SUFFIX)
        found = [self.path / name for name in names if (self.path / name).is_dir()]
        if found and found[0].name != INDEX_DIR:
            log.warning("collection %r: no index snapshot in place", self.config.name)
        return found

    def _verified_meta(self, snapshot: Path) -> dict[str, Any] | None:
        """The snapshot's index.json once every file it lists matches its checksum; None when
        the snapshot was built with another config. Raises SnapshotDamaged on any damage and
        for a snapshot not built from this store."""
        meta_file = snapshot / META_FILE
        if not meta_file.is_file():
            raise SnapshotDamaged(f"{META_FILE} is missing")
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SnapshotDamaged(f"{META_FILE} is unreadable: {exc}") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
            raise SnapshotDamaged(f"{META_FILE} lists no file checksums")
        # a snapshot is only of the store it was built from (not one copied in from another
        # collection, whatever its config, nor one written before snapshots recorded it)
        built_from, store_id = meta.get("store_id"), self.store.store_id
        if built_from is not None and built_from != store_id:
            raise SnapshotDamaged(f"built from store {built_from!r}, not from this {store_id!r}")
        if meta.get("config") != self.config.describe():
            return None  # this collection's own, before its config changed
        if built_from is None:
            raise SnapshotDamaged("it records no store id (written before snapshots did)")
        # a store restored from an older copy hands out again the labels this snapshot holds
        indexed_to, store_max = meta.get("max_label"), self.store.max_label()
        if isinstance(indexed_to, int) and indexed_to > store_max:
            raise SnapshotDamaged(
                f"it indexes labels up to {indexed_to}, past the store's {store_max} "
                "(the store was restored from an older copy)"
            )
        for name, digest in meta["files"].items():
            file = snapshot / name
            # names come from our own index.json; still, never follow one out of the snapshot
            if Path(name).name != name or not file.is_file():
                raise SnapshotDamaged(f"file {name!r} is missing")
            if _sha256(file) != digest:
                raise SnapshotDamaged(f"file {name!r} does not match its checksum")
        return meta

    def _reconcile(self, index: VectorIndex) -> None:
        # Labels are immutable, so set differences are an exact replay of what changed.
        live = set(self._ids)
        indexed = set(index.labels().tolist())
        stale = np.fromiter(indexed - live, np.int64)
        if len(stale):
            index.remove(stale)
            self._dirty = True
        missing = sorted(live - indexed)
        for labels, vectors in self.store.iter_vectors(missing if indexed else None):
            self.add_to_index(index, labels, self.metric.prepare(vectors))
            self._dirty = True

    def add_to_index(
        self,
        index: VectorIndex,
        labels: np.ndarray,
        vectors: np.ndarray,
        payloads: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        """Add prepared vectors; backends that filter natively also get the payloads."""
        if not self._native_filter:
            index.add(labels, vectors)
            return
        if payloads is None:
            stored = {p.label: p.payload for p in self.store.by_labels(labels.tolist())}
            payloads = [stored[label] for label in labels.tolist()]
        index.add(labels, vectors, payloads)  # type: ignore[call-arg]

    def save_snapshot(self) -> None:
        """Write the index beside the store, atomically and checksummed.

        The new snapshot is written and fsynced in `index.tmp`; then `index` moves to
        `index.old`, `index.tmp` to `index`, and `index.old` goes. At every step one complete
        snapshot is on disk (see `_snapshot_candidates`), and a torn one fails its checksums.
        Only the writer mutex is held: saving reads the index, as searches do.
        """
        with self._lock:
            current = self.path / INDEX_DIR
            if not self._dirty and current.exists():
                return
            tmp, old = self.path / (INDEX_DIR + TMP_SUFFIX), self.path / (INDEX_DIR + OLD_SUFFIX)
            _remove(tmp)
            tmp.mkdir()
            self.index.save(tmp)
            files = {}
            for file in sorted(tmp.iterdir()):
                _fsync_file(file)
                files[file.name] = _sha256(file)
            meta = {
                "config": self.config.describe(),
                "store_id": self.store.store_id,  # the store it was built from
                "max_label": self.store.max_label(),  # labels it may hold (writers wait)
                "count": len(self.index),
                "insertion_order": self.insertion_order,
                "files": files,
            }
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
            _fsync_file(tmp / META_FILE)
            _fsync_file(tmp)
            if current.exists():
                _remove(old)
                current.rename(old)
            tmp.rename(current)
            _fsync_file(self.path)
            _remove(old)
            self._dirty = False

    def _catch_up(self) -> None:
        """Replay into the index what a failed index write left out (callers hold `_lock`, so
        the store holds no commit the view has not seen but those the replay brings in)."""
        if self._pending:
            with self._rw.write():
                self._reconcile(self.index)  # raises again while the index is still down
                self._pending = False


class SnapshotDamaged(Exception):
    """An index snapshot that cannot be trusted (missing file, bad checksum, bad index.json,
    built from another store)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    """fsync a file or a directory (a directory's fsync makes its renames durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    """A leftover snapshot folder, or a stray file under its name (rmtree leaves a file be)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
