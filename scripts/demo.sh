#!/usr/bin/env bash
# Run the suite on this machine, on loopback only: a scraped agent (commune 16318), a second agent
# pushing (commune 14797) through the gateway (`commune-collector serve`, with a token generated
# here), and a Prometheus and an Alertmanager started on the config `commune-collector render`
# writes from a three-commune loopback inventory (the third never reports: "no data").
# So that every dashboard panel has data, the agents also probe by ICMP, DNS, TCP and SIP, poll
# Debian's snmpd and a VC room system's API, run the security and logs modules on logs written
# here, and a node exporter serves a commune-diag textfile (stand-ins: scripts/demo_peers.py).
# The scraped agent also measures throughput against Debian's iperf3 server on loopback (once,
# some 45 s after the start: its slot of the hour) and counts the NetFlow v5 export
# demo_peers.py sends as the commune's router.
# Everything lives under .demo/ and stops with Ctrl-C (or after DEMO_SECONDS when set). Ports:
# AGENT_PORT, PUSH_AGENT_PORT, GATEWAY_PORT, PROMETHEUS_PORT, ALERTMANAGER_PORT, PORTAL_PORT,
# PORTAL_TLS_PORT, VC_PORT, DIAG_PORT, IPERF3_PORT (TCP); SNMP_PORT, SIP_PORT, DNS_PORT,
# FLOWS_PORT (UDP).
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
portal_tls_port=${PORTAL_TLS_PORT:-9813}  # the same portal over HTTPS
vc_port=${VC_PORT:-9814}          # a VC room system's HTTP API (scripts/demo_peers.py)
diag_port=${DIAG_PORT:-9815}      # node exporter serving the commune-diag textfile
snmp_port=${SNMP_PORT:-9816}      # snmpd, the commune's switch (UDP)
sip_port=${SIP_PORT:-9817}        # the province's SIP server (UDP, scripts/demo_peers.py)
dns_port=${DNS_PORT:-9818}        # the province's resolver (UDP, scripts/demo_peers.py)
iperf3_port=${IPERF3_PORT:-9819}  # the province's iperf3 server (throughput probe)
flows_port=${FLOWS_PORT:-9821}    # the agent's flows module: the router's NetFlow export (UDP)
mkdir -p "$demo/prometheus-data" "$demo/alertmanager-data" "$demo/spool" "$demo/tls" \
    "$demo/security" "$demo/snmpd-state" "$demo/textfile" "$demo/www"

# The portal's certificate (self-signed for 127.0.0.1, 30 days: the certificate panels count
# down from there); the agents trust it through ca_file.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$demo/tls/portal-key.pem" -out "$demo/tls/portal.pem" 2>/dev/null
echo '<!doctype html><p>Cổng dịch vụ công</p>' > "$demo/www/index.html"
echo public > "$demo/snmp-community"  # the default community, which the security module flags
cat > "$demo/snmpd.conf" <<CONF
agentAddress udp:127.0.0.1:$snmp_port
rocommunity public 127.0.0.1
sysName core-switch
sysLocation Demo commune office
CONF
probes() {  # the targets both agents probe: the province's services (vc-mcu, the VC MCU, with a
            # call-quality estimate: commune_vc_mos_estimate) and the commune's gateway
    cat <<YAML
      - {name: tthc-portal, kind: https, url: "https://127.0.0.1:$portal_tls_port/",
         ca_file: $demo/tls/portal.pem, timeout: 4500ms}
      - {name: gateway, kind: icmp, host: 127.0.0.1, count: 5, interval: 200ms, timeout: 3s}
      - {name: vc-mcu, kind: icmp, host: 127.0.0.1, count: 5, interval: 200ms, timeout: 3s,
         mos: true}
      - {name: vc-sip, kind: sip, host: 127.0.0.1, port: $sip_port, timeout: 3s}
      - {name: tthc-db, kind: tcp, host: 127.0.0.1, port: $prom_port, timeout: 3s}
YAML
}

