"""A Qdrant-compatible REST subset over the one Engine: qdrant-client (REST mode) and the
LangChain Qdrant vector store talk to nestvec unchanged. Collections are shared with the v1 API.
"""

from fastapi import APIRouter

from service.qdrant import collections, points, query, unsupported

router = APIRouter()
for module in (points, query, collections, unsupported):  # the catch-all last
    router.include_router(module.router)
