"""Fixtures of tests/face: the real face-dlib encoder, loaded once per session."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from face_photos import FACES

from encoders import EncoderPool


@pytest.fixture(scope="session")
def identities() -> dict[str, str]:
    if not FACES.exists():
        pytest.skip("../shared/data/faces_deepface not present")
    with (FACES / "identities.csv").open() as f:
        return {Path(r["file"]).name: r["identity"] for r in csv.DictReader(f)}


@pytest.fixture(scope="session")
def face_encoder(encoder_pool: EncoderPool, identities: dict[str, str]) -> Any:
    """The real face-dlib encoder, loaded once into the session's shared pool."""
    return encoder_pool.get("face-dlib")
