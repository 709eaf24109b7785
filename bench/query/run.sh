#!/usr/bin/env bash
# Query latency benchmark: the same two data sets loaded into Strix, Prometheus and
# VictoriaMetrics (all three running at once), then the same queries timed through each
# system's Prometheus HTTP API (/api/v1/query, /api/v1/query_range). Reports median and p90
# latency per query and system, the Strix/Prometheus and Strix/VictoriaMetrics ratios, and
# whether each system's result agrees with Prometheus'. See bench/README.md.
#
# Data sets (timestamps 217 ms off the whole-second grid; evaluation times on it):
#   live:    LIVE_SERIES node_cpu_seconds_total counters (8 cpus x 5 modes per host) over
#            LIVE_DURATION at LIVE_INTERVAL, ending now, sent by remote_write (head data).
#   history: HIST_SERIES series (half counters history_cpu_seconds_total, half gauges
#            history_cpu_usage_ratio) over HIST_DAYS at HIST_INTERVAL, ending 1h before the
#            live data starts; backfilled: Strix and VictoriaMetrics /api/v1/import (JSON
#            lines), Prometheus `promtool tsdb create-blocks-from openmetrics` before start.
#
# Usage: bench/query/run.sh
#        REPS=10 HIST_SERIES=200 bench/query/run.sh            smaller / quicker
#        ONLY=a,b1 UPDATE_README=0 bench/query/run.sh          a subset, print only
# Env:   LIVE_SERIES (10000) LIVE_DURATION (1h30m) LIVE_INTERVAL (15s)
#        HIST_SERIES (1000) HIST_DAYS (7) HIST_INTERVAL_S (60)
#        HIST_GAP (auto: 1h from the history's end to the live data's start, or 11d when
#                  Strix has no rollup delay keys, so its default delays still build the
#                  5m and 1h tiers for all of the history)
#        REPS (20) WARMUP (3) ONLY (query ids or group letters, e.g. "a,c1"; default all)
#        PROFILE ("" or query ids / group letters: after the timed run, `perf record` Strix while it
#                 answers those queries again, REPS times; reports saved under bench/query/)
#        UPDATE_README (1) KEEP_DATA (0) BUILD (1; 0 = use the binaries already built) STRIX_BIN PROMETHEUS_BIN PROMTOOL_BIN VM_BIN
# Needs: cargo, curl, jq, promtool/prometheus and victoria-metrics (Debian packages);
#        ports 39111-39113 on 127.0.0.1; about 2 GB of free space under TMPDIR.
set -euo pipefail

LIVE_SERIES=${LIVE_SERIES:-10000}
LIVE_DURATION=${LIVE_DURATION:-1h30m}
LIVE_INTERVAL=${LIVE_INTERVAL:-15s}
HIST_SERIES=${HIST_SERIES:-1000}
HIST_DAYS=${HIST_DAYS:-7}
HIST_INTERVAL_S=${HIST_INTERVAL_S:-60}
HIST_GAP=${HIST_GAP:-auto}
HIST_GAP_ARG=$HIST_GAP
REPS=${REPS:-20}
WARMUP=${WARMUP:-3}
ONLY=${ONLY:-}
PROFILE=${PROFILE:-}
UPDATE_README=${UPDATE_README:-1}
KEEP_DATA=${KEEP_DATA:-0}
BUILD=${BUILD:-1}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
STRIX_BIN=${STRIX_BIN:-$TARGET/release/strix}
LOADGEN_BIN=$TARGET/release/strix-loadgen
QB_BIN=$TARGET/release/strix-querybench
PROMETHEUS_BIN=${PROMETHEUS_BIN:-/usr/bin/prometheus}
PROMTOOL_BIN=${PROMTOOL_BIN:-/usr/bin/promtool}
VM_BIN=${VM_BIN:-/usr/bin/victoria-metrics}

STRIX_PORT=39111
VM_PORT=39112
PROM_PORT=39113
STRIX_URL=http://127.0.0.1:$STRIX_PORT
VM_URL=http://127.0.0.1:$VM_PORT
PROM_URL=http://127.0.0.1:$PROM_PORT

