"""The one place that reads the environment: `NESTVEC_*` variables into a Settings object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Service configuration; every field can be set as `NESTVEC_<FIELD>` (lists as JSON)."""

    model_config = SettingsConfigDict(env_prefix="NESTVEC_")

    data_dir: Path = Field(Path("data"), description="collections live under DATA_DIR/collections")
    models_dir: Path | None = Field(
        None, description="trained encoder artifacts (`nestvec train ...`); default DATA_DIR/models"
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: str = "info"
    encoder_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='constructor options per encoder, e.g. {"minilm": {"backend": "onnx-int8"}}',
    )
    preload_encoders: list[str] = Field(
        default_factory=lambda: ["minilm"], description="encoders loaded at start-up"
    )
    max_k: int = Field(1000, ge=1, description="largest k a search may ask for")
    max_batch: int = Field(2048, ge=1, description="most inputs or points in one request")
    max_page: int = Field(1000, ge=1, description="largest page of points returned by GET points")
    api_keys: list[str] = Field(default_factory=list, description="keys with full access")
    read_only_keys: list[str] = Field(default_factory=list, description="keys that only read")
    max_body_bytes: int = Field(64 * 1024 * 1024, ge=1, description="larger bodies get 413")
    rate_limit_per_minute: int = Field(0, ge=0, description="per key (or address); 0 = off")
    json_logs: bool = Field(True, description="structured JSON logs with request ids")
    batch_max_size: int = Field(64, ge=1, description="inputs the dynamic batcher combines")
    batch_max_wait_ms: float = Field(5, ge=0, description="how long a batch waits for company")
    batch_max_queue: int = Field(1024, ge=1, description="queued encode calls before 429")
    milvus_uri: str | None = Field(
        None,
        description="Milvus for `index.type: milvus` collections without params.uri: a local "
        "*.db file (Milvus Lite, embedded) or http://host:19530; default DATA_DIR/milvus.db",
    )

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir if self.models_dir is not None else self.data_dir / "models"

    @property
    def index_defaults(self) -> dict[str, dict[str, Any]]:
        """Backend parameters a collection leaves unset, by backend (not stored in configs)."""
        return {"milvus": {"uri": self.milvus_uri or str(self.data_dir / "milvus.db")}}
