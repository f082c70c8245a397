"""Answers of hot routes serialised once with orjson, past FastAPI's response-model validation.

A route that returns a `Response` keeps its declared `response_model` in the OpenAPI schema, but
FastAPI neither validates nor re-encodes what it returns: the service validates its requests,
not its own output (as the style notes say of raw payload bytes).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response


def json_response(content: Any) -> Response:
    """`content` (dicts, lists, numbers, strings, numpy arrays) as an application/json body."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
    )
