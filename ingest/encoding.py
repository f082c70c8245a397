"""The encoding stage of a build: batches in, (batch, vectors) out, in the order given.

Three ways to run it: in this process (default), in N local worker processes (`--workers`),
or as Ray Data jobs (`--ray-address`, see `ingest.ray_encode`). Rows that carry their own
vectors skip encoding. This module (with ray_encode) is the only concurrent part of ingest.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from encoders import Encoder, EncoderPool
from ingest.inputs import INPUT_KINDS
from ingest.records import Batch

Stage = Callable[[Iterator[Batch]], Iterator[tuple[Batch, np.ndarray]]]


@dataclass(frozen=True)
class EncodeJob:
    """What every encoding process needs to know (small, so it pickles to workers and actors)."""

    encoder: str
    dim: int
    modality: str


def encode_inputs(encoder: Encoder, inputs: list[Any], job: EncodeJob) -> np.ndarray:
    """Load the inputs as the modality needs, encode, return float32 (n, dim)."""
    if not inputs:
        return np.empty((0, job.dim), np.float32)
    load = INPUT_KINDS[job.modality].load
    return encoder.encode([load(x) for x in inputs], dim=job.dim)


def stored_vectors(dim: int) -> Stage:
    """For rows that carry their vectors: nothing to encode."""

    def run(batches: Iterator[Batch]) -> Iterator[tuple[Batch, np.ndarray]]:
        for batch in batches:
            vectors = [r.vector for r in batch.records if r.vector is not None]
            yield batch, np.stack(vectors) if vectors else np.empty((0, dim), np.float32)

    return run


def local(job: EncodeJob, encoders: EncoderPool) -> Stage:
    """Encode in this process, one batch per `encode` call (the model loads now)."""
    encoder = encoders.get(job.encoder)

    def run(batches: Iterator[Batch]) -> Iterator[tuple[Batch, np.ndarray]]:
        for batch in batches:
            yield batch, encode_inputs(encoder, batch.inputs, job)

    return run


# One encoder per worker process, loaded by the pool's initializer (the pool owns the process).
_worker_encoder: Encoder | None = None


def _init_worker(name: str, threads: int) -> None:
    global _worker_encoder
    import torch

    torch.set_num_threads(threads)
    _worker_encoder = EncoderPool().get(name)


def _encode_in_worker(inputs: list[Any], job: EncodeJob) -> np.ndarray:
    assert _worker_encoder is not None
    return encode_inputs(_worker_encoder, inputs, job)


def processes(job: EncodeJob, workers: int) -> Stage:
    """Encode in `workers` local processes (each with its own model), results kept in order."""

    def run(batches: Iterator[Batch]) -> Iterator[tuple[Batch, np.ndarray]]:
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(job.encoder, threads),
        ) as pool:
            pending: deque[tuple[Batch, Future[np.ndarray]]] = deque()
            for batch in batches:
                pending.append((batch, pool.submit(_encode_in_worker, batch.inputs, job)))
                if len(pending) >= 2 * workers:  # bounded: memory stays flat
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()

    return run
