#!/usr/bin/env bash
# Install (or upgrade in place) the province side: commune-collector in a venv, its user, its
# config folder and the systemd units of deploy/systemd (gateway, restart on token change,
# render + reload on inventory change).
#
#   sudo bash deploy/install-collector.sh --inventory configs/inventory/thanh-hoa.yml \
#       --receiver http://127.0.0.1:9090/api/v1/write
#
# Creates /opt/commune-collector (venv), the commune-collector system user,
# /etc/commune-collector/{gateway.yml,inventory/NAME.yml} (kept if present: enrol edits them),
# /var/lib/commune-collector/prometheus (render output: point Prometheus at its prometheus.yml,
# with --web.enable-lifecycle and --web.enable-remote-write-receiver) and the units. The gateway
# refuses to start without a token, so it starts at the first enrolment (the .path unit).
# deploy/uninstall-collector.sh removes what this script added.
#
# Test options: --root DIR (everything under DIR, DIR-prefixed paths, no user, no owners, no
# systemctl) and --no-systemd (units written, nothing started).
set -euo pipefail
umask 022  # the service user must read the venv; secrets get 0600 explicitly

PROG=install-collector
HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE=$(dirname "$HERE")
# shellcheck source=deploy/lib.sh
. "$HERE/lib.sh"
PREFIX=/opt/commune-collector
ROOT=
SYSTEMD=1
WHEELHOUSE=
EXTRAS=diag        # commune-diag runs on the province side: paramiko comes with it
INVENTORY=
RECEIVER=
LISTEN=:9820
PROMETHEUS=http://127.0.0.1:9090
ALERTMANAGER=http://127.0.0.1:9093
PYTHON=${PYTHON:-python3}
SERVICE_USER=commune-collector

while [ $# -gt 0 ]; do
    case "$1" in
        --inventory) need "$@"; INVENTORY=$2; shift 2 ;;
        --receiver) need "$@"; RECEIVER=$2; shift 2 ;;
        --prefix) need "$@"; PREFIX=$2; shift 2 ;;
        --root) need "$@"; ROOT=$2; shift 2 ;;
        --wheelhouse) need "$@"; WHEELHOUSE=$2; shift 2 ;;
        --source) need "$@"; SOURCE=$2; shift 2 ;;
        --listen) need "$@"; LISTEN=$2; shift 2 ;;
        --prometheus) need "$@"; PROMETHEUS=$2; shift 2 ;;
        --alertmanager) need "$@"; ALERTMANAGER=$2; shift 2 ;;
        --python) need "$@"; PYTHON=$2; shift 2 ;;
        --no-systemd) SYSTEMD=0; shift ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done
check_target

VENV=$ROOT$PREFIX
ETC=$ROOT/etc/commune-collector
STATE=$ROOT/var/lib/commune-collector
UNIT_DIR=$ROOT/etc/systemd/system
MANIFEST=$VENV/install-manifest
GATEWAY=$ETC/gateway.yml

if [ -f "$GATEWAY" ]; then
    INV_PATH=$(sed -n 's/^inventory:[[:space:]]*//p' "$GATEWAY" | sed 's/[[:space:]]#.*//' \
        | tr -d "\"'")
    [ -f "$INV_PATH" ] || die "$GATEWAY: its 'inventory:' ($INV_PATH) is not a file; fix it"
else
    if [ -z "$INVENTORY" ] || [ ! -f "$INVENTORY" ]; then
        die "first install: give --inventory FILE (the province inventory)"
    fi
    [ -n "$RECEIVER" ] || die "first install: give --receiver URL (Prometheus/VictoriaMetrics remote-write, e.g. http://127.0.0.1:9090/api/v1/write)"
    INV_PATH=$ETC/inventory/$(basename "$INVENTORY")
fi
check_python
trap write_manifest EXIT

install_venv
[ -n "$ROOT" ] || add_user "$SERVICE_USER" /var/lib/commune-collector "commune-monitor collector"

