#!/bin/sh
# Container entrypoint: make sure the data directory exists, then hand over to `nestvec`
# (so `docker run IMAGE serve --port 9000` runs `nestvec serve --port 9000`).
set -eu

# A data dir that cannot be made is nestvec's to report, in its one line naming the setting
# (`mkdir`'s own error stopped even `--version`).
mkdir -p "${NESTVEC_DATA_DIR:-data}" 2>/dev/null || true
exec nestvec "$@"
