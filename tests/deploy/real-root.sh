#!/usr/bin/env bash
# Run by test_collector_install_real_root.py inside `unshare --mount`: /etc, /opt and /var/lib
# become overlays whose upper layers are under $WORK, so the installers' real-root path (user,
# owners, apt-get, systemctl through the stand-ins of fake-bin/) runs without changing this
# machine. Each step's output goes to $WORK/NAME.out and its exit code to $WORK/NAME.rc.
#
#   WORK=DIR WHEELS=DIR INVENTORY=FILE PROMETHEUS=URL ALERTMANAGER=URL LISTEN=HOST:PORT \
#       unshare --mount --propagation private bash tests/deploy/real-root.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DEPLOY=$(cd "$HERE/../../deploy" && pwd)
for dir in /etc /opt /var/lib; do
    name=${dir//\//_}
    mkdir -p "$WORK/upper$name" "$WORK/work$name"
    mount -t overlay overlay \
        -o "lowerdir=$dir,upperdir=$WORK/upper$name,workdir=$WORK/work$name" "$dir"
done
export FAKE_LOG=$WORK/calls.log FAKE_STATE=$WORK/state PATH=$HERE/fake-bin:$PATH
mkdir -p "$FAKE_STATE"
: > "$FAKE_LOG"
stop_all() {  # the peers the systemctl stand-in started
    local pidfile
    for pidfile in "$FAKE_STATE"/*.pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
    done
}
trap stop_all EXIT

step() {  # step NAME COMMAND...: run it, keep its output and exit code, mark the log
    local name=$1
    shift
    echo "== $name" >> "$FAKE_LOG"
    set +e
    "$@" > "$WORK/$name.out" 2>&1
    echo $? > "$WORK/$name.rc"
    set -e
}
probe() {  # what the test checks between the steps, into $WORK/NAME.state
    {
        echo "user: $(getent passwd commune-collector | cut -d: -f1,7)"
        echo "owner: $(stat -c %U:%G /var/lib/commune-collector/prometheus/prometheus.yml 2>&1)"
        echo "gateway.yml: $(stat -c %U:%G:%a /etc/commune-collector/gateway.yml 2>&1)"
        echo "prometheus: $(curl -s "$PROMETHEUS/-/ready" 2>&1)"
        echo "alertmanager: $(curl -s "$ALERTMANAGER/-/ready" 2>&1)"
        echo "drop-in: $(ls /etc/systemd/system/prometheus.service.d 2>&1)"
        echo "data: $(ls -d /var/lib/prometheus/metrics2/wal 2>&1)"
    } > "$WORK/$1.state"
}

step install bash "$DEPLOY/install-collector.sh" --wheelhouse "$WHEELS" \
    --inventory "$INVENTORY" --receiver "$PROMETHEUS/api/v1/write" --listen "$LISTEN" \
    --prometheus "$PROMETHEUS" --alertmanager "$ALERTMANAGER"
probe install
step again bash "$DEPLOY/install-collector.sh" --wheelhouse "$WHEELS"
probe again
step uninstall bash "$DEPLOY/uninstall-collector.sh" --purge-packages
probe uninstall
