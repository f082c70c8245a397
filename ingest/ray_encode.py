"""The encoding stage as Ray Data `map_batches` jobs, with actors holding the model.

The driver keeps reading, checking and committing (so resume works exactly as locally) and
sends the inputs of a window of batches to Ray; each window is one Dataset whose actors
encode in parallel across the cluster. Results come back tagged with their position, and
batches are handed to the writer in source order as soon as each one is complete.
Needs the `ray` extra: `pip install nestvec[ray]`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from itertools import islice
from typing import Any

import numpy as np

from encoders import encoder_class
from encoders.base import PartEncoder
from ingest.encoding import EncodeJob, Stage, encode_refusing, without_refused
from ingest.errors import InvalidOption
from ingest.records import Batch

WINDOW_BATCHES = 64  # batches per Ray job: bounds driver memory, amortises actor start-up


def import_ray() -> Any:
    """The `ray` module, or an ImportError that names the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is what is used
    except ImportError as exc:
        raise ImportError(
            "--ray-address needs Ray Data: pip install 'nestvec[ray]'", name=exc.name
        ) from exc
    return ray


class EncodeActor:
    """A Ray actor: loads the encoder once, then encodes the batches it is given."""

    def __init__(self, job: EncodeJob) -> None:
        self.job = job
        self.encoder = job.load_encoder()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inputs = list(batch["input"])
        vectors, refusals = encode_refusing(self.encoder, inputs, self.job)  # as a local build
        codes = [refusals.get(i, ("", ""))[0] for i in range(len(inputs))]
        messages = [refusals.get(i, ("", ""))[1] for i in range(len(inputs))]
        return {"i": batch["i"], "vector": vectors, "code": codes, "message": messages}


def ray_stage(job: EncodeJob, address: str, actors: int, batch_size: int) -> Stage:
    """A stage that runs each window of batches as one Ray Data job on the cluster at `address`."""
    if issubclass(encoder_class(job.encoder), PartEncoder):
        # The Ray path keeps one vector per row; splitting photos into faces is local only.
        raise InvalidOption(f"--ray-address cannot split inputs of {job.encoder!r}", "ray_address")
    ray = import_ray()
    if not ray.is_initialized():
        _check_reachable(address)
        try:
            ray.init(address=address)
        except ConnectionError as exc:
            raise InvalidOption(f"--ray-address {address}: {exc}", "ray_address") from None

    def run(batches: Iterator[Batch]) -> Iterator[tuple[Batch, np.ndarray]]:
        while window := list(islice(batches, WINDOW_BATCHES)):
            yield from _encode_window(ray, window, job, actors, batch_size)

    return run


def _check_reachable(address: str) -> None:
    """A HOST:PORT address (a cluster's GCS) must answer: Ray retried a closed port forever,
    deaf to Ctrl-C. `auto` and ray:// addresses fail on their own, in one line."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdecimal() or address == "auto" or "://" in address:
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=10).close()
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        message = f"--ray-address {address}: cannot reach a Ray cluster there ({reason})"
        raise InvalidOption(message, "ray_address") from None


def _encode_window(
    ray: Any, window: list[Batch], job: EncodeJob, actors: int, batch_size: int
) -> Iterator[tuple[Batch, np.ndarray]]:
    inputs = [x for batch in window for x in batch.inputs]
    ends = np.cumsum([len(batch.records) for batch in window])
    vectors = np.empty((len(inputs), job.dim), np.float32)
    filled = np.zeros(len(inputs), bool)
    refused: dict[int, tuple[str, str]] = {}  # position in the window -> (code, message)

    def done(n: int) -> tuple[Batch, np.ndarray]:
        batch, start = window[n], ends[n] - len(window[n].records)
        mine = {i - start: why for i, why in refused.items() if start <= i < ends[n]}
        return without_refused(batch, vectors[start : ends[n]], mine, job.strict)

    ready = 0  # batches of the window handed on so far
    if inputs:
        dataset = ray.data.from_items([{"i": i, "input": x} for i, x in enumerate(inputs)])
        encoded = dataset.map_batches(
            EncodeActor,
            fn_constructor_kwargs={"job": job},
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
        )
        for block in encoded.iter_batches(batch_size=None, batch_format="numpy"):
            vectors[block["i"]], filled[block["i"]] = block["vector"], True
            for i, code, message in zip(block["i"], block["code"], block["message"], strict=True):
                if code:
                    refused[int(i)] = (str(code), str(message))
            while ready < len(window) and filled[: ends[ready]].all():
                yield done(ready)
                ready += 1
    for n in range(ready, len(window)):
        yield done(n)  # empty batches (only skips)
