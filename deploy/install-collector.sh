#!/usr/bin/env bash
# Install (or upgrade in place) the province side: commune-collector in a venv, its user, its
# config folder, its systemd units (gateway, restart on token change, render + reload on
# inventory change, hourly expire), and Debian's Prometheus and Alertmanager running on the
# rendered files, with the Grafana provisioning where Grafana reads it.
#
#   sudo bash deploy/install-collector.sh --inventory configs/inventory/thanh-hoa.yml \
#       --receiver http://127.0.0.1:9090/api/v1/write
#
# Installs the Debian packages prometheus and prometheus-alertmanager when missing (--no-apt
# skips that), creates /opt/commune-collector (venv), the commune-collector system user,
# /etc/commune-collector/{gateway.yml,inventory/NAME.yml,conferences.yml} (kept if present: enrol
# edits the first two, the operators the conference schedule),
# /var/lib/commune-collector/prometheus (the render output), the units, and the drop-ins
# /etc/systemd/system/{prometheus,prometheus-alertmanager}.service.d/commune-monitor.conf that
# start both on the rendered config. Data stays in /var/lib/prometheus. With /etc/grafana
# present it writes /etc/grafana/provisioning/{dashboards,datasources}/commune-monitor.yaml;
# otherwise they stay in /var/lib/commune-collector/prometheus/grafana/. The gateway is started
# only once gateway.yml holds a token (without one it would answer every push 401): it starts
# at the first enrolment (the .path unit).
# deploy/uninstall-collector.sh removes what this script added.
#
# Test options: --root DIR (everything under DIR, DIR-prefixed paths, no apt, no user, no
# owners, no systemctl) and --no-systemd (units written, nothing started).
set -euo pipefail
umask 022  # the service users must read the venv and the rendered files

PROG=install-collector
HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE=$(dirname "$HERE")
PREFIX=/opt/commune-collector
ROOT=
SYSTEMD=1
APT=1
WHEELHOUSE=
EXTRAS=diag        # commune-diag runs on the province side: paramiko comes with it
INVENTORY=
RECEIVER=
MAX_SAMPLE_AGE=
# Empty: the value of the last install (PREFIX/install-options), else the default below.
LISTEN=
PROMETHEUS=
ALERTMANAGER=
RETENTION=
PYTHON=${PYTHON:-python3}
SERVICE_USER=commune-collector
PACKAGES=(prometheus prometheus-alertmanager)
DEFAULT_MAX_SAMPLE_AGE=24h

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; cat <<'TXT'
options:
  --inventory FILE        the province inventory (first install; then the installed copy is kept)
  --receiver URL          where the gateway forwards (first install), e.g. Prometheus'
                          http://127.0.0.1:9090/api/v1/write
  --max-sample-age DUR    oldest pushed sample kept (first install, default 24h): written to
                          gateway.yml as max_sample_age and given to Prometheus as its
                          out-of-order window; later change it in gateway.yml and run again
  --listen HOST:PORT      the gateway's address (default :9820)
  --prometheus URL        Prometheus' listen address (default http://127.0.0.1:9090)
  --alertmanager URL      Alertmanager's listen address (default http://127.0.0.1:9093)
  --retention DUR         Prometheus' --storage.tsdb.retention.time (default 15d)
                          (these four are remembered: a re-run without them keeps them)
  --no-apt                do not install prometheus / prometheus-alertmanager with apt-get
  --prefix DIR            venv location (default /opt/commune-collector)
  --wheelhouse DIR        install offline from the wheels in DIR
  --source DIR            install commune-monitor from this checkout
  --python PY             python 3.10+ used for the venv (default python3)
  --root DIR, --no-systemd   for tests, see above
TXT
}
# shellcheck source=deploy/lib.sh
. "$HERE/lib.sh"

while [ $# -gt 0 ]; do
    case "$1" in
        --inventory) need "$@"; INVENTORY=$2; shift 2 ;;
        --receiver) need "$@"; RECEIVER=$2; shift 2 ;;
        --max-sample-age) need "$@"; MAX_SAMPLE_AGE=$2; shift 2 ;;
        --prefix) need "$@"; PREFIX=$2; shift 2 ;;
        --root) need "$@"; ROOT=$2; shift 2 ;;
        --wheelhouse) need "$@"; WHEELHOUSE=$2; shift 2 ;;
        --source) need "$@"; SOURCE=$2; shift 2 ;;
        --listen) need "$@"; LISTEN=$2; shift 2 ;;
        --prometheus) need "$@"; PROMETHEUS=$2; shift 2 ;;
        --alertmanager) need "$@"; ALERTMANAGER=$2; shift 2 ;;
        --retention) need "$@"; RETENTION=$2; shift 2 ;;
        --python) need "$@"; PYTHON=$2; shift 2 ;;
        --no-apt) APT=0; shift ;;
        --no-systemd) SYSTEMD=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done
