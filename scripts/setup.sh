#!/usr/bin/env bash
# Installs what the build and the tests need, and nothing when it is already there:
# Debian packages (as root), then npm dependencies (npm ci, which never runs unapproved install scripts).
source "$(dirname "$0")/lib.sh"

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if is_root; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "missing Debian packages (the root test suites and the eBPF build need them): ${missing[*]}"
    log "  fix: sudo apt-get install -y ${missing[*]}"
  fi
fi

# npm ci when node_modules is absent or older than the lockfile.
if [ ! -x "$NODE" ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
[ -x "$NODE" ] || die "node_modules/.bin/node is missing after npm ci: the pinned Node 24 did not install (check allowScripts.node in package.json)"
major=$("$NODE" -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 24 ] || die "pinned Node is $major, expected >= 24"
