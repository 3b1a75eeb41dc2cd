#!/usr/bin/env bash
# npm run bench [-- --only push-latency] [-- --quick] [-- --cpu-prof]: build, then run the
# benchmarks (bench/src/run.ts) with the pinned Node. Results: bench/results/<date>.json and .md,
# and the latest table in bench/README.md.
source "$(dirname "$0")/lib.sh"

bash scripts/build.sh

# fortio (DESIGN §11) from its Go module, into a git-ignored cache. The newest fortio (1.69+) needs
# grol.io/grol, which the module proxy here refuses; 1.68.2 is the newest that builds.
FORTIO_VERSION=v1.68.2
FORTIO_BIN="$ROOT/bench/.cache/bin"
if [ ! -x "$FORTIO_BIN/fortio" ] || ! "$FORTIO_BIN/fortio" version 2>/dev/null | grep -q "^${FORTIO_VERSION#v}"; then
  if command -v go >/dev/null; then
    log "building fortio $FORTIO_VERSION into bench/.cache/bin"
    mkdir -p "$FORTIO_BIN"
    GOBIN="$FORTIO_BIN" go install "fortio.org/fortio@$FORTIO_VERSION" || log "fortio did not build: mesh-l4 cannot run"
  else
    log "no go on PATH: fortio cannot be built, mesh-l4 cannot run"
  fi
fi
log "running benchmarks: $*"
exec "$NODE" bench/dist/src/run.js "$@"
