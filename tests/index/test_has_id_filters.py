"""`has_id` filters over a collection filled in several upserts: SQLite read the kept labels in
id order (its index on `id`), searches took them as sorted and a broad `must_not` answered 500."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index import Catalog, CollectionConfig


@pytest.mark.parametrize("index_type", ["hnsw", "flat"])
def test_must_not_has_id_keeps_every_other_point(tmp_path: Path, index_type: str) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 3)).astype(np.float32)
    col = Catalog(tmp_path).create(CollectionConfig("c", 3, "dot", None, index_type, {}))
    for lo, hi in ((0, 2000), (2000, 3000)):  # ids "10" < "9": label and id orders differ
        col.upsert([str(i) for i in range(lo, hi)], vectors[lo:hi], [{}] * (hi - lo))
    query = np.array([[1.0, 0.0, 0.0]], np.float32)
    scores = vectors @ query[0]
    for dropped in ("5", "1500", "2500"):
        flt = {"must_not": [{"has_id": [dropped]}]}
        hits = col.search(query, 10, filter=flt)[0]
        truth = [str(i) for i in np.argsort(-scores) if str(i) != dropped][:10]
        assert len(hits) == 10 and dropped not in {h.id for h in hits}
        if index_type == "flat":  # exact search: the true ten
            assert [h.id for h in hits] == truth
        kept = col.search(query, 10, filter={"must": [{"has_id": [dropped, "7", "2999"]}]})[0]
        assert sorted(h.id for h in kept) == sorted([dropped, "7", "2999"])
