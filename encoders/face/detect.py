"""Face detectors (HOG by default, dlib's CNN optionally), registered by name.

Very large photos are shrunk for detection (HOG cost grows with pixels, and faces in them are
big anyway) and the boxes are mapped back to the original pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from encoders.face.models import CNN_DETECTOR, import_dlib, model_path


@dataclass(frozen=True)
class Detection:
    """A face box in original image pixels (left, top, right, bottom) and a detector score."""

    box: tuple[int, int, int, int]
    score: float

    @property
    def area(self) -> int:
        left, top, right, bottom = self.box
        return max(0, right - left) * max(0, bottom - top)


class Detector:
    """Finds faces in an RGB array; subclasses wrap one dlib detector."""

    def _detect(self, image: np.ndarray, upsample: int) -> list[tuple[Any, float]]:
        raise NotImplementedError

    def detect(self, image: np.ndarray, max_side: int, upsample: int) -> list[Detection]:
        """Boxes in `image`'s pixels, clipped to the image, best-scored first."""
        small, scale = _shrink(image, max_side)
        height, width = image.shape[:2]
        found = []
        for rect, score in self._detect(small, upsample):
            box = (
                max(0, round(rect.left() / scale)),
                max(0, round(rect.top() / scale)),
                min(width, round((rect.right() + 1) / scale)),
                min(height, round((rect.bottom() + 1) / scale)),
            )
            if box[2] > box[0] and box[3] > box[1]:
                found.append(Detection(box, float(score)))
        return sorted(found, key=lambda d: -d.score)


DETECTORS: dict[str, type[Detector]] = {}


def register_detector(name: str) -> Callable[[type[Detector]], type[Detector]]:
    def decorate(cls: type[Detector]) -> type[Detector]:
        DETECTORS[name] = cls
        return cls

    return decorate


@register_detector("hog")
class HogDetector(Detector):
    """dlib's HOG + linear SVM frontal detector: fast on CPU, misses small or turned faces."""

    def __init__(self) -> None:
        self._model = import_dlib().get_frontal_face_detector()

    def _detect(self, image: np.ndarray, upsample: int) -> list[tuple[Any, float]]:
        rects, scores, _ = self._model.run(image, upsample, 0.0)
        return list(zip(rects, scores, strict=True))


@register_detector("cnn")
class CnnDetector(Detector):
    """dlib's MMOD CNN detector: finds more faces (angles, small ones), far slower on CPU."""

    def __init__(self) -> None:
        dlib = import_dlib()
        self._model = dlib.cnn_face_detection_model_v1(str(model_path(CNN_DETECTOR)))

    def _detect(self, image: np.ndarray, upsample: int) -> list[tuple[Any, float]]:
        return [(d.rect, d.confidence) for d in self._model(image, upsample)]


def _shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image scaled so its longer side is at most `max_side`, and the scale used."""
    from PIL import Image

    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale == 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(image).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small), scale
