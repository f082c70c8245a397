"""A client over the real app with no model loaded: vector-only collections need none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from encoders import EncoderPool
from service.app import create_app
from service.settings import Settings


@pytest.fixture
def vector_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", preload_encoders=[])
    with TestClient(create_app(settings, EncoderPool())) as client:
        yield client
