#!/bin/sh
# Container entrypoint: make sure the data directory exists, then hand over to `nestvec`
# (so `docker run IMAGE serve --port 9000` runs `nestvec serve --port 9000`).
set -eu

mkdir -p "${NESTVEC_DATA_DIR:-data}"
exec nestvec "$@"
