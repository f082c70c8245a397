"""The encoding stage of a build: batches in, (batch, vectors) out, in the order given.

Three ways to run it: in this process (default), in N local worker processes (`--workers`),
or as Ray Data jobs (`--ray-address`, see `ingest.ray_encode`). Rows that carry their own
vectors skip encoding. This module (with ray_encode) is the only concurrent part of ingest.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoders import Encoder, EncoderError, EncoderPool
from encoders.base import PartEncoder
from encoders.errors import InvalidInput
from ingest.errors import BadInput
from ingest.inputs import INPUT_KINDS
from ingest.progress import Stats
from ingest.records import Batch, Record

Stage = Callable[[Iterator[Batch]], Iterator[tuple[Batch, np.ndarray]]]


@dataclass(frozen=True)
class EncodeJob:
    """What every encoding process needs to know (small, so it pickles to workers and actors)."""

    encoder: str
    dim: int
    modality: str
    edges: str | None = None  # graph encoders: an edge list giving each node its neighbours
    models_dir: str | None = None  # trained encoders' artifacts; workers load from the same place
    strict: bool = False  # --strict: an input the encoder refuses stops the build, not skipped
    domain: str | None = None  # the collection's MoE domain: its points are encoded with it

    def load_encoder(self) -> Encoder:
        """The job's encoder, loaded in this process (a worker or a Ray actor)."""
        models_dir = None if self.models_dir is None else Path(self.models_dir)
        return EncoderPool().get(self.encoder, models_dir)


def encode_inputs(encoder: Encoder, inputs: list[Any], job: EncodeJob) -> np.ndarray:
    """Load the inputs as the modality needs, encode, return float32 (n, dim)."""
    if not inputs:
        return np.empty((0, job.dim), np.float32)
    load = INPUT_KINDS[job.modality].load
    values = [load(x) for x in inputs]
    if job.edges is not None:
        from ingest.edges import with_edges

        values = with_edges(values, job.edges)
    options = {"domain": job.domain} if job.domain is not None else {}
    return encoder.encode(values, dim=job.dim, **options)


def encode_batch(encoder: Encoder, batch: Batch, job: EncodeJob) -> tuple[Batch, np.ndarray]:
    """A batch and its vectors; a part encoder's rows become one record per part (`id#i`).

    A part encoder (faces in photos) judges each input alone, so an input it refuses (no face,
    a corrupt file) is skipped under the error's code instead of failing the whole build.
    """
    if not isinstance(encoder, PartEncoder):
        return without_refused(batch, *encode_refusing(encoder, batch.inputs, job), job.strict)
    load, tally = INPUT_KINDS[job.modality].load, Stats().add(batch.tally)
    records, vectors, wholes = [], [], []
    for record in batch.records:
        try:
            parts = encoder.encode_parts([load(record.input)], dim=job.dim)[0]
        except EncoderError as exc:
            if job.strict:
                raise BadInput(f"{record.where}: {exc.message}", "input") from None
            tally.skip(exc.code, f"{record.where}: {exc.message}")
            continue
        wholes.append(record.id)
        for i, part in enumerate(parts):
            payload = {**record.payload, "source_id": record.id, **part.payload}
            records.append(Record(f"{record.id}#{i}", None, None, payload, record.where))
            vectors.append(part.vector)
    out = np.asarray(vectors, np.float32).reshape(len(records), job.dim)
    return Batch(records, batch.end, tally, wholes), out


Refusals = dict[int, tuple[str, str]]  # row in the batch -> (error code, message)


def encode_refusing(
    encoder: Encoder, inputs: list[Any], job: EncodeJob
) -> tuple[np.ndarray, Refusals]:
    """All inputs in one call; if the encoder refuses one (a node the graph lacks), each alone,
    so the rest go on (see `encode_each`)."""
    try:
        return encode_inputs(encoder, inputs, job), {}
    except InvalidInput:
        return encode_each(encoder, inputs, job)


def encode_each(encoder: Encoder, inputs: list[Any], job: EncodeJob) -> tuple[np.ndarray, Refusals]:
    """Vectors for inputs one at a time; a refused input's row stays zero and is named in the
    refusals (a batch's one bad input, an unknown graph node, must not sink its neighbours)."""
    vectors, refusals = np.zeros((len(inputs), job.dim), np.float32), {}
    for i, item in enumerate(inputs):
        try:
            vectors[i] = encode_inputs(encoder, [item], job)[0]
        except InvalidInput as exc:
            refusals[i] = (exc.code, exc.message)
    return vectors, refusals


def without_refused(
    batch: Batch, vectors: np.ndarray, refusals: Refusals, strict: bool = False
) -> tuple[Batch, np.ndarray]:
    """The batch less its refused rows, each skipped under its code with its file and line
    (`strict`: the first one stops the build, as any bad row does under --strict)."""
    if not refusals:
        return batch, vectors
    if strict:
        first = min(refusals)
        raise BadInput(f"{batch.records[first].where}: {refusals[first][1]}", "input")
    tally = Stats().add(batch.tally)
    for i, (code, message) in sorted(refusals.items()):
        tally.skip(code, f"{batch.records[i].where}: {message}")
    kept = [i for i in range(len(batch.records)) if i not in refusals]
    records = [batch.records[i] for i in kept]
    return Batch(records, batch.end, tally, batch.wholes), vectors[kept]


def stored_vectors(dim: int) -> Stage:
    """For rows that carry their vectors: nothing to encode."""

    def run(batches: Iterator[Batch]) -> Iterator[tuple[Batch, np.ndarray]]:
        for batch in batches:
            vectors = [r.vector for r in batch.records if r.vector is not None]
            yield batch, np.stack(vectors) if vectors else np.empty((0, dim), np.float32)

    return run


def local(job: EncodeJob, encoders: EncoderPool, models_dir: Path | None = None) -> Stage:
    """Encode in this process, one batch per `encode` call (the model loads now)."""
    encoder = encoders.get(job.encoder, models_dir)

    def run(batches: Iterator[Batch]) -> Iterator[tuple[Batch, np.ndarray]]:
        for batch in batches:
            yield encode_batch(encoder, batch, job)

    return run


# One encoder per worker process, loaded by the pool's initializer (the pool owns the process).
_worker_encoder: Encoder | None = None


def _init_worker(job: EncodeJob, threads: int) -> None:
    global _worker_encoder
    parent = multiprocessing.parent_process()  # its pid, even if it died while this one began
    if parent is not None and parent.pid is not None:
        threading.Thread(target=_exit_with, args=(parent.pid,), daemon=True).start()
    import torch

    torch.set_num_threads(threads)
    _worker_encoder = job.load_encoder()


def _exit_with(parent: int) -> None:
    """End this worker once its parent is gone: a build killed (SIGKILL, or SIGTERM, which
    runs no cleanup) left its workers running, a model each, with parent PID 1."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _batch_in_worker(batch: Batch, job: EncodeJob) -> tuple[Batch, np.ndarray]:
    assert _worker_encoder is not None
    return encode_batch(_worker_encoder, batch, job)


def processes(job: EncodeJob, workers: int) -> Stage:
    """Encode in `workers` local processes (each with its own model), results kept in order."""

    def run(batches: Iterator[Batch]) -> Iterator[tuple[Batch, np.ndarray]]:
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(job, threads),
        ) as pool:
            pending: deque[Future[tuple[Batch, np.ndarray]]] = deque()
            for batch in batches:
                # batches travel whole: a part encoder's records, and skipped inputs, change there
                pending.append(pool.submit(_batch_in_worker, batch, job))
                if len(pending) >= 2 * workers:  # bounded: memory stays flat
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    return run
