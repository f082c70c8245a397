"""Landmarks, aligned chip and the 128-d dlib ResNet descriptor of each detected face."""

from __future__ import annotations

from dataclasses import dataclass

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
        descriptors = self._net.compute_face_descriptor(chips, num_jitters)
        return [
            Face(d, [(p.x, p.y) for p in s.parts()], np.asarray(v, dtype=np.float32))
            for d, s, v in zip(detections, shapes, descriptors, strict=True)
        ]
