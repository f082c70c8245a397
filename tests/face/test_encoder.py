"""face-dlib on real photos: identities separate, boxes fit, EXIF orientation is honoured."""

from __future__ import annotations

import io
from itertools import combinations
from typing import Any

import numpy as np
from face_photos import KNOWN, b64, jpeg, photo
from PIL import Image

from encoders import encoder_class
from encoders.base import ItemEncoder, PartEncoder, describe_encoder


def raw(items: list[dict[str, Any]]) -> np.ndarray:
    """Raw descriptors of the main faces: normalised vector times its norm."""
    faces = [item["faces"][0] for item in items]
    return np.stack([np.asarray(f["embedding"]) * f["descriptor_norm"] for f in faces])


def test_contract_and_description(face_encoder: Any) -> None:
    info = describe_encoder(encoder_class("face-dlib"))
    assert (info["modality"], info["dim"], info["nested_dims"]) == ("image", 128, [128])
    assert info["threshold"]["value"] == 0.6 and "cnn" in info["detectors"]
    assert isinstance(face_encoder, ItemEncoder) and isinstance(face_encoder, PartEncoder)


def test_same_person_closer_than_different_people(face_encoder: Any, identities: dict) -> None:
    names = [n for pair in KNOWN.values() for n in pair]
    vectors, items = face_encoder.encode_items([photo(n) for n in names])
    assert vectors.shape == (8, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    descriptors = raw(items)
    same, different = [], []
    for i, j in combinations(range(len(names)), 2):
        d = float(np.linalg.norm(descriptors[i] - descriptors[j]))
        (same if identities[names[i]] == identities[names[j]] else different).append(d)
    assert max(same) < min(different), (same, sorted(different)[:3])
    assert max(same) < 0.6 < min(different)  # dlib's threshold holds on these photos
    # `encode` gives the same main-face vectors as `encode_items`
    np.testing.assert_allclose(face_encoder.encode([photo(names[0])]), vectors[:1], atol=1e-6)


def test_boxes_and_landmarks_lie_inside_the_image(face_encoder: Any) -> None:
    names = ["img55.jpg", "img47.jpg"]  # img47 is a WebP named .jpg: sniffed, not trusted
    _, items = face_encoder.encode_items([photo(n) for n in names])
    for name, item in zip(names, items, strict=True):
        with Image.open(io.BytesIO(photo(name))) as image:
            assert (item["width"], item["height"]) == image.size
        for face in item["faces"]:
            left, top, right, bottom = face["box"]
            assert 0 <= left < right <= item["width"] and 0 <= top < bottom <= item["height"]
            assert len(face["landmarks"]) == 5
            for x, y in face["landmarks"]:
                assert left - 20 <= x <= right + 20 and top - 20 <= y <= bottom + 20
            assert face["score"] > 0 and len(face["embedding"]) == 128


def test_exif_rotated_copy_gives_the_same_vector(face_encoder: Any) -> None:
    """Pixels stored sideways with Orientation=6 ("rotate 90° clockwise to view") come back
    upright; the same copy with its EXIF stripped finds no upright face or another vector."""
    with Image.open(io.BytesIO(photo("img11.jpg"))) as image:
        upright = image.convert("RGB")
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    original = face_encoder.encode([jpeg(upright)])
    rotated, items = face_encoder.encode_items([jpeg(sideways, exif=exif.tobytes())])
    assert (items[0]["width"], items[0]["height"]) == upright.size
    assert float(original[0] @ rotated[0]) > 0.98
    box = items[0]["faces"][0]["box"]
    assert box[2] - box[0] < upright.size[0]  # a face box in upright coordinates


def test_per_image_options_and_cnn_detector(face_encoder: Any) -> None:
    data = jpeg(Image.open(io.BytesIO(photo("img25.jpg"))).convert("RGB"))
    hog = face_encoder.encode([b64(data)])
    cnn, items = face_encoder.encode_items([{**b64(data), "detector": "cnn", "num_jitters": 2}])
    assert items[0]["faces"][0]["score"] > 0
    assert float(hog[0] @ cnn[0]) > 0.95  # other box and jitter, same face
