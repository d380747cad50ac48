#!/usr/bin/env bash
# Remove what deploy/install-agent.sh added: the service and its unit, the venv,
# /etc/commune-agent, /var/lib/commune-agent (the spool) and the commune-agent user if the
# installer created it. Folders that existed before the install stay.
#
#   sudo bash deploy/uninstall-agent.sh [--prefix /opt/commune-agent] [--root DIR] [--no-systemd]
set -euo pipefail
case " $* " in *" --prefix "*) ;; *) set -- --prefix /opt/commune-agent "$@" ;; esac
PROG=uninstall-agent exec bash "$(dirname "$0")/uninstall.sh" "$@"
