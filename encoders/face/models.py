"""Where dlib's model files are: the `face-recognition-models` package's data folder.

Found with `find_spec` and never imported: that package's `__init__` needs pkg_resources.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from encoders.errors import ArtifactMissing

PACKAGE = "face_recognition_models"
SHAPE_PREDICTOR = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"


def model_path(filename: str) -> Path:
    """Path of one of the packaged .dat files, or ArtifactMissing naming the pip package."""
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "models" / filename
        if path.is_file():
            return path
    raise ArtifactMissing(
        f"{filename} not found; install it with: pip install 'nestvec[face]'", "encoder"
    )


def import_dlib() -> Any:
    """The `dlib` module, or an ImportError that names the package to install."""
    try:
        import dlib
    except ImportError as exc:
        message = "face-dlib needs dlib: pip install 'nestvec[face]'"
        raise ImportError(message, name=exc.name) from exc
    return dlib
