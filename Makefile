# The two set-up commands of the README: `make serve` and `make test`.
# Both create (or reuse) the virtual environment at .venv: `serve` installs only the base package
# (text embedding and search), `test` installs every extra and the dev tools. Each has its stamp.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVE_STAMP := $(VENV)/.installed-base
TORCH_STAMP := $(VENV)/.installed-torch

.PHONY: install serve test test-fast lint image-test

$(TORCH_STAMP):
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: this spelling takes the CPU build; the range in pyproject adds nothing.
	$(BIN)/pip install --quiet torch==2.13.0
	touch $(TORCH_STAMP)

$(SERVE_STAMP): pyproject.toml $(TORCH_STAMP)
	$(BIN)/pip install --quiet -e .
	touch $(SERVE_STAMP)

$(STAMP): pyproject.toml $(TORCH_STAMP)
	$(BIN)/pip install --quiet -e ".[all,dev]"
	touch $(STAMP)

install: $(STAMP)

serve: $(SERVE_STAMP)
	$(BIN)/nestvec serve

test: $(STAMP)
	$(BIN)/python -m pytest

# The edit loop: everything but the `slow` tier (real models, live servers, training), < 3 min.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/python -m ruff check .

# Build the image with buildah (no Docker engine), start it, check /readyz and /v1/embeddings on
# loopback, print its size. Root only; the first run also debootstraps a local bookworm base.
image-test:
	nice bash docker/image_test.sh
