#!/usr/bin/env bash
# Install (or upgrade in place) commune-agent on a commune node. Run from the repository checkout
# or the unpacked release; no internet needed with --wheelhouse.
#
#   sudo bash deploy/install-agent.sh --enrol cme1.eyJ...        # the line commune-collector enrol printed
#   sudo bash deploy/install-agent.sh --config agent.yml --token-file token   # offline hand-over
#
# Creates a venv in PREFIX (default /opt/commune-agent), the commune-agent system user,
# /etc/commune-agent/{agent.yml,token} (0600, owned by commune-agent), the spool in
# /var/lib/commune-agent/spool, and the hardened unit /etc/systemd/system/commune-agent.service;
# starts it, waits for /-/ready and the first sample delivered to the gateway, prints "done".
# Running it again upgrades the venv and keeps agent.yml, the token (unless --enrol gives a new
# one) and the spool. deploy/uninstall-agent.sh removes everything this script added.
#
# Test options: --root DIR installs everything under DIR, writes DIR-prefixed paths into the
# config and unit so the agent runs in place, creates no user, changes no owner and implies
# --no-systemd. --no-systemd writes the unit but does not start it: it prints
# "start: COMMAND" and waits for whoever runs COMMAND (the test) to bring the agent up.
set -euo pipefail
umask 022  # the service user must read the venv; secrets get 0600 explicitly

PROG=install-agent
HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE=$(dirname "$HERE")
PREFIX=/opt/commune-agent
ROOT=
SYSTEMD=1
WHEELHOUSE=
EXTRAS=            # the agent needs no extra: paramiko (commune-diag) stays off commune nodes
CODE=
CONFIG=
TOKEN=
LISTEN=:9810
PYTHON=${PYTHON:-python3}
READY_TIMEOUT=120
SERVICE_USER=commune-agent

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; cat <<'TXT'
options:
  --enrol CODE         enrolment code from 'commune-collector enrol'
  --config FILE --token-file FILE   agent.yml and token from 'commune-collector enrol --offline'
  --prefix DIR         venv location (default /opt/commune-agent)
  --wheelhouse DIR     install offline from the wheels in DIR (pip --no-index --find-links)
  --source DIR         install commune-monitor from this checkout (default: the one holding
                       this script; its dependencies then come from PyPI)
  --listen HOST:PORT   the agent's /metrics address (default :9810)
  --python PY          python 3.10+ used for the venv (default python3)
  --ready-timeout SEC  how long to wait for /-/ready and the first push (default 120)
  --root DIR, --no-systemd   for tests, see above
TXT
}
# shellcheck source=deploy/lib.sh
. "$HERE/lib.sh"

while [ $# -gt 0 ]; do
    case "$1" in
        --enrol|--enroll) need "$@"; CODE=$2; shift 2 ;;
        --config) need "$@"; CONFIG=$2; shift 2 ;;
        --token-file) need "$@"; TOKEN=$2; shift 2 ;;
        --prefix) need "$@"; PREFIX=$2; shift 2 ;;
        --root) need "$@"; ROOT=$2; shift 2 ;;
        --wheelhouse) need "$@"; WHEELHOUSE=$2; shift 2 ;;
        --source) need "$@"; SOURCE=$2; shift 2 ;;
        --listen) need "$@"; LISTEN=$2; shift 2 ;;
        --python) need "$@"; PYTHON=$2; shift 2 ;;
        --ready-timeout) need "$@"; READY_TIMEOUT=$2; shift 2 ;;
        --no-systemd) SYSTEMD=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done

check_target
[ -z "$CONFIG" ] || [ -f "$CONFIG" ] || die "--config $CONFIG: no such file"
[ -z "$TOKEN" ] || [ -f "$TOKEN" ] || die "--token-file $TOKEN: no such file"
if [ -n "$CONFIG" ] && [ -z "$TOKEN" ]; then die "--config needs --token-file too"; fi

VENV=$ROOT$PREFIX
ETC=$ROOT/etc/commune-agent
STATE=$ROOT/var/lib/commune-agent
SPOOL=$STATE/spool
UNIT_DIR=$ROOT/etc/systemd/system
UNIT=$UNIT_DIR/commune-agent.service
MANIFEST=$VENV/install-manifest

if [ ! -f "$ETC/agent.yml" ] && [ -z "$CODE" ] && [ -z "$CONFIG" ]; then
    die "not configured yet: give --enrol CODE (printed by 'commune-collector enrol') or --config agent.yml --token-file token"
fi
case "$CODE" in ""|cme1.*) ;; *) die "an enrolment code starts with 'cme1.'; copy the whole line printed by 'commune-collector enrol'" ;; esac
check_python
if [ -n "$CODE" ]; then  # fail before the slow venv: common/enrolment.py checks it again
    "$PYTHON" - "$CODE" <<'PY' || exit 2
import base64, json, sys, time
body = sys.argv[1][len("cme1."):]
try:
    expires = float(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["e"])
except Exception:
    sys.exit("install-agent: the enrolment code is damaged (was it cut or retyped?); "
             "copy the whole install line again")
