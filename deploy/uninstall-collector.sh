#!/usr/bin/env bash
# Remove what deploy/install-collector.sh added: its units, the Prometheus and Alertmanager
# drop-ins (both are restarted on Debian's own config), the Grafana provisioning files it wrote,
# the venv, /etc/commune-collector (with the inventory copy and gateway.yml: keep a backup
# first), /var/lib/commune-collector and the user. The packages it apt-installed stay unless
# --purge-packages; Prometheus' data in /var/lib/prometheus always stays.
#
#   sudo bash deploy/uninstall-collector.sh [--prefix /opt/commune-collector] [--root DIR]
#        [--purge-packages]
set -euo pipefail
case " $* " in *" --prefix "*) ;; *) set -- --prefix /opt/commune-collector "$@" ;; esac
PROG=uninstall-collector exec bash "$(dirname "$0")/uninstall.sh" "$@"
