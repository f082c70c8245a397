"""One batch handler per encoder: every encode call of the service goes through it.

Callers submit a job and get a `concurrent.futures.Future`: async routes await it, sync code
blocks on it (`service.client_gone`: a job whose client left is dropped). Worker threads
(`workers`, one by default) drain a bounded queue (full: 429 `overloaded` with Retry-After);
each waits at most `max_wait_ms` for company (only while fewer jobs than in its previous batch
have joined, so a lone client never waits), then:

- groups the jobs by their per-call options (dim and what is asked for: vectors, per-input
  items or parts); options travel with the job as data, never as state on the shared encoder,
  and each group gets its own model calls. Options the encoder takes per input
  (`per_input_options`, the MoE's `domain`) do not split groups: they follow their inputs into
  the shared calls as one value per input;
- sorts a group's inputs by length and cuts them into model calls under a budget of padded
  tokens (as TEI does), where the padding saved pays for another call, so short texts do not pad
  to long ones (`service.batch_plan`); answers come back in order.

Encoders stay synchronous and start no threads; all concurrency for encoding lives here (with
several workers an encoder is called concurrently, which its rule of no per-call state on shared
objects allows). `close` fails queued jobs with 503 `shutting_down`, finishes the batch in flight.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from encoders import EmptyInput, Encoder
from service.batch_plan import cut_calls, estimated_tokens, one_or_each, per_input_values
from service.client_gone import track, waited
from service.errors import ClientGone, Overloaded, ShuttingDown

Mode = Literal["vectors", "items", "parts"]
BatchObserver = Callable[[int, float, float], None]  # (inputs, queue wait s, encode s)


@dataclass
class _Job:
    inputs: Sequence[Any]
    dim: int | None
    mode: Mode
    opts: dict[str, Any]
    key: str  # jobs with the same key may share model calls
    future: Future[Any] = field(default_factory=Future)
    queued: float = field(default_factory=time.monotonic)
    abandoned: bool = False  # its client left (service.client_gone): stop between model calls

    def abandon(self) -> None:  # a queued job's future cancels; a running one's cannot
        self.abandoned = True
        self.future.cancel()


class EncodeBatcher:
    """Batches the encode calls of one encoder on its own worker thread."""

    def __init__(
        self,
        encoder: Encoder,
        max_batch: int = 64,
        max_wait_ms: float = 5,
        max_queue: int = 1024,
        on_batch: BatchObserver | None = None,
        max_tokens: int = 8192,
        workers: int = 1,
        threads_for: Callable[[int], None] | None = None,
    ) -> None:
        self.encoder, self.on_batch = encoder, on_batch
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait_ms / 1000, max_queue
        self.max_tokens = max_tokens
        # called on the worker before each model call with the number of workers then in one:
        # it sizes the model's (per-thread) intra-op pool, all cores for a lone call
        self._threads_for = threads_for
        self._busy, self.max_seq = 0, int(getattr(encoder, "max_seq_length", 512))
        self._per_input = frozenset(getattr(encoder, "per_input_options", ()))
        self._pending: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._seconds_per_input = 0.01  # learnt from model calls; sizes Retry-After
        self.batches = self.items = 0  # observability: model calls and inputs, tests, metrics
        # Each worker forms and runs its own batches (see Settings.encode_workers for the measured
        # trade-off between more workers and more threads per call).
        self._workers = [
            threading.Thread(target=self._run, name=f"batcher-{encoder.name}-{i}", daemon=True)
            for i in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    # request side -------------------------------------------------------------------------
    def submit(
        self, inputs: Sequence[Any], dim: int | None = None, mode: Mode = "vectors", **opts: Any
    ) -> Future[Any]:
        """Queue a job; its future gives vectors, (vectors, items) or parts, as `mode` says."""
        # Fail fast, outside the batch, on what would otherwise vanish inside a combined call.
        self.encoder.check_dim(dim)  # type: ignore[attr-defined]
        if len(inputs) == 0:
            raise EmptyInput("inputs must not be empty", field="inputs")
        shared = {k: v for k, v in opts.items() if k not in self._per_input}
        key = json.dumps([dim, mode, shared, sorted(opts.keys() - shared.keys())], default=str)
        job = _Job(list(inputs), dim, mode, opts, key)
        with self._cond:
            if self._closed:
                raise ShuttingDown("the service is shutting down; retry on another instance")
            if len(self._pending) >= self.max_queue:  # jobs whose clients left give way
                self._pending = deque(j for j in self._pending if not j.future.cancelled())
            if len(self._pending) >= self.max_queue:
                queued = sum(len(j.inputs) for j in self._pending)
                wait = math.ceil(max(1.0, queued * self._seconds_per_input))
                raise Overloaded("the encoder queue is full; retry shortly", None, wait)
            self._pending.append(job)
            self._cond.notify()
        track(job)
        return job.future

    def encode(self, inputs: Sequence[Any], dim: int | None = None, **opts: Any) -> np.ndarray:
        """Encode like `Encoder.encode`, sharing model calls with concurrent requests."""
        return waited(self.submit(inputs, dim, "vectors", **opts))  # type: ignore[no-any-return]

    def encode_parts(self, inputs: Sequence[Any], *, dim: int | None = None, **opts: Any) -> Any:
        """`PartEncoder.encode_parts` through the batch (so `expand_parts` can take the batcher)."""
        return waited(self.submit(inputs, dim, "parts", **opts))

    def close(self) -> None:
        """Refuse new jobs, fail queued ones (503 `shutting_down`), finish the batch in flight."""
        with self._cond:
            self._closed = True
            dropped = list(self._pending)
            self._pending.clear()
            self._cond.notify_all()
        for job in dropped:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(ShuttingDown("the service shut down before encoding"))
        for worker in self._workers:
            worker.join(timeout=30)

    # worker side --------------------------------------------------------------------------
    def _run(self) -> None:
        expected = self.max_batch  # jobs to wait for; learnt from the previous batch
        while (jobs := self._take(expected)) is not None:
            if jobs:
                expected = len(jobs)
                self._encode(jobs)

    def _take(self, expected: int) -> list[_Job] | None:
        """The next batch in arrival order (None once closed), after waiting for company."""
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            # Waiting pays only when the last batch had company: the requests it answered are
            # about to come back, while a lone client would wait for nobody.
            deadline = time.monotonic() + self.max_wait
            while (
                len(self._pending) < expected
                and sum(len(j.inputs) for j in self._pending) < self.max_batch
                and (left := deadline - time.monotonic()) > 0
                and not self._closed
            ):
                self._cond.wait(left)
            jobs, size, cap = [], 0, self.max_batch
            while self._pending and (not jobs or size + len(self._pending[0].inputs) <= cap):
                job = self._pending.popleft()
                jobs.append(job)
                size += len(job.inputs)
        # A job whose caller gave up (a cancelled await) is dropped; the rest cannot be cancelled.
        return [job for job in jobs if job.future.set_running_or_notify_cancel()]

    def _encode(self, jobs: list[_Job]) -> None:
        groups: dict[str, list[_Job]] = defaultdict(list)
        for job in jobs:
            if self._mergeable(job):
                groups[job.key].append(job)
            else:  # its own calls, in its own order; a list of the wrong length fails there
                self._encode_alone(job)
        for group in groups.values():
            try:
                results = self._encode_group(group)
            except Exception:
                # One bad input must not fail its neighbours: encode each job on its own.
                for job in group:
                    self._encode_alone(job)
                continue
            for job, result in zip(group, results, strict=True):
                if job.abandoned:  # its client left: its later inputs were never encoded
                    job.future.set_exception(ClientGone())
                else:
                    job.future.set_result(result)

    def _mergeable(self, job: _Job) -> bool:
        """Whether the job's inputs may be reordered among others': every list-valued option is
        one the encoder takes per input, one value per input."""
        return all(
            k in self._per_input and len(v) == len(job.inputs)
            for k, v in job.opts.items()
            if isinstance(v, list | tuple)
        )

    def _encode_group(self, group: list[_Job]) -> list[Any]:
        """Results of jobs that share options: inputs sorted by length, calls under the budget.
        Inputs of a job whose client has left drop out of the calls still to come."""
        first = group[0]
        inputs = [x for job in group for x in job.inputs]
        owner = [job for job in group for _ in job.inputs]
        # per-input options, one value per input in `inputs` order
        spread = {
            k: [v for job in group for v in per_input_values(job.opts[k], len(job.inputs))]
            for k in self._per_input & first.opts.keys()
        }
        costs = [estimated_tokens(x, self.max_seq) for x in inputs]
        order = sorted(range(len(inputs)), key=costs.__getitem__)
        vectors: np.ndarray | None = None
        per_input: list[Any] = [None] * len(inputs)
        waited = time.monotonic() - min(job.queued for job in group)
        for cut in cut_calls(order, costs, self.max_batch, self.max_tokens):
            if not (chunk := [i for i in cut if not owner[i].abandoned]):
                continue
            started = time.monotonic()
            opts = first.opts | {k: one_or_each([v[i] for i in chunk]) for k, v in spread.items()}
            out, extra = self._call(first, [inputs[i] for i in chunk], opts)
            spent = time.monotonic() - started
            if out is not None:
                if vectors is None:
                    vectors = np.empty((len(inputs), out.shape[1]), np.float32)
                vectors[chunk] = out
            if extra is not None:
                for i, value in zip(chunk, extra, strict=True):
                    per_input[i] = value
            self._seconds_per_input = 0.8 * self._seconds_per_input + 0.2 * spent / len(chunk)
            if self.on_batch is not None:
                self.on_batch(len(chunk), waited, spent)
            waited = 0.0
        results, start = [], 0
        for job in group:
            end = start + len(job.inputs)
            rows = None if vectors is None else vectors[start:end]
            results.append(_result(job.mode, rows, per_input[start:end]))
            start = end
        return results

    def _call(
        self, job: _Job, inputs: list[Any], opts: dict[str, Any]
    ) -> tuple[np.ndarray | None, list[Any] | None]:
        """One model call: (vectors, per-input items or parts) as the job's mode asks."""
        with self._cond:
            self._busy += 1
            busy = self._busy
        done = False
        try:
            if self._threads_for is not None:
                self._threads_for(busy)
            out = self._model_call(job, inputs, opts)
            done = True
            return out
        finally:
            with self._cond:  # shared by the workers; a failed call is not counted
                self._busy -= 1
                if done:
                    self.batches, self.items = self.batches + 1, self.items + len(inputs)

    def _model_call(
        self, job: _Job, inputs: list[Any], opts: dict[str, Any]
    ) -> tuple[np.ndarray | None, list[Any] | None]:
        if job.mode == "items":
            vectors, items = self.encoder.encode_items(inputs, dim=job.dim, **opts)  # type: ignore[attr-defined]
            return vectors, items
        if job.mode == "parts":
            return None, self.encoder.encode_parts(inputs, dim=job.dim, **opts)  # type: ignore[attr-defined]
        return self.encoder.encode(inputs, dim=job.dim, **opts), None

    def _encode_alone(self, job: _Job) -> None:
        started = time.monotonic()
        try:
            vectors, extra = self._call(job, list(job.inputs), job.opts)
        except Exception as exc:  # handed to the waiting caller, which raises it
            job.future.set_exception(exc)
            return
        if self.on_batch is not None:
            self.on_batch(len(job.inputs), started - job.queued, time.monotonic() - started)
        job.future.set_result(_result(job.mode, vectors, extra or []))


def _result(mode: Mode, vectors: np.ndarray | None, extra: list[Any]) -> Any:
    if mode == "items":
        return vectors, extra
    if mode == "parts":
        return extra
    return vectors