for tool in curl jq du awk; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 1; }
done
for bin in "$PROMETHEUS_BIN" "$PROMTOOL_BIN" "$VM_BIN"; do
    [[ -x $bin ]] || { echo "run.sh: $bin not found (Debian packages prometheus, victoria-metrics)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/strix-qbench.XXXXXX")
PIDS=()
# Shared helpers: log, stop_pid, cleanup (trap on EXIT), wait_ready, vm_hwm, vm_rss.
WAIT_READY_SECS=120
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"


fmt_mib() { awk -v v="$1" 'BEGIN { printf "%.0f MiB", v / 1048576 }'; }
# Sum of a metric's samples on a /metrics page (all label sets).
metric_sum() { curl -fsS "$1" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $NF} END {printf "%.0f", s}'; }
# Seconds of CPU (user + system) a process has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

dur_s() { # 1h30m -> 5400
    local s=$1 total=0 n u
    while [[ $s =~ ^([0-9]+)(ms|s|m|h|d)(.*)$ ]]; do
        n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]} s=${BASH_REMATCH[3]}
        case $u in ms) ;; s) total=$((total + n)) ;; m) total=$((total + n * 60)) ;; h) total=$((total + n * 3600)) ;; d) total=$((total + n * 86400)) ;; esac
    done
    [[ -z $s ]] || { echo "run.sh: bad duration $1" >&2; exit 2; }
    echo "$total"
}

T0=$SECONDS
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
if [[ $BUILD == 1 ]]; then
    log "building release binaries (strix, strix-loadgen, strix-querybench)"
    (cd "$ROOT" && cargo build --release --quiet -p strix -p strix-loadgen)
fi

