#!/usr/bin/env bash
# Run the suite on this machine, on loopback only: an agent, and a Prometheus and an Alertmanager
# started on the config `commune-collector render` writes from a one-commune loopback inventory.
# Everything lives under .demo/ and stops with Ctrl-C (or after DEMO_SECONDS when set).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
demo=${DEMO_DIR:-$root/.demo}
bin=$root/.venv/bin
agent_port=${AGENT_PORT:-9810}
prom_port=${PROMETHEUS_PORT:-9090}
am_port=${ALERTMANAGER_PORT:-9093}
portal_port=${PORTAL_PORT:-9812}  # the stand-in TTHC portal (scripts/demo_portal.py)
mkdir -p "$demo/prometheus-data" "$demo/alertmanager-data"

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
YAML
rules=()
if [ -d configs/prometheus/rules ]; then rules=(--rules configs/prometheus/rules); fi
"$bin/commune-collector" render --inventory "$demo/inventory.yml" --out "$demo/render" \
    --alertmanager "127.0.0.1:$am_port" --scrape-interval 5s --evaluation-interval 5s \
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

cat <<TXT

commune-monitor demo is running (logs in ${demo#"$root"/}/):
  agent metrics   http://127.0.0.1:$agent_port/metrics
  Prometheus      http://127.0.0.1:$prom_port/targets
  a query         http://127.0.0.1:$prom_port/graph?g0.expr=node_load1
  Alertmanager    http://127.0.0.1:$am_port/#/alerts
  TTHC portal     http://127.0.0.1:$portal_port/ (stand-in; \`make demo-incident\` slows it, then stops it)
  rendered config ${demo#"$root"/}/render/ (commune-collector render of ${demo#"$root"/}/inventory.yml)
Press Ctrl-C to stop.
TXT
if [ -n "${DEMO_SECONDS:-}" ]; then sleep "$DEMO_SECONDS"; else wait; fi
