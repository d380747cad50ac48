#!/usr/bin/env bash
# Run the suite on this machine, on loopback only: an agent and a Prometheus scraping it.
# Everything lives under .demo/ and stops with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
demo=$root/.demo
bin=$root/.venv/bin
agent_port=${AGENT_PORT:-9810}
prom_port=${PROMETHEUS_PORT:-9090}
mkdir -p "$demo/prometheus-data"

cat > "$demo/agent.yml" <<YAML
commune: "16318"
interval: 5s
modules:
  host: {}
YAML

cat > "$demo/prometheus.yml" <<YAML
global:
  scrape_interval: 5s
scrape_configs:
  - job_name: commune-agent
    static_configs:
      - targets: ["127.0.0.1:$agent_port"]
YAML

pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "demo stopped"
}
trap cleanup EXIT INT TERM

"$bin/commune-agent" check-config "$demo/agent.yml"
"$bin/commune-agent" --config.file "$demo/agent.yml" \
    --web.listen-address "127.0.0.1:$agent_port" >"$demo/agent.log" 2>&1 &
pids+=($!)
prometheus --config.file "$demo/prometheus.yml" --storage.tsdb.path "$demo/prometheus-data" \
    --web.listen-address "127.0.0.1:$prom_port" >"$demo/prometheus.log" 2>&1 &
pids+=($!)

wait_ready() {  # url name
    for _ in $(seq 100); do
        if curl -fsS "$1" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "demo: $2 did not become ready; see $demo/*.log" >&2
    exit 1
}
wait_ready "http://127.0.0.1:$agent_port/-/ready" commune-agent
wait_ready "http://127.0.0.1:$prom_port/-/ready" prometheus

cat <<TXT

commune-monitor demo is running (logs in .demo/):
  agent metrics   http://127.0.0.1:$agent_port/metrics
  Prometheus      http://127.0.0.1:$prom_port/targets
  a query         http://127.0.0.1:$prom_port/graph?g0.expr=node_load1
Press Ctrl-C to stop.
TXT
if [ -n "${DEMO_SECONDS:-}" ]; then sleep "$DEMO_SECONDS"; else wait; fi