# Strix: no self-scrape, no host metrics (Prometheus and VictoriaMetrics scrape nothing
# either), and rollup tiers built right at the flush if this build has the delay keys.
# Keys an older build lacks are dropped one group at a time (first config that validates).
STRIX_NOTE=""
CANDIDATES=(
    $'self_scrape: false\nhost_metrics:\n  enabled: false\nstorage:\n  rollups:\n    delay_5m: 0s\n    delay_1h: 0s\n'
    $'self_scrape: false\nhost_metrics:\n  enabled: false\nstorage:\n  retention: 60d\n'
    $'host_metrics:\n  enabled: false\nstorage:\n  retention: 60d\n'
)
for ((i = 0; i < ${#CANDIDATES[@]}; i++)); do
    printf '%s' "${CANDIDATES[$i]}" >"$WORK/strix.yaml"
    if "$STRIX_BIN" check-config "$WORK/strix.yaml" >"$WORK/check-config.$i.log" 2>&1; then break; fi
    ((i + 1 < ${#CANDIDATES[@]})) || { cat "$WORK/check-config.$i.log" >&2; exit 1; }
done
if ((i > 0)); then
    STRIX_NOTE="this build has no storage.rollups.delay_5m/delay_1h keys ($(head -1 "$WORK/check-config.0.log" | sed 's/.*: unknown field/unknown field/')), so Strix ran with its built-in rollup delays (5m tier for blocks older than 40h, 1h tier older than 10d) and HIST_GAP (auto) is 11d, so that both tiers are built for all of the history at the flush"
    [[ $HIST_GAP != auto ]] || HIST_GAP=11d
    log "strix: $STRIX_NOTE"
fi
[[ $HIST_GAP != auto ]] || HIST_GAP=1h
log "strix config: $(tr '\n' ' ' <"$WORK/strix.yaml")"
# ---- time layout (ms) ----
LIVE_S=$(dur_s "$LIVE_DURATION")
LIVE_INT_S=$(dur_s "$LIVE_INTERVAL")
NOW_MS=$(date +%s%3N)
LIVE_START=$(((NOW_MS - LIVE_S * 1000) / (LIVE_INT_S * 1000) * (LIVE_INT_S * 1000) + 217))
LIVE_ROUNDS=$((LIVE_S / LIVE_INT_S))
LIVE_END=$((LIVE_START + (LIVE_ROUNDS - 1) * LIVE_INT_S * 1000))
HIST_POINTS=$((HIST_DAYS * 86400 / HIST_INTERVAL_S))
HIST_START=$(((LIVE_START - $(dur_s "$HIST_GAP") * 1000 - HIST_DAYS * 86400000) / 3600000 * 3600000 + 217))
HIST_END=$((HIST_START + (HIST_POINTS - 1) * HIST_INTERVAL_S * 1000))

# ---- history data set: files, then Prometheus blocks ----
log "generating the history data set: $HIST_SERIES series x $HIST_POINTS points"
"$QB_BIN" history --series "$HIST_SERIES" --start-ms "$HIST_START" --interval-ms $((HIST_INTERVAL_S * 1000)) \
    --points "$HIST_POINTS" --jsonl "$WORK/history.jsonl" --openmetrics "$WORK/history.om" >"$WORK/history.json"
mkdir -p "$WORK/prometheus/data" "$WORK/strix" "$WORK/vm"
log "promtool: backfilling Prometheus blocks"
t=$(date +%s%3N)
# Blocks as long as the data (promtool rounds down to 2h*3^k: 162h for 7 days), so
# Prometheus holds 2-3 history blocks and its compactor has nothing left to merge.
"$PROMTOOL_BIN" tsdb create-blocks-from openmetrics --max-block-duration=$((HIST_DAYS * 24))h -q \
    "$WORK/history.om" "$WORK/prometheus/data" >"$WORK/promtool.log" 2>&1 || {
    cat "$WORK/promtool.log" >&2
    exit 1
}
PROMTOOL_S=$(awk -v a="$t" -v b="$(date +%s%3N)" 'BEGIN {printf "%.1f", (b - a) / 1000}')
rm -f "$WORK/history.om"

# ---- servers ----
"$STRIX_BIN" serve --config "$WORK/strix.yaml" --data-dir "$WORK/strix" --listen "127.0.0.1:$STRIX_PORT" \
    >"$WORK/strix.log" 2>&1 &
STRIX_PID=$!
PIDS+=("$STRIX_PID")
"$VM_BIN" -retentionPeriod=100y -search.disableCache -storageDataPath "$WORK/vm" \
    -httpListenAddr "127.0.0.1:$VM_PORT" >"$WORK/vm.log" 2>&1 &
VM_PID=$!
PIDS+=("$VM_PID")
printf 'global:\n  scrape_interval: 1m\nscrape_configs: []\n' >"$WORK/prometheus/prometheus.yml"
"$PROMETHEUS_BIN" --config.file "$WORK/prometheus/prometheus.yml" --storage.tsdb.path "$WORK/prometheus/data" \
    --storage.tsdb.retention.time=100y --web.listen-address "127.0.0.1:$PROM_PORT" \
    --web.enable-remote-write-receiver >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
PIDS+=("$PROM_PID")
wait_ready "$STRIX_URL/-/ready" "$STRIX_PID"
wait_ready "$VM_URL/health" "$VM_PID"
wait_ready "$PROM_URL/-/ready" "$PROM_PID"
log "servers up: strix pid $STRIX_PID, victoria-metrics pid $VM_PID, prometheus pid $PROM_PID"

# ---- load ----
log "importing the history data set into strix"
"$QB_BIN" import --url "$STRIX_URL/api/v1/import" --file "$WORK/history.jsonl" >"$WORK/import.strix.json"
log "importing the history data set into victoria-metrics"
"$QB_BIN" import --url "$VM_URL/api/v1/import" --file "$WORK/history.jsonl" >"$WORK/import.vm.json"
rm -f "$WORK/history.jsonl"

for sys in strix vm prometheus; do
    case $sys in strix) url=$STRIX_URL ;; vm) url=$VM_URL ;; prometheus) url=$PROM_URL ;; esac
    log "remote_write of the live data set into $sys"
    timeout 600 "$LOADGEN_BIN" --url "$url/api/v1/write" --profile cpu --cpus 8 --series "$LIVE_SERIES" \
        --duration "$LIVE_DURATION" --interval "$LIVE_INTERVAL" --start-ms "$LIVE_START" \
        >"$WORK/live.$sys.json" 2>"$WORK/live.$sys.log" || { cat "$WORK/live.$sys.log" >&2; exit 1; }
done

log "strix: flush (head -> blocks, compaction, rollups)"
t=$(date +%s%3N)
curl -fsS -X POST "$STRIX_URL/api/v1/admin/tsdb/flush" >/dev/null
STRIX_FLUSH_S=$(awk -v a="$t" -v b="$(date +%s%3N)" 'BEGIN {printf "%.1f", (b - a) / 1000}')
log "victoria-metrics: force_flush, force_merge"
curl -fsS "$VM_URL/internal/force_flush" >/dev/null
for m in $(for ts in $((HIST_START / 1000)) $((HIST_END / 1000)) $((LIVE_END / 1000)); do date -u -d "@$ts" +%Y_%m; done | sort -u); do
    curl -fsS "$VM_URL/internal/force_merge?partition_prefix=$m" >/dev/null || log "force_merge $m failed"
done
curl -fsS "$VM_URL/internal/force_flush" >/dev/null
# Prometheus' compactor first runs a minute after start; be past it, so the history blocks
# are in their final shape (promtool's 162h blocks leave it nothing to do) before timing.
for ((i = 0; i < 120; i++)); do
    (($(curl -fsS "$PROM_URL/metrics" | awk '$1 == "prometheus_tsdb_compactions_triggered_total" {print $2 + 0}') >= 1)) && break
    sleep 1
done
sleep 2

# ---- state before timing ----
STRIX_HEALTH=$(curl -fsS "$STRIX_URL/api/monitoring/health" | jq -c '[.. | objects | select(.component? == "storage") | .details][0]')
strix_rollup_metrics() { curl -fsS "$STRIX_URL/metrics" | grep -i rollup | grep -v '^#' || true; }
strix_rollup_metrics >"$WORK/strix.rollup.before"
PROM_COMPACTIONS_BEFORE=$(metric_sum "$PROM_URL/metrics" prometheus_tsdb_compactions_total)
PROM_BLOCKS=$(metric_sum "$PROM_URL/metrics" prometheus_tsdb_blocks_loaded)
VM_MERGES_BEFORE=$(metric_sum "$VM_URL/metrics" vm_merges_total)
series_count() { curl -fsS -G "$1/api/v1/series" --data-urlencode "match[]=$2" \
    --data-urlencode "start=$((HIST_START / 1000 - 1))" --data-urlencode "end=$((LIVE_END / 1000 + 1))" | jq '.data | length'; }
COUNTS=""
for sys in strix prometheus vm; do
    case $sys in strix) url=$STRIX_URL ;; vm) url=$VM_URL ;; prometheus) url=$PROM_URL ;; esac
    COUNTS+="$sys: live $(series_count "$url" node_cpu_seconds_total), history $(series_count "$url" '{job="history"}'); "
