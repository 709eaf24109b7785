#!/usr/bin/env bash
# Alerting benchmark: Strix against Prometheus + Alertmanager (Debian packages), in one run.
#
#   1. latency  threshold -> webhook: a gauge flips above a threshold (rule `> 10`,
#               `for: 0s`), time from the write returning to the webhook getting `firing`,
#               and from the flip back to `resolved`. Strix by remote_write and by JSON
#               push; Prometheus by remote_write, alerts sent on to Alertmanager.
#   2. flood    notifications/s: N alerts with distinct group labels posted at once to
#               /api/v2/alerts of Strix and of Alertmanager; time until all N reached
#               the webhook. FLOOD_ROUNDS rounds, the two systems one after the other in
#               alternating order; reported: the median over rounds and the median of
#               the per-round ratios (two cores shared by everything move single floods
#               by +-30 %).
#   3. cpu      rule evaluation CPU: RULES alerting rules over SERIES counters, CPU
#               seconds per evaluation pass from /proc/PID/stat.
#
# The webhook receiver and the sender are one process (bench/loadgen strix-alertbench), so
# latencies use one monotonic clock. Prints a markdown report and (UPDATE_README=1) puts
# it between the alerting results markers of bench/README.md.
#
# Usage: bench/alerting/run.sh
#        TRIALS=20 FLOOD_N=1000 CPU_WINDOW=30 UPDATE_README=0 bench/alerting/run.sh
# Env:   PHASES ("latency flood cpu"), TRIALS (60), JITTER_MS (1000), HOLD_MS (1000),
#        FLOOD_N (3000), FLOOD_ROUNDS (7),
#        FLOOD_BATCH (500), RULES (10000), RULE_GROUPS (10), SERIES (10000),
#        RULE_INTERVAL (10, seconds), CPU_WINDOW (60, seconds), IDLE_WINDOW (20),
#        PROFILE (0; 1 = perf-record Strix during a second flood and 6 rule intervals),
#        UPDATE_README (1), KEEP_DATA (0), BUILD (1; 0 = use the built binaries),
#        PORT_BASE (31120: ports PORT_BASE+1..5 and +9),
#        STRIX_BIN, PROMETHEUS_BIN, ALERTMANAGER_BIN.
# Needs: cargo, curl, jq, awk; Debian packages prometheus and prometheus-alertmanager;
#        ports PORT_BASE+1..+5 and +9 (31121-31125, 31129) on 127.0.0.1 free.
set -euo pipefail

PHASES=${PHASES:-"latency flood cpu"}
TRIALS=${TRIALS:-60}
JITTER_MS=${JITTER_MS:-1000}
HOLD_MS=${HOLD_MS:-1000}
FLOOD_N=${FLOOD_N:-3000}
FLOOD_ROUNDS=${FLOOD_ROUNDS:-7}
FLOOD_BATCH=${FLOOD_BATCH:-500}
RULES=${RULES:-10000}
RULE_GROUPS=${RULE_GROUPS:-10}
SERIES=${SERIES:-10000}
RULE_INTERVAL=${RULE_INTERVAL:-10}
CPU_WINDOW=${CPU_WINDOW:-60}
IDLE_WINDOW=${IDLE_WINDOW:-20}
PROFILE=${PROFILE:-0}
UPDATE_README=${UPDATE_README:-1}
KEEP_DATA=${KEEP_DATA:-0}
BUILD=${BUILD:-1}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
STRIX_BIN=${STRIX_BIN:-$TARGET/release/strix}
BENCH_BIN=$TARGET/release/strix-alertbench
PROMETHEUS_BIN=${PROMETHEUS_BIN:-/usr/bin/prometheus}
ALERTMANAGER_BIN=${ALERTMANAGER_BIN:-/usr/bin/prometheus-alertmanager}

# Ports: PORT_BASE + 1..5 and + 9 (default 31120: below the ephemeral range, so a server
# started after thousands of client connections cannot find its port taken by one).
PORT_BASE=${PORT_BASE:-31120}
STRIX_PORT=$((PORT_BASE + 1))
PROM_PORT=$((PORT_BASE + 2))
AM_PORT=$((PORT_BASE + 3))
STRIX_CPU_PORT=$((PORT_BASE + 4))
PROM_CPU_PORT=$((PORT_BASE + 5))
HOOK_PORT=$((PORT_BASE + 9))
HOOK=http://127.0.0.1:$HOOK_PORT

