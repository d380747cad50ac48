#!/usr/bin/env bash
# Run the suite on this machine, on loopback only: a scraped agent (commune 16318), a second agent
# pushing (commune 14797) through the gateway (`commune-collector serve`, with a token generated
# here), and a Prometheus and an Alertmanager started on the config `commune-collector render`
# writes from a two-commune loopback inventory. Everything lives under .demo/ and stops with
# Ctrl-C (or after DEMO_SECONDS when set). Ports: AGENT_PORT, PUSH_AGENT_PORT, GATEWAY_PORT,
# PROMETHEUS_PORT, ALERTMANAGER_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
demo=${DEMO_DIR:-$root/.demo}
bin=$root/.venv/bin
agent_port=${AGENT_PORT:-9810}
push_agent_port=${PUSH_AGENT_PORT:-9811}
gateway_port=${GATEWAY_PORT:-9820}
prom_port=${PROMETHEUS_PORT:-9090}
am_port=${ALERTMANAGER_PORT:-9093}
portal_port=${PORTAL_PORT:-9812}  # the stand-in TTHC portal (scripts/demo_portal.py)
mkdir -p "$demo/prometheus-data" "$demo/alertmanager-data" "$demo/spool"

cat > "$demo/agent.yml" <<YAML
commune: "16318"
interval: 5s
modules:
  host: {}
  # The stand-in portal, probed like the real one (make demo-incident slows it, then stops it).
  probe:
    targets:
      - {name: tthc-portal, kind: http, url: "http://127.0.0.1:$portal_port/", timeout: 4500ms}
YAML

# The pushing agent's token: the agent reads the text, the gateway keeps only its SHA-256.
umask 077
openssl rand -hex 32 > "$demo/push-token"
umask 022
token_sha256=$(tr -d '\n' < "$demo/push-token" | sha256sum | cut -d' ' -f1)
cat > "$demo/push-agent.yml" <<YAML
commune: "14797"
interval: 5s
modules:
  host: {}
  probe:
    targets:
      - {name: tthc-portal, kind: http, url: "http://127.0.0.1:$portal_port/", timeout: 4500ms}
push:
  url: http://127.0.0.1:$gateway_port/api/v1/write
  token_file: $demo/push-token
  spool_dir: $demo/spool
YAML
cat > "$demo/gateway.yml" <<YAML
receivers:
  - url: http://127.0.0.1:$prom_port/api/v1/write
inventory: $demo/inventory.yml
tokens:
  - {commune: "14797", node: lan-1, sha256: $token_sha256}
YAML

# A loopback inventory (the province's is configs/inventory/thanh-hoa.yml) rendered into
# prometheus.yml, file_sd/, rules/ and alertmanager.yml.
cat > "$demo/inventory.yml" <<YAML
province: {code: "38", name: "Thanh Hóa"}
communes:
  - code: "16318"
    name: "Demo commune (loopback)"
    type: xã
    terrain: lowland
    group: "Demo"
    nodes:
      - {name: lan-1, role: lan-node, mode: scrape, address: "127.0.0.1:$agent_port"}
  - code: "14797"
    name: "Demo ward, pushing (loopback)"
    type: phường
    terrain: mountain
    group: "Demo"
    nodes:
      - {name: lan-1, role: lan-node, mode: push}
YAML
rules=()
if [ -d configs/prometheus/rules ]; then rules=(--rules configs/prometheus/rules); fi
"$bin/commune-collector" render --inventory "$demo/inventory.yml" --out "$demo/render" \
    --alertmanager "127.0.0.1:$am_port" --gateway "127.0.0.1:$gateway_port" \
    --scrape-interval 5s --evaluation-interval 5s \
    "${rules[@]}" >/dev/null

pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "demo stopped"
}
trap cleanup EXIT INT TERM

# The stand-in TTHC portal: normal, slow or down on request (POST /-/mode/slow; make demo-incident).
"$bin/python" scripts/demo_portal.py --port "$portal_port" >"$demo/portal.log" 2>&1 &
pids+=($!)