done
log "series: $COUNTS"
declare -A CPU0
for sys in strix prometheus vm; do
    case $sys in strix) CPU0[$sys]=$(cpu_s "$STRIX_PID") ;; vm) CPU0[$sys]=$(cpu_s "$VM_PID") ;; prometheus) CPU0[$sys]=$(cpu_s "$PROM_PID") ;; esac
done
LOAD_S=$((SECONDS - T0))

# ---- timing ----
log "timing queries: warmup $WARMUP, $REPS repetitions each, round-robin over the systems"
t=$SECONDS
"$QB_BIN" run --system "prometheus=$PROM_URL" --system "strix=$STRIX_URL" --system "vm=$VM_URL" \
    --reference prometheus --live-end-ms "$LIVE_END" --hist-start-ms "$HIST_START" --hist-end-ms "$HIST_END" \
    --reps "$REPS" --warmup "$WARMUP" --only "$ONLY" --out "$WORK/results.json" >"$WORK/table.md"
QUERY_S=$((SECONDS - t))

strix_rollup_metrics >"$WORK/strix.rollup.after"
PROM_COMPACTIONS_AFTER=$(metric_sum "$PROM_URL/metrics" prometheus_tsdb_compactions_total)
VM_MERGES_AFTER=$(metric_sum "$VM_URL/metrics" vm_merges_total)
declare -A CPU1 RSS HWM
for sys in strix prometheus vm; do
    case $sys in strix) p=$STRIX_PID ;; vm) p=$VM_PID ;; prometheus) p=$PROM_PID ;; esac
    CPU1[$sys]=$(cpu_s "$p")
    RSS[$sys]=$(vm_rss "$p")
    HWM[$sys]=$(vm_hwm "$p")
