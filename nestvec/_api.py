"""The v1 REST calls of the client, written once: `Client` runs them, `AsyncClient` awaits them.

Bodies are built as the service's own request models and answers read with its response models
(`service/schemas/*`, `diagnostics/requests.py`), so the client and the server cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import httpx

from nestvec._model_api import ModelApi
from nestvec._transport import (
    BadRequest,
    Call,
    body,
    collection_path,
    plain,
    read,
    refused_as_bad_request,
)
from service.schemas.collections import (
    CollectionInfo,
    CollectionList,
    CreateCollectionRequest,
    IndexSpec,
    PayloadIndexDeleted,
    PayloadIndexInfo,
    PayloadIndexRequest,
    TrainResponse,
)
from service.schemas.points import (
    CountRequest,
    CountResponse,
    DeletePointsRequest,
    DeleteResponse,
    PointIn,
    PointOut,
    PointsPage,
    UpsertRequest,
    UpsertResponse,
)
from service.schemas.recommend import RecommendRequest, RecommendResponse
from service.schemas.search import (
    BatchSearchRequest,
    BatchSearchResponse,
    Query,
    ScoredPoint,
    SearchRequest,
    SearchResponse,
)

PointLike = PointIn | dict[str, Any]
QueryLike = Query | str | Sequence[float] | dict[str, Any]


def to_point(p: PointLike) -> PointIn:
    """A point to upsert from a model or a dict (a numpy `vector` becomes a list)."""
    if isinstance(p, PointIn):
        return p
    if not isinstance(p, dict):  # a tuple raised AttributeError
        message = f"a point is a PointIn or a dict, not {type(p).__name__}"
        raise BadRequest("validation_error", message, None, None)
    vector, point_id = p.get("vector"), p.get("id")
    if _is_array(vector):
        p = {**p, "vector": vector.tolist()}
    if _is_array(point_id):  # a numpy integer id (np.int64(3)): its Python int
        p = {**p, "id": point_id.tolist()}  # type: ignore[union-attr]
    return PointIn.model_validate(p)


def to_query(q: QueryLike) -> Query:
    """A text (str), a vector (numbers or an array), a `Query` or its dict."""
    if isinstance(q, Query):
        return q
    if isinstance(q, str):
        return Query(text=q)
    if isinstance(q, dict):
        return Query.model_validate(q)
    return Query(vector=q.tolist() if _is_array(q) else [float(x) for x in q])


def _is_array(value: object) -> bool:
    """A numpy array or scalar."""
    return hasattr(value, "tolist") and not isinstance(value, list)


@refused_as_bad_request
class Api(ModelApi):
    """The calls; a subclass's `_call` sends one (sync) or returns its coroutine (async)."""

    # health and encoders ----------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """`GET /healthz`: the process answers."""
        return self._call(Call("GET", "/healthz", httpx.Response.json))

    def ready(self) -> dict[str, Any]:
        """`GET /readyz`: collections opened, encoders preloaded."""
        return self._call(Call("GET", "/readyz", httpx.Response.json))

    def encoders(self) -> list[dict[str, Any]]:
        """`GET /v1/encoders`: name, modality, dimensions of every encoder."""
        return self._call(Call("GET", "/v1/encoders", lambda r: r.json()["encoders"]))

    # collections --------------------------------------------------------------------------
    def create_collection(
        self,
        name: str,
        *,
        encoder: str | None = None,
        dim: int | None = None,
        metric: str = "cosine",
        index: str | IndexSpec = "hnsw",
        index_params: dict[str, Any] | None = None,
        domain: str | None = None,
        payload_indexes: dict[str, str] | None = None,
    ) -> CollectionInfo:
        """Create a collection (409 `collection_exists` raised as `Conflict`)."""
        spec = index if isinstance(index, IndexSpec) else IndexSpec(type=index)
        if index_params is not None:
            spec = spec.model_copy(update={"params": index_params})
        req = CreateCollectionRequest(
            name=name,
            encoder=encoder,
            dim=dim,
            metric=metric,
            index=spec,
            domain=domain,
            payload_indexes=payload_indexes or {},
        )
        return self._call(Call("POST", "/v1/collections", read(CollectionInfo), json=body(req)))

    def get_collection(self, name: str) -> CollectionInfo:
        """Its configuration and point count."""
        return self._call(Call("GET", collection_path(name), read(CollectionInfo)))

    def collection_exists(self, name: str) -> bool:
        """True when the collection exists."""
        missing = {"absent_code": "collection_not_found", "absent": False}
        return self._call(Call("GET", collection_path(name), lambda _: True, **missing))

    def list_collections(self) -> list[CollectionInfo]:
        return self._call(
            Call(
                "GET",
                "/v1/collections",
                lambda r: CollectionList.model_validate(r.json()).collections,
            )
        )

    def delete_collection(self, name: str) -> bool:
        """Drop the collection and its files."""
        return self._call(
            Call("DELETE", collection_path(name), lambda r: bool(r.json()["deleted"]))
        )

    def train(self, name: str) -> TrainResponse:
        """Train an IVF-type index now (409 `not_enough_points` when too few)."""
        return self._call(Call("POST", collection_path(name, "train"), read(TrainResponse)))

    def create_payload_index(
        self, name: str, field_name: str, field_schema: str
    ) -> PayloadIndexInfo:
        """Index a payload field (keyword, integer, float, bool) for filters."""
        req = PayloadIndexRequest(field_name=field_name, field_schema=field_schema)
        path = collection_path(name, "payload_index")
        return self._call(Call("PUT", path, read(PayloadIndexInfo), json=body(req)))

    def delete_payload_index(self, name: str, field_name: str) -> bool:
        path = collection_path(name, "payload_index", field_name)
        return self._call(Call("DELETE", path, lambda r: read(PayloadIndexDeleted)(r).deleted))

    # points -------------------------------------------------------------------------------
    def upsert(self, name: str, points: Iterable[PointLike]) -> int:
        """Insert or replace points in one request; returns how many were upserted."""
        req = UpsertRequest(points=[to_point(p) for p in points])
        return self._call(self._upsert(name, req))

    def _upsert(self, name: str, req: UpsertRequest) -> Call[int]:
        parse = lambda r: UpsertResponse.model_validate(r.json()).upserted  # noqa: E731
        return Call("PUT", collection_path(name, "points"), parse, json=body(req))

    def get_points(
        self,
        name: str,
        ids: Sequence[str | int],
        *,
        with_payload: bool = True,
        with_vector: bool = False,
    ) -> list[PointOut]:
        """The points with these ids (unknown ids are left out)."""
        if not ids:  # sent, no `ids` parameter at all: the first page of every point
            return self._call(Call("GET", "", lambda _: [], unsent=True))
        params = {"ids": [str(i) for i in ids], "with_payload": with_payload}
        params["with_vector"] = with_vector
        parse = lambda r: PointsPage.model_validate(r.json()).points  # noqa: E731
        return self._call(Call("GET", collection_path(name, "points"), parse, params=params))

    def scroll(
        self,
        name: str,
        *,
        limit: int = 100,
        offset: str | None = None,
        with_payload: bool = True,
        with_vector: bool = False,
    ) -> PointsPage:
        """One page of points in id order after `offset`; `next_offset` leads to the next."""
        params: dict[str, Any] = {"limit": limit, "with_payload": with_payload}
        params["with_vector"] = with_vector
        if offset is not None:
            params["offset"] = offset
        return self._call(
            Call("GET", collection_path(name, "points"), read(PointsPage), params=params)
        )

    def delete_points(
        self,
        name: str,
        ids: Sequence[str | int] = (),
        *,
        filter: dict[str, Any] | None = None,  # noqa: A002 - the service's name
    ) -> int:
        """Delete by ids and/or a filter; returns how many were deleted."""
        req = DeletePointsRequest(ids=plain(list(ids)), filter=filter)
        parse = lambda r: DeleteResponse.model_validate(r.json()).deleted  # noqa: E731
        return self._call(Call("DELETE", collection_path(name, "points"), parse, json=body(req)))

    def count(self, name: str, filter: dict[str, Any] | None = None) -> int:  # noqa: A002
        """All points, or those matching `filter`."""
        req = CountRequest(filter=filter)
        parse = lambda r: CountResponse.model_validate(r.json()).count  # noqa: E731
        return self._call(
            Call("POST", collection_path(name, "count"), parse, json=body(req), reads_only=True)
        )

    # search, recommend, rank --------------------------------------------------------------
    def search(
        self, name: str, query: QueryLike, *, k: int = 10, **options: Any
    ) -> list[ScoredPoint]:
        """Nearest points to a text, a vector or a stored id; `options` are `SearchRequest`'s."""
        req = SearchRequest(query=to_query(query), k=k, **options)
        parse = lambda r: SearchResponse.model_validate(r.json()).results  # noqa: E731
        return self._call(
            Call("POST", collection_path(name, "search"), parse, json=body(req), reads_only=True)
        )

    def search_batch(
        self, name: str, searches: Iterable[SearchRequest | dict[str, Any]]
    ) -> list[list[ScoredPoint]]:
        """Several searches in one request, answered in order."""
        reqs = [
            s if isinstance(s, SearchRequest) else SearchRequest.model_validate(plain(s))
            for s in searches
        ]
        parse = lambda r: BatchSearchResponse.model_validate(r.json()).results  # noqa: E731
        path = collection_path(name, "search", "batch")
        return self._call(
            Call("POST", path, parse, json=body(BatchSearchRequest(searches=reqs)), reads_only=True)
        )

    def recommend(self, name: str, **options: Any) -> RecommendResponse:
        """From `positive`/`negative` examples or a `history`; options are `RecommendRequest`'s."""
        req = RecommendRequest(**plain(options))
        path = collection_path(name, "recommend")
        return self._call(
            Call("POST", path, read(RecommendResponse), json=body(req), reads_only=True)
        )
