"""LangChain's QdrantVectorStore, embedding through nestvec's /v1/embeddings (langchain-openai),
stores and searches in a live `nestvec serve` through its Qdrant-compatible API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langchain_openai import OpenAIEmbeddings
from langchain_qdrant import QdrantVectorStore
from qdrant_client import models as m
from support import LiveServer

TEXTS = [
    "Cats purr when they are content.",
    "Stock markets fell sharply on Monday.",
    "Dogs bark at the mail carrier.",
    "Bond yields rose after the rate decision.",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(Path(tmp_path_factory.mktemp("langchain")) / "data").start()
    yield live
    live.stop()


def test_add_texts_and_similarity_search(server: LiveServer) -> None:
    embeddings = OpenAIEmbeddings(
        base_url=server.url + "/v1",
        api_key="x",  # type: ignore[arg-type]
        model="minilm",
        check_embedding_ctx_length=False,
    )
    store = QdrantVectorStore.from_texts(
        TEXTS[:2],
        embeddings,
        metadatas=[{"topic": "pets"}, {"topic": "finance"}],
        url=server.url,
        prefer_grpc=False,
        collection_name="lc",
    )
    ids = store.add_texts(TEXTS[2:], metadatas=[{"topic": "pets"}, {"topic": "finance"}])
    assert len(ids) == 2
    found = store.similarity_search("kittens and puppies", k=2)
    assert {d.page_content for d in found} == {TEXTS[0], TEXTS[2]}
    assert all(d.metadata["topic"] == "pets" for d in found)
    (doc, score), *_ = store.similarity_search_with_score("interest rates and bonds", k=1)
    assert doc.page_content == TEXTS[3] and 0 < score <= 1
    only_finance = m.Filter(
        must=[m.FieldCondition(key="metadata.topic", match=m.MatchValue(value="finance"))]
    )
    found = store.similarity_search("pets", k=4, filter=only_finance)
    assert {d.page_content for d in found} == {TEXTS[1], TEXTS[3]}
    # the same collection, seen through the native API
    described = httpx.get(f"{server.url}/v1/collections/lc").json()
    assert (described["dim"], described["metric"], described["count"]) == (384, "cosine", 4)
    again = QdrantVectorStore.from_existing_collection(
        collection_name="lc", embedding=embeddings, url=server.url, prefer_grpc=False
    )
    assert again.similarity_search("dogs", k=1)[0].page_content == TEXTS[2]
    # max marginal relevance (Qdrant's nearest query with `mmr`; it was a 422): the near
    # duplicate of the best hit gives way to a text on another topic
    store.add_texts(["Cats purr when they are content and happy."], metadatas=[{"topic": "pets"}])
    plain = store.similarity_search("content cats purring", k=2)
    assert [d.page_content for d in plain][1].startswith("Cats purr")
    diverse = store.max_marginal_relevance_search("content cats purring", k=2, fetch_k=5)
    assert diverse[0].page_content.startswith("Cats purr")
    assert not diverse[1].page_content.startswith("Cats purr"), diverse
    retrieved = store.as_retriever(search_type="mmr", search_kwargs={"k": 2}).invoke("cats")
    assert len(retrieved) == 2
