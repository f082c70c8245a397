"""The server never imports training code nor optional extras' packages; config flows one way.

Each check runs in a fresh interpreter: this session's sys.modules holds whatever other tests
imported.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

from encoders.artifacts import default_models_dir
from service.commands import train

TRAINING = (
    "encoders.moe.train",
    "encoders.moe.data",
    "encoders.graph.training",
    "encoders.graph.sage_baseline",
    "encoders.mrl.finetune",
    "encoders.mrl.pairs",
    "encoders.mrl.train_cli",
    "encoders.moe.train_cli",
    "encoders.graph.train_cli",
)
# packages of the extras that the serving path must not import itself (sentence-transformers,
# a base dependency, imports scipy, and pyarrow when it is installed, on its own account)
OPTIONAL = ("torch_geometric", "dlib", "face_recognition_models", "ray", "pymilvus")

SERVE_AND_EMBED = """
import json, sys, tempfile
from pathlib import Path
from fastapi.testclient import TestClient
from service.app import create_app
from service.settings import Settings

settings = Settings(data_dir=Path(tempfile.mkdtemp()), preload_encoders=[])
with TestClient(create_app(settings)) as client:
    assert client.get("/v1/encoders").status_code == 200
    r = client.post("/v1/embed", json={"encoder": "minilm", "inputs": ["a cat"]})
    assert r.status_code == 200, r.text
    body = {"name": "docs", "encoder": "minilm"}
    assert client.post("/v1/collections", json=body).status_code == 201
    points = {"points": [{"id": "1", "text": "a cat on a mat"}]}
    assert client.put("/v1/collections/docs/points", json=points).status_code == 200
    r = client.post("/v1/collections/docs/search", json={"query": {"text": "kitten"}, "k": 1})
    assert r.status_code == 200, r.text
print(json.dumps(sorted(sys.modules)))
"""

CLI_PARSER = """
import json, sys
from service.cli import main
try:
    main(["serve", "--help"])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(script: str) -> set[str]:
    """The modules a fresh interpreter has imported after running `script`."""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def offending(loaded: set[str]) -> list[str]:
    roots = {m.split(".")[0] for m in loaded}
    return sorted({*loaded.intersection(TRAINING), *roots.intersection(OPTIONAL)})


def test_serving_text_imports_no_training_code_nor_extras() -> None:
    loaded = modules_after(SERVE_AND_EMBED)
    assert "encoders.minilm" in loaded  # it did load the model it served
    assert offending(loaded) == []


def test_the_cli_imports_a_trainer_only_for_nestvec_train() -> None:
    assert offending(modules_after(CLI_PARSER)) == []


def test_train_family_parses_its_own_arguments() -> None:
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    args = parser.parse_args(["moe", "--out", "somewhere"])
    assert args.family == "moe" and args.out == Path("somewhere") and callable(args.train)


def test_models_dir_comes_from_settings_not_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NESTVEC_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert default_models_dir() == Path("data") / "models"  # the encoders package reads no env
    seen: list[Path] = []
    args = argparse.Namespace(
        out=None, models_dir=None, data_dir=None, train=lambda a: seen.append(a.models_dir) or 0
    )
    assert train.run(args) == 0
    assert seen == [tmp_path / "elsewhere"]  # `nestvec train` resolves it through Settings


def test_graph_text_features_load_the_text_encoder_once() -> None:
    from encoders.graph.features import encode_texts, text_encoder

    first, second = encode_texts(["a cat"]), encode_texts(["a dog"])
    assert first.shape == second.shape == (1, 384)
    assert text_encoder() is text_encoder()  # one loaded MiniLM, not a fresh pool per call
