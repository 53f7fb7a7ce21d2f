#!/usr/bin/env bash
# Unpacks Debian's etcd (etcd-server and etcd-client) into .etcd/ at the repository's root, for the
# cluster tests, `npm run cluster:latency` and the multi-host soak. `apt-get install` would start
# a system etcd on :2379 from the package's postinst; `apt-get download` + `dpkg-deb -x` only
# unpacks the binaries, and the tests start their own members on loopback ports.
#   bash scripts/etcd/fetch.sh        (needs `apt-get update` to have run once)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -x .etcd/usr/bin/etcd ]; then .etcd/usr/bin/etcd --version | head -1; exit 0; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# As root, apt would hand the download to its sandbox user, who cannot write into a mktemp directory.
(cd "$work" && apt-get download -q -o APT::Sandbox::User=root etcd-server etcd-client >/dev/null)
mkdir -p .etcd
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" .etcd; done
.etcd/usr/bin/etcd --version | head -1
