"""The package layout as evidence: imports point down only, and modules stay small.

`index/` and `encoders/` are the bottom layer; `recommend/` and `diagnostics/` sit above them
and below `service/` and `ingest/`. Function-level imports count too: a lazy import up the
stack is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support import ROOT

# package -> top-level packages it must never import
FORBIDDEN = {
    "index": {"service", "ingest", "recommend", "diagnostics"},
    "encoders": {"service", "ingest", "recommend", "diagnostics"},
    "recommend": {"service", "ingest"},
    "diagnostics": {"service", "ingest"},
}
SIZED = ("service", "index", "encoders", "ingest", "recommend", "diagnostics", "nestvec")
MAX_LINES = 300


def modules(package: str) -> list[Path]:
    """Every .py file under a top-level package (none if the package is not there yet)."""
    return sorted((ROOT / package).rglob("*.py"))


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """Top-level package of every absolute import in a module, with its line number."""
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def upward_imports(package: str) -> list[str]:
    """`path:line imports pkg` for each import from `package` into a layer above it."""
    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in modules(package)
        for name, line in sorted(imported_packages(path))
        if name in FORBIDDEN[package]
    ]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_down(package: str) -> None:
    assert modules(package), f"{package}/ has no modules: is the layout test out of date?"
    assert upward_imports(package) == []


def test_import_scan_sees_every_form(tmp_path: Path) -> None:
    """The scanner catches plain, from- and function-level imports, and skips relative ones."""
    source = tmp_path / "m.py"
    source.write_text(
        "import service.app\nfrom ingest import build\nimport os, recommend.rank as r\n"
        "def f():\n    from diagnostics.x import y\n    from . import sibling\n"
    )
    names = {name for name, _ in imported_packages(source)}
    assert names == {"service", "ingest", "os", "recommend", "diagnostics"}


def test_modules_under_300_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for package in SIZED
        for path in modules(package)
    }
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}
