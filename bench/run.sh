#!/usr/bin/env bash
# End-to-end ingest benchmark: the same node_exporter-shaped remote_write workload
# (bench/loadgen) against Strix, VictoriaMetrics and Prometheus, one after another, each on
# a fresh data directory. Reports samples/s, peak RSS and bytes on disk per sample, checks
# that the data landed, prints a markdown table and writes it into bench/README.md.
#
# Usage: bench/run.sh                      (10k series, 1h at 10s, 4 senders)
#        SERIES=2000 DURATION=10m bench/run.sh
# Env:   SERIES DURATION INTERVAL CONCURRENCY  workload (defaults 10000, 1h, 10s, 4)
#        BATCH_SIZE                           samples per request (default 0 = auto)
#        SYSTEMS="strix vm prometheus"        which systems to run, in that order
#        UPDATE_README=0                      print only, leave bench/README.md alone
#        KEEP_DATA=1                          keep the data directories (path printed)
#        STRIX_BIN PROMETHEUS_BIN VM_BIN      binaries (default: release build, /usr/bin)
# Needs: cargo, curl, jq, du; ports 39101-39103 on 127.0.0.1 free.
set -euo pipefail

SERIES=${SERIES:-10000}
DURATION=${DURATION:-1h}
INTERVAL=${INTERVAL:-10s}
CONCURRENCY=${CONCURRENCY:-4}
BATCH_SIZE=${BATCH_SIZE:-0}
SYSTEMS=${SYSTEMS:-"strix vm prometheus"}
UPDATE_README=${UPDATE_README:-1}
KEEP_DATA=${KEEP_DATA:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
STRIX_BIN=${STRIX_BIN:-$TARGET/release/strix}
LOADGEN_BIN=$TARGET/release/strix-loadgen
PROMETHEUS_BIN=${PROMETHEUS_BIN:-/usr/bin/prometheus}
VM_BIN=${VM_BIN:-/usr/bin/victoria-metrics}

STRIX_PORT=39101
VM_PORT=39102
PROM_PORT=39103

for tool in curl jq du awk; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/strix-bench.XXXXXX")
PIDS=()
# Shared helpers: log, stop_pid, cleanup (trap on EXIT), wait_ready, vm_hwm, vm_rss.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"





du_apparent() { du -sb "$1" | awk '{print $1}'; }
du_allocated() { du -s --block-size=1 "$1" | awk '{print $1}'; }
# "name=bytes ..." for each top-level entry of a data directory.
du_breakdown() { (cd "$1" && du -sb -- * 2>/dev/null | awk '{printf "%s=%s ", $2, $1}'); }
# Sum of a metric's samples on a /metrics page (all label sets).
metric_sum() { curl -fsS "$1" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $NF} END {printf "%.0f", s}'; }

log "building release binaries (strix, strix-loadgen)"
(cd "$ROOT" && cargo build --release --quiet -p strix -p strix-loadgen)

run_loadgen() {
    local url=$1 out=$2
    timeout 600 "$LOADGEN_BIN" --url "$url" --series "$SERIES" --duration "$DURATION" --interval "$INTERVAL" \
        --concurrency "$CONCURRENCY" --batch-size "$BATCH_SIZE" >"$out" 2>"$out.log" || {
        log "loadgen exited non-zero (see below)"
        cat "$out.log" >&2
    }
    cat "$out.log" >&2
    jq -e .samples "$out" >/dev/null || { log "loadgen printed no result"; exit 1; }
}

# Each run_* leaves key=value lines in $WORK/<system>.env.
run_strix() {
    local dir=$WORK/strix base=http://127.0.0.1:$STRIX_PORT pid
    mkdir -p "$dir"
    # Like the peers here, Strix collects no metrics of its own during the run.
    printf 'self_scrape: false\nhost_metrics:\n  enabled: false\n' >"$WORK/strix.yaml"
    "$STRIX_BIN" serve --config "$WORK/strix.yaml" --data-dir "$dir" --listen "127.0.0.1:$STRIX_PORT" >"$WORK/strix.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_ready "$base/-/ready" "$pid"
    log "strix (pid $pid): loading"
    run_loadgen "$base/api/v1/write" "$WORK/strix.json"
    curl -fsS -X POST "$base/api/v1/admin/tsdb/flush" >/dev/null
    local probe start_s end_s
    probe=$(jq -r .probe_series "$WORK/strix.json")
    start_s=$(jq '.start_ms / 1000 | floor' "$WORK/strix.json")
    end_s=$(jq '.end_ms / 1000 | floor + 1' "$WORK/strix.json")
    {
        echo "probe_samples=$(curl -fsS -G "$base/api/v1/export" --data-urlencode "match[]=$probe" \
            --data-urlencode "start=$start_s" --data-urlencode "end=$end_s" | jq -s 'map(.values | length) | add // 0')"
        echo "series=$(curl -fsS -G "$base/api/v1/series" --data-urlencode 'match[]={job="node"}' \
            --data-urlencode "start=$start_s" --data-urlencode "end=$end_s" | jq '.data | length')"
        echo "stored_counter=$(metric_sum "$base/metrics" strix_tsdb_samples_appended_total)"
        echo "disk_running=$(du_apparent "$dir")"
        echo "disk_running_alloc=$(du_allocated "$dir")"
        echo "breakdown_running=\"$(du_breakdown "$dir")\""
        echo "rss_end=$(vm_rss "$pid")"
        echo "hwm=$(vm_hwm "$pid")"
    } >"$WORK/strix.env"
    stop_pid "$pid"
    {
        echo "disk_stopped=$(du_apparent "$dir")"
        echo "breakdown_stopped=\"$(du_breakdown "$dir")\""
    } >>"$WORK/strix.env"
}

run_vm() {
    local dir=$WORK/vm base=http://127.0.0.1:$VM_PORT pid
    mkdir -p "$dir"
    "$VM_BIN" -retentionPeriod=100y -storageDataPath "$dir" -httpListenAddr "127.0.0.1:$VM_PORT" \
        >"$WORK/vm.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_ready "$base/health" "$pid"
    log "victoria-metrics (pid $pid): loading"
    run_loadgen "$base/api/v1/write" "$WORK/vm.json"
    curl -fsS "$base/internal/force_flush" >/dev/null
    local probe start_s end_s
    probe=$(jq -r .probe_series "$WORK/vm.json")
    start_s=$(jq '.start_ms / 1000 | floor' "$WORK/vm.json")
    end_s=$(jq '.end_ms / 1000 | floor + 1' "$WORK/vm.json")
    # Merge each monthly partition the data touches into one part (synchronous).
    local m
    for m in $(date -u -d "@$start_s" +%Y_%m) $(date -u -d "@$end_s" +%Y_%m); do
        curl -fsS "$base/internal/force_merge?partition_prefix=$m" >/dev/null || log "force_merge $m failed"
    done
    curl -fsS "$base/internal/force_flush" >/dev/null
    {
        echo "probe_samples=$(curl -fsS -G "$base/api/v1/export" --data-urlencode "match[]=$probe" \
            --data-urlencode "start=$start_s" --data-urlencode "end=$end_s" | jq -s 'map(.values | length) | add // 0')"
        echo "series=$(curl -fsS -G "$base/api/v1/series" --data-urlencode 'match[]={job="node"}' \
            --data-urlencode "start=$start_s" --data-urlencode "end=$end_s" | jq '.data | length')"
        echo "stored_counter=$(metric_sum "$base/metrics" vm_rows_added_to_storage_total)"
        echo "disk_running=$(du_apparent "$dir")"
        echo "disk_running_alloc=$(du_allocated "$dir")"
        echo "breakdown_running=\"$(du_breakdown "$dir")\""
        echo "rss_end=$(vm_rss "$pid")"
        echo "hwm=$(vm_hwm "$pid")"
    } >"$WORK/vm.env"
    stop_pid "$pid"
    {
        echo "disk_stopped=$(du_apparent "$dir")"
        echo "breakdown_stopped=\"$(du_breakdown "$dir")\""
    } >>"$WORK/vm.env"
}

run_prometheus() {
    local dir=$WORK/prometheus base=http://127.0.0.1:$PROM_PORT pid
    mkdir -p "$dir/data"
    printf 'global:\n  scrape_interval: 1m\nscrape_configs: []\n' >"$dir/prometheus.yml"
    "$PROMETHEUS_BIN" --config.file "$dir/prometheus.yml" --storage.tsdb.path "$dir/data" \
        --storage.tsdb.retention.time=100y --web.listen-address "127.0.0.1:$PROM_PORT" \
        --web.enable-remote-write-receiver --web.enable-admin-api >"$WORK/prometheus.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_ready "$base/-/ready" "$pid"
    log "prometheus (pid $pid): loading"
    run_loadgen "$base/api/v1/write" "$WORK/prometheus.json"
    local probe start_s end_s range_s
    probe=$(jq -r .probe_series "$WORK/prometheus.json")
    start_s=$(jq '.start_ms / 1000 | floor' "$WORK/prometheus.json")
    end_s=$(jq '.end_ms / 1000 | floor + 1' "$WORK/prometheus.json")
    range_s=$((end_s - start_s + 1))
    # A snapshot writes the head as a compacted block: Prometheus' block size for this data.
    local snap
    snap=$(curl -fsS -X POST "$base/api/v1/admin/tsdb/snapshot" | jq -r .data.name)
    {
        echo "probe_samples=$(curl -fsS -G "$base/api/v1/query" --data-urlencode "query=count_over_time(${probe}[${range_s}s])" \
            --data-urlencode "time=$end_s" | jq -r '.data.result[0].value[1] // 0')"
        echo "series=$(curl -fsS -G "$base/api/v1/series" --data-urlencode 'match[]={job="node"}' \
            --data-urlencode "start=$start_s" --data-urlencode "end=$end_s" | jq '.data | length')"
        echo "stored_counter=$(metric_sum "$base/metrics" prometheus_tsdb_head_samples_appended_total)"
        echo "snapshot_block=$(du_apparent "$dir/data/snapshots/$snap")"
        echo "rss_end=$(vm_rss "$pid")"
        echo "hwm=$(vm_hwm "$pid")"
    } >"$WORK/prometheus.env"
    rm -rf "$dir/data/snapshots"
    echo "disk_running=$(du_apparent "$dir/data")" >>"$WORK/prometheus.env"
    stop_pid "$pid"
    {
        echo "disk_stopped=$(du_apparent "$dir/data")"
        echo "disk_stopped_alloc=$(du_allocated "$dir/data")"
        echo "breakdown_stopped=\"$(du_breakdown "$dir/data")\""
    } >>"$WORK/prometheus.env"
}

STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T0=$SECONDS
for s in $SYSTEMS; do
    case $s in
    strix) run_strix ;;
    vm) run_vm ;;
    prometheus) run_prometheus ;;
    *) echo "run.sh: unknown system $s (strix, vm, prometheus)" >&2; exit 2 ;;
    esac