# The throughput run's second of the hour: soon after the agent starts (it waits for its slot).
throughput_slot=$(( ($(date +%s) + 45) % 3600 ))

cat > "$demo/agent.yml" <<YAML
commune: "16318"
interval: 5s
modules:
  host: {}
  # The stand-in portal, probed like the real one (make demo-incident slows it, then stops it).
  probe:
    state_dir: $demo/probe   # the throughput budget's state, in the demo's folder
    targets:
$(probes)
      - {name: resolver, kind: dns, server: 127.0.0.1, port: $dns_port,
         query_name: dichvucong.demo., timeout: 3s}
      # 2 s each way, one stream. Loopback moves a few GB a second: the budget lets the first
      # run go both ways and skips the day's later ones.
      - {name: province-speed, kind: throughput, host: 127.0.0.1, port: $iperf3_port,
         duration: 2s, streams: 1, daily_budget: 10GB, slot_second: $throughput_slot,
         timeout: 3s}
  # The commune router's NetFlow export (scripts/demo_peers.py --flows-port).
  flows:
    listen: ["127.0.0.1:$flows_port"]
    exporters: ["127.0.0.1"]
    lan: ["192.168.1.0/24"]
    portal: ["203.0.113.10"]
    names: {"192.168.1.20": ketoan-pc, "192.168.1.31": camera-cong}
  snmp:
    devices:
      - {name: core-switch, address: "127.0.0.1:$snmp_port", version: 2c,
         community_file: $demo/snmp-community, modules: [if_mib, system], timeout: 3s}
      - {name: vc-room, url: "http://127.0.0.1:$vc_port", modules: [vc/cisco_xapi], timeout: 3s}
  security:
    state_dir: $demo/security
    auth: {files: [$demo/auth.log], from_start: true}
    # On loopback the demo's own services are the "unexpected" listeners.
    listen: {include_loopback: true, allow: [{proto: tcp, port: $agent_port}]}
    neighbours: {known: []}
    integrity: {path_sets: [{name: portal, paths: [$demo/www]}]}
    certs: {paths: [$demo/tls/portal.pem]}
    updates: {}
    snmp_community: {address: "127.0.0.1:$snmp_port"}
  logs:
    files:
      - name: portal
        path: $demo/access.log
        from_start: true
        format: regex
        regex: '(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>[^ "]*)[^"]*" (?P<status>\d{3}) (?P<bytes>\d+|-) "[^"]*" "(?P<user_agent>[^"]*)" (?P<request_time>[\d.]+)'
        routes:
          - {name: dossier, match: "^/dossier/"}
          - {name: payment, match: "^/thanh-toan/"}
          - {name: static, match: "^/static/"}
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
    state_dir: $demo/probe   # the throughput budget's state, in the demo's folder
    targets:
$(probes)
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
  - code: "16522"
    name: "Demo commune, silent (never reports)"
    type: xã
    terrain: lowland
    group: "Demo 2"
    nodes:
      - {name: lan-1, role: lan-node, mode: push}
YAML
# A conference a few minutes from now: its readiness window (24h ahead) is open all along, so
# the VC dashboard's and the board's readiness sections show who is not ready.
conference_start=$(TZ=Asia/Ho_Chi_Minh date -d '+5 minutes' +%Y-%m-%dT%H:%M)
cat > "$demo/conferences.yml" <<YAML
timezone: Asia/Ho_Chi_Minh
conferences:
  - name: giao-ban-demo
    title: "Giao ban trực tuyến (demo) / Online briefing (demo)"
    start: $conference_start
    duration: 1h
    warn_before: 24h
    communes: all
YAML
rules=()
if [ -d configs/prometheus/rules ]; then rules=(--rules configs/prometheus/rules); fi
"$bin/commune-collector" render --inventory "$demo/inventory.yml" --out "$demo/render" \
    --alertmanager "127.0.0.1:$am_port" --gateway "127.0.0.1:$gateway_port" \
    --scrape-interval 5s --evaluation-interval 5s --conferences "$demo/conferences.yml" \
    "${rules[@]}" >/dev/null
