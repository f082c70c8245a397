"""The Engine's embedding half: loaded encoders, their dynamic batchers and the embed calls."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

from encoders import Encoder, EncoderPool, InvalidInput, available_encoders, encoder_class
from encoders.artifacts import fingerprint
from encoders.base import ItemEncoder, check_texts
from encoders.registry import takes_models_dir
from index import Collection
from index.reencode import record_fingerprint
from service.batching import EncodeBatcher, Mode
from service.client_gone import awaited, waited
from service.errors import EncoderChanged, LimitExceeded
from service.observability import Metrics
from service.settings import Settings

log = logging.getLogger(__name__)


class Embedding:
    """Encoders and batchers of one app; `Engine` builds on it (no per-call state here)."""

    def __init__(
        self,
        settings: Settings,
        encoders: EncoderPool | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.encoders = encoders or EncoderPool(settings.encoder_options)
        self._batchers: dict[str, EncodeBatcher] = {}
        self._batchers_lock = threading.Lock()

    def preload(self) -> None:
        """Load the encoders the settings name up front, and log which have their artifacts."""
        for name in self.settings.preload_encoders:
            self.batcher(name)
        self._log_artifacts()

    def close_batchers(self) -> None:
        """Stop every batcher's worker."""
        for batcher in self._batchers.values():
            batcher.close()

    def _log_artifacts(self) -> None:
        """Say at start-up which trained encoders have their artifacts and which fall back."""
        for name in available_encoders():
            artifact = self.describe_encoder(name).get("artifact")
            if artifact is not None:
                log.info("encoder %s: %s", name, json.dumps(artifact))

    def batcher(self, encoder_name: str) -> EncodeBatcher:
        """The dynamic batcher of an encoder (loading the encoder on first use)."""
        with self._batchers_lock:
            if encoder_name not in self._batchers:
                s = self.settings
                self._batchers[encoder_name] = EncodeBatcher(
                    self.encoder(encoder_name),
                    s.batch_max_size,
                    s.batch_max_wait_ms,
                    s.batch_max_queue,
                    self.metrics.batch_observer(encoder_name),
                    s.batch_max_tokens,
                    s.encode_workers,
                    functools.partial(_torch_threads_for, _thread_budget(s), encoder_name),
                )
            return self._batchers[encoder_name]

    def encoder(self, name: str) -> Encoder:
        """A loaded encoder; trained ones find their artifacts under the models directory."""
        return self.encoders.get(name, self.settings.resolved_models_dir)

    def describe_encoder(self, name: str) -> dict[str, Any]:
        return self.encoders.describe(name, self.settings.resolved_models_dir)

    # limits -----------------------------------------------------------------------------------
    def check_batch(self, n: int, field: str) -> None:
        if n > self.settings.max_batch:
            raise LimitExceeded(f"at most {self.settings.max_batch} items per request", field)

    # embeddings -------------------------------------------------------------------------------
    def embed(
        self, encoder_name: str, inputs: Sequence[Any], dim: int | None, **opts: Any
    ) -> tuple[Encoder, np.ndarray]:
        """Vectors for `inputs`, through the encoder's batch handler (options travel as data)."""
        batcher, job = self._submit(self.batcher(encoder_name), inputs, dim, "vectors", opts)
        return batcher.encoder, waited(job)

    def embed_items(
        self, encoder_name: str, inputs: Sequence[Any], dim: int | None, **opts: Any
    ) -> tuple[np.ndarray, list[dict[str, Any]] | None]:
        """Like `embed`, plus what an `ItemEncoder` reports per input (None for others)."""
        batcher = self.batcher(encoder_name)
        mode: Mode = "items" if isinstance(batcher.encoder, ItemEncoder) else "vectors"
        result = waited(self._submit(batcher, inputs, dim, mode, opts)[1])
        return result if mode == "items" else (result, None)

    async def aembed(
        self, encoder_name: str, inputs: Sequence[Any], dim: int | None, **opts: Any
    ) -> tuple[Encoder, np.ndarray]:
        """`embed` for async routes: awaits the batch instead of blocking a worker thread."""
        batcher = await self.abatcher(encoder_name)
        job = self._submit(batcher, inputs, dim, "vectors", opts)[1]
        return batcher.encoder, await awaited(job)

    async def aembed_items(
        self, encoder_name: str, inputs: Sequence[Any], dim: int | None, **opts: Any
    ) -> tuple[np.ndarray, list[dict[str, Any]] | None]:
        """`embed_items` for async routes."""
        batcher = await self.abatcher(encoder_name)
        mode: Mode = "items" if isinstance(batcher.encoder, ItemEncoder) else "vectors"
        result = await awaited(self._submit(batcher, inputs, dim, mode, opts)[1])
        return result if mode == "items" else (result, None)  # type: ignore[no-any-return]

    async def abatcher(self, encoder_name: str) -> EncodeBatcher:
        """`batcher` without blocking the event loop on a first model load."""
        found = self._batchers.get(encoder_name)
        return found or await asyncio.to_thread(self.batcher, encoder_name)

    def _submit(
        self,
        batcher: EncodeBatcher,
        inputs: Sequence[Any],
        dim: int | None,
        mode: Mode,
        opts: dict[str, Any],
    ) -> tuple[EncodeBatcher, Future[Any]]:
        self.check_batch(len(inputs), "inputs")
        opts = given(opts)
        check_options(batcher.encoder, opts)
        if batcher.encoder.modality == "text":
            check_texts(inputs)
        return batcher, batcher.submit(inputs, dim, mode, **opts)

    def _check_fingerprint(self, collection: Collection, encoder_name: str, field: str) -> None:
        """Refuse to mix vectors of two models in one collection (409 encoder_changed).

        A collection created before fingerprints were recorded adopts the served one on its
        first encoded write or search.
        """
        self.encoder(encoder_name)  # loaded first: its fingerprint is then computed once
        served = self.encoders.fingerprint(encoder_name, self.settings.resolved_models_dir)
        config = collection.config
        if config.encoder_fingerprint == served:
            return
        if config.encoder_fingerprint in (None, _name_only(encoder_name)):
            # a trained encoder never hashes its name alone; graph-cora and moe-minilm once did
            # (a bug): such a record adopts the served model, as a missing one does
            record_fingerprint(collection, served)
            log.info("collection %s: recorded encoder %s %s", config.name, encoder_name, served)
            return
        raise EncoderChanged(
            f"collection {config.name!r} holds vectors of encoder {encoder_name!r} "
            f"{config.encoder_fingerprint}, but {encoder_name!r} now serves {served} "
            f"(another model); re-encode it with `nestvec reindex {config.name}`, "
            "or send vectors",
            field,
        )


