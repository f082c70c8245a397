"""The `Encoder` protocol and the shared post-processing every encoder goes through."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

from encoders.errors import EmptyInput, InvalidDimension, InvalidInput
from nestvec.text import is_unicode

Modality = Literal["text", "image", "graph"]


@runtime_checkable
class Encoder(Protocol):
    """What the service and the offline builds need from any encoder."""

    name: str
    modality: Modality
    dim: int
    nested_dims: tuple[int, ...]

    def encode(self, inputs: Sequence[Any], *, dim: int | None = None, **opts: Any) -> np.ndarray:
        """Float32 array of shape (n, dim or self.dim), L2-normalised after truncation."""
        ...

    def count_tokens(self, inputs: Sequence[Any]) -> int:
        """Number of model tokens the inputs cost (for usage reporting)."""
        ...


@runtime_checkable
class ItemEncoder(Protocol):
    """Optional: an encoder that also reports something per input (the MoE's chosen domain, the
    faces found in an image). `POST /v1/embed` returns those dicts as `items`."""

    def encode_items(
        self, inputs: Sequence[Any], *, dim: int | None = None, **opts: Any
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Vectors as `encode` gives them, plus one JSON-ready dict per input."""
        ...


@dataclass(frozen=True)
class Part:
    """One of several things an input holds (a face in a photo): its vector and what to store."""

    vector: np.ndarray  # float32, L2-normalised, as `encode` gives them
    payload: dict[str, Any]


@runtime_checkable
class PartEncoder(Protocol):
    """Optional: an encoder whose inputs hold several things to index (the faces of a photo).

    A point upserted (or ingested) from such an input becomes one point per part, with id
    `{id}#{i}` and the part's payload merged into the point's.
    """

    def encode_parts(
        self, inputs: Sequence[Any], *, dim: int | None = None, **opts: Any
    ) -> list[list[Part]]:
        """The parts of each input, most prominent first; raises if an input has none."""
        ...


class BaseEncoder:
    """Template: subclasses implement `_encode`; truncation and normalisation live here.

    `nested_dims` lists the Matryoshka prefixes that may be used alone, full dimension included;
    a model that is not Matryoshka-trained declares only its full dimension.
    """

    name: ClassVar[str]
    modality: ClassVar[Modality]
    dim: int
    nested_dims: tuple[int, ...]
    # Trained encoders take a `models_dir` argument (DATA_DIR/models); the pool passes it.
    # Per-request options the encoder understands (the MoE: "domain"); the service refuses
    # others with a 422 and calls `check_<option>(value)` when the encoder defines it.
    request_options: ClassVar[tuple[str, ...]] = ()
    # Those of them that may also be one value per input (a list as long as the inputs): the
    # batch handler then merges requests that differ only in these into one model call.
    per_input_options: ClassVar[tuple[str, ...]] = ()
    # Constructor options (NESTVEC_ENCODER_OPTIONS) with a closed set of values: checked when
    # `nestvec serve` starts instead of failing each request once the model loads.
    option_choices: ClassVar[dict[str, tuple[Any, ...]]] = {}

    @classmethod
    def describe_extra(cls, models_dir: Path | None) -> dict[str, Any]:
        """More for `GET /v1/encoders` (artifact status, domains...); class-level, loads nothing."""
        return {}

    @classmethod
    def artifact_fingerprint(cls, models_dir: Path | None = None) -> str:
        """What the vectors would come from if loaded now, hashed; loads no model.

        Default: the trained artifact that `describe_extra` names (weights and configs hashed),
        else the encoder's name alone (an encoder whose weights ship with a package).
        """
        from encoders.artifacts import file_sha256, fingerprint, folder_fingerprint

        artifact = cls.describe_extra(models_dir).get("artifact") or {}
        path = Path(artifact["path"]) if artifact.get("path") else None
        if path is not None and path.is_dir() and artifact.get("available"):
            return folder_fingerprint(f"encoder:{cls.name}", path)
        if path is not None and path.is_file():
            return fingerprint(f"encoder:{cls.name}", file_sha256(path))
        return fingerprint(f"encoder:{cls.name}")

    @property
    def fingerprint(self) -> str:
        """The fingerprint of what this instance loaded: set by `__init__` or computed once.

        Immutable after load (a retrained artifact is served only after a restart), so caching
        it on the instance keeps no per-call state.
        """
        cached = self.__dict__.get("_fingerprint")
        if cached is None:
            cached = type(self).artifact_fingerprint(getattr(self, "models_dir", None))
            self.__dict__["_fingerprint"] = cached
        return str(cached)

    def _encode(self, inputs: Sequence[Any], **opts: Any) -> np.ndarray:
        raise NotImplementedError

    def encode(self, inputs: Sequence[Any], *, dim: int | None = None, **opts: Any) -> np.ndarray:
        """Encode, truncate to a validated nested dimension, L2-normalise, return float32."""
        target = self.check_dim(dim)
        if len(inputs) == 0:
            raise EmptyInput("inputs must not be empty", field="inputs")
        vectors = np.asarray(self._encode(inputs, **opts), dtype=np.float32)
        return l2_normalise(vectors[:, :target])

    def check_dim(self, dim: int | None) -> int:
        """Return the output dimension for a requested `dim`, or raise naming the allowed values."""
        if dim is None:
            return self.dim
        if dim not in self.nested_dims:
            allowed = ", ".join(str(d) for d in self.nested_dims)
            raise InvalidDimension(
                f"encoder {self.name!r} cannot produce dim={dim}; allowed: {allowed}", field="dim"
            )
        return dim

    def count_tokens(self, inputs: Sequence[Any]) -> int:
        """Non-text encoders count one token per input."""
        return len(inputs)


