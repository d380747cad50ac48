#!/usr/bin/env bash
# Remove what deploy/install-collector.sh added: units, venv, /etc/commune-collector (with the
# inventory copy and gateway.yml: keep a backup first), /var/lib/commune-collector, the user.
#
#   sudo bash deploy/uninstall-collector.sh [--prefix /opt/commune-collector] [--root DIR]
set -euo pipefail
case " $* " in *" --prefix "*) ;; *) set -- --prefix /opt/commune-collector "$@" ;; esac
PROG=uninstall-collector exec bash "$(dirname "$0")/uninstall.sh" "$@"
