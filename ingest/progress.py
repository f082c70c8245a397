"""Build progress: counters, the state committed with every batch, and the progress bar."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, replace
from typing import Any

INGEST_KEY = "ingest"  # config-table key of a collection's latest offline build
MAX_EXAMPLES = 20  # messages kept to show which rows were skipped or duplicated


@dataclass
class Stats:
    """What the rows of a source came to; batches carry deltas that the writer adds up."""

    read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0  # rows whose id came again later in the source (the last one wins)
    replaced: int = 0  # rows that replaced a point the collection held before this build
    examples: list[str] = field(default_factory=list)

    @property
    def points(self) -> int:
        """Distinct ids this source contributed."""
        return self.read - sum(self.skipped.values()) - self.duplicates

    def skip(self, reason: str, message: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        self.note(message)

    def duplicate(self, message: str) -> None:
        self.duplicates += 1
        self.note(message)

    def note(self, message: str) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(message)

    def add(self, delta: Stats) -> Stats:
        """These counters plus a batch's delta, as a new object."""
        skipped = dict(self.skipped)
        for reason, n in delta.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + n
        return Stats(
            read=self.read + delta.read,
            skipped=skipped,
            duplicates=self.duplicates + delta.duplicates,
            replaced=self.replaced + delta.replaced,
            examples=(self.examples + delta.examples)[:MAX_EXAMPLES],
        )


@dataclass
class BuildState:
    """Where one build stands; committed in the same transaction as each batch of points."""

    key: dict[str, Any]  # the source's fingerprint and field spec: equal keys, same build
    rows: int = 0  # source rows consumed by committed batches
    done: bool = False
    start_label: int = 1  # labels from here on were written by this build (duplicate check)
    insertion_order: str = "as-is"
    seed: int = 0
    stats: Stats = field(default_factory=Stats)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> BuildState:
        return cls(**{**value, "stats": Stats(**value.get("stats", {}))})

    def finished(self, order: str, seed: int) -> BuildState:
        return replace(self, done=True, insertion_order=order, seed=seed)


class ProgressBar:
    """tqdm bar over source rows with items/s and ETA; silent when disabled or not a terminal."""

    def __init__(self, total: int | None, done: int, enabled: bool, desc: str = "ingest") -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total,
            initial=done,
            unit="item",
            desc=desc,
            file=sys.stderr,
            disable=None if enabled else True,
            dynamic_ncols=True,
            smoothing=0.1,
        )

    @property
    def n(self) -> int:
        """Rows done so far."""
        return int(self._bar.n)

    def advance_to(self, rows: int) -> None:
        if rows > self._bar.n:
            if self._bar.total is not None and rows > self._bar.total:
                self._bar.total = rows  # the total was an estimate
            self._bar.update(rows - self._bar.n)

    def finish(self) -> None:
        """The source is read to its end: the estimated total becomes the rows read (the bar
        ended at 3000/3101)."""
        self._bar.total = self._bar.n
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()
