"""Re-rank candidates for a query with a bi-encoder: cosine of query and candidate vectors.

No cross-encoder can be had offline here (no model package on PyPI ships one), so ranking uses
any registered text encoder. That only helps when it differs from what retrieved the candidates:
a stronger or domain-routed encoder, or full-dimension vectors after a low-dimension shortlist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoders.errors import EmptyInput
from index import METRICS
from index.errors import PointNotFound
from index.stored_point import StoredPoint, check_point_id
from index.texts import read_texts
from recommend.rank import rank
from service.engine import Engine
from service.errors import NoEncoder, UnsupportedInput, fields_renamed

COSINE = METRICS["cosine"]
DEFAULT_TEXT_FIELD = "text"  # also the field of a point upserted from a text
QUERY_FIELD = {"inputs[0]": "query", "inputs": "query"}  # errors name the body's own field


@dataclass(frozen=True)
class Ranked:
    encoder: str
    order: list[int]  # candidate indices, best first
    scores: list[float]
    texts: list[str | None]  # per candidate (all of them), for return_documents


def rank_texts(
    engine: Engine,
    query: str,
    texts: Sequence[str],
    encoder: str | None,
    top_n: int | None,
    dim: int | None = None,
    domain: str | None = None,
    field: str = "documents",
) -> Ranked:
    """Encode query and texts with one text encoder and order the texts by cosine."""
    if not texts:
        raise EmptyInput(f"{field} must not be empty", field)
    name = encoder or engine.settings.default_encoder  # the server's model, as TEI's /embed
    _require_text(engine, name)
    engine.check_batch(len(texts), field)
    with fields_renamed(QUERY_FIELD):
        _, q = engine.embed(name, [query], dim, domain=domain)
    with fields_renamed({"inputs": field}):
        _, docs = engine.embed(name, list(texts), dim, domain=domain)
    order, scores = rank(q[0], docs, COSINE, top_n)
    return Ranked(name, order.tolist(), scores.tolist(), list(texts))


def rank_points(
    engine: Engine,
    query: str,
    collection_name: str,
    ids: Sequence[str],
    encoder: str | None,
    top_n: int | None,
    text_field: str = "text",
    dim: int | None = None,
    domain: str | None = None,
) -> Ranked:
    """Order stored points by cosine: of their stored vectors when ranked with the collection's
    own encoder at its width, else of their payload texts (`text_field`) encoded with `encoder`
    (or the collection's at another nested `dim`)."""
    if not ids:
        raise EmptyInput("ids must not be empty", "ids")
    engine.check_batch(len(ids), "ids")
    collection = engine.catalog.get(collection_name)
    config = collection.config
    points = _points(collection.get(list(ids), with_vector=True), ids, config.name)
    texts = _texts(collection.path, points, text_field)
    if (encoder is not None and encoder != config.encoder) or dim not in (None, config.dim):
        missing = [i for i, t in enumerate(texts) if t is None]
        if missing:
            message = f"point {ids[missing[0]]!r} has no string payload field {text_field!r}"
            if text_field == DEFAULT_TEXT_FIELD:
                message += " and was not written from a text"
            raise UnsupportedInput(message, f"ids[{missing[0]}]")
        found = [t for t in texts if t is not None]
        # another width of the collection's own encoder is still its encoder, not the default
        name = encoder or config.encoder
        return rank_texts(engine, query, found, name, top_n, dim, domain, "ids")
    if config.encoder is None:
        message = f"collection {config.name!r} has no encoder: name one in 'model'"
        raise NoEncoder(message, "model")
    _require_text(engine, config.encoder)
    with fields_renamed(QUERY_FIELD):
        _, q = engine.embed(config.encoder, [query], config.dim, domain=domain or config.domain)
    vectors = np.stack([p.vector for p in points])  # type: ignore[misc]
    # cosine whatever the collection's metric, as ranking texts gives (l2 answered -distance)
    order, scores = rank(q[0], vectors, COSINE, top_n)
    return Ranked(config.encoder, order.tolist(), scores.tolist(), texts)


def relevance(scores: Sequence[float], raw: bool) -> list[float]:
    """Scores as the peers' rerank answers hold them, in [0, 1] (Cohere's relevance_score, TEI's
    and infinity's unless `raw_scores`): a cosine c is (1 + c) / 2, in the same order; `raw`
    keeps the cosine. Negative cosines broke clients that take a relevance for a probability."""
    return list(scores) if raw else [(1.0 + s) / 2.0 for s in scores]


def _require_text(engine: Engine, name: str) -> None:
    modality = engine.describe_encoder(name).get("modality")
    if modality != "text":
        raise UnsupportedInput(
            f"encoder {name!r} is a {modality} encoder; rank needs text", "model"
        )


def _points(found: list[StoredPoint], ids: Sequence[str], collection: str) -> list[StoredPoint]:
    by_id = {p.id: p for p in found}
    for i, point_id in enumerate(ids):
        if point_id not in by_id:
            check_point_id(point_id, f"ids[{i}]")  # an id no point can have is invalid, not missing
            raise PointNotFound(f"no point with id {point_id!r} in {collection!r}", f"ids[{i}]")
    return [by_id[i] for i in ids]


def _texts(path: Path, points: list[StoredPoint], field: str) -> list[str | None]:
    """Each point's payload text; under the default field, else the text it was encoded from
    (kept for reindex: a point upserted with `text` has it in no payload field)."""
    texts = [p.payload.get(field) for p in points]
    texts = [t if isinstance(t, str) else None for t in texts]
    textless = [p.id for p, t in zip(points, texts, strict=True) if t is None]
    if textless and field == DEFAULT_TEXT_FIELD:
        recorded = read_texts(path, textless)
        texts = [recorded.get(p.id) if t is None else t for p, t in zip(points, texts, strict=True)]
    return texts
