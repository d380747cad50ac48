#!/usr/bin/env bash
# An incident for a running `make demo`: slow the stand-in TTHC portal down, then stop it, then
# bring it back, and show what Alertmanager holds at each step. The demo renders the production
# rules (`for: 2m`, 1 h / 5 min SLO windows), so each step takes minutes: the script says how long.
set -euo pipefail
cd "$(dirname "$0")/.."
portal=http://127.0.0.1:${PORTAL_PORT:-9812}
am=http://127.0.0.1:${ALERTMANAGER_PORT:-9093}
step_timeout=${INCIDENT_STEP_TIMEOUT:-900}  # seconds to wait for each step's alert change
poll=${INCIDENT_POLL:-5}
py=.venv/bin/python

if ! curl -fsS "$portal/-/mode" >/dev/null 2>&1 || ! curl -fsS "$am/-/ready" >/dev/null 2>&1; then
    echo "demo-incident: no demo portal at $portal or no Alertmanager at $am;" \
         "start \`make demo\` in another terminal first (same PORTAL_PORT/ALERTMANAGER_PORT)" >&2
    exit 1
fi

mode() { curl -fsS -X POST "$portal/-/mode/$1" >/dev/null; }
trap 'mode normal 2>/dev/null || true' EXIT INT TERM

firing() {  # the names of the alerts Alertmanager holds active, sorted, space-separated
    curl -fsS "$am/api/v2/alerts?active=true&silenced=false&inhibited=false" | "$py" -c '
import json, sys
print(" ".join(sorted({a["labels"]["alertname"] for a in json.load(sys.stdin)})))'
}

wait_until() {  # present|absent REGEX: until an active alert name matches (or none does)
    local want=$1 regex=$2 start=$SECONDS last="-" now
    while :; do
        now=$(firing)
        if [ "$now" != "$last" ]; then
            echo "  [+$((SECONDS - start))s] active in Alertmanager: ${now:-none}"
            last=$now
        fi
        if [[ " $now " =~ \ ($regex)\  ]]; then [ "$want" = present ] && return 0
        elif [ "$want" = absent ]; then return 0; fi
        if ((SECONDS - start > step_timeout)); then
            echo "demo-incident: nothing changed after ${step_timeout}s; see $am/#/alerts" >&2
            exit 1
        fi
        sleep "$poll"
    done
}

echo "1/3 The portal answers in 3.5 s instead of at once (the SLI wants under 3 s)."
echo "    Expect TTHCPortalSLOBurnFast once over 14.4% of the last hour's probes were slow and"
echo "    that held for 2 min: about 3-5 minutes on a freshly started demo."
mode slow
wait_until present TTHCPortalSLOBurnFast

echo "2/3 The portal is down (503)."
echo "    Expect TTHCPortalDown after 2 min: both demo communes probe the portal (a single commune"
echo "    cannot tell the portal from its own uplink, and would show CommuneUplinkDown)."
mode down
wait_until present 'TTHCPortalDown|CommuneUplinkDown'

echo "3/3 The portal is back. Alerts resolve as the 5 min windows clear (CommuneUplinkDown"
echo "    keeps firing 5 min after recovery, against flapping): up to about 6 minutes."
mode normal
wait_until absent 'TTHCPortalSLOBurnFast|TTHCPortalDown|CommuneUplinkDown'
echo "Incident over: every portal alert resolved (see $am/#/alerts and its history in Prometheus)."