done
ELAPSED=$((SECONDS - T0))

# ---- report ----
get() { (set +u; source "$WORK/$1.env"; eval "echo \${$2}"); }
num() { jq -r ".$2" "$WORK/$1.json"; }
fmt_si() { awk -v v="$1" 'BEGIN { if (v >= 1e6) printf "%.2fM", v / 1e6; else if (v >= 1e3) printf "%.1fk", v / 1e3; else printf "%.0f", v }'; }
fmt_mib() { awk -v v="$1" 'BEGIN { printf "%.0f MiB", v / 1048576 }'; }
div() { awk -v a="$1" -v b="$2" -v p="${3:-2}" 'BEGIN { if (b == 0 || a == "" || b == "") print "n/a"; else printf "%.*f", p, a / b }'; }

# Disk figure per system for the table: Strix and VictoriaMetrics after their flush, while
# running; Prometheus after a graceful stop (WAL + head chunks; it cuts no block for 1h).
disk_of() { case $1 in prometheus) get "$1" disk_stopped ;; *) get "$1" disk_running ;; esac; }
name_of() { case $1 in strix) echo "Strix $("$STRIX_BIN" --version | awk '{print $2}')" ;; vm) echo "VictoriaMetrics $VM_VERSION" ;; prometheus) echo "Prometheus $PROM_VERSION" ;; esac; }