done
ROLLUP_READ="Rollup counters on Strix' /metrics (blocks built; there is no counter of rollup reads): $(tr '\n' ' ' <"$WORK/strix.rollup.after" | cut -c1-300)"
if ! cmp -s "$WORK/strix.rollup.before" "$WORK/strix.rollup.after"; then
    ROLLUP_READ+=" (changed during the timing: $(diff "$WORK/strix.rollup.before" "$WORK/strix.rollup.after" | grep '^>' | cut -c3- | tr '\n' ' ' | cut -c1-300))"
fi
if grep -q 'mod rollup' "$ROOT/crates/query/src/lib.rs" 2>/dev/null; then
    ROLLUP_READ+=". This engine reads rollup tiers for *_over_time/rate/increase windows aligned to 5m/1h buckets (crates/query/src/lib.rs): c1-c5 take that path, c1u-c5u (the same queries 1 s off the grid) read raw samples"
else
    ROLLUP_READ+=". This engine reads raw samples only"
fi

# ---- optional profile of Strix ----
if [[ -n $PROFILE ]]; then
    if command -v perf >/dev/null; then
        for q in ${PROFILE//,/ }; do
            log "perf: profiling strix on queries $q"
            perf record -F 499 -g -p "$STRIX_PID" -o "$WORK/perf.$q.data" >/dev/null 2>&1 &
            PERF_PID=$!
            PIDS+=("$PERF_PID")
            sleep 1
            "$QB_BIN" run --system "strix=$STRIX_URL" --live-end-ms "$LIVE_END" --hist-start-ms "$HIST_START" \
                --hist-end-ms "$HIST_END" --reps "$REPS" --warmup 1 --only "$q" --out "$WORK/perf.$q.json" >/dev/null
            kill -INT "$PERF_PID" 2>/dev/null || true
            wait "$PERF_PID" 2>/dev/null || true
            perf report -i "$WORK/perf.$q.data" --no-children --sort symbol -g none --stdio --percent-limit 0.3 2>/dev/null |
                grep '%' | sed 's/[[:space:]]*$//' | head -60 >"$ROOT/bench/query/profile.$q.txt" || true
            log "perf: top symbols in bench/query/profile.$q.txt"
        done
    else
        log "perf not available; PROFILE ignored"
    fi
fi

# ---- report ----
ELAPSED=$((SECONDS - T0))
PROM_VERSION=$("$PROMETHEUS_BIN" --version 2>&1 | awk 'NR == 1 {print $3}')
VM_VERSION=$(dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null || echo unknown)
STRIX_VERSION=$("$STRIX_BIN" --version | awk '{print $2}')
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
CMD="LIVE_SERIES=$LIVE_SERIES LIVE_DURATION=$LIVE_DURATION LIVE_INTERVAL=$LIVE_INTERVAL HIST_SERIES=$HIST_SERIES HIST_DAYS=$HIST_DAYS HIST_INTERVAL_S=$HIST_INTERVAL_S HIST_GAP=${HIST_GAP_ARG} REPS=$REPS WARMUP=$WARMUP${ONLY:+ ONLY=$ONLY} bench/query/run.sh"
COMMIT="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet HEAD 2>/dev/null || echo ", uncommitted changes")"
cpu_used() { awk -v a="${CPU0[$1]}" -v b="${CPU1[$1]}" 'BEGIN {printf "%.1f", b - a}'; }
iso() { date -u -d "@$(($1 / 1000))" +%Y-%m-%dT%H:%M:%SZ; }
REPORT=$(
    cat <<EOF
### Run of $STARTED

Machine: $(nproc) CPUs ($CPU), $MEM RAM, $(uname -sr); load average at the end $LOADAVG (shared machine).
Versions: Strix $STRIX_VERSION (binary built $(date -u -r "$STRIX_BIN" +%Y-%m-%dT%H:%M:%SZ); tree at commit $COMMIT), Prometheus $PROM_VERSION, VictoriaMetrics $VM_VERSION.
Command: \`$CMD\`. Wall time: ${ELAPSED}s (loading ${LOAD_S}s, timing ${QUERY_S}s).

Data: live $LIVE_SERIES series x $LIVE_ROUNDS samples at $LIVE_INTERVAL ($(iso "$LIVE_START") to $(iso "$LIVE_END"), remote_write);
history $HIST_SERIES series x $HIST_POINTS samples at ${HIST_INTERVAL_S}s = $(jq .samples "$WORK/history.json") samples ($(iso "$HIST_START") to $(iso "$HIST_END"), backfilled).
Series found (\`/api/v1/series\`): $COUNTS
Latency: client-side, keep-alive HTTP, $WARMUP warm-up runs then $REPS timed runs per query and system, interleaved round-robin; milliseconds.

$(cat "$WORK/table.md")

Result check: against Prometheus; same series (label sets), same timestamps, values within 1e-6 relative.

Load and state:
- Strix: history import $(jq -r '"\(.seconds)s (\(.requests) requests, \(.bytes) bytes of JSON lines)"' "$WORK/import.strix.json"), live remote_write $(jq -r '"\(.seconds)s"' "$WORK/live.strix.json"), flush ${STRIX_FLUSH_S}s; storage after flush: $STRIX_HEALTH. CPU during timing $(cpu_used strix)s; RSS at the end $(fmt_mib "${RSS[strix]}"), peak $(fmt_mib "${HWM[strix]}").
- Strix rollups: ${STRIX_NOTE:-started with storage.rollups.delay_5m/delay_1h = 0s}. $ROLLUP_READ. Config: \`$(tr '\n' ' ' <"$WORK/strix.yaml")\`.
- Prometheus: promtool backfill ${PROMTOOL_S}s, $PROM_BLOCKS blocks loaded; live remote_write $(jq -r '"\(.seconds)s"' "$WORK/live.prometheus.json"); compactions during timing: $((PROM_COMPACTIONS_AFTER - PROM_COMPACTIONS_BEFORE)). CPU during timing $(cpu_used prometheus)s; RSS at the end $(fmt_mib "${RSS[prometheus]}"), peak $(fmt_mib "${HWM[prometheus]}").
- VictoriaMetrics (\`-search.disableCache\`, and \`nocache=1\` on every query): history import $(jq -r '"\(.seconds)s"' "$WORK/import.vm.json"), live remote_write $(jq -r '"\(.seconds)s"' "$WORK/live.vm.json"), then force_flush and force_merge; merges during timing: $((VM_MERGES_AFTER - VM_MERGES_BEFORE)). CPU during timing $(cpu_used vm)s; RSS at the end $(fmt_mib "${RSS[vm]}"), peak $(fmt_mib "${HWM[vm]}").
EOF
)
echo
echo "$REPORT"

if [[ $UPDATE_README == 1 ]]; then
    README=$ROOT/bench/README.md
    begin='<!-- query-results:begin -->'
    end='<!-- query-results:end -->'
    if [[ -f $README ]] && grep -qF "$begin" "$README" && grep -qF "$end" "$README"; then
        printf '%s\n' "$REPORT" >"$WORK/report.md"
        tmp=$(mktemp)
        awk -v b="$begin" -v e="$end" -v f="$WORK/report.md" '
            $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
            $0 == e { skip = 0 }
            !skip { print }' "$README" >"$tmp"
        cat "$tmp" >"$README"
        rm -f "$tmp"
        log "results written into $README"
        cp "$WORK/results.json" "$ROOT/bench/query/last-results.json"
        log "full results (every timing) in bench/query/last-results.json"
    else
        log "$README has no query results markers; not updated"
    fi
fi
