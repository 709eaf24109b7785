#!/usr/bin/env bash
# Error-ingest benchmark: Sentry envelopes into Strix from concurrent senders.
#
# strix-errorbench (bench/loadgen) posts one-event envelopes (≈5 KB of JSON shaped like a
# Python SDK event, 200 distinct issues) from CONCURRENCY keep-alive connections for
# DURATION seconds, then reads the issues API to check that every event answered 200 was
# stored. Rate limits are lifted for the run (the point is the ingest path). Prints one
# JSON line per run and the Strix process' CPU seconds and peak RSS.
#
# Usage: bench/errors/run.sh
#        CONCURRENCY=64 DURATION=30 bench/errors/run.sh
# Env:   CONCURRENCY (32), DURATION (20), ISSUES (200), EVENT_BYTES (5000), USERS (0: each
#        issue's one user of 50; N: a user of N at random per event), KEEP_DATA (0),
#        BUILD (1; 0 = use the built binaries), STRIX_BIN, PROFILE (0; 1 = perf record).
# Needs: cargo, curl, awk; port 39131 on 127.0.0.1 free.
set -euo pipefail

CONCURRENCY=${CONCURRENCY:-32}
DURATION=${DURATION:-20}
ISSUES=${ISSUES:-200}
EVENT_BYTES=${EVENT_BYTES:-5000}
USERS=${USERS:-0}
KEEP_DATA=${KEEP_DATA:-0}
BUILD=${BUILD:-1}
PROFILE=${PROFILE:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
STRIX_BIN=${STRIX_BIN:-$TARGET/release/strix}
BENCH_BIN=$TARGET/release/strix-errorbench
PORT=39131
KEY=0123456789abcdef0123456789abcdef

WORK=$(mktemp -d "${TMPDIR:-/tmp}/strix-errorbench.XXXXXX")
PIDS=()
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

CLK_TCK=$(getconf CLK_TCK)
cpu_s() { awk -v t="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat"; }

if [[ $BUILD == 1 ]]; then
    log "building strix and strix-errorbench (release)"
    (cd "$ROOT" && cargo build --release -q -p strix --bin strix && cargo build --release -q -p strix-loadgen --bin strix-errorbench)
fi

cat > "$WORK/strix.yaml" <<YAML
projects:
  - {id: 1, slug: bench, public_key: "$KEY"}
errors:
  limits:
    events_per_second: 0
check_settings:
  components: {disk_free_percent: 0, disk_free_critical_percent: 0}
YAML

"$STRIX_BIN" serve -c "$WORK/strix.yaml" --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" \
    >"$WORK/strix.log" 2>&1 &
PIDS+=($!)
STRIX_PID=$!
wait_ready "http://127.0.0.1:$PORT/-/ready" "$STRIX_PID" || wait_ready "http://127.0.0.1:$PORT/api/monitoring/health" "$STRIX_PID"

if [[ $PROFILE == 1 ]]; then
    perf record -F 499 -g -p "$STRIX_PID" -o "$WORK/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
    PERF_PID=$!
fi
cpu0=$(cpu_s "$STRIX_PID")
log "sending for ${DURATION}s from $CONCURRENCY connections ($ISSUES issues, ~$EVENT_BYTES B events)"
result=$("$BENCH_BIN" --url "http://127.0.0.1:$PORT" --project 1 --key "$KEY" \
    --concurrency "$CONCURRENCY" --duration "$DURATION" --issues "$ISSUES" \
    --event-bytes "$EVENT_BYTES" --users "$USERS" --verify)
cpu1=$(cpu_s "$STRIX_PID")
if [[ $PROFILE == 1 ]]; then
    wait "$PERF_PID" || true
    perf report -i "$WORK/perf.data" --no-children -g none --sort comm,dso,symbol --percent-limit 0.6 --stdio 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | head -60 > "$(dirname "${BASH_SOURCE[0]}")/profile.txt" || true
fi
echo "$result"
log "strix CPU seconds: $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", b - a }'), peak RSS: $(( $(vm_hwm "$STRIX_PID") / 1048576 )) MiB, state.db: $(du -sh "$WORK/data/state.db"* | awk '{print $1}' | paste -sd+)"