PROM_VERSION=$("$PROMETHEUS_BIN" --version 2>&1 | awk 'NR == 1 {print $3}')
VM_VERSION=$(dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null || echo unknown)
ROUNDS=""
TABLE=$(
    echo "| system | samples/s | peak RSS | disk bytes/sample | stored / sent | probe series samples | series |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for s in $SYSTEMS; do
        samples=$(num "$s" samples)
        echo "| $(name_of "$s") | $(fmt_si "$(num "$s" samples_per_sec)") | $(fmt_mib "$(get "$s" hwm)") | $(div "$(disk_of "$s")" "$samples" 2) | $(get "$s" stored_counter) / $samples | $(get "$s" probe_samples) / $(num "$s" rounds) | $(get "$s" series) |"
    done
)
RATIOS=""
if [[ " $SYSTEMS " == *" strix "* ]]; then
    RATIOS=$(
        echo "| ratio | samples/s | peak RSS | disk bytes/sample |"
        echo "|---|---:|---:|---:|"
        for s in vm prometheus; do
            [[ " $SYSTEMS " == *" $s "* ]] || continue
            echo "| Strix / $(name_of "$s" | awk '{print $1}') | $(div "$(num strix samples_per_sec)" "$(num "$s" samples_per_sec)") | $(div "$(get strix hwm)" "$(get "$s" hwm)") | $(div "$(disk_of strix)" "$(disk_of "$s")") |"
        done
    )
