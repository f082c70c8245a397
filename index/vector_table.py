"""Prepared full vectors in memory by label, so exact filtered search and rescoring never read
vectors back from SQLite per query."""

from __future__ import annotations

import numpy as np


class VectorTable:
    """Rows of prepared vectors, one per live label, compact (a removed row takes the last).

    Not thread-safe: the Collection changes it under the write side of its lock and reads it
    under the read side.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._data = np.empty((0, dim), np.float32)
        self._labels = np.empty(0, np.int64)
        self._row: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._row)

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Store vectors under new labels (a label already held is replaced)."""
        self.remove(labels)
        n, extra = len(self._row), len(labels)
        if n + extra > len(self._data):  # grow by doubling: amortised O(batch) per write
            capacity = max(n + extra, 2 * len(self._data), 1024)
            data = np.empty((capacity, self.dim), np.float32)
            data[:n] = self._data[:n]
            owners = np.full(capacity, -1, np.int64)
            owners[:n] = self._labels[:n]
            self._data, self._labels = data, owners
        self._data[n : n + extra] = vectors
        self._labels[n : n + extra] = labels
        self._row.update(zip(np.asarray(labels).tolist(), range(n, n + extra), strict=True))

    def remove(self, labels: np.ndarray) -> None:
        """Forget labels; unknown ones are skipped."""
        for label in np.asarray(labels).tolist():
            row = self._row.pop(label, None)
            if row is None:
                continue
            last = len(self._row)  # the row count after the pop: the last row's index
            if row != last:
                moved = int(self._labels[last])
                self._data[row] = self._data[last]
                self._labels[row] = moved
                self._row[moved] = row

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(every label held, its vector): views of the live rows, no copy."""
        n = len(self._row)
        return self._labels[:n], self._data[:n]

    def get(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels held, their vectors), in the order asked; labels not held are skipped."""
        rows = [self._row[x] for x in np.asarray(labels).tolist() if x in self._row]
        index = np.asarray(rows, np.int64)
        return self._labels[index], self._data[index]
