#!/usr/bin/env bash
# Build an offline wheelhouse for deploy/install-agent.sh --wheelhouse (run on a machine with
# internet, for the nodes' Python version and architecture), and pack it with the deploy folder
# and the province inventory the collector's install starts from:
#   scripts/build-wheelhouse.sh dist/commune-monitor-wheelhouse
#   -> dist/commune-monitor-wheelhouse.tar.gz: wheelhouse/ + deploy/ + configs/inventory/
#      (copy to a USB stick)
# On the node: tar xzf commune-monitor-wheelhouse.tar.gz && cd commune-monitor-wheelhouse &&
#   sudo bash deploy/install-agent.sh --wheelhouse wheelhouse --enrol cme1....
set -euo pipefail
OUT=${1:?usage: scripts/build-wheelhouse.sh OUTDIR}
PYTHON=${PYTHON:-python3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$OUT"
mkdir -p "$OUT/wheelhouse"
"$PYTHON" -m pip wheel --quiet --wheel-dir "$OUT/wheelhouse" "${HERE}[diag]"
cp -r "$HERE/deploy" "$OUT/deploy"
mkdir -p "$OUT/configs"
cp -r "$HERE/configs/inventory" "$OUT/configs/inventory"
tar -C "$(dirname "$OUT")" -czf "$OUT.tar.gz" "$(basename "$OUT")"
echo "wrote $OUT.tar.gz ($(find "$OUT/wheelhouse" -name '*.whl' | wc -l) wheels)"
