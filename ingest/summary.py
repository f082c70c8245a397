"""The report printed at the end of a build (and written as JSON on request)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest.errors import NothingToWrite
from ingest.progress import Stats


def nothing_to_write(source: Path, stats: Stats) -> NothingToWrite:
    """The error of a source none of whose rows could be used (offline and `--url` alike)."""
    reasons = ", ".join(f"{n} {r}" for r, n in sorted(stats.skipped.items()))
    first = f"; first: {stats.examples[0]}" if stats.examples else ""
    return NothingToWrite(
        f"{source.name}: none of its {stats.read} rows could be used ({reasons}){first}", "source"
    )


@dataclass(frozen=True)
class Summary:
    """Totals of the whole build (across resumed runs) and timings of this run."""

    collection: str
    source: str
    status: str  # "built", "resumed", "reordered" or "unchanged" (a no-op re-run)
    stats: Stats
    count: int  # points the collection holds now
    encoded: int = 0  # items this run encoded
    seconds: float = 0.0  # wall time of this run
    write_seconds: float = 0.0  # reading, encoding and committing
    index: dict[str, Any] = field(default_factory=dict)  # type, params, order, build seconds

    @property
    def items_per_second(self) -> float:
        """Items encoded (or stored, for vector sources) per second of reading and writing."""
        return self.encoded / self.write_seconds if self.write_seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        document = {**asdict(self), "items_per_second": self.items_per_second}
        document["stats"]["points"] = self.stats.points
        return document

    def render(self) -> str:
        """Human-readable lines, one fact per line."""
        if self.status == "unchanged":
            return (
                f"collection {self.collection!r} is already built from {self.source} "
                f"({self.count} points); nothing to do"
            )
        s = self.stats
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(s.skipped.items()))
        lines = [
            f"{self.status} collection {self.collection!r} from {self.source}",
            f"  items read        {s.read}",
            f"  points written    {s.points} (collection holds {self.count})",
            f"  skipped           {sum(s.skipped.values())}" + (f" ({reasons})" if reasons else ""),
            f"  duplicate ids     {s.duplicates} (last occurrence kept)",
        ]
        if s.replaced:
            lines.append(f"  replaced          {s.replaced} points the collection held before")
        lines += [
            f"  this run          {self.encoded} items in {self.write_seconds:.1f} s "
            f"({self.items_per_second:.1f} items/s); {self.seconds:.1f} s in all",
            f"  index             {self.index.get('type')} {json.dumps(self.index.get('params'))}"
            f", built in {self.index.get('seconds', 0.0):.1f} s",
            f"  insertion order   {self.index.get('insertion_order')}"
            + (
                ""
                if self.index.get("insertion_order") == "as-is"
                else f" (seed {self.index.get('seed')})"
            ),
        ]
        lines += [f"  ! {message}" for message in s.examples]
        return "\n".join(lines)
