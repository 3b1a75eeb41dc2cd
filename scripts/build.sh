#!/usr/bin/env bash
# The explicit build step (DESIGN §12): TypeScript, then eBPF objects and the native addon. Never run
# from an install hook, because npm 11 blocks dependency install scripts until they are approved.
source "$(dirname "$0")/lib.sh"
[ "${WEFT_SKIP_SETUP:-}" = 1 ] || bash scripts/setup.sh

log "building TypeScript (tsc -b)"
"$NODE" node_modules/typescript/bin/tsc -b

if [ -f bpf/Makefile ]; then
  if command -v clang >/dev/null; then
    log "building eBPF objects (make -C bpf)"
    make -s -C bpf
  else
    log "clang is missing: skipping the eBPF build (fix: apt-get install clang llvm libbpf-dev)"
  fi
fi
if [ -f native/Makefile ]; then
  if [ -f /usr/include/bpf/libbpf.h ]; then
    log "building the native addon (make -C native)"
    make -s -C native
  else
    log "libbpf-dev is missing: skipping the native addon (fix: apt-get install libbpf-dev)"
  fi
fi
