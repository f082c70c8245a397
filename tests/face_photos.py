"""Known-face helpers for tests/face: small real photos from ../shared/data/faces_deepface."""

from __future__ import annotations

import base64
import io
from typing import Any

from support import DATA

FACES = DATA / "faces_deepface"
# Two small photos of each of four people (originals under 1,200 px: no resizing needed).
KNOWN = {
    "person_01": ("img5.jpg", "img11.jpg"),
    "person_03": ("img51.jpg", "img50.jpg"),
    "person_05": ("img62.jpg", "img16.jpg"),
    "person_10": ("img46.jpg", "img44.jpg"),
}


def photo(name: str) -> bytes:
    return (FACES / "images" / name).read_bytes()


def b64(data: bytes) -> dict[str, Any]:
    return {"image_b64": base64.b64encode(data).decode()}


def jpeg(image: Any, **save: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, **save)
    return buffer.getvalue()


def group_photo() -> bytes:
    """Three real faces side by side (img62, img16, img12: three different people)."""
    from PIL import Image

    parts = [Image.open(io.BytesIO(photo(n))).convert("RGB") for n in GROUP]
    sheet = Image.new("RGB", (sum(p.width for p in parts), max(p.height for p in parts)))
    x = 0
    for part in parts:
        sheet.paste(part, (x, 0))
        x += part.width
    return jpeg(sheet)


def faceless_photo() -> bytes:
    """A real photo's left quarter (img55): background, no face."""
    from PIL import Image

    image = Image.open(io.BytesIO(photo("img55.jpg"))).convert("RGB")
    return jpeg(image.crop((0, 0, image.width // 4, image.height)))


GROUP = ("img62.jpg", "img16.jpg", "img12.jpg")
