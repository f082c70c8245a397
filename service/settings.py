"""The one place that reads the environment: `NESTVEC_*` variables into a Settings object."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

# Lists and objects are parsed by the validators below, not by pydantic-settings' JSON decoding,
# so a plain `NESTVEC_API_KEYS=secret` is one key rather than a start-up crash.
StrList = Annotated[list[str], NoDecode]
JSONObject = Annotated[dict[str, dict[str, Any]], NoDecode]
SECRET_FIELDS = frozenset({"api_keys", "read_only_keys"})  # never echoed in error messages
MILVUS_SCHEMES = ("http://", "https://", "tcp://", "unix:")  # and a local *.db (Milvus Lite)


def split_list(value: Any) -> Any:
    """A list setting from the environment: one value, `a,b,c`, or a JSON list; empty: none."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("expected a JSON list, a comma-separated list or one value") from None
    return [item.strip() for item in text.split(",") if item.strip()]


def split_keys(value: Any) -> Any:
    """Keys as `split_list` reads them, but an empty item between commas is refused: `,` or
    `k1,` is a template whose variables were unset, and dropping the empties served everyone
    with no key at all. An empty (or blank) value still means no keys."""
    if isinstance(value, str) and not value.strip().startswith("["):
        items = [item.strip() for item in value.split(",")]
        if value.strip() and not all(items):
            raise ValueError("an empty key between commas (an unset variable in a template?)")
    return split_list(value)


