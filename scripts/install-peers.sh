#!/usr/bin/env bash
# Install the Debian packages the tests and the demo use as real peers, when missing.
# Services are never started by the packages: tests start their own on loopback ports.
set -euo pipefail

# One entry a line, so branches that add a peer merge cleanly.
PEERS_BIN=(
    prometheus promtool prometheus-alertmanager amtool prometheus-node-exporter
    prometheus-blackbox-exporter prometheus-snmp-exporter
    snmpd snmpwalk
    sipp
    iperf3
    sshd
    softflowd
    nfcapd nfdump
    victoria-metrics
    curl
    openssl
    unshare ip ss sysctl journalctl systemd-analyze
    nft
    shellcheck
    chromium
)
PACKAGES=(
    prometheus prometheus-alertmanager prometheus-node-exporter
    prometheus-blackbox-exporter prometheus-snmp-exporter
    snmpd snmp
    sip-tester
    iperf3
    openssh-server
    softflowd
    nfdump
    victoria-metrics
    curl
    openssl
    util-linux iproute2 procps systemd
    nftables
    shellcheck
    chromium
)

have_all() {
    local b
    for b in "${PEERS_BIN[@]}"; do
        command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || [ -x "/usr/bin/$b" ] || return 1
    done
}

if have_all; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

# Keep the packages' init scripts from starting system-wide services.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
have_all || { echo "install-peers: some peer binaries are still missing" >&2; exit 1; }
