"""One plugin registry for every family (encoders, index backends).

Built-ins are a table name -> ("module:Class", extra) imported on first use, so importing a family
stays cheap and a built-in whose pip extra is not installed is listed as unavailable instead of
breaking the import. Outside plugins come from an entry point group, e.g.
`[project.entry-points."nestvec.encoders"] my-encoder = "pkg.module:MyEncoder"`.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Generic, TypeVar

# The top-level modules each pip extra provides (extra names as in pyproject.toml). A built-in of
# an extra is available only when all of them can be found; finding a spec imports nothing.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "onnx": ("onnxruntime", "onnx"),
    "face": ("dlib", "face_recognition_models", "PIL"),
    "graph": ("torch_geometric", "scipy"),
    "train": ("torch_geometric", "scipy"),
    "parquet": ("pyarrow",),
    "ray": ("ray",),
    "milvus": ("pymilvus",),
}


class ExtraMissing(Exception):
    """A built-in whose pip extra is not installed; the message names the install line."""

    code = "extra_missing"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def install_line(extra: str) -> str:
    """The pip command that installs `extra`."""
    return f"pip install 'nestvec[{extra}]'"


def missing_module(extra: str | None) -> str | None:
    """The first module of `extra` that cannot be found, or None when all are installed."""
    for module in EXTRA_MODULES.get(extra or "", ()):
        if importlib.util.find_spec(module) is None:
            return module
    return None


def require(
    module: str, extra: str, field: str | None = None, error: type[ExtraMissing] = ExtraMissing
) -> ModuleType:
    """Import an optional dependency, or raise `error` (ExtraMissing) naming the extra."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != module.split(".")[0]:
            raise  # a broken install of something else: not a missing extra
        raise error(
            f"{module} is not installed; it comes with the {extra!r} extra: {install_line(extra)}",
            field,
        ) from None


@dataclass(frozen=True)
class Entry:
    """One registered name: available, or unavailable until its extra is installed."""

    name: str
    extra: str | None = None
    missing: str | None = None  # the module that could not be found

    @property
    def available(self) -> bool:
        return self.missing is None

    @property
    def install(self) -> str | None:
        return install_line(self.extra) if self.extra else None


T = TypeVar("T")
C = TypeVar("C", bound=type)


class Registry(Generic[T]):
    """Name -> class for one plugin family: built-ins by table, plugins by entry point."""

    def __init__(
        self,
        kind: str,
        field: str,
        group: str,
        builtins: dict[str, tuple[str, str | None]],
        not_found: Callable[[str, str], Exception],
        missing: type[ExtraMissing] = ExtraMissing,
    ) -> None:
        self.kind = kind  # "encoder", "index type": used in messages
        self.field = field  # the request field errors point at
        self.group = group
        self.builtins = builtins
        self._not_found = not_found
        self._missing = missing  # the family's subclass, so its callers' `except` clauses apply
        self._classes: dict[str, T] = {}
        self._unavailable: dict[str, Entry] = {}
        self._checked: set[str] = set()  # built-ins imported or found unavailable
        self._plugins_loaded = False
        self._lock = threading.RLock()

    def register(self, name: str) -> Callable[[C], C]:
        """Class decorator that registers a class under `name`."""

        def decorate(cls: C) -> C:
            cls.name = name  # type: ignore[attr-defined]
            self._classes[name] = cls  # type: ignore[assignment]
            return cls

        return decorate

    def _load_builtin(self, name: str) -> None:
        """Import one built-in, or record it as unavailable when its extra is missing."""
        target, extra = self.builtins[name]
        module_name, _, attr = target.partition(":")
        missing: str | None
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").split(".")[0]
            if extra is None or missing not in EXTRA_MODULES.get(extra, ()):
                raise  # not one of its extra's dependencies: a real bug, not an install choice
        else:
            self._classes.setdefault(name, getattr(module, attr))
            # modules that import their dependency late (face: dlib) are checked by spec
            missing = missing_module(extra)
            if missing is None:
                return
        self._unavailable[name] = Entry(name, extra, missing)

    def _load(self, name: str | None = None) -> None:
        """Import the built-in `name` (all built-ins and plugins when None), once."""
        if name in self._checked or (name in self._classes and name not in self.builtins):
            return  # the per-request path: no lock once a name is settled
        with self._lock:
            wanted = self.builtins if name is None else [name] if name in self.builtins else []
            for builtin in wanted:
                if builtin not in self._checked:
                    self._load_builtin(builtin)
                    self._checked.add(builtin)
            if (name is None or name not in self._classes) and not self._plugins_loaded:
                for ep in entry_points(group=self.group):
                    self._classes.setdefault(ep.name, ep.load())
                self._plugins_loaded = True

    def entries(self) -> list[Entry]:
        """Every known name, available or not, sorted by name."""
        self._load()
        extra_of = {name: extra for name, (_, extra) in self.builtins.items()}
        found = {name: Entry(name, extra_of.get(name)) for name in self._classes}
        found.update(self._unavailable)
        return [found[name] for name in sorted(found)]

    def names(self) -> list[str]:
        """Names that can be used now (their extras installed)."""
        return [entry.name for entry in self.entries() if entry.available]

    def get(self, name: str) -> T:
        """The class under `name`; ExtraMissing if its extra is not installed, else not_found."""
        self._load(name)
        if name in self._unavailable:
            entry = self._unavailable[name]
            raise self._missing(
                f"{self.kind} {name!r} needs the {entry.extra!r} extra ({entry.missing} is not "
                f"installed): {entry.install}",
                self.field,
            )
        if name in self._classes:
            return self._classes[name]
        known = ", ".join(self.names())
        raise self._not_found(f"unknown {self.kind} {name!r}; available: {known}", self.field)
