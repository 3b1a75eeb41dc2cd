# Shared helpers for the npm scripts. Sourced, not executed.
# shellcheck shell=bash
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Debian packages the build and the root test suites need. Keep this list the single source:
# setup.sh installs it, CONTRIBUTING.md points here.
DEBIAN_PACKAGES=(
  ca-certificates make gcc g++ pkg-config           # native addon
  clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool # eBPF objects
  iproute2 procps psmisc util-linux                 # netns testbed (ip, nsenter, ps)
  tcpdump                                           # wire captures in e2e tests
  containernetworking-plugins                       # the CNI bridge plugin weft chains after
  iperf3 stunnel4                                   # bench: mesh-l4 throughput and the stunnel4 mTLS pair
)

log() { printf '\033[1m[weft]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[weft] error:\033[0m %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# Node 24 is pinned through the npm `node` package (DESIGN §12); npm puts node_modules/.bin first on
# PATH for scripts, so once installed every `node` below is Node 24 even on a machine with Node 20.
NODE="$ROOT/node_modules/.bin/node"
