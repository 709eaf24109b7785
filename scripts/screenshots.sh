#!/usr/bin/env bash
# Refreshes docs/screenshots/*.png: builds strix, starts it on a loopback port with a demo
# configuration and demo data (an hour of a queue-depth series, errors, checks), runs
# ui/scripts/screenshots.mjs against it, and stops it by PID.
# Needs chromium (/usr/bin/chromium) and `npm --prefix ui ci`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strix-target}"
cargo build -q
bin="$CARGO_TARGET_DIR/debug/strix"
port="${STRIX_SCREENSHOT_PORT:-39123}"
base="http://127.0.0.1:$port"
work="$(mktemp -d)"
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/rules.yml" <<'YAML'
groups:
  - name: demo
    interval: 5s
    rules:
      - alert: QueueBacklog
        expr: demo_queue_depth > 100
        labels: {severity: critical}
        annotations: {summary: "queue {{ $labels.queue }} is backed up"}
      - alert: QueueGrowing
        expr: demo_queue_depth > 40
        labels: {severity: warning}
        annotations: {summary: "queue {{ $labels.queue }} is growing"}
YAML
cat > "$work/strix.yaml" <<YAML
global: {evaluation_interval: 5s, scrape_interval: 5s, scrape_timeout: 4s}
rule_files: [rules.yml]
host_metrics: {enabled: true, interval: 5s}
kpis:
  - {name: queue_depth, expr: max(demo_queue_depth), direction: above, target: 10, warning: 50, critical: 100}
  - {name: api_p95, expr: "1000 * histogram_quantile(0.95, sum by (le) (rate(strix_http_request_duration_seconds_bucket[5m])))", unit: ms, direction: above, target: 50, warning: 200, critical: 500}
checks:
  - {name: strix-self, type: http, url: "$base/-/healthy", interval: 5s, timeout: 2s}
  - {name: payments-db, type: tcp, host: 127.0.0.1, port: 9, interval: 5s, timeout: 1s}
  - {name: nightly-backup, type: heartbeat, token: demo-heartbeat-token, period: 24h, grace: 30m}
projects:
  - {id: 1, slug: web, public_key: 0123456789abcdef0123456789abcdef}
check_settings:
  components: {disk_free_percent: 1, disk_free_critical_percent: 0}
YAML

"$bin" serve --config "$work/strix.yaml" --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/strix.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    curl -fsS "$base/-/ready" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -fsS "$base/-/ready" >/dev/null || { cat "$work/strix.log"; exit 1; }

# An hour of demo queue depths (one sample a minute), then the current values.
python3 - "$base" <<'PY'
import json, math, sys, time, urllib.request
base = sys.argv[1]
now = int(time.time() * 1000)
lines = []
for queue, level, amp in (("orders", 30, 25), ("mail", 8, 4), ("billing", 90, 60)):
    ts = [now - (60 - i) * 60_000 for i in range(60)]
    vs = [round(level + amp * math.sin(i / 7.0) + (i * 0.8 if queue == "billing" else 0), 1) for i in range(60)]
    lines.append(json.dumps({"metric": {"__name__": "demo_queue_depth", "queue": queue}, "values": vs, "timestamps": ts}))
req = urllib.request.Request(base + "/api/v1/import", data="\n".join(lines).encode(), headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
push = [{"name": "demo_queue_depth", "labels": {"queue": q}, "value": v} for q, v in (("orders", 44), ("mail", 7), ("billing", 180))]
req = urllib.request.Request(base + "/api/monitoring/metrics", data=json.dumps(push).encode(), headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
errors = [
    {"type": "javascript", "message": "TypeError: cart.items is undefined", "stack": "at render (cart.js:42:7)\nat update (app.js:10:3)", "component": "web-cart", "endpoint": "/cart", "status": 500, "user": "u-17"},
    {"type": "api", "message": "upstream payments timed out after 5000ms", "component": "payments", "endpoint": "/api/pay", "status": 504, "user": "u-3"},
    {"type": "auth", "message": "token signature invalid", "component": "gateway", "endpoint": "/api/login", "status": 401},
]
for i, e in enumerate(errors):
    for _ in range(1 + 3 * (len(errors) - i)):
        req = urllib.request.Request(base + "/api/monitoring/errors", data=json.dumps(e).encode(), headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()
PY

# Let a few scrapes, rule evaluations and probes happen.
for _ in $(seq 1 60); do
    n="$(curl -fsS "$base/api/v1/query?query=count(rate(strix_http_requests_total%5B1m%5D))" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["result"]))' 2>/dev/null || echo 0)"
    [ "$n" -gt 0 ] && break
    sleep 1
done
sleep 10
node ui/scripts/screenshots.mjs "$base" docs/screenshots
