"""The encoder-backed and diagnostic calls of the client: rank, embed, faces, analysis.

A mixin of `Api`; the same rules hold: bodies are the service's own request models, answers
are read with its response models.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from diagnostics.requests import (
    FunnelRecallRequest,
    FunnelRecallResponse,
    InsertionOrderRequest,
    InsertionOrderResponse,
    IntrinsicDimensionRequest,
    IntrinsicDimensionResponse,
    RebuildRequest,
    RebuildResponse,
    RecallRequest,
    RecallResponse,
)
from nestvec._transport import Call, body, collection_path, read, refused_as_bad_request
from service.schemas.embed import (
    EmbedRequest,
    EmbedResponse,
    OpenAIEmbeddingsRequest,
    OpenAIEmbeddingsResponse,
)
from service.schemas.faces import FaceRef, VerifyRequest, VerifyResponse
from service.schemas.points import UpsertResponse
from service.schemas.rank import RankRequest, RankResponse, TEIRank, TEIRerankRequest

FileLike = str | Path | tuple[str, bytes]


def _file(f: FileLike) -> tuple[str, bytes]:
    if isinstance(f, tuple):
        return f
    return Path(f).name, Path(f).read_bytes()


@refused_as_bad_request
class ModelApi:
    """Calls that run an encoder or an analysis on the server."""

    def _call(self, call: Call[Any]) -> Any:
        raise NotImplementedError

    # ranking --------------------------------------------------------------------------------
    def rank(self, query: str, **options: Any) -> RankResponse:
        """Re-rank `documents`, or `ids` of a `collection`, for a query (`POST /v1/rank`)."""
        req = RankRequest(query=query, **options)
        return self._call(
            Call("POST", "/v1/rank", read(RankResponse), json=body(req), reads_only=True)
        )

    def rerank(self, query: str, texts: list[str], **options: Any) -> list[TEIRank]:
        """TEI's `POST /rerank`: `[{index, score}]`, best first."""
        req = TEIRerankRequest(query=query, texts=texts, **options)
        parse = lambda r: [TEIRank.model_validate(x) for x in r.json()]  # noqa: E731
        return self._call(Call("POST", "/rerank", parse, json=body(req), reads_only=True))

    # embeddings and faces -----------------------------------------------------------------
    def embed(
        self,
        encoder: str,
        inputs: list[Any],
        *,
        dim: int | None = None,
        domain: str | list[str] | None = None,
    ) -> EmbedResponse:
        """`POST /v1/embed`: vectors (and per-input reports) for texts or raw inputs."""
        req = EmbedRequest(encoder=encoder, inputs=inputs, dim=dim, domain=domain)
        return self._call(
            Call("POST", "/v1/embed", read(EmbedResponse), json=body(req), reads_only=True)
        )

    def embeddings(
        self,
        input: str | list[str],
        model: str,
        **options: Any,  # noqa: A002 - OpenAI's name
    ) -> OpenAIEmbeddingsResponse:
        """OpenAI's `POST /v1/embeddings` (`dimensions`, `encoding_format` in options)."""
        req = OpenAIEmbeddingsRequest(input=input, model=model, **options)
        parse = read(OpenAIEmbeddingsResponse)
        return self._call(Call("POST", "/v1/embeddings", parse, json=body(req), reads_only=True))

    def verify_faces(
        self,
        a: FaceRef | dict[str, Any],
        b: FaceRef | dict[str, Any],
        *,
        encoder: str = "face-dlib",
        threshold: float | None = None,
    ) -> VerifyResponse:
        """Same person? Each side an image (`image_b64`) or a stored face (`collection`, `id`)."""
        req = VerifyRequest.model_validate(
            {"a": a, "b": b, "encoder": encoder, "threshold": threshold}
        )
        return self._call(
            Call("POST", "/v1/faces/verify", read(VerifyResponse), json=body(req), reads_only=True)
        )

    def embed_files(
        self, files: Sequence[FileLike], *, encoder: str = "face-dlib", dim: int | None = None
    ) -> EmbedResponse:
        """`POST /v1/embed/upload`: image files sent as they are (paths or (name, bytes))."""
        form = {"encoder": encoder, **({"dim": str(dim)} if dim is not None else {})}
        parts = [("files", _file(f)) for f in files]
        call = Call(
            "POST", "/v1/embed/upload", read(EmbedResponse), files=parts, data=form, reads_only=True
        )
        return self._call(call)

    def upload_files(
        self, name: str, files: Sequence[FileLike], ids: Sequence[str] | None = None
    ) -> int:
        """`POST .../points/upload`: one point per image file (id: `ids`, else the file name)."""
        parts = [("files", _file(f)) for f in files]
        form = {"ids": list(ids)} if ids is not None else None
        parse = lambda r: UpsertResponse.model_validate(r.json()).upserted  # noqa: E731
        return self._call(
            Call("POST", collection_path(name, "points", "upload"), parse, files=parts, data=form)
        )

    # analysis -----------------------------------------------------------------------------
    def intrinsic_dimension(self, name: str, **options: Any) -> IntrinsicDimensionResponse:
        """MLE, TwoNN, PCA-99 and LID of a sample; options are `IntrinsicDimensionRequest`'s."""
        return self._analysis(name, IntrinsicDimensionRequest(**options), "intrinsic-dimension")

    def insertion_order(self, name: str, **options: Any) -> InsertionOrderResponse:
        """HNSW recall under each insertion order (`InsertionOrderRequest` options)."""
        return self._analysis(name, InsertionOrderRequest(**options), "insertion-order")

    def recall(self, name: str, **options: Any) -> RecallResponse:
        """Recall@k of the search path against exact kNN (`RecallRequest` options)."""
        return self._analysis(name, RecallRequest(**options), "recall")

    def funnel_recall(self, name: str, **options: Any) -> FunnelRecallResponse:
        """Recall of Matryoshka tiers and funnels (`FunnelRecallRequest` options)."""
        return self._analysis(name, FunnelRecallRequest(**options), "funnel")

    def rebuild(
        self, name: str, insertion_order: str | None = None, seed: int = 0
    ) -> RebuildResponse:
        """Rebuild the index from stored vectors in this insertion order."""
        req = RebuildRequest(insertion_order=insertion_order, seed=seed)
        return self._call(
            Call("POST", collection_path(name, "rebuild"), read(RebuildResponse), json=body(req))
        )

    def plot(self, plot_url: str) -> bytes:
        """The PNG an analysis answered with (its `plot_url`)."""
        return self._call(Call("GET", plot_url, lambda r: r.content))

    def _analysis(self, name: str, req: BaseModel, what: str) -> Any:
        response = _ANALYSES[type(req)]
        return self._call(
            Call(
                "POST",
                collection_path(name, "analysis", what),
                read(response),
                json=body(req),
                reads_only=True,
            )
        )


_ANALYSES: dict[type[BaseModel], type[BaseModel]] = {
    IntrinsicDimensionRequest: IntrinsicDimensionResponse,
    InsertionOrderRequest: InsertionOrderResponse,
    RecallRequest: RecallResponse,
    FunnelRecallRequest: FunnelRecallResponse,
}
