#!/usr/bin/env bash
# Checks scheduler benchmark: CHECKS HTTP checks at INTERVAL against a loopback target,
# run by Strix, then the same probes run by Prometheus driving blackbox_exporter (Debian
# packages prometheus and prometheus-blackbox-exporter), one after the other for DURATION
# each. Reports Strix' schedule drift (p50/p99 from strix_check_schedule_drift_seconds),
# Prometheus' scrape-interval jitter (prometheus_target_interval_length_seconds
# quantiles), probes done, and CPU seconds of every process (from /proc/PID/stat).
#
# Env: CHECKS (1000), INTERVAL (10s), DURATION (300, seconds), SYSTEMS ("strix blackbox"),
#      KEEP_DATA (0), BUILD (1: cargo build --release first), STRIX_BIN, PROMETHEUS_BIN,
#      BLACKBOX_BIN.
# Ports on 127.0.0.1: 39201 (target), 39202 (Strix), 39203 (Prometheus), 39204 (blackbox).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CHECKS=${CHECKS:-1000}
INTERVAL=${INTERVAL:-10s}
DURATION=${DURATION:-300}
SYSTEMS=${SYSTEMS:-strix blackbox}
KEEP_DATA=${KEEP_DATA:-0}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
STRIX_BIN=${STRIX_BIN:-$TARGET/release/strix}
PROMETHEUS_BIN=${PROMETHEUS_BIN:-/usr/bin/prometheus}
BLACKBOX_BIN=${BLACKBOX_BIN:-/usr/bin/prometheus-blackbox-exporter}
TPORT=39201 SPORT=39202 PPORT=39203 BPORT=39204
WORK=$(mktemp -d /tmp/strix-bench-checks.XXXXXX)
PIDS=()
# shellcheck source=../lib.sh
source "$ROOT/bench/lib.sh"