"$bin/commune-agent" check-config "$demo/agent.yml"
"$bin/commune-agent" check-config "$demo/push-agent.yml"
"$bin/commune-agent" --config.file "$demo/agent.yml" \
    --web.listen-address "127.0.0.1:$agent_port" >"$demo/agent.log" 2>&1 &
pids+=($!)
prometheus --config.file "$demo/render/prometheus.yml" --storage.tsdb.path "$demo/prometheus-data" \
    --web.listen-address "127.0.0.1:$prom_port" --web.enable-remote-write-receiver \
    --web.enable-lifecycle >"$demo/prometheus.log" 2>&1 &
pids+=($!)
prometheus-alertmanager --config.file "$demo/render/alertmanager.yml" \
    --storage.path "$demo/alertmanager-data" --web.listen-address "127.0.0.1:$am_port" \
    --cluster.listen-address= >"$demo/alertmanager.log" 2>&1 &
pids+=($!)

"$bin/commune-collector" serve --config.file "$demo/gateway.yml" \
    --web.listen-address "127.0.0.1:$gateway_port" >"$demo/gateway.log" 2>&1 &
pids+=($!)
"$bin/commune-agent" --config.file "$demo/push-agent.yml" \
    --web.listen-address "127.0.0.1:$push_agent_port" >"$demo/push-agent.log" 2>&1 &
pids+=($!)

wait_ready() {  # url name
    for _ in $(seq 100); do
        if curl -fsS "$1" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "demo: $2 did not become ready; see $demo/*.log" >&2
    exit 1
}
wait_ready "http://127.0.0.1:$portal_port/-/mode" demo-portal
wait_ready "http://127.0.0.1:$agent_port/-/ready" commune-agent
wait_ready "http://127.0.0.1:$prom_port/-/ready" prometheus
wait_ready "http://127.0.0.1:$am_port/-/ready" alertmanager
wait_ready "http://127.0.0.1:$gateway_port/-/ready" "commune-collector serve"
wait_ready "http://127.0.0.1:$push_agent_port/-/ready" "the pushing commune-agent"
board_port=${BOARD_PORT:-9830}  # the status board (docs/board.md); its log says why if it did not start
"$bin/commune-collector" board --prometheus "http://127.0.0.1:$prom_port" --alertmanager \
    "http://127.0.0.1:$am_port" --inventory "$demo/inventory.yml" \
    --web.listen-address "127.0.0.1:$board_port" >"$demo/board.log" 2>&1 &
pids+=($!)

both='count by (commune, commune_name, instance, job) (node_load1{commune!=""})'
query=$("$bin/python" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$both")
cat <<TXT

commune-monitor demo is running (logs in ${demo#"$root"/}/):
  status board    http://127.0.0.1:$board_port/   (every commune at a glance: commune-collector board)
  scraped agent   http://127.0.0.1:$agent_port/metrics   (commune 16318, scraped by Prometheus)
  pushing agent   http://127.0.0.1:$push_agent_port/metrics   (commune 14797, pushes through the gateway)
  gateway         http://127.0.0.1:$gateway_port/metrics   (commune-collector serve)
  Prometheus      http://127.0.0.1:$prom_port/targets
  both communes   http://127.0.0.1:$prom_port/graph?g0.expr=$query&g0.tab=1
                  ($both)
  Alertmanager    http://127.0.0.1:$am_port/#/alerts
  TTHC portal     http://127.0.0.1:$portal_port/ (stand-in; \`make demo-incident\` slows it, then stops it)
  rendered config ${demo#"$root"/}/render/ (commune-collector render of ${demo#"$root"/}/inventory.yml)
Press Ctrl-C to stop.
TXT
# `wait` (not a foreground sleep) lets SIGTERM run the cleanup trap at once.
if [ -n "${DEMO_SECONDS:-}" ]; then sleep "$DEMO_SECONDS" & pids+=($!); wait "$!"; else wait; fi
