"""The ONNX Runtime backends of `minilm` agree with the torch model and serve over REST."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import DATA

from encoders import EncoderPool
from encoders.minilm import MiniLMEncoder
from service.app import create_app
from service.settings import Settings


def scifact_texts(n: int) -> list[str]:
    with (DATA / "scifact" / "corpus.jsonl").open() as lines:
        docs = [json.loads(next(lines)) for _ in range(n)]
    return [f"{d['title']} {d['text']}" for d in docs]


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def int8_encoder(onnx_dir: Path) -> MiniLMEncoder:
    return MiniLMEncoder(backend="onnx-int8", onnx_dir=onnx_dir)


def test_int8_vectors_match_torch(encoder_pool: EncoderPool, int8_encoder: MiniLMEncoder) -> None:
    texts = scifact_texts(48)  # long abstracts: cut at 256 tokens by both backends
    reference = encoder_pool.get("minilm").encode(texts)
    vectors = int8_encoder.encode(texts)
    cosines = (reference * vectors).sum(axis=1)
    assert vectors.shape == (48, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert cosines.mean() >= 0.99 and cosines.min() >= 0.98, cosines.min()
    assert int8_encoder.count_tokens(texts) == encoder_pool.get("minilm").count_tokens(texts)


def scifact_sentences(n: int) -> list[str]:
    """The first `n` sentences of SciFact's abstracts: short texts, where int8 errs most."""
    out: list[str] = []
    with (DATA / "scifact" / "corpus.jsonl").open() as lines:
        for line in lines:
            doc = json.loads(line)
            out += [s.strip() for s in doc["text"].split(". ") if len(s.strip()) >= 20]
            if len(out) >= n:
                return out[:n]
    return out


def nfcorpus_queries(n: int) -> list[str]:
    """NFCorpus queries: a few words each (some of 3 tokens), int8's hardest domain here."""
    with (DATA / "nfcorpus" / "queries.jsonl").open() as lines:
        return [json.loads(line)["text"] for _, line in zip(range(n), lines, strict=False)]


def test_int8_short_texts_keep_cosine_0_99(
    encoder_pool: EncoderPool, int8_encoder: MiniLMEncoder, onnx_dir: Path
) -> None:
    """Plain dynamic int8 dropped to 0.955 on short queries; the shipped export holds 0.99."""
    import onnx

    texts = scifact_sentences(400) + nfcorpus_queries(600)
    cosines = (encoder_pool.get("minilm").encode(texts) * int8_encoder.encode(texts)).sum(axis=1)
    assert cosines.min() >= 0.99, (cosines.min(), texts[int(cosines.argmin())])
    folder = onnx_dir / "onnx-int8"
    card = json.loads((folder / "onnx.json").read_text())
    assert card["smoothing"]["outlier_ratio"] == 6.0
    graph = onnx.load(str(folder / "model.onnx")).graph
    floats = [n.name for n in graph.node if n.op_type == "MatMul" and "outliers" in n.name]
    assert floats, "the outlier channels' MatMuls stay float"


def test_int8_preparation_keeps_the_float_model() -> None:
    """Smoothing and the outlier split move work between paths: the float outputs stay put."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from encoders.minilm import minilm_path
    from encoders.onnx_smoothing import OutlierSplitLinear, ScaledLinear, prepare_for_int8

    tokenizer = AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)
    model = AutoModel.from_pretrained(minilm_path(), local_files_only=True).eval()
    batch = tokenizer(scifact_sentences(8), padding=True, return_tensors="pt")
    with torch.inference_mode():
        before = model(**batch).last_hidden_state
        split = prepare_for_int8(model, tokenizer)
        after = model(**batch).last_hidden_state
    layer = model.encoder.layer[0]
    assert isinstance(layer.intermediate.dense, ScaledLinear)
    assert not torch.allclose(layer.intermediate.dense.inverse, torch.ones(1))
    # MiniLM's first layers carry one or two huge GELU channels on [CLS]; the later ones none
    down = layer.output.dense
    assert isinstance(down, OutlierSplitLinear) and 1 <= len(down.channels) <= 4
    assert 1 <= split < len(model.encoder.layer)
    assert torch.allclose(before, after, atol=1e-4, rtol=1e-4)


def test_export_describes_itself_and_is_reused(int8_encoder: MiniLMEncoder, tmp_path: Path) -> None:
    from encoders.minilm import minilm_path
    from encoders.onnx_backend import export_onnx

    target = export_onnx(minilm_path(), tmp_path, quantize=False)
    card = json.loads((tmp_path / "onnx.json").read_text())
    assert card["quantized"] is False and card["pooling"] == "mean"
    stamp = target.stat().st_mtime_ns
    assert export_onnx(minilm_path(), tmp_path, quantize=False).stat().st_mtime_ns == stamp


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        MiniLMEncoder(backend="tensorrt")


def test_backend_is_chosen_per_encoder_in_settings(tmp_path: Path) -> None:
    options = {"minilm": {"backend": "onnx-int8", "onnx_dir": str(tmp_path / "onnx")}}
    settings = Settings(data_dir=tmp_path / "data", preload_encoders=[], encoder_options=options)
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/embed", json={"encoder": "minilm", "inputs": ["int8 on CPU"]})
        assert r.status_code == 200, r.text
        assert len(r.json()["embeddings"][0]) == 384
    assert (tmp_path / "onnx" / "onnx-int8" / "model.onnx").exists()