check_target
VENV=$ROOT$PREFIX
OPTIONS=$VENV/install-options
if [ -f "$OPTIONS" ]; then  # KEY=VALUE lines written at the end of the last install
    while IFS='=' read -r key value; do
        case "$key" in
            LISTEN) LISTEN=${LISTEN:-$value} ;;
            PROMETHEUS) PROMETHEUS=${PROMETHEUS:-$value} ;;
            ALERTMANAGER) ALERTMANAGER=${ALERTMANAGER:-$value} ;;
            RETENTION) RETENTION=${RETENTION:-$value} ;;
        esac
    done < "$OPTIONS"
fi
LISTEN=${LISTEN:-:9820}
PROMETHEUS=${PROMETHEUS:-http://127.0.0.1:9090}
ALERTMANAGER=${ALERTMANAGER:-http://127.0.0.1:9093}
RETENTION=${RETENTION:-15d}

# Unit lines are written from these values: keep them free of spaces and of what systemd or sed
# would read as syntax.
plain() {  # plain WHAT VALUE
    [[ "$2" =~ ^[][A-Za-z0-9._/:@+=,-]*$ ]] \
        || die "$1 '$2' has a character the units cannot hold (only letters, digits and ._/:@+=,-[])"
}
listen_of() {  # listen_of FLAG URL: HOST:PORT of an http://HOST:PORT URL
    if [[ "$2" =~ ^http://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):([0-9]{1,5})/?$ ]]; then
        echo "${BASH_REMATCH[1]}:${BASH_REMATCH[2]}"
    else
        die "$1 $2: give http://HOST:PORT, the address it listens on (like http://127.0.0.1:9090)"
    fi
}
PROMETHEUS=${PROMETHEUS%/}
ALERTMANAGER=${ALERTMANAGER%/}
PROM_LISTEN=$(listen_of --prometheus "$PROMETHEUS")
AM_LISTEN=$(listen_of --alertmanager "$ALERTMANAGER")
case "$LISTEN" in *:[0-9]*) ;; *) die "--listen $LISTEN: give HOST:PORT or :PORT, like :9820" ;; esac
gw_host=${LISTEN%:*}
case "$gw_host" in ""|0.0.0.0) gw_host=127.0.0.1 ;; "[::]") gw_host="[::1]" ;; esac
GATEWAY_ADDRESS=$gw_host:${LISTEN##*:}
[[ "$RETENTION" =~ ^[0-9]+[smhdwy]$ ]] || die "--retention $RETENTION: give a duration like 15d"
plain --root "$ROOT"; plain --prefix "$PREFIX"; plain --listen "$LISTEN"
plain --prometheus "$PROMETHEUS"; plain --alertmanager "$ALERTMANAGER"

ETC=$ROOT/etc/commune-collector
STATE=$ROOT/var/lib/commune-collector
OUT=$STATE/prometheus
UNIT_DIR=$ROOT/etc/systemd/system
MANIFEST=$VENV/install-manifest
GATEWAY=$ETC/gateway.yml
DATA=$ROOT/var/lib/prometheus   # Debian's data folders, never removed
GRAFANA=$ROOT/etc/grafana

if [ -f "$GATEWAY" ]; then
    [ -z "$MAX_SAMPLE_AGE" ] || die "$GATEWAY is kept on re-install: change max_sample_age in it instead of giving --max-sample-age"
else
    if [ -z "$INVENTORY" ] || [ ! -f "$INVENTORY" ]; then
        die "first install: give --inventory FILE (the province inventory)"
    fi
    [ -n "$RECEIVER" ] || die "first install: give --receiver URL (Prometheus/VictoriaMetrics remote-write, e.g. $PROMETHEUS/api/v1/write)"
    MAX_SAMPLE_AGE=${MAX_SAMPLE_AGE:-$DEFAULT_MAX_SAMPLE_AGE}
    [[ "$MAX_SAMPLE_AGE" =~ ^([0-9]+[smhdw])+$ ]] || die "--max-sample-age $MAX_SAMPLE_AGE: give a duration like 24h"
    plain --inventory "$ETC/inventory/$(basename "$INVENTORY")"
fi
check_python

# read_settings: check gateway.yml (or, on a first install, the given inventory) with the
# loaders of the installed package; set INV_PATH and WINDOW (gateway.yml's max_sample_age).
# A bad hand edit stops here, exit 2, before anything is written.
read_settings() {
    local out
    if [ -f "$GATEWAY" ]; then
        out=$("$VENV/bin/python" -I - "$GATEWAY" <<'PY'
import sys
from collector.gateway.config import load_gateway_config
from collector.inventory import load_inventory
from common.schema import ConfigError
path = sys.argv[1]
try:
    config = load_gateway_config(path)
    if config.inventory is None:
        sys.stderr.write(f"{path}: no 'inventory:'; add the path of the province inventory, "
                         "like inventory: /etc/commune-collector/inventory/NAME.yml\n")
        sys.exit(2)
    load_inventory(config.inventory)
except ConfigError as exc:
    sys.stderr.write(f"{exc}\n")
    sys.exit(2)
print(config.inventory)
print("" if config.max_sample_age is None else config.max_sample_age)
PY
) || die "fix what is named above and run this script again (nothing was changed)"
        INV_PATH=$(sed -n 1p <<< "$out")
        WINDOW=$(sed -n 2p <<< "$out")
        [ -n "$WINDOW" ] || die "$GATEWAY has no max_sample_age; add 'max_sample_age: $DEFAULT_MAX_SAMPLE_AGE' (the oldest pushed sample kept; Prometheus gets the same out-of-order window) and run this script again"
        plain "$GATEWAY: inventory" "$INV_PATH"
    else
        "$VENV/bin/python" -I -c '
import sys
from collector.inventory import load_inventory
from common.schema import ConfigError
try:
    load_inventory(sys.argv[1])
except ConfigError as exc:
    sys.exit(f"{exc}")' "$INVENTORY" || exit 2
        INV_PATH=$ETC/inventory/$(basename "$INVENTORY")
        WINDOW=$MAX_SAMPLE_AGE
    fi
}
# On a re-run the old venv checks the kept files before anything (even the venv) changes.
if [ -x "$VENV/bin/python" ] && [ -f "$GATEWAY" ]; then read_settings; fi
trap write_manifest EXIT

# 1. Prometheus and Alertmanager from Debian
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
if [ -n "$ROOT" ]; then
    step "apt: not run in a --root install (${PACKAGES[*]} are not installed into $ROOT)"
elif [ "$APT" = 0 ]; then
    for pkg in "${PACKAGES[@]}"; do
        installed "$pkg" || step "warning: $pkg is not installed (--no-apt); its drop-in waits for it"
    done
else
    missing=()
    for pkg in "${PACKAGES[@]}"; do installed "$pkg" || missing+=("$pkg"); done
    if [ ${#missing[@]} -gt 0 ]; then
        step "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt_install=(apt-get install -y -q --no-install-recommends "${missing[@]}")
        "${apt_install[@]}" || { apt-get update -q && "${apt_install[@]}"; } \
            || die "apt-get could not install ${missing[*]}; install them by hand, or give --no-apt"
        for pkg in "${missing[@]}"; do CREATED+=("package $pkg"); done
    else
        step "apt: ${PACKAGES[*]} already installed"
    fi
fi

# 2. the venv, the user, the config
install_venv
read_settings
[ -n "$ROOT" ] || add_user "$SERVICE_USER" /var/lib/commune-collector "commune-monitor collector"

mkd "$ETC" 750 tree
mkd "$ETC/inventory" 755
mkd "$STATE" 755 tree
mkd "$OUT" 755
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
    cat > "$GATEWAY.tmp" <<YML
# commune-collector serve: where pushed samples go, and one token per node.
receivers:
  - url: "$RECEIVER"
# The inventory adds commune_name, region, terrain, role to pushed series.
inventory: "$INV_PATH"
# Samples older than this are dropped (and counted). Prometheus gets the same out-of-order
# window: after changing it, run deploy/install-collector.sh again.
max_sample_age: $WINDOW
# Written by commune-collector enrol / revoke (SHA-256 of each node's token).
tokens: []
YML
    mv "$GATEWAY.tmp" "$GATEWAY"
fi
chmod 640 "$GATEWAY"
# The conference schedule render reads (readiness rules; an empty list to begin with).
CONFERENCES=$ETC/conferences.yml
if [ -f "$CONFERENCES" ]; then
    step "keeping $CONFERENCES"
else
    step "installing $CONFERENCES (no conference yet: add them there)"
    install -m 644 "$VENV/share/commune-monitor/examples/conferences/conferences.yml" \
        "$CONFERENCES"
fi
if [ -z "$ROOT" ]; then
    chown root:"$SERVICE_USER" "$ETC" "$GATEWAY"
    chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE"
fi

# 3. render: the same command the render unit runs
RENDER=("$VENV/bin/commune-collector" render --inventory "$INV_PATH" --out "$OUT"
        --conferences "$CONFERENCES"
        --out-of-order-window "$WINDOW" --alertmanager "$AM_LISTEN"
        --prometheus-url "$PROMETHEUS" --gateway "$GATEWAY_ADDRESS")
RELOAD=("$VENV/bin/commune-collector" reload "$PROMETHEUS" "$ALERTMANAGER")
step "rendering $INV_PATH into $OUT"
rendered=$("${RENDER[@]}") || {
    code=$?
    [ "$code" = 2 ] || exit "$code"
    die "the inventory or the conference schedule does not render (see above); fix $INV_PATH or $CONFERENCES and run this script again"
}
[ -n "$ROOT" ] || chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE"

# 4. our units
mkd "$UNIT_DIR" 755
UNITS=(commune-collector-gateway.service commune-collector-gateway.path
       commune-collector-gateway-restart.service commune-collector-render.service
       commune-collector-render.path commune-collector-expire.service
       commune-collector-expire.timer)
for unit in "${UNITS[@]}"; do
    record "$UNIT_DIR/$unit"
    # One pass per path, the inventory last: $INV_PATH may itself contain /etc/commune-collector.
    # The render and reload lines are replaced whole, last: the values are paths already.
    sed -e "s|/etc/commune-collector/inventory/thanh-hoa.yml|@INVENTORY@|g" \
        -e "s|/opt/commune-collector|$VENV|g" \
        -e "s|/etc/commune-collector|$ETC|g" \
        -e "s|/var/lib/commune-collector|$STATE|g" \
        -e "s|@INVENTORY@|$INV_PATH|g" \
        -e "s|--web.listen-address :9820|--web.listen-address $LISTEN|" \
        -e "s|--prometheus http://127.0.0.1:9090|--prometheus $PROMETHEUS|" \
        -e "s|^ExecStart=.* render .*|ExecStart=${RENDER[*]}|" \
        -e "s|^ExecStart=.* reload .*|ExecStart=${RELOAD[*]}|" \
        "$HERE/systemd/$unit" > "$UNIT_DIR/$unit.tmp"
    chmod 644 "$UNIT_DIR/$unit.tmp"
    mv "$UNIT_DIR/$unit.tmp" "$UNIT_DIR/$unit"
done

# 5. drop-ins: Debian's units started on the rendered files
CHANGED=()
dropin() {  # dropin UNIT EXECSTART...: write UNIT.d/commune-monitor.conf, note if it changed
    local unit=$1 dir=$UNIT_DIR/$1.d file
    shift
    file=$dir/commune-monitor.conf
    mkd "$dir" 755
    record "$file"
    cat > "$file.tmp" <<UNIT
# $unit on the files commune-collector render writes (commune-collector-render.service
# re-renders them). Written by commune-monitor's deploy/install-collector.sh: run it again to
# change these flags; deploy/uninstall-collector.sh removes this file.
[Service]
ExecStart=
ExecStart=$*
UNIT
    chmod 644 "$file.tmp"
    if cmp -s "$file.tmp" "$file"; then rm "$file.tmp"; else mv "$file.tmp" "$file"; CHANGED+=("$unit"); fi
    CREATED+=("restart $unit")
}
dropin prometheus.service /usr/bin/prometheus "--config.file=$OUT/prometheus.yml" \
    "--web.listen-address=$PROM_LISTEN" "--storage.tsdb.path=$DATA/metrics2" \
    "--storage.tsdb.retention.time=$RETENTION" \
    --web.enable-remote-write-receiver --web.enable-lifecycle
# No cluster port: one Alertmanager per province.
dropin prometheus-alertmanager.service /usr/bin/prometheus-alertmanager \
    "--config.file=$OUT/alertmanager.yml" "--storage.path=$DATA/alertmanager" \
    "--web.listen-address=$AM_LISTEN" --cluster.listen-address=

# 6. Grafana's provisioning
GRAFANA_CHANGED=0
if [ -d "$GRAFANA" ]; then
    for kind in dashboards datasources; do
        src=$OUT/grafana/provisioning/$kind/commune-monitor.yaml
        dst=$GRAFANA/provisioning/$kind/commune-monitor.yaml
        [ -f "$src" ] || { echo "$PROG: render wrote no $src; reinstall commune-monitor" >&2; exit 1; }
        if [ -e "$dst" ] && ! grep -qxF "file $dst" "$MANIFEST" 2>/dev/null; then
            step "keeping $dst (not written by this script)"
            continue
        fi
        mkd "$(dirname "$dst")" 755
        record "$dst"
        if ! cmp -s "$src" "$dst"; then
            step "writing $dst"
            install -m 644 "$src" "$dst.tmp"
            mv "$dst.tmp" "$dst"
            GRAFANA_CHANGED=1
        fi
    done
    GRAFANA_NOTE="Grafana reads $GRAFANA/provisioning/{dashboards,datasources}/commune-monitor.yaml."
else
    GRAFANA_NOTE="Grafana is not installed ($GRAFANA is missing): its provisioning stays in $OUT/grafana/provisioning;
  copy both commune-monitor.yaml files into Grafana's provisioning/ folders, or run this script
  again once Grafana is installed."
fi
printf '%s\n' "LISTEN=$LISTEN" "PROMETHEUS=$PROMETHEUS" "ALERTMANAGER=$ALERTMANAGER" \
    "RETENTION=$RETENTION" > "$OPTIONS"
write_manifest

# 7. start, or reload what runs
is_ready() {  # is_ready URL: its /-/ready answers 200
    "$VENV/bin/python" -I -c '
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/-/ready", timeout=3).read()
except Exception:
    sys.exit(1)' "$1"
}
RESTARTED=()
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
    for unit in prometheus.service prometheus-alertmanager.service; do
        systemctl cat "$unit" >/dev/null 2>&1 || continue  # --no-apt and not installed
        systemctl enable --quiet "$unit"
        if [[ " ${CHANGED[*]} " == *" $unit "* ]] || ! systemctl is-active --quiet "$unit"; then
            step "restarting $unit"
            systemctl restart "$unit"
            RESTARTED+=("$unit")
        fi
    done
    if [ "$GRAFANA_CHANGED" = 1 ] && systemctl is-active --quiet grafana-server.service; then
        step "restarting grafana-server.service (new provisioning)"
        systemctl restart grafana-server.service
    fi
fi
to_reload=()
for pair in "prometheus.service $PROMETHEUS" "prometheus-alertmanager.service $ALERTMANAGER"; do
    unit=${pair%% *} url=${pair#* }
    if [[ " ${RESTARTED[*]} " == *" $unit "* ]]; then continue; fi  # started on the new files
    if is_ready "$url"; then to_reload+=("$url")
    else step "$url does not answer: nothing to reload (it reads $OUT when it starts)"; fi
done
if [ ${#to_reload[@]} -gt 0 ]; then
    "$VENV/bin/commune-collector" reload "${to_reload[@]}" \
        || { echo "$PROG: the rendered config was refused (see above); the old one keeps running" >&2; exit 1; }
fi
if [ "$SYSTEMD" = 1 ]; then
    for url in "$PROMETHEUS" "$ALERTMANAGER"; do
        for _ in $(seq 60); do is_ready "$url" && break; sleep 0.5; done
        is_ready "$url" || step "warning: $url is not ready after 30 s; see journalctl -u prometheus -u prometheus-alertmanager"
    done
fi

summary=$(head -n 1 <<< "$rendered")
if [ "$SYSTEMD" = 1 ]; then
    running="systemctl status prometheus prometheus-alertmanager commune-collector-render.path"
else
    running="nothing was started (test install): run the ExecStart= lines of $UNIT_DIR/prometheus.service.d/commune-monitor.conf and $UNIT_DIR/prometheus-alertmanager.service.d/commune-monitor.conf"
fi
cat <<TXT
done: commune-collector is installed in $VENV; $summary
  Prometheus ($PROMETHEUS) and Alertmanager ($ALERTMANAGER) run on these files;
  commune-collector-render.path renders and reloads them whenever the inventory changes.
  Their data stays in $DATA.
  $GRAFANA_NOTE
check that it works:
  $running
  promtool check config $OUT/prometheus.yml
  amtool check-config $OUT/alertmanager.yml
  curl -s $PROMETHEUS/-/ready; curl -s $ALERTMANAGER/-/ready
  curl -s '$PROMETHEUS/api/v1/query?query=count(commune_inventory_node_info)'   # one per inventory node
  curl -s $PROMETHEUS/api/v1/rules | grep -o '"type":"alerting"' | wc -l       # alert rules loaded
enrol nodes with:
  $VENV/bin/commune-collector enrol --commune CODE --node NAME --inventory $INV_PATH \\
      --gateway-config $GATEWAY --gateway-url https://THIS-HOST:${LISTEN##*:}/api/v1/write
TXT
