"""`nestvec reindex COLLECTION`: re-encode a collection after its encoder's model changed.

Offline: it takes the data directory's lock, so stop the server first. Every point whose text
was kept is encoded again with the model served now, then the collection records that model's
fingerprint and text upserts and searches work again (they answer 409 `encoder_changed` before).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from nestvec.cli_types import path_arg

SHOWN_IDS = 10  # ids listed of the points that could not be re-encoded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `nestvec reindex`."""
    parser.add_argument("collection", help="collection to re-encode")
    parser.add_argument("--data-dir", type=path_arg, help="data directory (env NESTVEC_DATA_DIR)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Re-encode; print what was done (stdout) or one error line (stderr); 0 on success."""
    from encoders.errors import EncoderError
    from index.catalog import DataDirLocked
    from index.errors import IndexError_, InvalidCollectionName

    if args.no_progress:  # none at all: the model loader's bar too
        from service.observability import disable_progress_bars

        disable_progress_bars()
    try:
        return _reindex(args)
    except (DataDirLocked, InvalidCollectionName) as exc:  # refused before anything is read: 2
        print(f"nestvec reindex: error: {exc.message}", file=sys.stderr)
        return 2
    except (IndexError_, EncoderError) as exc:
        print(f"nestvec reindex: error: {exc.message}", file=sys.stderr)
        return 1
    except (OSError, sqlite3.Error) as exc:  # a full, read-only or damaged disk or store
        print(f"nestvec reindex: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1


def _reindex(args: argparse.Namespace) -> int:
    from encoders import EncoderPool
    from index.catalog import DataDirLock, check_name
    from index.collection import STORE_FILE, Collection
    from index.reencode import reindex
    from ingest.progress import ProgressBar
    from service.settings import Settings

    settings = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    path = Path(settings.data_dir) / "collections" / check_name(args.collection)
    if not (path / STORE_FILE).exists():
        print(f"nestvec reindex: error: no collection {args.collection!r}", file=sys.stderr)
        return 2
    lock = DataDirLock(settings.data_dir)  # raises DataDirLocked while a server holds it
    try:
        collection = Collection.open(path, settings.index_defaults)
        config = collection.config
        if config.encoder is None:
            collection.close()
            print(f"collection {config.name!r} has no encoder: its vectors were sent, not encoded")
            return 0
        pool = EncoderPool(settings.encoder_options)
        models_dir = settings.resolved_models_dir
        encoder = pool.get(config.encoder, models_dir)
        fingerprint = pool.fingerprint(config.encoder, models_dir)
        if config.encoder_fingerprint == fingerprint:
            collection.close()
            print(f"collection {config.name!r} is up to date ({config.encoder} {fingerprint})")
            return 0
        opts = {"domain": config.domain} if config.domain else {}
        bar = ProgressBar(collection.count(), 0, not args.no_progress, desc="reindex")
        try:
            report = reindex(
                collection,
                lambda texts: encoder.encode(texts, dim=config.dim, **opts),
                fingerprint,
                lambda n: bar.advance_to(bar.n + n),
            )
        finally:
            bar.close()
            collection.close()
    finally:
        lock.release()
    print(
        f"re-encoded {report.reencoded} points of {config.name!r} with {config.encoder} "
        f"{fingerprint} (was {config.encoder_fingerprint})"
    )
    if report.without_text:
        shown = ", ".join(report.without_text[:SHOWN_IDS])
        more = len(report.without_text) - SHOWN_IDS
        print(
            f"  ! {len(report.without_text)} points have no kept text (written as vectors or raw "
            f"inputs) and keep their old vectors: {shown}{f' and {more} more' if more > 0 else ''}"
            "; upsert them again (with their vector or input) or delete them",
        )
    return 0