def describe_encoder(encoder: Encoder | type, models_dir: Path | None = None) -> dict[str, Any]:
    """Public description for `GET /v1/encoders`; works on a class so listing loads no model."""
    extra = getattr(encoder, "describe_extra", None)
    return {
        "name": encoder.name,
        "modality": encoder.modality,
        "dim": encoder.dim,
        "nested_dims": list(encoder.nested_dims),
        **(extra(models_dir) if extra else {}),
    }


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation; zero rows stay zero instead of becoming NaN."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


# the message of an empty text: TEI's routes answer it as TEI does (400, error_type Empty)
EMPTY_TEXT = "text is empty (only whitespace or invisible characters)"


def check_texts(inputs: Sequence[Any]) -> list[str]:
    """Text encoders accept Unicode strings only; say which item is not one. The service runs
    this on the request side too, so one bad text never fails a model call shared with others
    (a tokenizer refuses a lone surrogate for the whole batch)."""
    for i, item in enumerate(inputs):
        if not isinstance(item, str):
            raise InvalidInput(f"expected a string, got {type(item).__name__}", f"inputs[{i}]")
        if not is_unicode(item):
            raise InvalidInput("text is not valid Unicode (a lone surrogate)", f"inputs[{i}]")
        if is_invisible(item):  # as OpenAI and TEI; offline builds skip such rows
            raise InvalidInput(EMPTY_TEXT, f"inputs[{i}]")
    return list(inputs)


# what BERT's tokenizer drops (controls, format characters: ZWSP, BOM, joiners, bidi marks;
# variation selectors) and splits on: a text of these alone is [CLS] [SEP], one vector for all
_DROPPED = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\xad\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\ufe00-\ufe0f\ufeff\ufffd"
)
_INVISIBLE = re.compile(f"[\\s{_DROPPED}]*")
_SEEN = re.compile(f"[^\\s{_DROPPED}]")
# and what its cleaning (other characters: controls, format, private use) and accent stripping
# (nonspacing marks, U+1734 among them before Unicode 14) drop; the few newer marks it does
# not know it reads as [UNK], again one vector for every such text
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Mn"})


