"""`face-dlib`: every face in a photo as a 128-d dlib ResNet descriptor.

Inputs are `{"image_b64": ...}` objects (the REST contract) or raw image bytes (uploads and
offline builds). An input object may carry per-image options: `num_jitters` (1-100),
`detector` ("hog" or "cnn") and `max_faces` (at most the encoder's own cap).
`encode` gives one vector per image, its most prominent (largest) face; `encode_items`
reports every face; `encode_parts` makes one point per face.

Vectors are L2-normalised for cosine indexes; each face also carries `descriptor_norm`, so
the raw descriptor (`embedding * descriptor_norm`), on which dlib's Euclidean threshold of
0.6 is defined, can always be recovered.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from encoders.base import BaseEncoder, Modality, Part, l2_normalise
from encoders.errors import EmptyInput, InvalidInput
from encoders.face.decode import DEFAULT_MAX_PIXELS, decode_image, image_bytes
from encoders.face.describe import Describer, Face
from encoders.face.detect import DETECTORS, Detector
from encoders.face.errors import NoFace, TooManyFaces
from encoders.registry import register_encoder

DLIB_THRESHOLD = 0.6  # dlib's same-person cut on raw descriptor distance
MAX_JITTERS = 100
IMAGE_OPTIONS = frozenset({"image_b64", "num_jitters", "detector", "max_faces"})


@register_encoder("face-dlib")
class FaceEncoder(BaseEncoder):
    """dlib: HOG (or CNN) detection, 5-point alignment, ResNet-34 descriptor (99.38% on LFW)."""

    modality: ClassVar[Modality] = "image"
    dim = 128
    nested_dims = (128,)
    threshold = DLIB_THRESHOLD

    def __init__(
        self,
        detector: str = "hog",
        num_jitters: int = 1,
        max_faces: int = 20,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        detect_max_side: int = 800,
    ) -> None:
        self.defaults = {"detector": detector, "num_jitters": num_jitters, "max_faces": max_faces}
        self.max_faces, self.max_pixels = max_faces, max_pixels
        self.detect_max_side = detect_max_side
        self._check_options(self.defaults, "encoder")
        self._detectors: dict[str, Detector] = {detector: DETECTORS[detector]()}
        self._describer = Describer()
        self._lock = threading.Lock()  # dlib models are not documented as thread-safe

    @classmethod
    def describe_extra(cls, models_dir: Any) -> dict[str, Any]:
        return {
            "threshold": {"metric": "euclidean", "value": DLIB_THRESHOLD, "on": "raw descriptor"},
            "detectors": sorted(DETECTORS),
        }

    # the three views of one analysis -------------------------------------------------------
    def faces(self, inputs: Sequence[Any]) -> list[tuple[tuple[int, int], list[Face]]]:
        """(width, height) and the faces (largest first) of each input; raises on no face."""
        if len(inputs) == 0:
            raise EmptyInput("inputs must not be empty", field="inputs")
        return [self._analyse(item, f"inputs[{i}]") for i, item in enumerate(inputs)]

    def _encode(self, inputs: Sequence[Any], **opts: Any) -> np.ndarray:
        return np.stack([faces[0].descriptor for _, faces in self.faces(inputs)])

    def encode_items(
        self, inputs: Sequence[Any], *, dim: int | None = None, **opts: Any
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Main-face vectors, and per input every face with box, landmarks, score, vector."""
        self.check_dim(dim)
        analysed = self.faces(inputs)
        items = [
            {"width": size[0], "height": size[1], "faces": [face_dict(f) for f in faces]}
            for size, faces in analysed
        ]
        main = l2_normalise(np.stack([faces[0].descriptor for _, faces in analysed]))
        return main, items

    def encode_parts(
        self, inputs: Sequence[Any], *, dim: int | None = None, **opts: Any
    ) -> list[list[Part]]:
        """One part per face: its normalised vector, and box/landmarks/score as payload."""
        self.check_dim(dim)
        out = []
        for _, faces in self.faces(inputs):
            vectors = l2_normalise(np.stack([f.descriptor for f in faces]))
            pairs = enumerate(zip(faces, vectors, strict=True))
            out.append([Part(v, _payload(i, f)) for i, (f, v) in pairs])
        return out

    # one image -----------------------------------------------------------------------------
    def _analyse(self, item: Any, field: str) -> tuple[tuple[int, int], list[Face]]:
        options = {**self.defaults, **self._options_of(item, field)}
        image = decode_image(image_bytes(item, field), field, self.max_pixels)
        with self._lock:
            detector = self._detector(options["detector"])
            found = detector.detect(image, self.detect_max_side, 0)
            if not found:  # small faces: look again at twice the resolution
                found = detector.detect(image, self.detect_max_side, 1)
            if len(found) > options["max_faces"]:
                raise TooManyFaces(
                    f"{len(found)} faces found; at most {options['max_faces']} per image", field
                )
            found.sort(key=lambda d: (-d.area, -d.score))  # most prominent first
            faces = self._describer.describe(image, found, options["num_jitters"])
        if not faces:
            raise NoFace("no face found in the image", field)
        return (image.shape[1], image.shape[0]), faces

    def _detector(self, name: str) -> Detector:
        if name not in self._detectors:  # the CNN loads on first use only
            self._detectors[name] = DETECTORS[name]()
        return self._detectors[name]

    def _options_of(self, item: Any, field: str) -> dict[str, Any]:
        if not isinstance(item, dict):
            return {}
        unknown = set(item) - IMAGE_OPTIONS
        if unknown:
            known = ", ".join(sorted(IMAGE_OPTIONS))
            message = f"unknown image option {sorted(unknown)[0]!r}; known: {known}"
            raise InvalidInput(message, field)
        options = {k: v for k, v in item.items() if k != "image_b64"}
        self._check_options(options, field)
        return options

    def _check_options(self, options: dict[str, Any], field: str) -> None:
        detector = options.get("detector", "hog")
        if detector not in DETECTORS:
            known = ", ".join(sorted(DETECTORS))
            message = f"unknown detector {detector!r}; known: {known}"
            raise InvalidInput(message, f"{field}.detector")
        for name, high in (("num_jitters", MAX_JITTERS), ("max_faces", self.max_faces)):
            value = options.get(name, 1)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise InvalidInput(f"{name} must be an integer from 1 to {high}", f"{field}.{name}")


def face_dict(face: Face, with_embedding: bool = True) -> dict[str, Any]:
    """JSON form of a face: box [left, top, right, bottom], landmarks, score, vector, norm."""
    norm = float(np.linalg.norm(face.descriptor))
    out: dict[str, Any] = {
        "box": list(face.detection.box),
        "landmarks": [list(p) for p in face.landmarks],
        "score": round(face.detection.score, 4),
        "descriptor_norm": norm,
    }
    if with_embedding:
        out["embedding"] = (face.descriptor / max(norm, 1e-12)).tolist()
    return out


def _payload(i: int, face: Face) -> dict[str, Any]:
    """What a face point stores ("detection_score": a search hit has its own "score")."""
    out = face_dict(face, with_embedding=False)
    return {"face": i, "detection_score": out.pop("score"), **out}
