"""The progress file of `nestvec ingest --url`: what the server acknowledged of one source."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest.errors import InvalidOption
from ingest.progress import Stats

STATE_SUFFIX = ".nestvec-progress.json"


@dataclass
class UploadState:
    """What the server acknowledged of one source; rewritten after each batch."""

    key: dict[str, Any]
    rows: int = 0
    done: bool = False
    stats: Stats = field(default_factory=Stats)

    def save(self, path: Path) -> None:
        """Write atomically: a kill mid-write leaves the previous state."""
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(asdict(self), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> UploadState | None:
        """The state saved in `path`, or None (no file, or an empty one, as mktemp makes). Any
        other file is refused: saving progress would overwrite what it holds."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        if not text.strip():
            return None
        try:
            saved = json.loads(text)
            state = cls(saved["key"], saved["rows"], saved["done"], Stats(**saved["stats"]))
        except ValueError:
            raise _not_a_state_file(path, "not valid JSON") from None
        except (KeyError, TypeError):
            raise _not_a_state_file(path, "not the fields of one") from None
        types = (
            (state.key, dict),
            (state.rows, int),
            (state.done, bool),
            (state.stats.skipped, dict),
        )
        if not all(isinstance(value, kind) for value, kind in types):
            raise _not_a_state_file(path, "fields of the wrong type")
        return state


def _not_a_state_file(path: Path, why: str) -> InvalidOption:
    return InvalidOption(
        f"{path} is not a progress file of `nestvec ingest --url` ({why}); delete it to start "
        "over (batches sent again are harmless upserts), or give another --state",
        "state",
    )


def state_path(source: Path, given: Path | None) -> Path:
    """`--state`, else `<source>.nestvec-progress.json` beside the source."""
    return given if given is not None else source.with_name(source.name + STATE_SUFFIX)