fi
DETAILS=$(
    for s in $SYSTEMS; do
        echo "- $(name_of "$s"): loadgen $(jq -c '{samples, seconds, requests, retries, failed_requests, batch_size, payload_bytes}' "$WORK/$s.json")"
        case $s in
        prometheus)
            echo "  - disk after graceful stop: $(get "$s" disk_stopped) B apparent, $(get "$s" disk_stopped_alloc) B allocated ($(get "$s" breakdown_stopped)); while running, before stop: $(get "$s" disk_running) B"
            echo "  - snapshot of the head as one compacted block: $(get "$s" snapshot_block) B = $(div "$(get "$s" snapshot_block)" "$(num "$s" samples)" 2) bytes/sample"
            ;;
        *)
            echo "  - disk after flush, running: $(get "$s" disk_running) B apparent, $(get "$s" disk_running_alloc) B allocated ($(get "$s" breakdown_running))"
            echo "  - disk after graceful stop: $(get "$s" disk_stopped) B ($(get "$s" breakdown_stopped))"
            ;;
        esac
        echo "  - RSS at the end: $(fmt_mib "$(get "$s" rss_end)"), peak (VmHWM) $(fmt_mib "$(get "$s" hwm)")"
    done
)
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
CMD="SERIES=$SERIES DURATION=$DURATION INTERVAL=$INTERVAL CONCURRENCY=$CONCURRENCY BATCH_SIZE=$BATCH_SIZE bench/run.sh"
REPORT=$(
    cat <<EOF
### Run of $STARTED

Machine: $(nproc) CPUs ($CPU), $MEM RAM, $(uname -sr). Versions: $(name_of strix), $(name_of vm), $(name_of prometheus).
Workload: $SERIES series, $DURATION at $INTERVAL, $CONCURRENCY senders, remote_write 1.0 (snappy); $(num "${SYSTEMS%% *}" rounds) rounds. Wall time of the whole run: ${ELAPSED}s.
Command: \`$CMD\` (commit $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet HEAD 2>/dev/null || echo ", uncommitted changes")).

$TABLE

$RATIOS

Details:
$DETAILS
EOF
)
echo
echo "$REPORT"

if [[ $UPDATE_README == 1 ]]; then
    README=$ROOT/bench/README.md
    begin='<!-- results:begin -->'
    end='<!-- results:end -->'
    if [[ -f $README ]] && grep -qF "$begin" "$README" && grep -qF "$end" "$README"; then
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
        log "$README has no results markers; not updated"
    fi
fi
