"""Helpers for offline-build tests: SciFact slices, in-process builds, reading a built store."""

from __future__ import annotations

import argparse
import itertools
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import DATA

from encoders import EncoderPool
from ingest.cli import add_arguments, options_from_args
from ingest.pipeline import build
from ingest.summary import Summary

SCIFACT = DATA / "scifact" / "corpus.jsonl"


def _scifact_docs(n: int) -> list[dict[str, Any]]:
    with SCIFACT.open(encoding="utf-8") as f:
        return [json.loads(line) for line in itertools.islice(f, n)]


def _write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def parse(argv: list[str]) -> argparse.Namespace:
    """`nestvec ingest ARGV` as the CLI parses it."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def _stored(data_dir: Path, name: str) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
    """id -> (vector, payload) read straight from a collection's SQLite store."""
    db = sqlite3.connect(data_dir / "collections" / name / "store.sqlite3")
    try:
        rows = db.execute("SELECT id, vector, payload FROM points").fetchall()
    finally:
        db.close()
    return {i: (np.frombuffer(v, np.float32), json.loads(p)) for i, v, p in rows}


def _config_rows(store_file: Path) -> dict[str, Any]:
    db = sqlite3.connect(store_file)
    try:
        return {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM config")}
    finally:
        db.close()


@pytest.fixture
def ingest(encoder_pool: EncoderPool, tmp_path: Path) -> Callable[..., Summary]:
    """Run `nestvec ingest` in-process on the session's loaded model; data dir tmp_path/data."""

    def run(*argv: str, notes: Callable[[str], None] = lambda _: None) -> Summary:
        args = parse([*argv, "--no-progress"])
        args.data_dir = args.data_dir or tmp_path / "data"
        return build(options_from_args(args), encoder_pool, notes)

    return run


@pytest.fixture(scope="session")
def scifact_docs() -> Callable[[int], list[dict[str, Any]]]:
    """The first n SciFact documents as they are in the corpus file (`_id`, `title`, `text`)."""
    if not SCIFACT.exists():
        pytest.skip("../shared/data/scifact not present")
    return _scifact_docs


@pytest.fixture
def write_jsonl() -> Callable[[Path, list[Any]], Path]:
    """Write rows (objects, or anything JSON) one per line."""
    return _write_jsonl


@pytest.fixture
def stored() -> Callable[[Path, str], dict[str, tuple[np.ndarray, dict[str, Any]]]]:
    """id -> (vector, payload) read straight from a collection's SQLite store."""
    return _stored


@pytest.fixture
def config_rows() -> Callable[[Path], dict[str, Any]]:
    """Every row of a store's config table (key -> decoded JSON)."""
    return _config_rows
