#!/usr/bin/env bash
# npm start: the local L4 mesh demo (examples/demo/README.md): the controller with the file
# source, a ztunnel per node and apps in pods on the netns testbed; it sends traffic, prints what
# the tunnels saw and a metrics summary, holds until Ctrl-C (or --once), and tears it all down.
source "$(dirname "$0")/lib.sh"
is_root || die "npm start builds network namespaces and cgroups: run it as root (sudo npm start)"
bash scripts/build.sh
exec "$NODE" test/dist/src/mesh/demo.js "$@"
