"""What an encoder's modality needs from a row: a check when reading, a loader when encoding.

One `InputKind` per modality in a registry: `check` turns the row's input fields into the value
kept in the record (or raises `Skip`); `load` turns that value into what `Encoder.encode` takes,
in whichever process encodes (local, worker process or Ray actor).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from nestvec.text import is_unicode


def json_kind(value: Any) -> str:
    """What JSON calls the type of a parsed value ("got NoneType" read as Python, not JSON)."""
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    kinds |= {list: "an array", dict: "an object", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


class Skip(Exception):
    """A row left out of the build; `reason` is the counter it goes to."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


class InputKind:
    """How rows feed one encoder modality."""

    modality: ClassVar[str]
    node_ids: ClassVar[bool] = False  # inputs are node ids: read from the id field by default

    @staticmethod
    def check(values: list[Any], fields: tuple[str, ...], base: Path, where: str) -> Any:
        """The record's input from the values of `fields`, or Skip naming the problem."""
        raise NotImplementedError

    @staticmethod
    def load(value: Any) -> Any:
        """What the encoder is given for a checked value."""
        return value


INPUT_KINDS: dict[str, type[InputKind]] = {}


def register_input(modality: str) -> Callable[[type[InputKind]], type[InputKind]]:
    """Class decorator registering how rows feed encoders of `modality`."""

    def decorate(cls: type[InputKind]) -> type[InputKind]:
        cls.modality = modality
        INPUT_KINDS[modality] = cls
        return cls

    return decorate


@register_input("text")
class TextInput(InputKind):
    """One text field, or several joined by a space (e.g. `title,text`)."""

    @staticmethod
    def check(values: list[Any], fields: tuple[str, ...], base: Path, where: str) -> Any:
        for field, value in zip(fields, values, strict=True):
            if value is not None and not isinstance(value, str):
                kind = json_kind(value)
                raise Skip("invalid_text", f"{where}: field {field!r} is {kind}, not text")
            if value is not None and not is_unicode(value):  # no tokenizer or store takes it
                message = f"{where}: field {field!r} is not valid Unicode (a lone surrogate)"
                raise Skip("invalid_text", message)
        text = " ".join(v.strip() for v in values if v and v.strip())
        if not text:
            names = ", ".join(repr(f) for f in fields)
            raise Skip("missing_text", f"{where}: missing text (field {names})")
        return text


@register_input("image")
class ImageInput(InputKind):
    """An image path inside the source file's folder, relative to it; checked by decoding it."""

    @staticmethod
    def check(values: list[Any], fields: tuple[str, ...], base: Path, where: str) -> Any:
        if len(values) != 1:
            raise Skip("invalid_image", f"{where}: give one image field, not {len(values)}")
        value = values[0]
        if not isinstance(value, str) or not value.strip():
            raise Skip("missing_image", f"{where}: missing image path (field {fields[0]!r})")
        # A row names a file, never where to read: an absolute path or `..` out of the folder
        # would let a file's author read any image the build can (links the folder holds are
        # its owner's choice, so the check is on the path as written).
        inside = os.path.normpath(value)
        if os.path.isabs(inside) or inside == ".." or inside.startswith(".." + os.sep):
            message = f"{where}: image path {value!r} is outside the source file's folder"
            raise Skip("image_outside_source", message)
        path = base / inside
        try:
            from PIL import Image

            with Image.open(path) as image:
                image.verify()
        except Exception as exc:  # PIL raises many types for bad files
            raise Skip("unreadable_image", f"{where}: unreadable image {value} ({exc})") from None
        return str(path)

    @staticmethod
    def load(value: Any) -> Any:
        # The file's bytes: the encoder decodes them itself (real format, EXIF orientation,
        # pixel cap), and they pickle to worker processes far smaller than decoded pixels.
        return Path(value).read_bytes()


@register_input("graph")
class NodeInput(InputKind):
    """A node id (by default the row's id) for a graph encoder; `--edges` adds its neighbours."""

    node_ids = True

    @staticmethod
    def check(values: list[Any], fields: tuple[str, ...], base: Path, where: str) -> Any:
        if len(values) != 1:
            raise Skip("invalid_node", f"{where}: give one node-id field, not {len(values)}")
        value = values[0]
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            raise Skip("missing_node", f"{where}: missing node id (field {fields[0]!r})")
        return value