# The commune-diag results, read by a node exporter's textfile collector (labels as written).
"$bin/python" - "$demo/render/prometheus.yml" "$diag_port" <<'PY'
import sys, yaml
path, port = sys.argv[1], sys.argv[2]
config = yaml.safe_load(open(path, encoding="utf-8"))
config["scrape_configs"].append({"job_name": "commune-diag", "honor_labels": True,
                                 "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]})
open(path, "w", encoding="utf-8").write(yaml.safe_dump(config, allow_unicode=True))
PY

pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "demo stopped"
}
trap cleanup EXIT INT TERM

# The stand-in TTHC portal: normal, slow or down on request (POST /-/mode/slow; make demo-incident).
"$bin/python" scripts/demo_portal.py --port "$portal_port" --tls-port "$portal_tls_port" \
    --tls-cert "$demo/tls/portal.pem" --tls-key "$demo/tls/portal-key.pem" \
    >"$demo/portal.log" 2>&1 &
pids+=($!)
# The SIP server, resolver and VC room system; the access and auth logs; the diag textfile.
"$bin/python" scripts/demo_peers.py --sip-port "$sip_port" --dns-port "$dns_port" \
    --vc-port "$vc_port" --vc-status tests/fixtures/http/cisco-status.xml \
    --access-log "$demo/access.log" --auth-log "$demo/auth.log" \
    --diag-textfile "$demo/textfile/commune-diag.prom" --flows-port "$flows_port" \
    >"$demo/peers.log" 2>&1 &
pids+=($!)
iperf3 -s -B 127.0.0.1 -p "$iperf3_port" >"$demo/iperf3.log" 2>&1 &
pids+=($!)
SNMP_PERSISTENT_DIR=$demo/snmpd-state MIBS='' MIBDIRS=/nonexistent \
    "$(command -v snmpd || echo /usr/sbin/snmpd)" -f -Lo -C -c "$demo/snmpd.conf" \
    -p "$demo/snmpd.pid" >"$demo/snmpd.log" 2>&1 &
pids+=($!)
prometheus-node-exporter --web.listen-address "127.0.0.1:$diag_port" \
    --collector.disable-defaults --collector.textfile \
    --collector.textfile.directory "$demo/textfile" >"$demo/diag-exporter.log" 2>&1 &
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
wait_ready "http://127.0.0.1:$vc_port/getxml" "demo VC room system"
wait_ready "http://127.0.0.1:$diag_port/metrics" "diag textfile exporter"
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
  TTHC portal     http://127.0.0.1:$portal_port/ and https://127.0.0.1:$portal_tls_port/ (stand-in; \`make demo-incident\` slows it, then stops it)
  devices         snmpd udp:127.0.0.1:$snmp_port, VC room http://127.0.0.1:$vc_port/getxml, SIP udp:127.0.0.1:$sip_port, DNS udp:127.0.0.1:$dns_port
  why slow        iperf3 server 127.0.0.1:$iperf3_port (a run at second $throughput_slot of the hour), NetFlow v5 to udp:127.0.0.1:$flows_port
  diag results    http://127.0.0.1:$diag_port/metrics (commune-diag textfile)
  rendered config ${demo#"$root"/}/render/ (commune-collector render of ${demo#"$root"/}/inventory.yml)
  conference      giao-ban-demo at $conference_start (Asia/Ho_Chi_Minh): readiness on the board and the VC dashboard (${demo#"$root"/}/conferences.yml)
Press Ctrl-C to stop.
TXT
# `wait` (not a foreground sleep) lets SIGTERM run the cleanup trap at once.
if [ -n "${DEMO_SECONDS:-}" ]; then sleep "$DEMO_SECONDS" & pids+=($!); wait "$!"; else wait; fi
