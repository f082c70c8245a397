#!/bin/bash
# `make image-test`: build the image with buildah (no Docker engine needed), start its entrypoint
# inside it, and check /readyz and /v1/embeddings over loopback. Runs as root (buildah's chroot
# isolation). Steps:
#   1. a local base image (debootstrap minbase bookworm + Debian's python3 3.11), made once and
#      reused: the public python:3.11-slim-bookworm base cannot be pulled here;
#   2. `buildah bud --isolation chroot` of docker/Dockerfile, torch (the CPU build) and its
#      dependencies from a wheel folder that this machine's pip fills (its find-links hold torch);
#   3. `buildah run` of the entrypoint with a temporary data dir, two requests, the image size.
# Settings (environment): IMAGE, BASE_IMAGE, DEBIAN_MIRROR, TORCH_SPEC, EXTRAS, BUILD_TIMEOUT,
# READY_TIMEOUT, NO_CACHE.
set -euo pipefail

IMAGE=${IMAGE:-localhost/nestvec:image-test}
BASE_IMAGE=${BASE_IMAGE:-localhost/nestvec-base:bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
EXTRAS=${EXTRAS:-milvus}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-3600}
READY_TIMEOUT=${READY_TIMEOUT:-300}

cd "$(dirname "$0")/.."
work=$(mktemp -d /var/tmp/nestvec-image-test.XXXXXX)
ctr=""
server_pid=""

cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        # the server runs in its own session (setsid): SIGTERM the whole group, so it snapshots
        kill -TERM -- "-$server_pid" 2>/dev/null || true
        for _ in $(seq 60); do kill -0 "$server_pid" 2>/dev/null || break; sleep 1; done
        kill -KILL -- "-$server_pid" 2>/dev/null || true
    fi
    if [ -n "$ctr" ]; then buildah rm "$ctr" >/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

log() { printf '[image-test] %s\n' "$*"; }

build_base() {
    local root="$work/rootfs" base_ctr
    log "debootstrap minbase bookworm from $DEBIAN_MIRROR"
    # passwd: the runtime stage runs groupadd/useradd
    debootstrap --variant=minbase --include=python3,python3-venv,passwd \
        bookworm "$root" "$DEBIAN_MIRROR" >"$work/debootstrap.log"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    # device nodes and the host's resolver do not belong in an image: buildah run supplies them
    tar -C "$root" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
        -cf "$work/rootfs.tar" .
    rm -rf "$root"
    base_ctr=$(buildah from scratch)
    buildah add "$base_ctr" "$work/rootfs.tar" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 --cmd python3 "$base_ctr"
    buildah commit --rm "$base_ctr" "$BASE_IMAGE" >/dev/null
    rm -f "$work/rootfs.tar"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

t0=$(date +%s)
if buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
    log "base $BASE_IMAGE exists: reused"
else
    build_base
fi
t1=$(date +%s)
log "base: $((t1 - t0)) s"

# The build installs torch offline from this folder (--no-index): torch plus its dependencies.
# This machine's pip config finds the CPU wheel of torch in its find-links (/opt/wheels).
log "pip download $TORCH_SPEC (and its dependencies)"
python3 -m pip download -q --only-binary=:all: -d "$work/wheels" "$TORCH_SPEC"
ls "$work/wheels" | grep -q '^torch-.*+cpu-' || { log "FAIL: no CPU wheel of torch"; exit 1; }

# This machine reaches PyPI through a proxy whose CA only its own bundle trusts (pip's `cert`):
# lend both to the build's pip for its RUN steps only (a mount, so nothing lands in the image).
mounts=(-v "$work/wheels:/wheels:ro")
host_cert=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
if [ -n "$host_cert" ] && [ -f "$host_cert" ]; then
    printf '[global]\ncert = /etc/nestvec-build-ca.crt\n' >"$work/pip.conf"
    mounts+=(-v "$host_cert:/etc/nestvec-build-ca.crt:ro" -v "$work/pip.conf:/etc/pip.conf:ro")
fi

# --format docker: the OCI format drops SHELL and HEALTHCHECK. NO_CACHE=1: build every layer anew
log "buildah bud -> $IMAGE"
timeout "$BUILD_TIMEOUT" buildah bud --isolation chroot --layers --force-rm --format docker \
    -f docker/Dockerfile "${mounts[@]}" \
    --build-arg BASE_IMAGE="$BASE_IMAGE" \
    --build-arg TORCH_SPEC="$TORCH_SPEC" \
    --build-arg TORCH_WHEELS=/wheels \
    --build-arg EXTRAS="$EXTRAS" ${NO_CACHE:+--no-cache} \
    -t "$IMAGE" . >"$work/build.log" 2>&1 || {
    tail -40 "$work/build.log"
    log "FAIL: build"
    exit 1
}
t2=$(date +%s)
log "build: $((t2 - t1)) s"

# the image's own environment, but loopback only and a throwaway data dir
port=$(free_port)
mkdir -p "$work/data"
chown 10001:10001 "$work/data"
ctr=$(buildah from "$IMAGE")
buildah config --env NESTVEC_HOST=127.0.0.1 --env NESTVEC_PORT="$port" "$ctr"
setsid buildah run --isolation chroot -v "$work/data:/data" "$ctr" -- \
    /app/docker/entrypoint.sh serve >"$work/server.log" 2>&1 &
server_pid=$!
url="http://127.0.0.1:$port"

log "waiting for $url/readyz (at most $READY_TIMEOUT s)"
ready=""
for _ in $(seq "$READY_TIMEOUT"); do
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    code=$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz" || true)
    if [ "$code" = 200 ]; then ready=1; break; fi
    sleep 1
done
if [ -z "$ready" ]; then
    tail -40 "$work/server.log"
    log "FAIL: /readyz never answered 200"
    exit 1
fi
t3=$(date +%s)
log "readyz 200 after $((t3 - t2)) s"

curl -sf -H 'Content-Type: application/json' \
    -d '{"model": "minilm", "input": ["a container says hello"]}' \
    "$url/v1/embeddings" >"$work/embedding.json" || {
    tail -40 "$work/server.log"
    log "FAIL: POST /v1/embeddings"
    exit 1
}
python3 - "$work/embedding.json" <<'EOF'
import json, math, sys
body = json.load(open(sys.argv[1]))
vector = body["data"][0]["embedding"]
norm = math.sqrt(sum(x * x for x in vector))
assert len(vector) == 384 and abs(norm - 1) < 1e-3, (len(vector), norm)
print(f"[image-test] /v1/embeddings: dim {len(vector)}, norm {norm:.4f}")
EOF
t4=$(date +%s)

log "image size: $(buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$IMAGE")"
log "base $((t1 - t0)) s, build $((t2 - t1)) s, start + requests $((t4 - t2)) s"
log "OK"
