# Shared helpers of the benchmark scripts (sourced). The caller sets WORK (scratch
# directory), PIDS=() (processes it starts) and KEEP_DATA before sourcing; every process
# in PIDS is stopped by its PID on exit.

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# Stops one process we started: SIGTERM, up to 60s grace, then SIGKILL.
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 600; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    log "pid $pid did not stop in 60s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [[ $KEEP_DATA == 1 ]]; then log "data kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until a URL answers 2xx while the process is alive (bounded: WAIT_READY_SECS,
# default 60).
wait_ready() {
    local url=$1 pid=$2 i
    for ((i = 0; i < ${WAIT_READY_SECS:-60} * 5; i++)); do
        kill -0 "$pid" 2>/dev/null || { log "server (pid $pid) exited during startup"; return 1; }
        curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
        sleep 0.2
    done
    log "timed out waiting for $url"
    return 1
}

# Peak and current resident set of a process, in bytes.
vm_hwm() { awk '/^VmHWM:/ {print $2 * 1024}' "/proc/$1/status"; }
vm_rss() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status"; }
