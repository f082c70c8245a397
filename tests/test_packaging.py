"""The wheel (and so the container image, which installs one) holds every file the packages
read at run time, not only their modules: it lacked the committed Matryoshka adapter, so
`minilm-mrl-adapter` answered model_not_trained wherever nestvec was pip-installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from support import ROOT

PACKAGES = ("service", "encoders", "index", "ingest", "recommend", "diagnostics", "nestvec")


def _tracked(*paths: str) -> list[str]:
    listed = ["git", "ls-files", *paths]
    return subprocess.run(
        listed, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()


def test_the_wheel_holds_every_tracked_file_of_the_packages(tmp_path: Path) -> None:
    """Built as the image builds it: from the tracked files alone (no .git, no egg-info)."""
    source, out = tmp_path / "src", tmp_path / "wheel"
    for name in _tracked():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    tracked = _tracked(*PACKAGES)
    assert "encoders/mrl/adapters/minilm.npz" in tracked
    build = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "-q", "-w", str(out)], cwd=source, check=True, timeout=300)
    (wheel,) = out.glob("nestvec-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert set(tracked) - set(archive.namelist()) == set()