def given(opts: dict[str, Any]) -> dict[str, Any]:
    """The per-request options a request actually set (None means not given)."""
    return {key: value for key, value in opts.items() if value is not None}


def check_options(encoder: Encoder, opts: dict[str, Any]) -> None:
    """Per-request options must be ones the encoder declares; it validates their values."""
    accepted = getattr(encoder, "request_options", ())
    for key, value in opts.items():
        if key not in accepted:
            raise InvalidInput(f"encoder {encoder.name!r} does not take {key!r}", key)
        check = getattr(encoder, f"check_{key}", None)
        if check is not None:
            check(value)


def _thread_budget(settings: Settings) -> int:
    """Model threads shared by an encoder's batch workers: the setting, else the usable cores."""
    return settings.torch_threads or len(os.sched_getaffinity(0))


def _torch_threads_for(budget: int, encoder_name: str, busy: int) -> None:
    """Before a model call on a batch worker: the budget split among the `busy` workers (all of
    it for a lone call, a share each when several are in one: see Settings.encode_workers). torch's
    count belongs to the calling thread (OpenMP), so each worker sets its own; torch is never
    imported here, so a server of vector collections only stays free of it."""
    torch = sys.modules.get("torch")
    want = max(1, budget // busy)
    if torch is not None and torch.get_num_threads() != want:
        torch.set_num_threads(want)
        log.debug("encoder %s: batch worker runs torch on %d threads", encoder_name, want)


def _name_only(encoder_name: str) -> str | None:
    """The fingerprint of an encoder's name alone, for encoders that load a trained artifact."""
    if not takes_models_dir(encoder_class(encoder_name)):
        return None
    return fingerprint(f"encoder:{encoder_name}")
