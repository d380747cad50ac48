#!/usr/bin/env bash
# Remove what an install script added, as listed in PREFIX/install-manifest (see lib.sh):
# disable its units, delete its files and folders, remove parent folders it created if they are
# empty, and the system user it created; units it gave a drop-in are restarted without it.
# Debian packages it installed stay unless --purge-packages (apt-get remove, never purge: their
# data, such as /var/lib/prometheus, stays). Nothing outside the manifest is touched.
#
#   sudo bash deploy/uninstall.sh --prefix /opt/commune-agent [--root DIR] [--no-systemd]
#        [--purge-packages]
set -euo pipefail

PROG=${PROG:-uninstall}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/lib.sh
. "$HERE/lib.sh"
PREFIX=
ROOT=
SYSTEMD=1
PURGE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) need "$@"; PREFIX=$2; shift 2 ;;
        --root) need "$@"; ROOT=$2; shift 2 ;;
        --no-systemd) SYSTEMD=0; shift ;;
        --purge-packages) PURGE=1; shift ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done
[ -n "$PREFIX" ] || die "--prefix is required (e.g. /opt/commune-agent)"
if [ -n "$ROOT" ]; then
    [ -d "$ROOT" ] || die "--root $ROOT: no such folder"
    ROOT=$(cd "$ROOT" && pwd)
    SYSTEMD=0
elif [ "$(id -u)" -ne 0 ]; then
    die "run as root (sudo bash $0 ...), or use --root DIR for a test install"
fi
MANIFEST=$ROOT$PREFIX/install-manifest
[ -f "$MANIFEST" ] || die "$MANIFEST not found: nothing installed with this --prefix/--root"
entries=$(cat "$MANIFEST")

field() { grep "^$1 " <<< "$entries" | cut -d' ' -f2- || true; }
if [ "$SYSTEMD" = 1 ] && command -v systemctl >/dev/null; then
    while read -r unit; do
        [ -z "$unit" ] || systemctl disable --now --quiet "$unit" 2>/dev/null || true
    done <<< "$(field unit)"
fi
while read -r path; do [ -z "$path" ] || rm -f "$path"; done <<< "$(field file)"
while read -r path; do [ -z "$path" ] || rm -rf "$path"; done <<< "$(field tree)"
# Parent folders, deepest first, only when empty.
field dir | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2- | while read -r dir; do
    [ -z "$dir" ] || [ ! -d "$dir" ] || rmdir "$dir" 2>/dev/null || echo "$PROG: kept $dir (not empty)"
done
if [ "$SYSTEMD" = 1 ] && command -v systemctl >/dev/null; then
    systemctl daemon-reload
    while read -r unit; do
        [ -z "$unit" ] || systemctl try-restart "$unit" 2>/dev/null || true
    done <<< "$(field restart)"
fi
mapfile -t packages < <(field package | grep . || true)
if [ ${#packages[@]} -gt 0 ]; then
    if [ "$PURGE" = 0 ]; then
        echo "$PROG: kept the packages the install added: ${packages[*]} (--purge-packages removes them)"
    elif [ -n "$ROOT" ]; then
        echo "$PROG: --root: apt-get is not run; not removed: ${packages[*]}"
    else
        DEBIAN_FRONTEND=noninteractive apt-get remove -y -q "${packages[@]}"
    fi
fi
while read -r user; do
    if [ -n "$user" ] && getent passwd "$user" >/dev/null; then userdel "$user"; fi
done <<< "$(field user)"
echo "removed what $PREFIX/install-manifest listed"
