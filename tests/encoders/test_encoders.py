"""Contract tests over every registered encoder, plus minilm specifics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from support import DATA

from encoders import (
    ArtifactMissing,
    EmptyInput,
    EncoderNotFound,
    EncoderPool,
    InvalidDimension,
    InvalidInput,
    available_encoders,
)
from encoders.base import check_texts, is_invisible
from encoders.minilm import MiniLMEncoder, load_minilm
from encoders.onnx_backend import resolve_backend
from encoders.precision import resolve_precision

TEXTS = ["A cat sat on the mat.", "Stock markets fell sharply today.", "A kitten naps on a rug."]


def _photos() -> list[bytes]:
    """Three small real face photos (for image encoders)."""
    folder = DATA / "faces_deepface" / "images"
    if not folder.exists():
        pytest.skip("../shared/data/faces_deepface not present")
    return [(folder / name).read_bytes() for name in ("img5.jpg", "img51.jpg", "img62.jpg")]


# What the contract feeds an encoder of each modality.
SAMPLES: dict[str, Callable[[], list[Any]]] = {"text": lambda: TEXTS, "image": _photos}


@pytest.mark.parametrize("name", available_encoders())
def test_encoder_contract(name: str, encoder_pool: EncoderPool) -> None:
    try:
        encoder = encoder_pool.get(name)
    except ArtifactMissing as exc:  # a trained encoder without a fallback (tests/moe trains one)
        pytest.skip(exc.message)
    if encoder.modality not in SAMPLES:
        pytest.skip(f"no contract inputs for {encoder.modality} encoders yet")
    inputs = SAMPLES[encoder.modality]()
    vectors = encoder.encode(inputs)
    assert vectors.shape == (3, encoder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors, encoder.encode(inputs))  # deterministic
    assert encoder.dim in encoder.nested_dims


def test_minilm_is_semantic(encoder_pool: EncoderPool) -> None:
    cat, stocks, kitten = encoder_pool.get("minilm").encode(TEXTS)
    assert cat @ kitten > cat @ stocks + 0.3


def test_minilm_matches_sentence_transformers(encoder_pool: EncoderPool) -> None:
    """float32 gives sentence-transformers' vectors; the default runtime (int8 ONNX, or bfloat16
    torch on CPUs with AMX) vectors at cosine >= 0.99 to them."""
    encoder = encoder_pool.get("minilm")
    reference = load_minilm().encode(TEXTS, normalize_embeddings=True)
    exact = MiniLMEncoder(precision="float32")
    np.testing.assert_allclose(exact.encode(TEXTS), reference, atol=1e-5)
    assert encoder.backend == resolve_backend("auto")  # type: ignore[attr-defined]
    assert ((encoder.encode(TEXTS) * reference).sum(1) >= 0.99).all()
    torch_default = MiniLMEncoder(backend="torch")
    assert torch_default.precision == resolve_precision("auto")
    assert ((torch_default.encode(TEXTS) * reference).sum(1) >= 0.9999).all()


def test_invalid_dimension_names_allowed_values(encoder_pool: EncoderPool) -> None:
    with pytest.raises(InvalidDimension, match=r"cannot produce dim=128; allowed: 384"):
        encoder_pool.get("minilm").encode(TEXTS, dim=128)


def test_bad_inputs(encoder_pool: EncoderPool) -> None:
    encoder = encoder_pool.get("minilm")
    with pytest.raises(EmptyInput):
        encoder.encode([])
    with pytest.raises(InvalidInput) as info:
        encoder.encode(["ok", 3])
    assert info.value.field == "inputs[1]"


# the Basic Multilingual Plane, the tag characters and a private-use plane's edges
CODE_POINTS = [*range(0xD800), *range(0xE000, 0x10000), *range(0xE0000, 0xE0080), 0xF0000, 0x10FFFD]


def test_a_text_the_model_reads_as_nothing_is_refused(encoder_pool: EncoderPool) -> None:
    """Each character alone: refused exactly when the tokenizer keeps nothing of it or [UNK]
    (a combining mark, a tag or a private-use character was embedded as [CLS] [SEP])."""
    tokenizer = encoder_pool.get("minilm").tokenizer
    chars = [chr(c) for c in CODE_POINTS]
    kept = tokenizer(chars, add_special_tokens=False)["input_ids"]
    nothing = {(), (tokenizer.unk_token_id,)}
    wrong = [
        hex(ord(c)) for c, ids in zip(chars, kept, strict=True) if not ids and not is_invisible(c)
    ]
    wrong += [
        hex(ord(c))
        for c, ids in zip(chars, kept, strict=True)
        if is_invisible(c) and tuple(ids) not in nothing
    ]
    assert not wrong
    for text in ("\u0301", "\u0301 \u034f\u180e", "\U000e0041\ufff9", "\ue000" * 100_000):
        with pytest.raises(InvalidInput):
            check_texts(["ok", text])
    assert check_texts(["e\u0301", "\u0301a", "\u4e2d"]) == ["e\u0301", "\u0301a", "\u4e2d"]


def test_unknown_encoder_lists_known() -> None:
    with pytest.raises(EncoderNotFound, match="available: .*minilm"):
        EncoderPool().get("no-such-encoder")


def test_token_count_is_truncated_length(encoder_pool: EncoderPool) -> None:
    encoder = encoder_pool.get("minilm")
    assert encoder.count_tokens(["hello world"]) == 4  # [CLS] hello world [SEP]
    assert encoder.count_tokens(["word " * 1000]) == 256  # the model's max_seq_length


def _scifact_text(chars: int) -> str:
    lines = (DATA / "scifact" / "corpus.jsonl").read_text().splitlines()
    text = " ".join(lines)
    return (text * (chars // len(text) + 1))[:chars]


def test_a_text_far_past_the_window_is_clipped_to_the_same_tokens(
    encoder_pool: EncoderPool,
) -> None:
    """A multi-megabyte text is cut at a whitespace to a head that fills the model's window (the
    tokenizer read all of it first: 10 MB took 20 s); the model sees exactly the same tokens."""
    encoder = encoder_pool.get("minilm")
    big = _scifact_text(2_000_000)
    head = encoder._texts([big])[0]
    assert 256 * 8 < len(head) <= 256 * 32 + 100 and big.startswith(head)
    window = {"padding": True, "truncation": True, "max_length": 256}
    assert (
        encoder.tokenizer([big], **window)["input_ids"]
        == encoder.tokenizer([head], **window)["input_ids"]
    )
    assert encoder.count_tokens([big]) == 256
    both = encoder.encode([big, head])
    assert np.abs(both[0] - both[1]).max() < 1e-6
    # text without plain whitespace is cut too (CJK, a dump without spaces: 10 MB took 20 s
    # and 5 GB), never where the tokenizer joins across (a control character it drops, a
    # symbol), and always to the same tokens
    long_word = "a" * 9000 + " " + "word " * 2000  # the head at 8,192 chars is one [UNK]
    for text in (
        long_word,
        "中文文本" * 100_000,
        "ab." * 300_000,
        "x\x1cy" * 5000,
        "a" * 20000,
        "\u3000".join(["word"] * 4000),
        "€uro" * 5000,
    ):
        clipped = encoder._texts([text])[0]
        assert len(text) < 100_000 or len(clipped) <= 256 * 32
        assert encoder.tokenizer([clipped], **window) == encoder.tokenizer([text], **window)
    # long runs that tokenize the same at any length are squeezed (10 MB of one took 15-20 s,
    # on the event loop when /v1/embeddings counted tokens): a word past WordPiece's 100
    # characters is [UNK], whitespace splits once, dropped characters are dropped
    for text in (
        "a" * 1_000_000 + " the words after it " * 10,
        "\U0001f600" * 300_000 + " end",
        " " * 1_000_000 + "word" + "\t" * 5000 + "two",
        "\u200b" * 500_000 + "wo" + "\ufeff" * 3000 + "rd",
        ("é" * 2000 + ",") * 300 + "\u4e2d" * 3000,
    ):
        clipped = encoder._texts([text])[0]
        assert len(clipped) < len(text) // 4
        assert encoder.tokenizer([clipped], **window) == encoder.tokenizer([text], **window)