def is_invisible(text: str) -> bool:
    """Whether the model would see nothing of `text` but [CLS] [SEP] (or [UNK])."""
    if _INVISIBLE.fullmatch(text):
        return True
    seen = _SEEN.search(text)  # nearly always a letter: one category look-up decides
    if seen is None or not _dropped(seen.group()):
        return False
    return all(_dropped(c) or _INVISIBLE.fullmatch(c) is not None for c in set(text))


def _dropped(char: str) -> bool:
    return char == "\u1734" or unicodedata.category(char) in _DROPPED_CATEGORIES


CLIP_CHARS_PER_TOKEN = 32  # far above any WordPiece average: shorter texts are never clipped
_CUT = re.compile(r"[ \t\n\r]")  # plain whitespace: no tokenizer joins words across it


def clip_texts(texts: list[str], seen_tokens: Callable[[str], int], max_tokens: int) -> list[str]:
    """Each text far longer than the model reads cut, at a whitespace, to a head that fills the
    model's window by itself: the tokens the model sees are the same, and a 10 MB text no longer
    takes the tokenizer 20 s. `seen_tokens(text)` counts what the model sees (truncated)."""
    limit = max_tokens * CLIP_CHARS_PER_TOKEN
    return [text if len(text) <= limit else _clip(text, seen_tokens, max_tokens) for text in texts]


def _clip(text: str, seen_tokens: Callable[[str], int], max_tokens: int) -> str:
    limit, squeezed = max_tokens * CLIP_CHARS_PER_TOKEN, False
    while limit < len(text):
        head = text[: _cut(text, limit)]
        if seen_tokens(head) >= max_tokens:
            return head
        if not squeezed:  # few tokens in many characters: long runs of one kind, squeezed once
            text, squeezed = _squeeze(text), True
            continue
        limit *= 4  # mostly whitespace or long words: look further
    return text


def _runs(chars: str, at_least: int = 1024) -> re.Pattern[str]:
    """Runs of `chars` (a character class body) at least `at_least` long, found from their
    start only (a scan that retried inside each run was quadratic)."""
    return re.compile(f"(?<![{chars}])[{chars}]{{{at_least},}}")


# Runs that tokenize the same however long they are (10 MB of one took the tokenizer 15-20 s,
# each time a text was counted or encoded): a run of letters and digits (never dropped, never
# split on; CJK ideographs are words of their own), or of emoji, is one word past WordPiece's
# 100 characters, [UNK] at any length; a run of whitespace is one split; dropped characters
# are dropped. Each is squeezed to a length that tokenizes the same.
_LONG_WORD = _runs("^\\W_\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f")
_LONG_EMOJI = _runs("\U0001f000-\U0001faff")
_LONG_SPACE = _runs(" \t\n\r\xa0\u1680\u2000-\u200a\u202f\u205f\u3000")
_LONG_DROPPED = _runs(_DROPPED)


def _squeeze(text: str) -> str:
    text = _LONG_SPACE.sub(" ", _LONG_DROPPED.sub("", text))
    for runs in (_LONG_WORD, _LONG_EMOJI):
        text = runs.sub(lambda run: run.group()[:512], text)
    return text


# where BERT's basic tokenizer ends a word with no plain whitespace: ASCII punctuation, other
# space separators, CJK punctuation and ideographs (a word each). Not control characters (it
# drops them, joining their neighbours) nor other symbols (they join letters).
_SPLIT = re.compile(
    "[!-/:-@\\[-`{-~\xa0\u1680\u2000-\u200a\u202f\u205f\u3000-\u303f"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
)


def _cut(text: str, limit: int) -> int:
    """Where to cut past `limit`: the next plain whitespace; in text without any (CJK, a dump
    without spaces: it took 20 s and 5 GB whole), after the last split point before `limit`.
    A run of word characters longer than any word the tokenizer reads is cut where it is."""
    if (space := _CUT.search(text, limit, limit + 1024)) is not None:
        return space.start()
    splits = list(_SPLIT.finditer(text, max(0, limit - 256), limit))
    return splits[-1].end() if splits else limit
