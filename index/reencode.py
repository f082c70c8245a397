"""Re-encoding a collection whose encoder changed, and recording which encoder it holds.

A collection records the fingerprint of the encoder its vectors came from
(`CollectionConfig.encoder_fingerprint`). After a model change, `reindex` re-encodes every point
whose text was kept (index.texts) and then records the new fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from index.collection import Collection
from index.texts import read_texts

Encode = Callable[[list[str]], np.ndarray]
PAGE = 256  # points re-encoded and written per transaction


def record_fingerprint(collection: Collection, fingerprint: str) -> None:
    """Store `fingerprint` in the collection's config table and in its open config."""
    collection.record_fingerprint(fingerprint)


@dataclass
class ReindexReport:
    """What a reindex did: points re-encoded, and points it could not re-encode."""

    reencoded: int = 0
    without_text: list[str] = field(default_factory=list)


def reindex(
    collection: Collection,
    encode: Encode,
    fingerprint: str,
    progress: Callable[[int], None] | None = None,
) -> ReindexReport:
    """Re-encode every point with a kept text, page by page, then record `fingerprint`."""
    report, after = ReindexReport(), None
    while page := collection.page(after, PAGE):
        after = page[-1].id
        texts = read_texts(collection.path, [p.id for p in page])
        with_text = [p for p in page if p.id in texts]
        report.without_text += [p.id for p in page if p.id not in texts]
        if with_text:
            ids = [p.id for p in with_text]
            vectors = encode([texts[i] for i in ids])
            collection.upsert(ids, vectors, [p.payload for p in with_text])
            report.reencoded += len(ids)
        if progress is not None:
            progress(len(page))
    record_fingerprint(collection, fingerprint)
    return report
