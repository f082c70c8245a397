"""Bytes (or a base64 object, or a PIL image) to an upright RGB array, safely.

The real format is sniffed from the content (a WebP named .jpg is still a WebP); the pixel cap
is checked on the header, before any pixel is decoded, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from typing import Any

import numpy as np

from encoders.errors import InvalidInput
from encoders.face.errors import (
    ImageTooLarge,
    InvalidBase64,
    NotAnImage,
    TruncatedImage,
    UnsupportedImageFormat,
)

# Formats Pillow sniffs that make sense for photos; others (EPS needs Ghostscript, ICO...) are
# refused rather than half-supported.
FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF", "MPO"})
DEFAULT_MAX_PIXELS = 50_000_000


def image_bytes(item: Any, field: str) -> Any:
    """The encoded image of one input: raw bytes, `{"image_b64": ...}`, or a PIL image as is."""
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    if isinstance(item, dict):
        b64 = item.get("image_b64")
        if not isinstance(b64, str):
            raise InvalidInput("expected an object with an 'image_b64' string", field)
        # as people make it: `base64 photo.jpg` wraps lines, a data: URI has a prefix, and the
        # URL-safe alphabet swaps two characters
        text = "".join(b64.split())
        start = text.lower().rfind(";base64,")  # RFC 2397: `DATA:...;BASE64,` is the same URI
        text = text if start < 0 else text[start + len(";base64,") :]
        try:
            return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            message = "image_b64 is not valid base64 (the standard or URL-safe alphabet)"
            raise InvalidBase64(message, f"{field}.image_b64") from None
    if _is_pil_image(item):
        return item
    kind = type(item).__name__
    raise InvalidInput(f"expected {{'image_b64': ...}} or image bytes, got {kind}", field)


def decode_image(data: Any, field: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An upright (EXIF-rotated) RGB uint8 array of shape (h, w, 3)."""
    from PIL import ImageOps

    image = data if _is_pil_image(data) else _open(data, field, max_pixels)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image of {width}x{height} pixels is over the cap of {max_pixels} pixels", field
        )
    try:
        image.load()
        upright = _eight_bit(ImageOps.exif_transpose(image))
        return np.asarray(upright.convert("RGB"), dtype=np.uint8)
    except Exception as exc:  # OSError "truncated" mostly; fuzzed files raise anything
        raise TruncatedImage(f"image data is truncated or corrupt ({exc})", field) from None


def _eight_bit(image: Any) -> Any:
    """16-bit, 32-bit and float greyscale scaled into 0-255: Pillow's RGB conversion clips them
    (a 16-bit photo came out white, and no face was found)."""
    if image.mode not in ("I", "F") and not image.mode.startswith("I;16"):
        return image
    from PIL import Image

    pixels = np.asarray(image, dtype=np.float64)
    low, high = float(pixels.min()), float(pixels.max())
    scaled = (pixels - low) * (255.0 / (high - low)) if high > low else np.zeros_like(pixels)
    return Image.fromarray(scaled.round().astype(np.uint8), mode="L")


def _open(data: bytes, field: str, max_pixels: int) -> Any:
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise NotAnImage("empty image", field)
    with warnings.catch_warnings():
        # Our own cap (checked by the caller) decides; Pillow's warning band would only log.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:  # past Pillow's own limit: said as ours
            pixels = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"image of {pixels.group(1)} pixels" if pixels else "image"
            raise ImageTooLarge(f"{size} is over the cap of {max_pixels} pixels", field) from None
        except UnidentifiedImageError:
            raise NotAnImage("not an image Pillow can identify", field) from None
        except Exception as exc:  # a plugin choked on a header it half-recognised
            raise TruncatedImage(f"image header is truncated or corrupt ({exc})", field) from None
    if image.format not in FORMATS:
        allowed = ", ".join(sorted(FORMATS))
        raise UnsupportedImageFormat(
            f"image format {image.format} is not supported; send one of {allowed}", field
        )
    return image


def _is_pil_image(item: Any) -> bool:
    from PIL import Image

    return isinstance(item, Image.Image)
