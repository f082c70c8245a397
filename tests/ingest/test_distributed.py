"""Encoding off this process: a local Ray instance (Ray Data actors) and local worker processes."""

from __future__ import annotations

import builtins
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.summary import Summary

Docs = Callable[[int], list[dict[str, Any]]]
ARGS = ("--encoder", "minilm", "--id-field", "_id", "--text-field", "title", "--batch-size", "4")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """A real local Ray instance with two CPUs (not a fake), shut down afterwards."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, object_store_memory=200 * 1024**2, include_dashboard=False)
    yield ray
    ray.shutdown()


def same_points(a: dict[str, Any], b: dict[str, Any], atol: float) -> None:
    """Equal points; in bfloat16 (minilm's "auto" on CPUs with AMX or AVX512-BF16) a text's
    vector depends on the batch it was padded in, so batches made elsewhere differ by ~1e-4."""
    from encoders.precision import resolve_precision

    if resolve_precision("auto") == "bfloat16":
        atol = max(atol, 2e-3)
    assert list(a) == list(b)
    for key, (vector, payload) in a.items():
        np.testing.assert_allclose(vector, b[key][0], atol=atol, err_msg=key)
        assert payload == b[key][1]


def test_ray_data_encoding_matches_local(
    local_ray: Any,
    ingest: Callable[..., Summary],
    scifact_docs: Docs,
    write_jsonl: Callable[..., Path],
    stored: Callable[..., dict],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    rows = scifact_docs(18)
    rows.insert(5, {"_id": "no-title"})  # a skip inside a Ray window keeps its place
    source = write_jsonl(tmp_path / "c.jsonl", rows)
    monkeypatch.setattr("ingest.ray_encode.WINDOW_BATCHES", 3)  # two Ray jobs
    on_ray = ingest(str(source), "--collection", "r", *ARGS, "--ray-address", "auto")
    local = ingest(str(source), "--collection", "l", *ARGS)
    assert on_ray.stats == local.stats and on_ray.stats.skipped == {"missing_text": 1}
    assert on_ray.count == 18 and on_ray.encoded == 18
    same_points(stored(tmp_path / "data", "r"), stored(tmp_path / "data", "l"), atol=1e-5)


def test_ray_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.ray_encode import import_ray

    real_import = builtins.__import__

    def no_ray(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ImportError, match=r"pip install 'nestvec\[ray\]'"):
        import_ray()


@pytest.mark.slow  # two processes each import torch and load the model: ~20 s on 2 cores
def test_local_worker_processes_match_in_process(
    ingest: Callable[..., Summary],
    scifact_docs: Docs,
    write_jsonl: Callable[..., Path],
    stored: Callable[..., dict],
    tmp_path: Path,
) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", scifact_docs(12))
    workers = ingest(str(source), "--collection", "w", *ARGS, "--workers", "2")
    local = ingest(str(source), "--collection", "l", *ARGS)
    assert workers.stats == local.stats and workers.count == 12
    same_points(stored(tmp_path / "data", "w"), stored(tmp_path / "data", "l"), atol=1e-6)


def test_a_ray_address_nobody_answers_fails_at_once(tmp_path: Path) -> None:
    """`--ray-address 127.0.0.1:1` retried forever, deaf to Ctrl-C."""
    pytest.importorskip("ray")
    with socket.socket() as probe:  # a port just freed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = tmp_path / "s.jsonl"
    source.write_text('{"id": "a", "text": "hello"}\n')
    command = [
        sys.executable, "-m", "service.cli", "ingest", str(source), "--collection", "c",
        "--encoder", "fake", "--no-progress", "--data-dir", str(tmp_path / "data"),
        "--ray-address", f"127.0.0.1:{port}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 1, done.stderr
    assert f"--ray-address 127.0.0.1:{port}: cannot reach a Ray cluster there" in done.stderr
