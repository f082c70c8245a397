"""The ONNX Runtime backends of `minilm` agree with the torch model and serve over REST; the
int8 one is the default where it is the faster, and its export is cached once per machine."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from support import DATA, ROOT

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


@pytest.fixture(scope="module")
def torch_encoder() -> MiniLMEncoder:
    return MiniLMEncoder(backend="torch")


def test_int8_vectors_match_torch(
    torch_encoder: MiniLMEncoder, int8_encoder: MiniLMEncoder
) -> None:
    texts = scifact_texts(48)  # long abstracts: cut at 256 tokens by both backends
    reference = torch_encoder.encode(texts)
    vectors = int8_encoder.encode(texts)
    cosines = (reference * vectors).sum(axis=1)
    assert vectors.shape == (48, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert cosines.mean() >= 0.99 and cosines.min() >= 0.98, cosines.min()
    assert int8_encoder.count_tokens(texts) == torch_encoder.count_tokens(texts)


def test_int8_vector_of_a_text_does_not_depend_on_its_batch(int8_encoder: MiniLMEncoder) -> None:
    """Dynamic int8 takes one activation range per model call: batched with longer texts, a text
    moved by cosine 0.995. One text per call keeps its vector whatever else is encoded."""
    texts = scifact_texts(6)  # long abstracts
    short = "a cat sits on the mat"
    alone = int8_encoder.encode([short])[0]
    with_others = int8_encoder.encode([texts[0], short, *texts[1:]])[1]
    np.testing.assert_allclose(with_others, alone, atol=1e-6)


def test_int8_calls_share_the_tokenizer_safely(int8_encoder: MiniLMEncoder) -> None:
    """Per-text calls tokenise with the settings every other call uses (a fast tokenizer keeps
    them on one shared object), and concurrent mixed calls give each text its vector alone."""
    from concurrent.futures import ThreadPoolExecutor

    backend = int8_encoder.tokenizer.backend_tokenizer
    int8_encoder.count_tokens(["a cat"])
    settings = (backend.padding, backend.truncation)
    texts = [*scifact_texts(4), "a cat", "dogs bark at night", "rain"]
    alone = np.vstack([int8_encoder.encode([t]) for t in texts])
    assert (backend.padding, backend.truncation) == settings
    jobs = [[texts[i], texts[(i + 3) % len(texts)]] for i in range(len(texts))] * 3
    with ThreadPoolExecutor(6) as pool:  # encodes and token counts interleaved
        encoded = [pool.submit(int8_encoder.encode, job) for job in jobs]
        counted = [pool.submit(int8_encoder.count_tokens, job) for job in jobs]
        answers = [f.result() for f in encoded]
        counts = [f.result() for f in counted]
    for job, got, count in zip(jobs, answers, counts, strict=True):
        want = alone[[texts.index(t) for t in job]]
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert count == int8_encoder.count_tokens(job)


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
    torch_encoder: MiniLMEncoder, int8_encoder: MiniLMEncoder, onnx_dir: Path
) -> None:
    """Plain dynamic int8 dropped to 0.955 on short queries (0.972 one text per call); the shipped
    export holds 0.99."""
    import onnx

    texts = scifact_sentences(400) + nfcorpus_queries(600)
    cosines = (torch_encoder.encode(texts) * int8_encoder.encode(texts)).sum(axis=1)
    assert cosines.min() >= 0.99, (cosines.min(), texts[int(cosines.argmin())])
    (folder,) = [card.parent for card in onnx_dir.glob("*/onnx.json")]
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
    from encoders.onnx_export import cached_export

    target = cached_export(minilm_path(), tmp_path, quantize=False)
    card = json.loads((target.parent / "onnx.json").read_text())
    assert card["quantized"] is False and card["pooling"] == "mean"
    stamp = target.stat().st_mtime_ns
    assert cached_export(minilm_path(), tmp_path, quantize=False).stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [target.parent.name]  # no partial left


def test_partial_exports_left_by_a_kill_are_swept(
    onnx_dir: Path, int8_encoder: MiniLMEncoder
) -> None:
    import os
    import time

    from encoders.minilm import minilm_path
    from encoders.onnx_export import PARTIAL_TTL_S, cached_export

    stale, live = onnx_dir / ".0123abcd-dead", onnx_dir / ".0123abcd-busy"
    for partial in (stale, live):
        partial.mkdir()
        (partial / "model-raw.onnx").write_bytes(b"half an export")
    old = time.time() - PARTIAL_TTL_S - 60
    os.utime(stale, (old, old))
    cached_export(minilm_path(), onnx_dir, quantize=True)  # the cached one: nothing re-exported
    assert not stale.exists() and live.exists()  # an export in progress is left alone
    shutil.rmtree(live)


EXPORT = """
import json, sys
from encoders.minilm import MiniLMEncoder
encoder = MiniLMEncoder()
print(json.dumps({"backend": encoder.backend, "vector": encoder.encode(["a cat"])[0].tolist()}))
"""


def test_default_is_int8_exported_once_by_concurrent_processes(tmp_path: Path) -> None:
    """Two servers starting together on a cold cache both load, and share one export."""
    from encoders.onnx_backend import cpu_has_amx

    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}  # the cache: ~/.cache/nestvec
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", EXPORT], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [json.loads(run.communicate(timeout=300)[0].splitlines()[-1]) for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert {out["backend"] for out in outs} == {"torch" if cpu_has_amx() else "onnx-int8"}
    if not cpu_has_amx():
        (folder,) = (tmp_path / ".cache" / "nestvec" / "onnx").iterdir()  # one, no partial left
        assert (folder / "model.onnx").exists() and folder.stat().st_mode & 0o055
    np.testing.assert_allclose(outs[0]["vector"], outs[1]["vector"], atol=1e-6)


def test_unwritable_cache_exports_into_a_temporary_folder(tmp_path: Path) -> None:
    """A cache that cannot be created (here a file stands in its way; in an image, a read-only
    filesystem) costs an export per start, not a failed load."""
    from encoders.minilm import minilm_path
    from encoders.onnx_backend import OnnxTextModel

    (tmp_path / "cache").write_text("not a folder")
    model = OnnxTextModel(minilm_path(), False, 256, tmp_path / "cache" / "onnx")
    assert model.encode(["a cat"]).shape == (1, 384)
    assert (tmp_path / "cache").read_text() == "not a folder"


def test_a_precision_or_device_asks_for_torch() -> None:
    """float32 means float32: an explicit torch precision never lands on int8."""
    assert MiniLMEncoder(precision="float32").backend == "torch"
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        MiniLMEncoder(precision="int4")


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
    assert list((tmp_path / "onnx").glob("*/model.onnx"))
