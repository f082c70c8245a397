"""Every bad image is a 4xx with a stable code and the offending field, never a 500."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from face_photos import b64, faceless_photo, group_photo, photo
from fastapi.testclient import TestClient
from PIL import Image
from support import assert_error


def embed(client: TestClient, item: Any) -> Any:
    return client.post("/v1/embed", json={"encoder": "face-dlib", "inputs": [item]})


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels: a decompression bomb."""
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = bytearray(data[12:29])  # b"IHDR" + 13 bytes of fields
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def ico() -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(photo("img25.jpg"))).save(buffer, "ICO", sizes=[(64, 64)])
    return buffer.getvalue()


CASES: dict[str, tuple[Callable[[], Any], int, str, str]] = {
    "not an image": (lambda: b64(b"%PDF-1.4 hello"), 422, "not_an_image", "inputs[0]"),
    "empty file": (lambda: b64(b""), 422, "not_an_image", "inputs[0]"),
    "bad base64": (lambda: {"image_b64": "@@not base64@@"}, 422, "invalid_base64", None),
    "not an object": (lambda: "img1.jpg", 422, "invalid_input", "inputs[0]"),
    "unsupported format": (lambda: b64(ico()), 415, "unsupported_format", "inputs[0]"),
    "truncated": (lambda: b64(photo("img5.jpg")[:12000]), 422, "truncated_image", "inputs[0]"),
    "no face": (lambda: b64(faceless_photo()), 422, "no_face", "inputs[0]"),
    "too many faces": (
        lambda: {**b64(group_photo()), "max_faces": 2},
        422,
        "too_many_faces",
        "inputs[0]",
    ),
    "bomb over our cap": (lambda: b64(png_claiming(9000, 9000)), 413, "image_too_large", None),
    "bomb over Pillow's": (lambda: b64(png_claiming(20000, 20000)), 413, "image_too_large", None),
    "unknown option": (lambda: {**b64(photo("img5.jpg")), "zoom": 2}, 422, "invalid_input", None),
    "bad jitters": (
        lambda: {**b64(photo("img5.jpg")), "num_jitters": 0},
        422,
        "invalid_input",
        "inputs[0].num_jitters",
    ),
    "bad detector": (
        lambda: {**b64(photo("img5.jpg")), "detector": "yolo"},
        422,
        "invalid_input",
        "inputs[0].detector",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_image_is_a_clear_4xx(client: TestClient, face_encoder: Any, case: str) -> None:
    make, status, code, field = CASES[case]
    assert_error(embed(client, make()), status, code, field)


def test_a_bomb_past_pillows_limit_is_our_cap(client: TestClient, face_encoder: Any) -> None:
    """It answered Pillow's "could be decompression bomb DOS attack" with Pillow's own limit."""
    answer = embed(client, b64(png_claiming(20000, 20000)))
    assert answer.json()["message"] == (
        "image of 400000000 pixels is over the cap of 50000000 pixels"
    ), answer.text


def test_bad_images_in_points_search_and_verify(client: TestClient, face_encoder: Any) -> None:
    body = {"name": "faces", "encoder": "face-dlib", "index": {"type": "flat"}}
    assert client.post("/v1/collections", json=body).status_code == 201
    good = {"id": "ok", "input": b64(photo("img5.jpg"))}
    bad = {"id": "bg", "input": b64(faceless_photo())}
    r = client.put("/v1/collections/faces/points", json={"points": [good, bad]})
    assert_error(r, 422, "no_face", "points[1].input")
    assert client.get("/v1/collections/faces").json()["count"] == 0  # all or nothing
    query = {"query": {"input": b64(b"GIF89a")}, "k": 1}
    r = client.post("/v1/collections/faces/search", json=query)
    assert r.status_code == 422 and r.json()["code"] in ("not_an_image", "truncated_image")
    pair = {"a": b64(photo("img5.jpg")), "b": b64(faceless_photo())}
    assert_error(client.post("/v1/faces/verify", json=pair), 422, "no_face", "b")
    half = {"a": b64(photo("img5.jpg")), "b": {"collection": "faces"}}
    assert_error(client.post("/v1/faces/verify", json=half), 422, "validation_error")


def test_oversize_upload_is_413(make_client: Callable[..., TestClient], face_encoder: Any) -> None:
    client = make_client(max_body_bytes=50_000)
    files = [("files", ("big.jpg", photo("img11.jpg"), "image/jpeg"))]  # 56 kB
    assert_error(client.post("/v1/embed/upload", files=files), 413, "too_large")
    r = client.post("/v1/embed", json={"encoder": "face-dlib", "inputs": [b64(photo("img11.jpg"))]})
    assert_error(r, 413, "too_large")


def test_upload_form_errors(client: TestClient, face_encoder: Any) -> None:
    assert_error(
        client.post("/v1/embed/upload", data={"encoder": "face-dlib"}), 422, "validation_error"
    )
    files = [("files", ("x.txt", b"plain text", "text/plain"))]
    assert_error(client.post("/v1/embed/upload", files=files), 422, "not_an_image", "files[0]")
    body = {"name": "faces", "encoder": "face-dlib"}
    assert client.post("/v1/collections", json=body).status_code == 201
    files = [("files", ("a.jpg", photo("img5.jpg"), "image/jpeg"))]
    r = client.post("/v1/collections/faces/points/upload", files=files, data={"ids": ["a", "b"]})
    assert_error(r, 422, "invalid_request", "ids")
    # a misspelt or unknown form field is refused, as a JSON body's is (it was dropped)
    r = client.post("/v1/embed/upload", files=files, data={"encodr": "minilm"})
    assert_error(r, 422, "validation_error", "encodr")
    r = client.post("/v1/collections/faces/points/upload", files=files, data={"payload": "{}"})
    assert_error(r, 422, "validation_error", "payload")
    extra = [*files, ("file", ("b.jpg", photo("img5.jpg"), "image/jpeg"))]
    r = client.post("/v1/collections/faces/points/upload", files=extra)
    assert_error(r, 422, "validation_error", "file")
    # a bad file is named as the form sends it (it said `points[1].input`)
    bad = [*files, ("files", ("t.jpg", b"plain text", "image/jpeg"))]
    r = client.post("/v1/collections/faces/points/upload", files=bad)
    assert_error(r, 422, "not_an_image", "files[1]")
    assert client.get("/v1/collections/faces").json()["count"] == 0


def _found(client: TestClient, item: Any) -> Any:
    r = embed(client, item)
    assert r.status_code == 200, r.text
    return r.json()["items"][0]["faces"][0]["box"]


def test_base64_as_people_make_it_and_deep_greyscale(client: TestClient, face_encoder: Any) -> None:
    """`base64 photo.jpg` wraps at 76 characters, a data: URI has a prefix, the URL-safe
    alphabet swaps two characters: each was 422 invalid_base64. A 16-bit greyscale PNG came
    out white (no_face)."""
    raw = photo("img25.jpg")
    box = _found(client, b64(raw))
    import base64 as std

    encoded = std.b64encode(raw).decode()
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + "\n"
    for text in (
        wrapped,
        f"data:image/jpeg;base64,{encoded}",
        f"DATA:image/JPEG;BASE64,{encoded}",  # RFC 2397 reads these case-insensitively
        std.urlsafe_b64encode(raw).decode(),
    ):
        assert _found(client, {"image_b64": text}) == box
    grey = Image.open(io.BytesIO(raw)).convert("L")
    deep = Image.fromarray((np.asarray(grey, dtype=np.uint16) * 257).astype(np.uint16))
    buffer = io.BytesIO()
    deep.save(buffer, "PNG")
    assert deep.mode.startswith("I")
    assert _found(client, b64(buffer.getvalue()))


def test_over_a_thousand_files_meet_the_batch_limit_not_starlettes(
    make_client: Callable[..., TestClient], face_encoder: Any, tmp_path: Path
) -> None:
    """Starlette's 1,000-file cap answered 400 bad_request below NESTVEC_MAX_BATCH."""
    files = [("files", (f"{i}.txt", b"x", "text/plain")) for i in range(1001)]
    client = make_client()
    assert_error(client.post("/v1/embed/upload", files=files), 422, "not_an_image", "files[0]")
    body = {"name": "faces", "encoder": "face-dlib"}
    assert client.post("/v1/collections", json=body).status_code == 201
    ids = {"ids": [str(i) for i in range(1001)]}
    r = client.post("/v1/collections/faces/points/upload", files=files, data=ids)
    assert_error(r, 422, "not_an_image", "files[0]")
    small = make_client(tmp_path / "small", max_batch=1000)
    assert_error(small.post("/v1/embed/upload", files=files), 422, "limit_exceeded", "files")
