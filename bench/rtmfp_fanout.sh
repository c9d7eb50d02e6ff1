#!/usr/bin/env bash
# RTMFP fan-out beside RTMP fan-out (issue 15, "load"): N players of one stream, Sluice only.
#
# The release server is pinned to CPU 0 (taskset), the load generator (`sluice bench`, which
# also publishes the ~2 Mbps H.264+AAC fixture over RTMP) to CPU 1. Two runs of N players: over
# RTMP, then over RTMFP (`--play-url rtmfp://…`: one UDP socket and RTMFP session per player,
# on the server's [rtmfp] listener, which shares the RTMP port number). Server CPU and RSS are
# sampled from /proc in the middle of each run. All players come from 127.0.0.1, so the run
# raises [rtmfp] max_sessions_per_address (default 64) to N through its environment variable.
#
# Usage: bench/rtmfp_fanout.sh [--players N] [--duration S] [--ramp PER_SEC] [--perf] [--record]
#   --perf     also profile the server with `perf record` during the RTMFP run; print the top
#              symbols
#   --record   append the result table, with date and command, to docs/PERFORMANCE.md
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PLAYERS=200
DURATION=20
RAMP=50
PERF=0
RECORD=0
ARGS="$*"
while [ $# -gt 0 ]; do
    case "$1" in
        --players) PLAYERS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --ramp) RAMP="$2"; shift 2 ;;
        --perf) PERF=1; shift ;;
        --record) RECORD=1; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_setup ffmpeg taskset python3
[ "$PERF" = 0 ] || command -v perf >/dev/null || { echo "missing perf (--perf)" >&2; exit 1; }

ensure_fixture
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true
UPTIME_BEFORE="$(uptime)"

# run_case OVER(rtmp|rtmfp) -> $WORK/sluice-OVER.json
run_case() {
    local over="$1"
    local out="$WORK/sluice-$over.json"
    start_sluice "sluice-$over" SLUICE_RTMFP_MAX_SESSIONS_PER_ADDRESS="$PLAYERS"
    local play=()
    [ "$over" = rtmfp ] && play=(--play-url "rtmfp://127.0.0.1:$SPORT/live/bench")
    local total
    total=$(python3 -c "import math; print(math.ceil($PLAYERS / $RAMP) + $DURATION)")
    taskset -c 1 "$BIN" bench "rtmp://127.0.0.1:$SPORT/live/bench" --players "$PLAYERS" \
        --publish "$FIXTURE" --duration "$DURATION" --ramp "$RAMP" "${play[@]}" --json -q \
        >"$out" 2>"$WORK/sluice-$over.err" &
    local bpid=$!
    if [ "$PERF" = 1 ] && [ "$over" = rtmfp ]; then
        (sleep $(( total / 2 )) && perf record -q -g -o "$WORK/perf.data" -p "$SPID" -- sleep 5 \
            >/dev/null 2>&1) &
    fi
    measure_server "$out" "$SPID" "$bpid" "$total" "sluice over $over"
    stop "$SPID"
}

for over in rtmp rtmfp; do
    echo "== sluice, $PLAYERS players over $over"
    run_case "$over"
done
wait

TABLE="$WORK/table.md"
python3 - "$WORK" "$PLAYERS" "$DURATION" >"$TABLE" <<'PY'
import json, os, sys
work, players, duration = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cols = [c for c in ("sluice-rtmp", "sluice-rtmfp") if os.path.exists(os.path.join(work, f"{c}.json"))]
res = {c: json.load(open(os.path.join(work, f"{c}.json"))) for c in cols}
def pct(r, key, q):
    return (r.get(key) or {}).get(q)
rows = [
    ("server CPU, % of one core", lambda r: r["server_cpu_percent"]),
    ("server RSS, MiB", lambda r: r["server_rss_mib"]),
    ("players connected / receiving / failed", lambda r: f'{r["connected"]} / {r["receiving"]} / {r["failed"]}'),
    ("min per-player bitrate, kbps", lambda r: (r.get("bitrate_kbps") or {}).get("min")),
    ("median per-player bitrate, kbps", lambda r: (r.get("bitrate_kbps") or {}).get("median")),
    ("video latency p50, ms", lambda r: pct(r, "latency_ms", "p50")),
    ("video latency p99, ms", lambda r: pct(r, "latency_ms", "p99")),
    ("audio latency p99, ms", lambda r: pct(r, "audio_latency_ms", "p99")),
    ("first frame p50, ms", lambda r: pct(r, "first_frame_ms", "p50")),
    ("first frame p99, ms", lambda r: pct(r, "first_frame_ms", "p99")),
    ("load generator CPU, % of one core", lambda r: r["cpu"]["percent_of_one_core"]),
]
def fmt(v):
    if v is None: return "-"
    if isinstance(v, float): return f"{v:.1f}"
    return str(v)
print(f"\n**Fan-out over RTMP and RTMFP: 1 publisher x ~2 Mbps (over RTMP), {players} players, {duration} s**\n")
print("| metric | " + " | ".join(cols) + " |")
print("|---|" + "---|" * len(cols))
for name, f in rows:
    print(f"| {name} | " + " | ".join(fmt(f(res[c])) for c in cols) + " |")
for c in cols:
    if res[c]["errors"]:
        print(f"\n{c} errors: " + ", ".join(f"{k}: {v} (e.g. {res[c]['error_examples'].get(k, '')})" for k, v in res[c]["errors"].items()))
PY
cat "$TABLE"
if [ "$PERF" = 1 ] && [ -s "$WORK/perf.data" ]; then
    echo
    echo "== server profile during the RTMFP run (perf, self time, top symbols)"
    perf report -q -i "$WORK/perf.data" --no-children --percent-limit 1.5 --stdio -g none \
        2>/dev/null | sed '/^$/d' | head -40 | tee "$WORK/perf.txt"
fi
if [ "$RECORD" = 1 ]; then
    {
        echo
        echo "#### RTMFP fan-out beside RTMP, $(date -u +%Y-%m-%d) ($(nproc) vCPU, $(uname -r))"
        echo
        echo "Command: \`bench/rtmfp_fanout.sh $ARGS\` at $(git rev-parse --short HEAD); before the run: \`$UPTIME_BEFORE\`"
        cat "$TABLE"
        if [ -s "$WORK/perf.txt" ]; then
            echo
            echo "Server profile during the RTMFP run (\`perf record -g\`, 5 s, self time, symbols over 1.5 %):"
            echo
            echo '```'
            cat "$WORK/perf.txt"
            echo '```'
        fi
    } >>"$ROOT/docs/PERFORMANCE.md"
    echo "recorded in docs/PERFORMANCE.md"
fi
