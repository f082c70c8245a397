"""Milvus backend: the searchable copy of a collection lives in a Milvus collection.

`uri` is a local file ending in `.db` (Milvus Lite, embedded, started by pymilvus) or
`http://host:19530` (a Milvus server or cluster). The SQLite store stays authoritative for ids,
payloads and vectors; this index is reconciled against it at start-up like any snapshot, so a
lost or wiped Milvus collection is rebuilt from SQLite. Rows: `id` (the store's int64 label),
`vector`, `payload` (the point's JSON, for people querying Milvus directly) and `terms` (the
derived filter document of `milvus_filter`). Filters are evaluated by Milvus itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from index.backends.common import LiveLabels, empty_result
from index.backends.milvus_client import Guarded, pymilvus_module, unavailable_on_failure
from index.backends.milvus_filter import FIELD, Widths, payload_terms, to_expression
from index.base import IndexParams, QueryParams, VectorIndex
from index.errors import IndexBackendUnavailable, InvalidIndexParams
from index.filter_model import Filter
from index.metrics import Metric, l2_score
from index.registry import register_index

META_FILE = "milvus.json"
INSERT_BATCH = 2000  # rows per insert call: keeps gRPC messages well under their 64 MB cap
MAX_TOPK = 16384  # Milvus's limit on k (and on a query page)
MAX_EF = 32768  # the widest HNSW beam a search asks for (as the `ef` param allows)
MILVUS_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,254}$"

# Build parameters each Milvus index type takes, and the search knobs it reads.
BUILD: dict[str, Callable[[MilvusParams], dict[str, Any]]] = {
    "HNSW": lambda p: {"M": p.M, "efConstruction": p.ef_construction},
    "IVF_FLAT": lambda p: {"nlist": p.nlist},
    "IVF_SQ8": lambda p: {"nlist": p.nlist},
    "FLAT": lambda p: {},
}
SEARCH: dict[str, Callable[[MilvusParams, dict[str, Any], int], dict[str, Any]]] = {
    "HNSW": lambda p, q, k: {"ef": max(q.get("ef") or p.ef, k)},  # Milvus rejects ef < k
    "IVF_FLAT": lambda p, q, k: {"nprobe": q.get("nprobe") or p.nprobe},
    "IVF_SQ8": lambda p, q, k: {"nprobe": q.get("nprobe") or p.nprobe},
    "FLAT": lambda p, q, k: {},
}


class MilvusParams(IndexParams):
    uri: str | None = Field(
        None, description="Milvus Lite file (*.db) or http://host:19530; None: NESTVEC_MILVUS_URI"
    )
    collection: str = Field(
        default_factory=lambda: f"nestvec_{uuid.uuid4().hex}",
        pattern=MILVUS_NAME,
        description="the Milvus collection (unique per nestvec collection)",
    )
    index_type: Literal["HNSW", "IVF_FLAT", "IVF_SQ8", "FLAT"] = "HNSW"
    M: int = Field(16, ge=2, le=2048, description="HNSW graph degree")
    ef_construction: int = Field(200, ge=1, le=65536, description="HNSW build beam width")
    ef: int = Field(64, ge=1, le=32768, description="HNSW default query beam width")
    nlist: int = Field(128, ge=1, le=65536, description="IVF lists")
    nprobe: int = Field(8, ge=1, le=65536, description="IVF lists probed by default")


class MilvusQuery(QueryParams):
    ef: int | None = Field(None, ge=1, le=32768, description="HNSW beam width (>= k is used)")
    nprobe: int | None = Field(None, ge=1, le=65536, description="IVF lists probed")


@register_index("milvus")
class MilvusIndex(VectorIndex):
    """A Milvus collection behind the VectorIndex contract; filters run inside Milvus."""

    Params = MilvusParams
    Query = MilvusQuery
    filters_natively: ClassVar[bool] = True
    scans_all = True  # every search is a network call

    def __init__(self, dim: int, metric: Metric, params: MilvusParams) -> None:
        """A new, empty index: an existing Milvus collection of the same name is replaced."""
        self._connect(dim, metric, params)
        if self._client.has_collection(params.collection):
            self._client.drop_collection(params.collection)
        self._create()

    def _connect(self, dim: int, metric: Metric, params: MilvusParams) -> None:
        self.dim, self.metric, self.params = dim, metric, params
        self._live, self.widths = LiveLabels(), Widths()
        self._uncertain: set[int] = set()  # labels of inserts that failed: maybe in Milvus
        if params.uri is None:
            raise IndexBackendUnavailable(
                "no Milvus URI: set NESTVEC_MILVUS_URI or index.params.uri", "index.params.uri"
            )
        if params.uri.endswith(".db"):  # Milvus Lite wants the file's directory to exist
            Path(params.uri).parent.mkdir(parents=True, exist_ok=True)
        pymilvus = pymilvus_module()
        with unavailable_on_failure(params.uri):
            self._client = Guarded(pymilvus.MilvusClient(uri=params.uri), params.uri)

    def _create(self) -> None:
        pm = pymilvus_module()
        schema = pm.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", pm.DataType.INT64, is_primary=True)
        schema.add_field("vector", pm.DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("payload", pm.DataType.JSON)
        schema.add_field(FIELD, pm.DataType.JSON)
        index = self._client.prepare_index_params()
        index.add_index(
            field_name="vector",
            index_type=self.params.index_type,
            metric_type=self._metric_type,
            params=BUILD[self.params.index_type](self.params),
        )
        # Strong: a search sees every write acknowledged before it, as with the local backends.
        name = self.params.collection
        self._client.create_collection(name, schema=schema, consistency_level="Strong")
        # sync=False: the index of an empty collection is ready at once; waiting polls at 0.5 s
        self._client.create_index(name, index, sync=False)
        self._client.load_collection(name)

    @property
    def _metric_type(self) -> str:
        # cosine vectors arrive normalised (Metric.prepare), so IP serves cosine and dot alike
        return "IP" if self.metric.kind == "ip" else "L2"

    def __len__(self) -> int:
        return len(self._live)

    def add(
        self,
        labels: np.ndarray,
        vectors: np.ndarray,
        payloads: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        if len(labels) == 0:
            return
        payloads = payloads if payloads is not None else [{}] * len(labels)
        for start in range(0, len(labels), INSERT_BATCH):
            batch = labels[start : start + INSERT_BATCH]
            rows = []
            for label, vector, payload in zip(
                batch.tolist(),
                vectors[start : start + INSERT_BATCH],
                payloads[start : start + INSERT_BATCH],
                strict=True,
            ):
                terms = payload_terms(payload)
                self.widths.grow(terms)
                rows.append({"id": label, "vector": vector, "payload": payload, FIELD: terms})
            # A failed insert may still have landed (the reply was lost): replaying those labels
            # with upsert keeps one row per id, where a second insert would duplicate them.
            replay = not self._uncertain.isdisjoint(batch.tolist())
            try:
                if replay:
                    self._client.upsert(self.params.collection, rows)
                else:
                    self._client.insert(self.params.collection, rows)
            except BaseException:
                self._uncertain.update(batch.tolist())
                raise
            self._uncertain.difference_update(batch.tolist())
            self._live.add(batch)

    def remove(self, labels: np.ndarray) -> None:
        labels = np.asarray(labels, dtype=np.int64)
        present = [x for x in labels.tolist() if x in self._live or x in self._uncertain]
        if present:
            # forgotten only once Milvus confirms: a failed delete stays live, so the
            # collection's reconciliation finds it stale and deletes it again
            self._client.delete(self.params.collection, ids=present)
            self._live.discard(np.array(present, dtype=np.int64))
            self._uncertain.difference_update(present)

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allowed: np.ndarray | None = None,
        filter: Filter | None = None,
        **params: Any,
    ) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self), MAX_TOPK, len(self) if allowed is None else len(allowed))
        if k == 0:
            return empty_result(len(queries))
        clauses = [] if filter is None else [to_expression(filter, self.widths)]
        if allowed is not None:
            clauses.append(f"id in [{', '.join(map(str, allowed.tolist()))}]")
        request = {
            "data": [q.tolist() for q in queries],
            "limit": k,
            "filter": " and ".join(f"({c})" for c in clauses),
            "output_fields": ["id"],
            "search_params": {
                "metric_type": self._metric_type,
                "params": SEARCH[self.params.index_type](self.params, params, k),
            },
        }
        found = self._search(request)
        if clauses and self.params.index_type == "HNSW" and any(len(h) < k for h in found):
            # Milvus's filtered graph walk can stop short of matches that exist (23 of 26 at
            # ef = k = 1000): ask once more with the beam as wide as the collection, as the
            # local hnsw backend does
            request["search_params"]["params"]["ef"] = min(max(len(self), k), MAX_EF)
            found = self._search(request)
        labels = np.full((len(queries), k), -1, np.int64)
        scores = np.full((len(queries), k), -np.inf, np.float32)
        for row, hits in enumerate(found):
            labels[row, : len(hits)] = [h["id"] for h in hits]
            scores[row, : len(hits)] = self._scores(np.array([h["distance"] for h in hits]))
        return labels, scores

    def _search(self, request: dict[str, Any]) -> list[Any]:
        try:
            return self._client.search(self.params.collection, **request)
        except IndexBackendUnavailable:
            # A restarted Milvus takes writes before it has reloaded its collections and
            # answers searches "collection not loaded" until then: load (a no-op when loaded,
            # a wait while loading) and ask once more. Still down: the 503 stands.
            self._client.load_collection(self.params.collection)
            return self._client.search(self.params.collection, **request)

    def _scores(self, distances: np.ndarray) -> np.ndarray:
        # Milvus reports inner products as they are and L2 as the squared distance
        return distances if self.metric.kind == "ip" else l2_score(distances)

    @property
    def tombstone_ratio(self) -> float:
        return 0.0  # Milvus compacts deleted rows itself

    def labels(self) -> np.ndarray:
        return self._live.array()

    def save(self, path: Path) -> None:
        """Flush Milvus and note what it holds; the rows themselves live in Milvus."""
        self._client.flush(self.params.collection)
        meta = {
            "collection": self.params.collection,
            "count": len(self),
            # labels only grow: rows above this one were written after this note (see load)
            "max_label": int(self.labels().max(initial=0)),
            "widths": {"distinct": self.widths.distinct, "numbers": self.widths.numbers},
        }
        (path / META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: Path, dim: int, metric: Metric, params: MilvusParams) -> MilvusIndex:
        """Reopen the Milvus collection; a missing one comes back empty (the caller reconciles)."""
        self = cls.__new__(cls)
        self._connect(dim, metric, params)
        if not self._client.has_collection(params.collection):
            self._create()
            return self
        self._client.load_collection(params.collection)
        meta_file = path / META_FILE
        meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
        self.widths = Widths(**meta.get("widths", {}))
        # Rows written after the note (a crash skipped the save) may hold longer lists: the
        # filter expressions must reach their last positions, so widen from those rows.
        for row in self._scan(f"id > {meta.get('max_label', -1)}", FIELD):
            self.widths.grow(row[FIELD])
        self._live.add(np.array([row["id"] for row in self._scan("", "id")], dtype=np.int64))
        return self

    def _scan(self, where: str, field: str) -> Iterator[dict[str, Any]]:
        """Rows Milvus holds matching `where` (with `field`), page by page."""
        it = self._client.query_iterator(
            self.params.collection, batch_size=1000, filter=where, output_fields=[field]
        )
        while page := it.next():
            yield from page
        it.close()

    def drop(self) -> None:
        """Delete the Milvus collection (the nestvec collection is being dropped)."""
        if self._client.has_collection(self.params.collection):
            self._client.drop_collection(self.params.collection)


def check_milvus_uri(params: dict[str, Any], index_type: str, allowed: set[str]) -> None:
    """A request names only a Milvus the operator allows: a client's path or host would have the
    server create files wherever it can write, or dial any host."""
    uri = params.get("uri") if index_type == "milvus" else None
    if uri is not None and not (isinstance(uri, str) and uri in allowed):
        raise InvalidIndexParams(
            "index.params.uri names a Milvus the server does not allow: leave it out, or list "
            "it in NESTVEC_MILVUS_ALLOWED_URIS",
            "index.params.uri",
        )
