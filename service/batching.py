"""Dynamic batching: concurrent encode calls for one encoder are coalesced into one model call.

Request threads submit work and wait on a future; one worker thread per encoder drains the queue,
waiting at most `max_wait_ms` for company (only while fewer requests than in its previous batch
have joined, so a lone client never waits), and runs the model on the combined inputs. Encoders
stay synchronous and never see threads; all concurrency for encoding lives here.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from encoders import EmptyInput, Encoder
from service.errors import Overloaded


@dataclass
class _Job:
    inputs: Sequence[Any]
    dim: int | None
    future: Future[np.ndarray] = field(default_factory=Future)
    queued: float = field(default_factory=time.monotonic)


BatchObserver = Callable[[int, float, float], None]  # (inputs, queue wait s, encode s)


class EncodeBatcher:
    """Batches encode calls for one encoder on its own worker thread."""

    def __init__(
        self,
        encoder: Encoder,
        max_batch: int = 64,
        max_wait_ms: float = 5,
        max_queue: int = 1024,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self.on_batch = on_batch
        self.encoder, self.max_batch, self.max_wait = encoder, max_batch, max_wait_ms / 1000
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max_queue)
        self._worker = threading.Thread(
            target=self._run, name=f"batcher-{encoder.name}", daemon=True
        )
        self._worker.start()
        self.batches = 0  # observability: how many model calls, for tests and metrics
        self.items = 0

    def encode(self, inputs: Sequence[Any], dim: int | None = None) -> np.ndarray:
        """Encode like `Encoder.encode`, sharing a model call with concurrent requests."""
        # Fail fast, outside the batch, on what would otherwise vanish inside a combined call.
        self.encoder.check_dim(dim)  # type: ignore[attr-defined]
        if len(inputs) == 0:
            raise EmptyInput("inputs must not be empty", field="inputs")
        job = _Job(inputs, dim)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise Overloaded("the encoder queue is full; retry shortly", None) from None
        return job.future.result()

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=10)

    def _run(self) -> None:
        expected = self.max_batch  # requests to wait for; learnt from the previous batch
        while (first := self._queue.get()) is not None:
            jobs = [first]
            size = len(first.inputs)
            deadline = time.monotonic() + self.max_wait
            while size < self.max_batch:
                # Queued jobs join at once. Waiting for more pays only when the last batch had
                # company: the requests it answered are about to come back, while a lone client
                # would wait for nobody.
                left = deadline - time.monotonic() if len(jobs) < expected else 0
                try:
                    job = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                jobs.append(job)
                size += len(job.inputs)
            expected = len(jobs)
            self._encode(jobs)

    def _encode(self, jobs: list[_Job]) -> None:
        by_dim: dict[int | None, list[_Job]] = defaultdict(list)
        for job in jobs:
            by_dim[job.dim].append(job)
        for dim, group in by_dim.items():
            inputs = [x for job in group for x in job.inputs]
            started = time.monotonic()
            try:
                vectors = self.encoder.encode(inputs, dim=dim)
            except Exception:
                # One bad input must not fail its neighbours: encode each job on its own.
                for job in group:
                    self._encode_alone(job)
                continue
            self.batches, self.items = self.batches + 1, self.items + len(inputs)
            if self.on_batch is not None:
                waited = started - min(job.queued for job in group)
                self.on_batch(len(inputs), waited, time.monotonic() - started)
            start = 0
            for job in group:
                job.future.set_result(vectors[start : start + len(job.inputs)])
                start += len(job.inputs)

    def _encode_alone(self, job: _Job) -> None:
        try:
            job.future.set_result(self.encoder.encode(job.inputs, dim=job.dim))
        except Exception as exc:  # handed to the waiting request thread, which raises it
            job.future.set_exception(exc)
