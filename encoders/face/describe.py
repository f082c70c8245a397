"""Landmarks, aligned chip and the 128-d dlib ResNet descriptor of each detected face."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from encoders.face.detect import Detection
from encoders.face.models import DESCRIPTOR, SHAPE_PREDICTOR, import_dlib, model_path

CHIP_SIZE = 150  # what the ResNet descriptor was trained on
CHIP_PADDING = 0.25


@dataclass(frozen=True)
class Face:
    """One face: where it is, its 5 landmark points, and its raw (unnormalised) descriptor."""

    detection: Detection
    landmarks: list[tuple[int, int]]
    descriptor: np.ndarray  # float32 (128,); dlib's 0.6 threshold is on these distances


class Describer:
    """5-point shape predictor + face chip + ResNet descriptor (models load once)."""

    def __init__(self) -> None:
        self._dlib = import_dlib()
        self._shapes = self._dlib.shape_predictor(str(model_path(SHAPE_PREDICTOR)))
        self._net = self._dlib.face_recognition_model_v1(str(model_path(DESCRIPTOR)))

    def describe(
        self, image: np.ndarray, detections: list[Detection], num_jitters: int
    ) -> list[Face]:
        """One Face per detection, in the order given."""
        if not detections:
            return []
        dlib = self._dlib
        shapes = [self._shapes(image, dlib.rectangle(*d.box)) for d in detections]
        chips = [dlib.get_face_chip(image, s, CHIP_SIZE, CHIP_PADDING) for s in shapes]
        # Jitter (random crops/flips, averaged) trades time for a steadier descriptor.
        n = max(num_jitters, 1)
        crops = [crop for chip in chips for crop in jittered(dlib, chip, n)] if n > 1 else chips
        raw = np.asarray(self._net.compute_face_descriptor(crops, 1), dtype=np.float64)
        descriptors = raw.reshape(len(chips), n, -1).mean(axis=1)
        return [
            Face(d, [(p.x, p.y) for p in s.parts()], np.asarray(v, dtype=np.float32))
            for d, s, v in zip(detections, shapes, descriptors, strict=True)
        ]


# dlib's jitter_image: the face box less 3 px each side, moved up to 2% of its size, scaled to
# 0.97-1.0 of the crop, turned up to 3 degrees, half of the crops mirrored
JITTER_SHIFT, JITTER_SCALE, JITTER_DEGREES = 0.02, (0.97, 0.99999), 3.0
JITTER_SEED = 0


def jittered(dlib: Any, chip: np.ndarray, n: int) -> list[np.ndarray]:
    """`n` random crops of a face chip as dlib's jitter_image makes them, drawn the same way on
    every call: dlib draws them from one generator kept on the shared model, so a face's
    vector depended on what the server had encoded before it."""
    rng = np.random.default_rng(JITTER_SEED)
    rows, cols = chip.shape[:2]
    width, height = cols - 6, rows - 6
    crops = []
    for _ in range(n):
        dx, dy = rng.uniform(-JITTER_SHIFT, JITTER_SHIFT, 2) * (width, height)
        box = height / rng.uniform(*JITTER_SCALE)
        x, y = (cols - 1) / 2 + dx, (rows - 1) / 2 + dy
        rect = dlib.drectangle(x - box / 2, y - box / 2, x + box / 2, y + box / 2)
        angle = np.deg2rad(rng.uniform(-JITTER_DEGREES, JITTER_DEGREES))
        details = dlib.chip_details(rect, dlib.chip_dims(rows, cols), angle)
        crop = dlib.extract_image_chip(chip, details)
        crops.append(np.ascontiguousarray(crop[:, ::-1]) if rng.random() > 0.5 else crop)
    return crops