TICK=$(getconf CLK_TCK)
# CPU seconds (user + system) a process has used so far.
cpu_secs() { awk -v t="$TICK" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

if [[ $SYSTEMS == *strix* && ${BUILD:-1} == 1 ]]; then
    log "building strix (release)"
    (cd "$ROOT" && cargo build --release --quiet -p strix)
fi

python3 "$HERE/target.py" "$TPORT" &
TARGET_PID=$!
PIDS+=("$TARGET_PID")
wait_ready "http://127.0.0.1:$TPORT/count" "$TARGET_PID"

results=()

run_strix() {
    local cfg=$WORK/strix.yaml i
    {
        echo "checks:"
        for ((i = 0; i < CHECKS; i++)); do
            echo "  - {name: t$i, type: http, url: 'http://127.0.0.1:$TPORT/t/$i', interval: $INTERVAL, timeout: 5s}"
        done
    } >"$cfg"
    "$STRIX_BIN" serve --config "$cfg" --listen "127.0.0.1:$SPORT" --data-dir "$WORK/strix-data" \
        >"$WORK/strix.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait_ready "http://127.0.0.1:$SPORT/-/ready" "$pid"
    local t0 c0 c1 n0 n1
    t0=$(cpu_secs "$TARGET_PID")
    c0=$(cpu_secs "$pid")
    n0=$(curl -fsS "http://127.0.0.1:$TPORT/count")
    log "strix: $CHECKS checks at $INTERVAL for ${DURATION}s"
    sleep "$DURATION"
    c1=$(cpu_secs "$pid")
    n1=$(curl -fsS "http://127.0.0.1:$TPORT/count")
    local tcpu
    tcpu=$(awk -v a="$t0" -v b="$(cpu_secs "$TARGET_PID")" 'BEGIN {print b - a}')
    # The scheduler stores its histogram every 15 s; wait for a fresh sample.
    sleep 16
    q() {
        curl -fsS "http://127.0.0.1:$SPORT/api/v1/query" --data-urlencode "query=$1" |
            jq -r '.data.result[0].value[1] // "NaN"'
    }
    local p50 p99 mean probes failures rss
    p50=$(q 'histogram_quantile(0.5, strix_check_schedule_drift_seconds_bucket)')
    p99=$(q 'histogram_quantile(0.99, strix_check_schedule_drift_seconds_bucket)')
    mean=$(q 'strix_check_schedule_drift_seconds_sum / strix_check_schedule_drift_seconds_count')
    probes=$(q 'sum(strix_checks_total)')
    failures=$(q 'sum(strix_checks_total{result="failure"})')
    rss=$(vm_hwm "$pid")
    stop_pid "$pid"
    results+=("$(jq -cn --arg sys strix --argjson cpu "$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}')" \
        --argjson tcpu "$tcpu" --argjson reqs "$((n1 - n0))" --arg p50 "$p50" --arg p99 "$p99" \
        --arg mean "$mean" --arg probes "$probes" --arg failures "$failures" --argjson rss "$rss" \
        '{system: $sys, cpu_seconds: $cpu, target_cpu_seconds: $tcpu, target_requests: $reqs,
          drift_p50_s: ($p50 | tonumber? // null), drift_p99_s: ($p99 | tonumber? // null),
          drift_mean_s: ($mean | tonumber? // null), probes_total: ($probes | tonumber? // null),
          probe_failures: ($failures | tonumber? // null), peak_rss_bytes: $rss}')")
    log "strix: ${results[-1]}"
}

run_blackbox() {
    [[ -x $BLACKBOX_BIN ]] || { log "no $BLACKBOX_BIN (apt-get install -y prometheus-blackbox-exporter); skipping"; return 0; }
    cat >"$WORK/blackbox.yml" <<YML
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
YML
    {
        echo "global: {scrape_interval: $INTERVAL, scrape_timeout: 5s, evaluation_interval: 1m}"
        echo "scrape_configs:"
        echo "  - job_name: blackbox"
        echo "    metrics_path: /probe"
        echo "    params: {module: [http_2xx]}"
        echo "    static_configs:"
        echo "      - targets:"
        local i
        for ((i = 0; i < CHECKS; i++)); do echo "        - http://127.0.0.1:$TPORT/t/$i"; done
        echo "    relabel_configs:"
        echo "      - {source_labels: [__address__], target_label: __param_target}"
        echo "      - {source_labels: [__param_target], target_label: instance}"
        echo "      - {target_label: __address__, replacement: '127.0.0.1:$BPORT'}"
    } >"$WORK/prometheus.yml"
    "$BLACKBOX_BIN" --config.file="$WORK/blackbox.yml" --web.listen-address="127.0.0.1:$BPORT" \
        >"$WORK/blackbox.log" 2>&1 &
    local bpid=$!
    PIDS+=("$bpid")
    wait_ready "http://127.0.0.1:$BPORT/metrics" "$bpid"
    "$PROMETHEUS_BIN" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom-data" \
        --web.listen-address="127.0.0.1:$PPORT" >"$WORK/prometheus.log" 2>&1 &
    local ppid=$!
    PIDS+=("$ppid")
    wait_ready "http://127.0.0.1:$PPORT/-/ready" "$ppid"
    local t0 b0 p0 n0 n1
    t0=$(cpu_secs "$TARGET_PID")
    b0=$(cpu_secs "$bpid")
    p0=$(cpu_secs "$ppid")
    n0=$(curl -fsS "http://127.0.0.1:$TPORT/count")
    log "prometheus + blackbox_exporter: $CHECKS probes at $INTERVAL for ${DURATION}s"
    sleep "$DURATION"
    local b1 p1 tcpu
    b1=$(cpu_secs "$bpid")
    p1=$(cpu_secs "$ppid")
    n1=$(curl -fsS "http://127.0.0.1:$TPORT/count")
    tcpu=$(awk -v a="$t0" -v b="$(cpu_secs "$TARGET_PID")" 'BEGIN {print b - a}')
    local pmetrics
    pmetrics=$(curl -fsS "http://127.0.0.1:$PPORT/metrics")
    pm() { awk -v m="$1" 'index($0, m) == 1 {print $2; exit}' <<<"$pmetrics"; }
    local j50 j99 j01 ok
    j01=$(pm "prometheus_target_interval_length_seconds{interval=\"$INTERVAL\",quantile=\"0.01\"}")
    j50=$(pm "prometheus_target_interval_length_seconds{interval=\"$INTERVAL\",quantile=\"0.5\"}")
    j99=$(pm "prometheus_target_interval_length_seconds{interval=\"$INTERVAL\",quantile=\"0.99\"}")
    ok=$(curl -fsS "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode 'query=sum(probe_success)' |
        jq -r '.data.result[0].value[1] // "NaN"')
    local brss prss
    brss=$(vm_hwm "$bpid")
    prss=$(vm_hwm "$ppid")
    stop_pid "$ppid"
    stop_pid "$bpid"
    results+=("$(jq -cn --arg sys blackbox --argjson pcpu "$(awk -v a="$p0" -v b="$p1" 'BEGIN {print b - a}')" \
        --argjson bcpu "$(awk -v a="$b0" -v b="$b1" 'BEGIN {print b - a}')" --argjson tcpu "$tcpu" \
        --argjson reqs "$((n1 - n0))" --arg j01 "${j01:-NaN}" --arg j50 "${j50:-NaN}" --arg j99 "${j99:-NaN}" \
        --arg ok "$ok" --argjson brss "$brss" --argjson prss "$prss" \
        '{system: "prometheus+blackbox_exporter", cpu_seconds: ($pcpu + $bcpu), prometheus_cpu_seconds: $pcpu,
          blackbox_cpu_seconds: $bcpu, target_cpu_seconds: $tcpu, target_requests: $reqs,
          interval_q01_s: ($j01 | tonumber? // null), interval_q50_s: ($j50 | tonumber? // null),
          interval_q99_s: ($j99 | tonumber? // null), probe_success_last: ($ok | tonumber? // null),
          peak_rss_bytes: ($prss + $brss)}')")
    log "blackbox: ${results[-1]}"
}

for sys in $SYSTEMS; do
    case $sys in
    strix) run_strix ;;
    blackbox) run_blackbox ;;
    *) log "unknown system $sys" ;;
    esac
done
jq -s --argjson checks "$CHECKS" --arg interval "$INTERVAL" --argjson duration "$DURATION" \
    '{checks: $checks, interval: $interval, duration_s: $duration, results: .}' \
    <<<"$(printf '%s\n' "${results[@]}")" | tee "$HERE/last-results.json"