mkd "$ETC" 750 tree
mkd "$ETC/inventory" 755
mkd "$STATE" 755 tree
mkd "$STATE/prometheus" 755
if [ -f "$INV_PATH" ]; then
    step "keeping $INV_PATH"
else
    step "installing $INV_PATH"
    install -m 644 "$INVENTORY" "$INV_PATH"
fi
if [ -f "$GATEWAY" ]; then
    step "keeping $GATEWAY"
else
    step "writing $GATEWAY"
    cat > "$GATEWAY" <<YML
# commune-collector serve: where pushed samples go, and one token per node.
receivers:
  - url: "$RECEIVER"
# The inventory adds commune_name, region, terrain, role to pushed series.
inventory: "$INV_PATH"
# Written by commune-collector enrol / revoke (SHA-256 of each node's token).
tokens: []
YML
fi
chmod 640 "$GATEWAY"
if [ -z "$ROOT" ]; then
    chown root:"$SERVICE_USER" "$ETC" "$GATEWAY"
    chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE"
fi

step "rendering $INV_PATH into $STATE/prometheus"
"$VENV/bin/commune-collector" render --inventory "$INV_PATH" --out "$STATE/prometheus" >/dev/null \
    || die "the inventory does not render (see above); fix $INV_PATH and run this script again"
[ -n "$ROOT" ] || chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE"

mkd "$UNIT_DIR" 755
UNITS=(commune-collector-gateway.service commune-collector-gateway.path
       commune-collector-gateway-restart.service commune-collector-render.service
       commune-collector-render.path commune-collector-expire.service
       commune-collector-expire.timer)
for unit in "${UNITS[@]}"; do
    record "$UNIT_DIR/$unit"
    # One pass per path, the inventory last: $INV_PATH may itself contain /etc/commune-collector.
    sed -e "s|/etc/commune-collector/inventory/thanh-hoa.yml|@INVENTORY@|g" \
        -e "s|/opt/commune-collector|$VENV|g" \
        -e "s|/etc/commune-collector|$ETC|g" \
        -e "s|/var/lib/commune-collector|$STATE|g" \
        -e "s|@INVENTORY@|$INV_PATH|g" \
        -e "s|--web.listen-address :9820|--web.listen-address $LISTEN|" \
        -e "s|http://127.0.0.1:9090 http://127.0.0.1:9093|$PROMETHEUS $ALERTMANAGER|" \
        -e "s|--prometheus http://127.0.0.1:9090|--prometheus $PROMETHEUS|" \
        "$HERE/systemd/$unit" > "$UNIT_DIR/$unit.tmp"
    chmod 644 "$UNIT_DIR/$unit.tmp"
    mv "$UNIT_DIR/$unit.tmp" "$UNIT_DIR/$unit"
done
write_manifest

if [ "$SYSTEMD" = 1 ]; then
    systemctl daemon-reload
    systemctl enable --quiet commune-collector-gateway.service commune-collector-gateway.path \
        commune-collector-render.path commune-collector-expire.timer
    CREATED+=("unit commune-collector-gateway.service" "unit commune-collector-gateway.path"
              "unit commune-collector-render.path" "unit commune-collector-expire.timer")
    write_manifest
    systemctl start commune-collector-gateway.path commune-collector-render.path \
        commune-collector-expire.timer
    if grep -q 'sha256' "$GATEWAY"; then systemctl restart commune-collector-gateway.service; fi
fi
echo "done: commune-collector is installed in $VENV; enrol nodes with:"
echo "  $VENV/bin/commune-collector enrol --commune CODE --node lan-1 --inventory $INV_PATH \\"
echo "      --gateway-config $GATEWAY --gateway-url https://THIS-HOST:${LISTEN##*:}/api/v1/write"
echo "start Prometheus with --config.file=$STATE/prometheus/prometheus.yml --web.enable-lifecycle --web.enable-remote-write-receiver"