def parse_object(value: Any) -> Any:
    """An object setting from the environment: JSON; empty means `{}`."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value) if value.strip() else {}
    except json.JSONDecodeError:
        raise ValueError('expected a JSON object, e.g. {"minilm": {"backend": "onnx"}}') from None


class Settings(BaseSettings):
    """Service configuration; every field can be set as `NESTVEC_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="NESTVEC_")

    data_dir: Path = Field(Path("data"), description="collections live under DATA_DIR/collections")
    models_dir: Path | None = Field(
        None, description="trained encoder artifacts (`nestvec train ...`); default DATA_DIR/models"
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    encoder_options: JSONObject = Field(
        default_factory=dict,
        description='constructor options per encoder, e.g. {"minilm": {"backend": "torch"}}',
    )
    preload_encoders: StrList = Field(
        default_factory=list,
        # none by default: a server of vector collections stays small; models load on first use
        description="encoders loaded at start-up (others load when first needed)",
    )
    max_k: int = Field(1000, ge=1, description="largest k a search may ask for")
    max_batch: int = Field(2048, ge=1, description="most inputs or points in one request")
    # LlamaIndex's Qdrant store reads every node with one scroll of 9,999 and no next page
    max_page: int = Field(10_000, ge=1, description="largest page of points returned by GET points")
    api_keys: StrList = Field(default_factory=list, description="keys with full access")
    read_only_keys: StrList = Field(default_factory=list, description="keys that only read")
    max_body_bytes: int = Field(64 * 1024 * 1024, ge=1, description="larger bodies get 413")
    rate_limit_per_minute: int = Field(0, ge=0, description="per key (or address); 0 = off")
    json_logs: bool = Field(True, description="structured JSON logs with request ids")
    log_format: Literal["json", "text"] | None = Field(
        None, description="json: one object per line; text: for people (default: JSON_LOGS)"
    )
    default_encoder: str = Field(
        "minilm", description="the encoder behind TEI's routes (POST /embed, GET /info)"
    )
    batch_max_size: int = Field(64, ge=1, description="inputs the dynamic batcher combines")
    batch_max_wait_ms: float = Field(  # `inf` waited forever: every encode hung
        5, ge=0, le=60_000, allow_inf_nan=False, description="how long a batch waits for company"
    )
    batch_max_queue: int = Field(1024, ge=1, description="queued encode calls before 429")
    batch_max_tokens: int = Field(
        8192, ge=1, description="padded tokens per model call (count x longest, estimated)"
    )
    # Measured on 2 cores with AMX (loadtest/bench_embed.py: 16 one-text clients, then one client
    # sending 512 texts, each ÷ plain SentenceTransformer.encode; minilm in bfloat16): 2 workers
    # splitting the cores by load 1.053x and 1.71x; 1 worker on both cores 0.666x and 1.77x (its
    # two OpenMP threads idle-wait between small calls while the event loop needs a core);
    # 2 workers on 1 thread each 1.034x and 1.38x. Two workers sharing the cores is the default.
    encode_workers: int = Field(
        2, ge=1, le=16, description="batch workers per encoder, each running its own model calls"
    )
    torch_threads: int = Field(
        0, ge=0, le=256, description="torch threads an encoder's workers share; 0: the usable cores"
    )
    read_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,  # nan was refused as "should be <= 3600"
        description="a client must send a request's headers within this many seconds, and not "
        "pause its body longer: a stalled connection is closed",
    )
    shutdown_grace_s: float = Field(
        10.0,
        ge=0,
        le=3600,
        allow_inf_nan=False,
        description="on SIGTERM, requests still running after this many seconds are cut (a "
        "trickling client held the exit for good, past any orchestrator's grace period)",
    )
    milvus_uri: str | None = Field(
        None,
        description="Milvus for `index.type: milvus` collections without params.uri: a local "
        "*.db file (Milvus Lite, embedded) or http://host:19530; default DATA_DIR/milvus.db",
    )
    milvus_allowed_uris: StrList = Field(
        default_factory=list,
        description="other Milvus URIs a request's index.params.uri may name (comma-separated or "
        "a JSON list); any other is refused: a client's path or host is not the server's to dial",
    )

    _lists = field_validator("preload_encoders", "milvus_allowed_uris", mode="before")(split_list)
    _keys = field_validator("api_keys", "read_only_keys", mode="before")(split_keys)
    _objects = field_validator("encoder_options", mode="before")(parse_object)

    @field_validator("data_dir", "models_dir", mode="before")
    @classmethod
    def _a_path(cls, value: object) -> object:
        """An empty path (an unset variable in a template) was the current directory."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("an empty path; give a directory (unset the variable for the default)")
        return value

    @field_validator("data_dir", "models_dir")
    @classmethod
    def _a_folder(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """Checked at start-up, not at the first trained encoder's load (it started silently);
        `nestvec reindex` on a data dir that is a file said the collection did not exist."""
        if value is not None and value.exists() and not value.is_dir():
            what = "data directory " if info.field_name == "data_dir" else ""
            raise ValueError(f"{what}{value} is a file, not a directory")
        return value

    @field_validator("milvus_uri", "milvus_allowed_uris")
    @classmethod
    def _a_milvus(cls, value: str | list[str] | None) -> str | list[str] | None:
        """What pymilvus can reach; anything else started the server, and every Milvus
        collection's create then answered 503 as if Milvus were down."""
        for uri in [value] if isinstance(value, str) else value or []:
            if not (uri.endswith(".db") or uri.startswith(MILVUS_SCHEMES)):
                raise ValueError(
                    "a Milvus URI is http(s)://host:port, tcp://host:port, unix:PATH or a local "
                    "*.db file (Milvus Lite)"
                )
        return value

    @field_validator("api_keys", "read_only_keys")
    @classmethod
    def _sendable(cls, keys: list[str]) -> list[str]:
        """A key travels in an HTTP header: one no client can send would never match, and an
        empty one (an unset variable in a template) would let an empty header in."""
        if not all(
            key and key.isascii() and key.isprintable() and key == key.strip() for key in keys
        ):
            raise ValueError(
                "keys are non-empty printable ASCII, no outer spaces (sent in a header)"
            )
        return keys

    @model_validator(mode="after")
    def _one_access_per_key(self) -> Settings:
        both = sorted(set(self.api_keys) & set(self.read_only_keys))
        if both:  # full access won silently; say which list is wrong without echoing the key
            raise ValueError(
                f"NESTVEC_API_KEYS and NESTVEC_READ_ONLY_KEYS: {len(both)} key(s) in both "
                "lists; a key has one access level"
            )
        return self

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def json_log_lines(self) -> bool:
        """JSON log lines unless NESTVEC_LOG_FORMAT=text (or the older NESTVEC_JSON_LOGS=false)."""
        return self.log_format == "json" if self.log_format is not None else self.json_logs

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir if self.models_dir is not None else self.data_dir / "models"

    @property
    def index_defaults(self) -> dict[str, dict[str, Any]]:
        """Backend parameters a collection leaves unset, by backend (not stored in configs)."""
        return {"milvus": {"uri": self.default_milvus_uri}}

    @property
    def default_milvus_uri(self) -> str:
        return self.milvus_uri or str(self.data_dir / "milvus.db")

    @property
    def allowed_milvus_uris(self) -> set[str]:
        """The Milvus URIs a request may name: the default and the operator's list."""
        return {self.default_milvus_uri, *self.milvus_allowed_uris}


def settings_error(exc: ValidationError | SettingsError, flags: Collection[str] = ()) -> str:
    """One line naming each bad `NESTVEC_*` variable (or the `--flag` of a field in `flags`, the
    command line's) and what it expects (keys never echoed)."""
    if isinstance(exc, SettingsError):  # a value pydantic-settings itself could not decode
        found = re.search(r'field "(\w+)"', str(exc))
        return f"NESTVEC_{found.group(1).upper() if found else '?'}: cannot be parsed"
    parts = []
    for error in exc.errors():
        if not error["loc"]:  # a check across fields names its variables itself (no values)
            parts.append(error["msg"].removeprefix("Value error, "))
            continue
        field, *inner = [str(part) for part in error["loc"]]
        given = "" if field in SECRET_FIELDS else f"={str(error['input'])[:60]!r}"
        where = f" at {'.'.join(inner)}" if inner else ""
        expects = error["msg"].removeprefix("Value error, ").replace("Input should be", "should be")
        name = f"--{field.replace('_', '-')}" if field in flags else f"NESTVEC_{field.upper()}"
        parts.append(f"{name}{where}{given}: {expects}")
    return "invalid setting " + "; ".join(parts)