for tool in curl jq awk; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 1; }
done
for b in "$PROMETHEUS_BIN" "$ALERTMANAGER_BIN"; do
    [[ -x $b ]] || { echo "run.sh: $b missing (apt-get install prometheus prometheus-alertmanager)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/strix-alertbench.XXXXXX")
PIDS=()
# Shared helpers: log, stop_pid, cleanup (trap on EXIT), wait_ready, vm_hwm, vm_rss.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"



CLK_TCK=$(getconf CLK_TCK)
# CPU seconds (user + system) of a process, or of one of its threads by name.
cpu_s() { awk -v t="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat"; }
thread_cpu_s() {
    local pid=$1 name=$2 f
    for f in /proc/"$pid"/task/*; do
        [[ $(cat "$f/comm" 2>/dev/null) == "$name" ]] && { cpu_s "$pid/task/${f##*/}"; return; }
    done
    echo 0
}
rss_mib() { awk '/^VmRSS:/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
metric_sum() { curl -fsS "$1" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $NF} END {printf "%.0f", s}'; }
div() { awk -v a="$1" -v b="$2" -v p="${3:-2}" 'BEGIN { if (b == 0 || a == "" || b == "" || a == "null" || b == "null") print "n/a"; else printf "%.*f", p, a / b }'; }
fmt() { awk -v v="$1" -v p="${2:-1}" 'BEGIN { if (v == "" || v == "null") print "n/a"; else printf "%.*f", p, v }'; }

if [[ $BUILD == 1 ]]; then
    log "building release binaries (strix, strix-alertbench)"
    (cd "$ROOT" && cargo build --release --quiet -p strix -p strix-loadgen --bin strix --bin strix-alertbench)
fi

# ---- configuration shared by both sides ----
cat >"$WORK/threshold.rules.yml" <<'EOF'
groups:
- name: bench-threshold
  rules:
  - alert: BenchThreshold
    expr: bench_threshold_gauge > 10
    for: 0s
    labels: {severity: warning}
    annotations: {summary: 'bench_threshold_gauge is {{ $value }}'}
EOF
# Alertmanager's own format; Strix gets the same text under `alertmanager:`.
am_config() {
    cat <<EOF
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 24h
  routes:
    - matchers: ['alertname="BenchThreshold"']
      group_by: [alertname, trial]
    - matchers: ['alertname="BenchFlood"']
      group_by: [alertname, i]
      group_interval: 5m
receivers:
  - name: hook
    webhook_configs:
      - url: $HOOK$1
        send_resolved: true
EOF
}

start_strix() { # port data_dir config log
    "$STRIX_BIN" serve --config "$3" --data-dir "$2" --listen "127.0.0.1:$1" >"$4" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_ready "http://127.0.0.1:$1/-/ready" "$LAST_PID"
}
start_prometheus() { # port data_dir config log [extra args]
    local port=$1 dir=$2 cfg=$3 logf=$4
    shift 4
    "$PROMETHEUS_BIN" --config.file "$cfg" --storage.tsdb.path "$dir" --web.listen-address "127.0.0.1:$port" \
        --web.enable-remote-write-receiver --web.enable-lifecycle "$@" >"$logf" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_ready "http://127.0.0.1:$port/-/ready" "$LAST_PID"
}

STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T0=$SECONDS
LAT_JSON=$WORK/latency.json
FLOOD_JSON=$WORK/flood.json
: >"$LAT_JSON"
: >"$FLOOD_JSON"
EXTRA=$WORK/extra.txt
: >"$EXTRA"

# ---- phases 1 and 2: one Strix, one Prometheus + Alertmanager ----
if [[ " $PHASES " == *" latency "* || " $PHASES " == *" flood "* ]]; then
    {
        printf 'global:\n  evaluation_interval: 1s\nrule_files: [%s]\nself_scrape: false\nhost_metrics:\n  enabled: false\nalertmanager:\n' "\"$WORK/threshold.rules.yml\""
        am_config /strix | sed 's/^/  /'
    } >"$WORK/strix.yaml"
    am_config /am >"$WORK/alertmanager.yml"
    cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1m
  evaluation_interval: 1s
rule_files: ["$WORK/threshold.rules.yml"]
alerting:
  alertmanagers:
    - api_version: v2
      static_configs:
        - targets: ['127.0.0.1:$AM_PORT']
scrape_configs: []
EOF
    start_strix $STRIX_PORT "$WORK/strix-data" "$WORK/strix.yaml" "$WORK/strix.log"
    STRIX_PID=$LAST_PID
    "$ALERTMANAGER_BIN" --config.file "$WORK/alertmanager.yml" --storage.path "$WORK/am-data" \
        --web.listen-address "127.0.0.1:$AM_PORT" --cluster.listen-address= >"$WORK/alertmanager.log" 2>&1 &
    AM_PID=$!
    PIDS+=("$AM_PID")
    wait_ready "http://127.0.0.1:$AM_PORT/-/ready" "$AM_PID"
    start_prometheus $PROM_PORT "$WORK/prom-data" "$WORK/prometheus.yml" "$WORK/prometheus.log"
    PROM_PID=$LAST_PID
    log "strix (pid $STRIX_PID), alertmanager (pid $AM_PID), prometheus (pid $PROM_PID) ready"
    # Prometheus must have discovered Alertmanager before the first trial.
    for ((i = 0; i < 100; i++)); do
        [[ $(curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/alertmanagers" | jq '.data.activeAlertmanagers | length') -ge 1 ]] && break
        sleep 0.2
    done

    if [[ " $PHASES " == *" latency "* ]]; then
        log "latency: $TRIALS trials per system (jitter up to ${JITTER_MS} ms before each flip)"
        timeout 1800 "$BENCH_BIN" latency --listen "127.0.0.1:$HOOK_PORT" --trials "$TRIALS" --jitter-ms "$JITTER_MS" --hold-ms "$HOLD_MS" \
            --system "strix-rw,rw,http://127.0.0.1:$STRIX_PORT/api/v1/write,/strix" \
            --system "strix-json,json,http://127.0.0.1:$STRIX_PORT/api/monitoring/metrics,/strix" \
            --system "prometheus,rw,http://127.0.0.1:$PROM_PORT/api/v1/write,/am" >"$LAT_JSON"
    fi
    if [[ " $PHASES " == *" flood "* ]]; then
        log "flood: $FLOOD_ROUNDS rounds of $FLOOD_N alerts to each /api/v2/alerts"
        # One system at a time, the order alternating between rounds; each flood is timed
        # and its CPU taken on its own. Fresh alerts every round.
        flood_one() { # round system url path pid
            local c0 r
            c0=$(cpu_s "$5")
            r=$(timeout 600 "$BENCH_BIN" flood --listen "127.0.0.1:$HOOK_PORT" --n "$FLOOD_N" --batch "$FLOOD_BATCH" \
                --system "$2,$3,$4")
            sleep 0.5
            jq -c --argjson round "$1" --argjson cpu "$(awk -v a="$c0" -v b="$(cpu_s "$5")" 'BEGIN{printf "%.2f", b-a}')" \
                '. + {round: $round, cpu_s: $cpu}' <<<"$r" >>"$FLOOD_JSON"
        }
        for ((round = 1; round <= FLOOD_ROUNDS; round++)); do
            if ((round % 2)); then
                flood_one "$round" strix "http://127.0.0.1:$STRIX_PORT/api/v2/alerts" /strix "$STRIX_PID"
                flood_one "$round" alertmanager "http://127.0.0.1:$AM_PORT/api/v2/alerts" /am "$AM_PID"
            else
                flood_one "$round" alertmanager "http://127.0.0.1:$AM_PORT/api/v2/alerts" /am "$AM_PID"
                flood_one "$round" strix "http://127.0.0.1:$STRIX_PORT/api/v2/alerts" /strix "$STRIX_PID"
            fi
            sleep 1
        done
        if [[ $PROFILE == 1 ]] && command -v perf >/dev/null; then
            # A second Strix flood, untimed, under perf.
            log "flood: profiling a second Strix flood"
            perf record -F 999 -g -o "$WORK/perf.flood.data" -p "$STRIX_PID" >/dev/null 2>&1 &
            PERF_PID=$!
            PIDS+=("$PERF_PID")
            sleep 1
            timeout 600 "$BENCH_BIN" flood --listen "127.0.0.1:$HOOK_PORT" --n "$FLOOD_N" --batch "$FLOOD_BATCH" \
                --system "strix,http://127.0.0.1:$STRIX_PORT/api/v2/alerts,/strix" >"$WORK/flood-profiled.json" || true
            sleep 1
            kill -INT "$PERF_PID" 2>/dev/null || true
            wait "$PERF_PID" 2>/dev/null || true
            perf report -i "$WORK/perf.flood.data" --no-children --sort symbol --stdio 2>/dev/null |
                grep -v '^$' | grep -E '^ +[0-9.]+%' | sed 's/[[:space:]]*-[[:space:]]*-[[:space:]]*$//' | head -60 >"$ROOT/bench/alerting/profile.flood.txt" || true
        fi
    fi
    {
        echo "strix_notif_metrics=\"$(curl -fsS "http://127.0.0.1:$STRIX_PORT/metrics" | grep -E '^strix_notifications_(sent|failed|retries)' | tr '\n' ' ')\""
        echo "am_notif_metrics=\"$(curl -fsS "http://127.0.0.1:$AM_PORT/metrics" | grep -E '^alertmanager_notifications_(total|failed_total)\{integration="webhook"' | tr '\n' ' ')\""
        echo "rss_strix=$(rss_mib "$STRIX_PID") rss_am=$(rss_mib "$AM_PID") rss_prom=$(rss_mib "$PROM_PID")"
    } >>"$EXTRA"
    stop_pid "$PROM_PID"
    stop_pid "$AM_PID"
    stop_pid "$STRIX_PID"
fi

# ---- phase 3: rule evaluation CPU ----
# Each system: start with no rules, load the counters, measure idle CPU; then load the
# rule file (Strix: restart on the same data; Prometheus: SIGHUP), wait for two passes,
# measure CPU and evaluations over CPU_WINDOW.
CPU_ENV=$WORK/cpu.env
: >"$CPU_ENV"
cpu_phase() { # system
    local sys=$1 port dir cfg pid url api
    mkdir -p "$WORK/cpu-$sys/rules"
    dir=$WORK/cpu-$sys/data
    cfg=$WORK/cpu-$sys/config.yml
    if [[ $sys == strix ]]; then
        port=$STRIX_CPU_PORT
        printf 'global:\n  evaluation_interval: %ss\nrule_files: ["%s/*.yml"]\nself_scrape: false\nhost_metrics:\n  enabled: false\n' \
            "$RULE_INTERVAL" "$WORK/cpu-$sys/rules" >"$cfg"
        start_strix "$port" "$dir" "$cfg" "$WORK/cpu-$sys/log"
    else
        port=$PROM_CPU_PORT
        printf 'global:\n  scrape_interval: 1m\n  evaluation_interval: %ss\nrule_files: ["%s/*.yml"]\nscrape_configs: []\n' \
            "$RULE_INTERVAL" "$WORK/cpu-$sys/rules" >"$cfg"
        start_prometheus "$port" "$dir" "$cfg" "$WORK/cpu-$sys/log"
    fi
    pid=$LAST_PID
    api=http://127.0.0.1:$port
    log "cpu/$sys (pid $pid): loading $SERIES counters"
    "$BENCH_BIN" load --url "$api/api/v1/write" --series "$SERIES" --duration-s 600 --interval-s 15 >"$WORK/cpu-$sys/load.json"
    sleep 2
    local c0 c1 e0 e1 t0 t1 tr0 tr1 idle
    c0=$(cpu_s "$pid")
    sleep "$IDLE_WINDOW"
    c1=$(cpu_s "$pid")
    idle=$(awk -v a="$c0" -v b="$c1" -v w="$IDLE_WINDOW" 'BEGIN{printf "%.4f", (b - a) / w}')
    log "cpu/$sys: idle $idle CPU-s/s; loading $RULES rules"
    "$BENCH_BIN" rules --n "$RULES" --groups "$RULE_GROUPS" --series "$SERIES" --out "$WORK/cpu-$sys/rules/bench.yml"
    if [[ $sys == strix ]]; then
        stop_pid "$pid"
        start_strix "$port" "$dir" "$cfg" "$WORK/cpu-$sys/log2"
        pid=$LAST_PID
    else
        kill -HUP "$pid"
    fi
    local evals_metric=strix_rule_evaluations_total
    [[ $sys == prometheus ]] && evals_metric=prometheus_rule_evaluations_total
    local i n=0
    for ((i = 0; i < 300; i++)); do
        n=$(curl -fsS "$api/api/v1/rules" | jq '[.data.groups[].rules | length] | add // 0')
        [[ $n -ge $RULES ]] && break
        sleep 0.2
    done
    # Two full passes first (the first one also restores `for` state).
    for ((i = 0; i < 600; i++)); do
        [[ $(metric_sum "$api/metrics" $evals_metric) -ge $((2 * RULES)) ]] && break
        sleep 0.2
    done
    log "cpu/$sys (pid $pid): $n rules loaded; measuring ${CPU_WINDOW}s"
    e0=$(metric_sum "$api/metrics" $evals_metric)
    c0=$(cpu_s "$pid")
    tr0=$(thread_cpu_s "$pid" strix-rules)
    t0=$(date +%s.%N)
    sleep "$CPU_WINDOW"
    e1=$(metric_sum "$api/metrics" $evals_metric)
    c1=$(cpu_s "$pid")
    tr1=$(thread_cpu_s "$pid" strix-rules)
    t1=$(date +%s.%N)
    local rules_json
    rules_json=$(curl -fsS "$api/api/v1/rules")
    {
        echo "${sys}_idle=$idle"
        echo "${sys}_cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b - a}')"
        echo "${sys}_thread_cpu=$(awk -v a="$tr0" -v b="$tr1" 'BEGIN{printf "%.2f", b - a}')"
        echo "${sys}_evals=$((e1 - e0))"
        echo "${sys}_window=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}')"
        echo "${sys}_rules=$n"
        echo "${sys}_eval_time=$(jq '[.data.groups[].evaluationTime] | add' <<<"$rules_json")"
        echo "${sys}_unhealthy=$(jq '[.data.groups[].rules[] | select(.health != "ok")] | length' <<<"$rules_json")"
        echo "${sys}_firing=$(jq '[.data.groups[].rules[] | select(.state != "inactive")] | length' <<<"$rules_json")"
        echo "${sys}_probe=$(curl -fsS -G "$api/api/v1/query" --data-urlencode 'query=sum(rate(bench_requests_total{i="5"}[5m]))' | jq -r '.data.result[0].value[1] // "none"')"
        echo "${sys}_rss=$(rss_mib "$pid")"
        echo "${sys}_load=\"$(jq -c . "$WORK/cpu-$sys/load.json")\""
    } >>"$CPU_ENV"
    if [[ $sys == strix ]]; then
        curl -fsS "$api/metrics" | grep -E '^strix_rule_' >"$WORK/cpu-strix/rule-metrics.txt" || true
        if [[ $PROFILE == 1 ]] && command -v perf >/dev/null; then
            log "cpu/strix: perf record for $((6 * RULE_INTERVAL))s"
            timeout $((8 * RULE_INTERVAL + 30)) perf record -F 999 -g -o "$WORK/perf.rules.data" -p "$pid" -- sleep $((6 * RULE_INTERVAL)) >/dev/null 2>&1 || true
            perf report -i "$WORK/perf.rules.data" --no-children --sort symbol --stdio 2>/dev/null |
                grep -v '^$' | grep -E '^ +[0-9.]+%' | sed 's/[[:space:]]*-[[:space:]]*-[[:space:]]*$//' | head -60 >"$ROOT/bench/alerting/profile.rules.txt" || true
        fi
    fi
    stop_pid "$pid"
}
if [[ " $PHASES " == *" cpu "* ]]; then
    cpu_phase strix
    cpu_phase prometheus
fi
ELAPSED=$((SECONDS - T0))

# ---- report ----
lat() { jq -r --arg s "$1" "select(.system == \$s) | $2" "$LAT_JSON"; }
# The median over rounds of a flood field (upper median for an even count).
fl() { jq -rs --arg s "$1" "[.[] | select(.system == \$s) | $2] | sort | if length == 0 then null else .[length / 2 | floor] end" "$FLOOD_JSON"; }
# Per-round Strix / Alertmanager notifications/s, in round order.
flood_ratios() { jq -rs '[group_by(.round)[] | (map(select(.system == "strix"))[0].notifications_per_sec) / (map(select(.system == "alertmanager"))[0].notifications_per_sec)] | map(. * 100 | round / 100) | @csv' "$FLOOD_JSON"; }
median_ratio() { jq -rs '[group_by(.round)[] | (map(select(.system == "strix"))[0].notifications_per_sec) / (map(select(.system == "alertmanager"))[0].notifications_per_sec)] | sort | .[length / 2 | floor] * 100 | round / 100' "$FLOOD_JSON"; }
cpuv() { (set +u; source "$CPU_ENV"; eval "echo \${$1}"); }
STRIX_VERSION=$("$STRIX_BIN" --version | awk '{print $2}')
PROM_VERSION=$("$PROMETHEUS_BIN" --version 2>&1 | awk 'NR == 1 {print $3}')
AM_VERSION=$("$ALERTMANAGER_BIN" --version 2>&1 | awk 'NR == 1 {print $3}')
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
CMD="PHASES=\"$PHASES\" TRIALS=$TRIALS JITTER_MS=$JITTER_MS HOLD_MS=$HOLD_MS FLOOD_N=$FLOOD_N FLOOD_ROUNDS=$FLOOD_ROUNDS FLOOD_BATCH=$FLOOD_BATCH RULES=$RULES RULE_GROUPS=$RULE_GROUPS SERIES=$SERIES RULE_INTERVAL=$RULE_INTERVAL CPU_WINDOW=$CPU_WINDOW bench/alerting/run.sh"
goal() { awk -v v="$1" -v g="$2" -v op="$3" 'BEGIN { if (v == "n/a" || v == "") print "n/a"; else if ((op == "le" && v <= g) || (op == "ge" && v >= g)) print "yes"; else print "**no**" }'; }

TABLE=""
if [[ -s $LAT_JSON ]]; then
    TABLE+=$(
        echo "Threshold -> webhook, $TRIALS trials per system, milliseconds from the write returning to the webhook request (nearest-rank percentiles):"
        echo
        echo "| system | firing p50 | firing p90 | firing p99 | resolved p50 | resolved p99 | missed | write round-trip p50 |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
        for s in strix-rw strix-json prometheus; do
            label=$s
            case $s in strix-rw) label="Strix $STRIX_VERSION (remote_write)" ;; strix-json) label="Strix $STRIX_VERSION (JSON push)" ;; prometheus) label="Prometheus $PROM_VERSION + Alertmanager $AM_VERSION (remote_write)" ;; esac
            echo "| $label | $(fmt "$(lat $s .firing_ms.p50)") | $(fmt "$(lat $s .firing_ms.p90)") | $(fmt "$(lat $s .firing_ms.p99)") | $(fmt "$(lat $s .resolved_ms.p50)") | $(fmt "$(lat $s .resolved_ms.p99)") | $(lat $s '.missed_firing + .missed_resolved') | $(fmt "$(lat $s .write_ms.p50)" 2) |"
        done
        echo
    )
    TABLE+=$'\n\n'
fi
if [[ -s $FLOOD_JSON ]]; then
    TABLE+=$(
        echo "Notifications/s, $FLOOD_N alerts with distinct \`i\` posted to /api/v2/alerts in batches of $FLOOD_BATCH, \`group_by: [alertname, i]\`, \`group_wait: 0s\`, \`group_interval: 5m\`; $FLOOD_ROUNDS rounds, each column the median over the rounds:"
        echo
        echo "| system | delivered | all posted after | first / median / last webhook after | notifications/s (N / last) | steady (p10-p90) | webhook requests | CPU-s per flood |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
        for s in strix alertmanager; do
            label="Strix $STRIX_VERSION"
            [[ $s == alertmanager ]] && label="Alertmanager $AM_VERSION"
            echo "| $label | $(fl $s .delivered) / $FLOOD_N | $(fmt "$(fl $s '.post_seconds * 1000')" 0) ms | $(fmt "$(fl $s .first_ms)" 0) / $(fmt "$(fl $s .p50_ms)" 0) / $(fmt "$(fl $s .last_ms)" 0) ms | $(fmt "$(fl $s .notifications_per_sec)" 0) | $(fmt "$(fl $s .steady_per_sec)" 0) | $(fl $s .webhook_requests) | $(fl $s .cpu_s) |"
        done
        echo
        echo "Strix / Alertmanager notifications/s by round: $(flood_ratios)."
        echo
    )
    TABLE+=$'\n\n'
fi
if [[ -s $CPU_ENV ]]; then
    TABLE+=$(
        echo "Rule evaluation CPU, $RULES alerting rules \`sum(rate(bench_requests_total{i=\"N\"}[5m])) > 1e9\` in $RULE_GROUPS groups, interval ${RULE_INTERVAL}s, over $SERIES counters x 40 samples (10 min at 15 s); ${CPU_WINDOW}s window:"
        echo
        echo "| system | passes in window | CPU-s in window | CPU-s per pass | CPU-s per pass, idle subtracted | rule thread CPU-s per pass | evaluation wall time per pass (sum of groups) | idle CPU-s/s | rules unhealthy / active | RSS |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for s in strix prometheus; do
            label="Strix $STRIX_VERSION"
            [[ $s == prometheus ]] && label="Prometheus $PROM_VERSION"
            passes=$(div "$(cpuv ${s}_evals)" "$RULES" 2)
            gross=$(div "$(cpuv ${s}_cpu)" "$passes" 3)
            net=$(awk -v c="$(cpuv ${s}_cpu)" -v i="$(cpuv ${s}_idle)" -v w="$(cpuv ${s}_window)" -v p="$passes" 'BEGIN { if (p == "n/a" || p == 0) print "n/a"; else printf "%.3f", (c - i * w) / p }')
            thread="n/a"
            [[ $s == strix ]] && thread=$(div "$(cpuv ${s}_thread_cpu)" "$passes" 3)
            echo "| $label | $passes | $(cpuv ${s}_cpu) | $gross | $net | $thread | $(fmt "$(cpuv ${s}_eval_time)" 3) s | $(cpuv ${s}_idle) | $(cpuv ${s}_unhealthy) / $(cpuv ${s}_firing) | $(cpuv ${s}_rss) MiB |"
        done
        echo
    )
    TABLE+=$'\n\n'
fi

# Ratios and goals.
R_FIRE=$(div "$(lat strix-rw .firing_ms.p99)" "$(lat prometheus .firing_ms.p99)" 3)
R_FIRE50=$(div "$(lat strix-rw .firing_ms.p50)" "$(lat prometheus .firing_ms.p50)" 3)
R_RES=$(div "$(lat strix-rw .resolved_ms.p99)" "$(lat prometheus .resolved_ms.p99)" 3)
R_NOTIF=n/a
[[ -s $FLOOD_JSON ]] && R_NOTIF=$(median_ratio)
R_NOTIF_MEDIANS=$(div "$(fl strix .notifications_per_sec)" "$(fl alertmanager .notifications_per_sec)" 2)
S_PASS=$(div "$(cpuv strix_cpu)" "$(div "$(cpuv strix_evals)" "$RULES" 4)" 3)
P_PASS=$(div "$(cpuv prometheus_cpu)" "$(div "$(cpuv prometheus_evals)" "$RULES" 4)" 3)
R_CPU=$(div "$S_PASS" "$P_PASS" 2)
FIRE_P99=$(lat strix-rw .firing_ms.p99)
JSON_P99=$(lat strix-json .firing_ms.p99)
GOALS=$(
    echo "| goal | Strix | Prometheus + Alertmanager | Strix / peer | met? |"
    echo "|---|---:|---:|---:|---|"
    echo "| threshold -> webhook p99 <= 100 ms (remote_write; JSON push in brackets) | $(fmt "$FIRE_P99") ms ($(fmt "$JSON_P99") ms) | $(fmt "$(lat prometheus .firing_ms.p99)") ms | $R_FIRE (p50: $R_FIRE50) | $(goal "$(fmt "$FIRE_P99")" 100 le) |"
    echo "| resolved notice p99 (no numeric goal) | $(fmt "$(lat strix-rw .resolved_ms.p99)") ms | $(fmt "$(lat prometheus .resolved_ms.p99)") ms | $R_RES | - |"
    echo "| one pass over $RULES rules <= 0.1 CPU-s | $S_PASS CPU-s | $P_PASS CPU-s | $R_CPU | $(goal "$S_PASS" 0.1 le) |"
    echo "| notifications/s >= 2x Alertmanager (medians over $FLOOD_ROUNDS rounds; ratio: median of the per-round ratios, ratio of the medians in brackets) | $(fmt "$(fl strix .notifications_per_sec)" 0)/s | $(fmt "$(fl alertmanager .notifications_per_sec)" 0)/s | $R_NOTIF ($R_NOTIF_MEDIANS) | $(goal "$R_NOTIF" 2 ge) |"
)
DETAILS=$(
    [[ -s $LAT_JSON ]] && jq -r '"- latency \(.system): firing \(.firing_ms | {min, mean, max} | map_values(if . then (. * 10 | round / 10) else . end)) ms, resolved \(.resolved_ms | {min, mean, max} | map_values(if . then (. * 10 | round / 10) else . end)) ms, \(.webhook_requests) webhook requests, \(.seconds | floor) s, errors \(.errors)"' "$LAT_JSON"
    [[ -s $FLOOD_JSON ]] && jq -r '"- flood round \(.round) \(.system): \(.notifications_per_sec | floor)/s, missing \(.missing), errors \(.errors)"' "$FLOOD_JSON"
    [[ -s $EXTRA ]] && sed 's/^/- /' "$EXTRA"
    if [[ -s $CPU_ENV ]]; then
        for s in strix prometheus; do
            echo "- cpu $s: load $(cpuv ${s}_load); rules loaded $(cpuv ${s}_rules); evaluations in window $(cpuv ${s}_evals) over $(cpuv ${s}_window)s; probe \`sum(rate(bench_requests_total{i=\"5\"}[5m]))\` = $(cpuv ${s}_probe)"
        done
        [[ -s $WORK/cpu-strix/rule-metrics.txt ]] && echo "- Strix rule metrics at the end: $(tr '\n' ' ' <"$WORK/cpu-strix/rule-metrics.txt")"
    fi
)
REPORT=$(
    cat <<EOF
### Run of $STARTED

Machine: $(nproc) CPUs ($CPU), $MEM RAM, $(uname -sr); load average at the end $(cut -d' ' -f1-3 /proc/loadavg).
Versions: Strix $STRIX_VERSION (binary built $(date -u -r "$STRIX_BIN" +%Y-%m-%dT%H:%M:%SZ); tree at commit $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet HEAD 2>/dev/null || echo ", uncommitted changes")), Prometheus $PROM_VERSION, Alertmanager $AM_VERSION.
Command: \`$CMD\`. Wall time: ${ELAPSED}s.

$GOALS

$TABLE
Details:
$DETAILS
EOF
)
echo
echo "$REPORT"
{
    echo '{"latency": ['
    jq -c 'del(.firing_all_ms, .resolved_all_ms)' "$LAT_JSON" 2>/dev/null | paste -sd, -
    echo '], "latency_all": ['
    jq -c '{system, firing_all_ms, resolved_all_ms}' "$LAT_JSON" 2>/dev/null | paste -sd, -
    echo '], "flood": ['
    paste -sd, - <"$FLOOD_JSON"
    echo ']}'
} | jq . >"$WORK/results.json" 2>/dev/null || true

if [[ $UPDATE_README == 1 ]]; then
    cp "$WORK/results.json" "$ROOT/bench/alerting/last-results.json" 2>/dev/null || true
    README=$ROOT/bench/README.md
    begin='<!-- alerting-results:begin -->'
    end='<!-- alerting-results:end -->'
    if grep -qF "$begin" "$README" && grep -qF "$end" "$README"; then
        tmp=$(mktemp)
        printf '%s\n' "$REPORT" >"$WORK/report.md"
        awk -v b="$begin" -v e="$end" -v f="$WORK/report.md" '
            $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
            $0 == e { skip = 0 }
            !skip { print }' "$README" >"$tmp"
        cat "$tmp" >"$README"
        rm -f "$tmp"
        log "results written into $README"
    else
        log "$README has no alerting results markers; not updated"
    fi
fi
