#!/usr/bin/env bash
# Remove what deploy/install-agent.sh added: the service, its unit, the venv, /etc/commune-agent,
# the spool in /var/lib/commune-agent and the commune-agent user (if the installer created it).
# Folders that existed before the install are left in place.
#
#   sudo bash deploy/uninstall-agent.sh [--prefix /opt/commune-agent] [--root DIR] [--no-systemd]
set -euo pipefail

PROG=uninstall-agent
PREFIX=/opt/commune-agent
ROOT=
SYSTEMD=1
die() { echo "$PROG: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a value"; PREFIX=$2; shift 2 ;;
        --root) [ $# -ge 2 ] || die "--root needs a value"; ROOT=$2; shift 2 ;;
        --no-systemd) SYSTEMD=0; shift ;;
        -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done
if [ -n "$ROOT" ]; then
    [ -d "$ROOT" ] || die "--root $ROOT: no such folder"
    ROOT=$(cd "$ROOT" && pwd)
    SYSTEMD=0
elif [ "$(id -u)" -ne 0 ]; then
    die "run as root (sudo bash $0), or use --root DIR for a test install"
fi
VENV=$ROOT$PREFIX
MANIFEST=$VENV/install-manifest
[ -f "$MANIFEST" ] || die "$MANIFEST not found: nothing installed with this --prefix/--root"

if [ "$SYSTEMD" = 1 ] && command -v systemctl >/dev/null; then
    systemctl disable --now --quiet commune-agent.service 2>/dev/null || true
fi
entries=$(cat "$MANIFEST")
# Files first, then folders deepest first (a folder we created is removed with its contents
# only if it is one of ours: the venv, /etc/commune-agent, /var/lib/commune-agent).
while read -r kind path; do
    if [ "$kind" = file ]; then rm -f "$path"; fi
done <<< "$entries"
for ours in "$VENV" "$ROOT/etc/commune-agent" "$ROOT/var/lib/commune-agent"; do
    if grep -qxF "dir $ours" <<< "$entries"; then rm -rf "$ours"; fi
done
grep '^dir ' <<< "$entries" | cut -d' ' -f2- | awk '{ print length, $0 }' | sort -rn \
    | cut -d' ' -f2- | while read -r dir; do
        [ ! -d "$dir" ] || rmdir "$dir" 2>/dev/null || echo "$PROG: kept $dir (not empty)"
    done
if [ "$SYSTEMD" = 1 ] && command -v systemctl >/dev/null; then systemctl daemon-reload; fi
if grep -qx "user commune-agent" <<< "$entries" && getent passwd commune-agent >/dev/null; then
    userdel commune-agent
fi
echo "removed commune-agent"
