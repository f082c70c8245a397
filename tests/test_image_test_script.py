"""`make image-test`: the buildah script that builds the image and serves from it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docker" / "image_test.sh"


def _recipe(target: str) -> list[str]:
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = lines.index(f"{target}:")
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_make_image_test_runs_the_script() -> None:
    assert any("docker/image_test.sh" in line for line in _recipe("image-test"))
    phony = next(line for line in (ROOT / "Makefile").read_text().splitlines() if ".PHONY" in line)
    assert "image-test" in phony.split()


def test_script_parses_and_is_executable() -> None:
    assert os.access(SCRIPT, os.X_OK)
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_script_keeps_the_healthcheck_and_stays_on_loopback() -> None:
    text = SCRIPT.read_text()
    # buildah's default OCI format silently drops HEALTHCHECK and SHELL from the Dockerfile
    assert re.search(r"buildah bud [^\n]*--isolation chroot[^\n]*--format docker", text)
    assert "NESTVEC_HOST=127.0.0.1" in text
    assert "buildah rm" in text and "trap cleanup EXIT" in text


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("NESTVEC_IMAGE_TEST") != "1"
    or shutil.which("buildah") is None
    or os.geteuid() != 0,
    reason="builds the whole image (about 10 min): set NESTVEC_IMAGE_TEST=1, as root with buildah",
)
def test_image_builds_and_serves() -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, timeout=3600, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "[image-test] OK" in done.stdout
