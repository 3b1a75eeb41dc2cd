#!/usr/bin/env bash
# npm run bench [-- --only push-latency] [-- --quick] [-- --cpu-prof]: build, then run the
# benchmarks (bench/src/run.ts) with the pinned Node. Results: bench/results/<date>.json and .md,
# and the latest table in bench/README.md.
source "$(dirname "$0")/lib.sh"

bash scripts/build.sh
log "running benchmarks: $*"
exec "$NODE" bench/dist/src/run.js "$@"
