"""An offline build: read → check → encode → commit batch by batch → build the index → publish.

Every batch commits its points together with the build's position in the source (one SQLite
transaction), so a build killed at any moment resumes after its last committed batch without
encoding a committed item again. A finished build re-run with the same source is a no-op.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from encoders import EncoderPool
from encoders.registry import encoder_fingerprint
from index.catalog import DataDirLock, DataDirLocked
from index.collection import Collection
from index.store import PointStore
from index.texts import record_texts
from ingest import encoding
from ingest.errors import DataDirBusy, EncoderChanged
from ingest.ordering import AS_IS, OrderSpec, build_index
from ingest.plan import IngestOptions, Plan, plan_build
from ingest.progress import INGEST_KEY, BuildState, ProgressBar, Stats
from ingest.records import Batch, make_batches
from ingest.summary import Summary, nothing_to_write
from ingest.target import Target, open_target

Notes = Callable[[str], None]


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build(
    options: IngestOptions, encoders: EncoderPool | None = None, notes: Notes = _to_stderr
) -> Summary:
    """Run, resume, re-order or confirm one offline build; returns its summary.

    Checking the options and the source writes nothing; from there to its end the build holds
    the data directory's lock (only this process: encoding workers and Ray actors write nothing),
    so it never writes into a directory a server holds.
    """
    return build_planned(plan_build(options), encoders, notes)


def build_planned(
    plan: Plan, encoders: EncoderPool | None = None, notes: Notes = _to_stderr
) -> Summary:
    """`build` of options already checked (`plan_build`: the command line's errors, exit 2)."""
    started = time.perf_counter()
    lock = _lock(plan.options.data_dir)
    try:
        return _build(plan, encoders, notes, started)
    finally:
        lock.release()


def _lock(data_dir: Path) -> DataDirLock:
    try:
        return DataDirLock(data_dir)
    except DataDirLocked:
        raise DataDirBusy(
            f"{data_dir} is held by a running nestvec server (or another nestvec process); "
            "stop it, or load into the server with --url http://HOST:PORT",
            "data_dir",
        ) from None


def _build(plan: Plan, encoders: EncoderPool | None, notes: Notes, started: float) -> Summary:
    options = plan.options
    target = open_target(options.data_dir, plan.request, plan.key, notes, options.index_defaults)
    _check_encoder(plan, target)
    recorded = target.state()
    same = recorded if recorded is not None and recorded.key == plan.key else None
    order, seed = _order(options, same)
    if same is not None and same.done:
        if (same.insertion_order, same.seed) == (str(order), seed):
            count = target.store.count()
            target.store.close()
            target.publish()  # in case a finished staged build was killed before its rename
            return _summary(plan, target, same, "unchanged", count, started)
        done, count, index_seconds = _finish(target, same, order, seed)
        return _summary(
            plan, target, done, "reordered", count, started, index_seconds=index_seconds
        )
    state = _start(plan, target, recorded, order, seed, notes)
    status = "resumed" if state.rows else "built"
    try:
        items, write_seconds = _write(plan, target, state, encoders)
    except BaseException:
        if target.staged and target.state() is None:
            target.discard()  # failed before its first commit: leave nothing behind
        else:
            target.store.close()  # what was committed stays; the same command resumes from there
        raise
    _check_written(plan, target, state)
    done, count, index_seconds = _finish(target, state, order, seed)
    return _summary(plan, target, done, status, count, started, items, write_seconds, index_seconds)


def _check_encoder(plan: Plan, target: Target) -> None:
    """Record the encoder's fingerprint in the collection; refuse to mix another model's vectors."""
    if plan.job is None:
        return
    served = encoder_fingerprint(plan.job.encoder, plan.options.models_dir)
    recorded = target.config.encoder_fingerprint
    if recorded is None:  # a new collection, or one from before fingerprints: adopt it
        target.store.write_config({"encoder_fingerprint": served})
        target.config = replace(target.config, encoder_fingerprint=served)
    elif recorded != served:
        target.store.close()
        name = target.config.name
        raise EncoderChanged(
            f"collection {name!r} holds vectors of encoder {plan.job.encoder!r} {recorded}, but "
            f"it now gives {served} (another model); run `nestvec reindex {name}` first",
            "encoder",
        )


def _order(options: IngestOptions, recorded: BuildState | None) -> tuple[OrderSpec, int]:
    """The order and seed asked for. A run naming no order keeps the recorded one with its seed
    (the same command again is a no-op); one naming an order takes `--seed` or the default 0,
    not the seed the old order was built with."""
    if options.insertion_order is None and recorded is not None:
        text, seed = recorded.insertion_order, recorded.seed
    else:
        text, seed = options.insertion_order or AS_IS, 0
    return OrderSpec.parse(text), seed if options.seed is None else options.seed


def _start(
    plan: Plan,
    target: Target,
    recorded: BuildState | None,
    order: OrderSpec,
    seed: int,
    notes: Notes,
) -> BuildState:
    """The recorded state of this build if it was interrupted, else a fresh one."""
    source = plan.options.source
    if recorded is not None and recorded.key == plan.key:
        notes(
            f"resuming {plan.request.name!r}: {recorded.rows} rows of {source} were committed "
            f"({recorded.stats.points} points); continuing after them"
        )
        return recorded
    if recorded is not None and not recorded.done:
        notes(f"an unfinished build from {recorded.key['source']['path']} is superseded")
    start_label = target.store.max_label() + 1
    return BuildState(plan.key, start_label=start_label, insertion_order=str(order), seed=seed)


def _write(
    plan: Plan, target: Target, state: BuildState, encoders: EncoderPool | None
) -> tuple[int, float]:
    """Stream the rest of the source through the encoding stage into the store."""
    options, stage = plan.options, _stage(plan, encoders)  # models load before the clock
    started = time.perf_counter()
    rows = plan.fmt.rows(options.source, start=state.rows)
    batches = make_batches(rows, plan.maker, options.batch_size, options.strict, state.rows)
    bar = ProgressBar(plan.fmt.estimate(options.source), state.rows, options.progress)
    items = 0
    try:
        texts = plan.job is not None and plan.job.modality == "text"
        for batch, vectors in stage(batches):
            if target.config.encoder is not None:  # what `nestvec reindex` re-encodes
                kept = {r.id: r.input if texts else None for r in batch.records}
                record_texts(target.path, kept)
            _commit(target.store, state, batch, vectors)
            items += len(batch.records)
            bar.advance_to(state.rows)
        bar.finish()
    finally:
        bar.close()
    return items, time.perf_counter() - started


def _stage(plan: Plan, encoders: EncoderPool | None) -> encoding.Stage:
    options, job = plan.options, plan.job
    if job is None:
        return encoding.stored_vectors(plan.request.dim)
    if options.ray_address:
        from ingest.ray_encode import ray_stage

        return ray_stage(job, options.ray_address, options.workers, options.batch_size)
    if options.workers > 1:
        return encoding.processes(job, options.workers)
    return encoding.local(job, encoders or EncoderPool(), options.models_dir)


def _commit(store: PointStore, state: BuildState, batch: Batch, vectors: np.ndarray) -> None:
    """Write one batch and the build's new position in one transaction."""
    tally = Stats().add(batch.tally)
    where = {r.id: r.where for r in batch.records}
    for point in store.by_ids(list(where)):
        if point.label >= state.start_label:
            tally.duplicate(f"{where[point.id]}: duplicate id {point.id!r} replaces an earlier row")
        else:
            tally.replaced += 1
    state.rows, state.stats = batch.end, state.stats.add(tally)
    ids, payloads = list(where), [r.payload for r in batch.records]
    meta = {INGEST_KEY: state.to_json()}
    store.upsert(ids, vectors, payloads, meta=meta, replace_parts_of=batch.wholes)


def _check_written(plan: Plan, target: Target, state: BuildState) -> None:
    """A source that gave no usable row leaves no collection behind."""
    if state.stats.points > 0:
        return
    target.discard()
    raise nothing_to_write(plan.options.source, state.stats)


def _finish(
    target: Target, state: BuildState, order: OrderSpec, seed: int
) -> tuple[BuildState, int, float]:
    """Build the index in `order`, save it, mark the build done, publish a staged build."""
    target.store.close()
    started = time.perf_counter()
    collection = Collection.open(target.path, target.index_defaults)
    build_index(collection, order, seed)
    collection.save_snapshot()
    done = state.finished(str(order), seed)
    collection.store.write_config({INGEST_KEY: done.to_json()})
    count = collection.count()
    collection.close()
    target.publish()
    return done, count, time.perf_counter() - started


def _summary(
    plan: Plan,
    target: Target,
    state: BuildState,
    status: str,
    count: int,
    started: float,
    items: int = 0,
    write_seconds: float = 0.0,
    index_seconds: float = 0.0,
) -> Summary:
    config = target.config
    return Summary(
        collection=config.name,
        source=str(plan.options.source),
        status=status,
        stats=state.stats,
        count=count,
        encoded=items,
        seconds=time.perf_counter() - started,
        write_seconds=write_seconds,
        index={
            "type": config.index_type,
            "params": config.index_params,
            "insertion_order": state.insertion_order,
            "seed": state.seed,
            "seconds": index_seconds,
        },
    )