if expires < time.time():
    sys.exit("install-agent: this enrolment code expired at "
             + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires))
             + "; ask the province for a new one (commune-collector enrol --reissue)")
PY
fi

trap write_manifest EXIT

# 1. the venv
install_venv

# 2. the user
[ -n "$ROOT" ] || add_user "$SERVICE_USER" /var/lib/commune-agent "commune-monitor agent"

# 3. config, token, spool
mkd "$ETC" 750 tree
mkd "$STATE" 755 tree
mkd "$SPOOL" 700
if [ -n "$CODE" ]; then
    if [ -f "$ETC/agent.yml" ]; then
        step "keeping $ETC/agent.yml; writing the new token from the enrolment code"
        tmp=$(mktemp -d)
        "$VENV/bin/python" -m common.enrolment write --code "$CODE" --config "$tmp/agent.yml" \
            --token-file "$ETC/token" --spool-dir "$SPOOL" >/dev/null || { rm -rf "$tmp"; exit 2; }
        rm -rf "$tmp"
    else
        step "writing $ETC/agent.yml and $ETC/token from the enrolment code"
        "$VENV/bin/python" -m common.enrolment write --code "$CODE" --config "$ETC/agent.yml" \
            --token-file "$ETC/token" --spool-dir "$SPOOL" >/dev/null || exit 2
    fi
elif [ -n "$CONFIG" ]; then
    if [ -f "$ETC/agent.yml" ]; then
        step "keeping $ETC/agent.yml (uninstall first to replace it)"
    else
        step "installing $ETC/agent.yml"
        # The offline config names /etc/commune-agent and /var/lib/commune-agent: follow --root.
        sed -e "s|/etc/commune-agent/|$ETC/|g" -e "s|/var/lib/commune-agent/|$STATE/|g" \
            "$CONFIG" > "$ETC/agent.yml.tmp"
        chmod 600 "$ETC/agent.yml.tmp"
        mv "$ETC/agent.yml.tmp" "$ETC/agent.yml"
    fi
    install -m 600 "$TOKEN" "$ETC/token"
else
    step "keeping $ETC/agent.yml and $ETC/token"
fi
chmod 600 "$ETC/agent.yml"
[ ! -f "$ETC/token" ] || chmod 600 "$ETC/token"
if [ -z "$ROOT" ]; then
    chown root:"$SERVICE_USER" "$ETC"
    chown "$SERVICE_USER:$SERVICE_USER" "$ETC/agent.yml" "$STATE" "$SPOOL"
    [ ! -f "$ETC/token" ] || chown "$SERVICE_USER:$SERVICE_USER" "$ETC/token"
fi
"$VENV/bin/commune-agent" check-config "$ETC/agent.yml" \
    || die "$ETC/agent.yml is not valid (see above); fix it and run this script again"

# 4. the unit: CAP_NET_RAW only for ICMP probes (ping needs a raw socket when the sysctl
# net.ipv4.ping_group_range does not allow ping sockets): kinds icmp and path (traceroute)
mkd "$UNIT_DIR" 755
record "$UNIT"
CAPS=
if grep -Eq "^[^#]*kind:[[:space:]]*[\"']?(icmp|path)([\"',}[:space:]]|$)" "$ETC/agent.yml"; then
    CAPS=CAP_NET_RAW
fi
sed -e "s|/opt/commune-agent|$VENV|g" \
    -e "s|/etc/commune-agent|$ETC|g" \
    -e "s|/var/lib/commune-agent|$STATE|g" \
    -e "s|--web.listen-address :9810|--web.listen-address $LISTEN|" \
    -e "s|^CapabilityBoundingSet=$|CapabilityBoundingSet=$CAPS|" \
    "$HERE/systemd/commune-agent.service" > "$UNIT.tmp"
if [ -n "$CAPS" ]; then sed -i "s|^#AmbientCapabilities=.*|AmbientCapabilities=$CAPS|" "$UNIT.tmp"; fi
chmod 644 "$UNIT.tmp"
mv "$UNIT.tmp" "$UNIT"

write_manifest

# 5. start and check
START="$VENV/bin/commune-agent run --config.file $ETC/agent.yml --web.listen-address $LISTEN"
if [ "$SYSTEMD" = 1 ]; then
    step "starting commune-agent.service"
    systemctl daemon-reload
    systemctl enable --quiet commune-agent.service
    CREATED+=("unit commune-agent.service")
    write_manifest
    systemctl restart commune-agent.service
else
    echo "start: $START"
fi
host=${LISTEN%:*}
port=${LISTEN##*:}
case "$host" in ""|0.0.0.0) host=127.0.0.1 ;; "[::]") host="[::1]" ;; esac
PUSH=()
if grep -Eq '^push:' "$ETC/agent.yml"; then PUSH=(--push); fi
"$VENV/bin/python" -m agent.selfcheck --url "http://$host:$port" "${PUSH[@]}" \
    --timeout "$READY_TIMEOUT" || exit 1
echo "done: commune-agent is installed in $VENV and running ($START)"
