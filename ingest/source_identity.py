"""What identifies a source's content for resuming: equal identities, the same build."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

HASHED_BYTES = 1 << 20  # a file's identity hashes its first and last MiB


def file_identity(path: Path) -> dict[str, Any]:
    """Resolved path, size, modification time and a hash of the first and last MiB. The time
    catches an edit in place that keeps the size (a label fixed mid-file read as "nothing to
    do"); a merely touched file is built again, which upserts the same points."""
    stat, digest = path.stat(), hashlib.sha256()
    with path.open("rb") as f:
        digest.update(f.read(HASHED_BYTES))
        f.seek(max(0, stat.st_size - HASHED_BYTES))
        digest.update(f.read(HASHED_BYTES))
    identity = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return {**identity, "sha256_ends": digest.hexdigest()}


def folder_identity(path: Path, files: list[Path]) -> dict[str, Any]:
    """Resolved path and a hash of each file's relative name, size and modification time."""
    digest = hashlib.sha256()
    for file in files:
        name, stat = file.relative_to(path).as_posix(), file.stat()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return {"path": str(path.resolve()), "files": len(files), "sha256_list": digest.hexdigest()}
