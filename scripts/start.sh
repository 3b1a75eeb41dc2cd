#!/usr/bin/env bash
# npm start: the local demo. Until the mesh exists it brings up the netns testbed's two-node,
# four-pod topology, proves pod-to-pod traffic, prints it, and tears it all down.
source "$(dirname "$0")/lib.sh"
is_root || die "npm start builds network namespaces and cgroups: run it as root (sudo npm start)"
bash scripts/build.sh
exec "$NODE" test/dist/src/netns/demo.js "$@"
