#!/usr/bin/env bash
# HTTP-FLV and WebSocket-FLV fan-out beside RTMP fan-out, Sluice and Node-Media-Server 4.
#
# Each server is pinned to CPU 0 (taskset), the load generator (`sluice bench`, which also
# publishes the ~2 Mbps H.264+AAC fixture over RTMP) to CPU 1. For each server, three runs of N
# players: over RTMP, over HTTP-FLV (`--play-url http://…/live/bench.flv`) and over WS-FLV
# (`--play-url ws://…`), and for Sluice over LL-HLS (`--play-url http://…/live/bench.m3u8`:
# blocking playlist reloads and every part); server CPU and RSS are sampled from /proc in the
# middle of each run.
# Node-Media-Server 4 (npm `node-media-server`, installed into .cache/npm-bench) is the peer.
#
# Usage: bench/http_fanout.sh [--players N] [--duration S] [--record] [--only sluice|nms]
#   --record   append the result table, with date and command, to docs/PERFORMANCE.md
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PLAYERS=1000
DURATION=20
RECORD=0
ONLY=""
ARGS="$*"
NMS_VERSION="4.4.3"
while [ $# -gt 0 ]; do
    case "$1" in
        --players) PLAYERS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --record) RECORD=1; shift ;;
        --only) ONLY="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_setup ffmpeg taskset python3 node npm

NMS_DIR="$ROOT/.cache/npm-bench"
NMS_APP="$NMS_DIR/node_modules/node-media-server/bin/app.js"
if [ "$ONLY" != sluice ] && ! grep -q "\"version\": \"$NMS_VERSION\"" "$NMS_DIR/node_modules/node-media-server/package.json" 2>/dev/null; then
    echo "== installing node-media-server@$NMS_VERSION into .cache/npm-bench"
    npm install --prefix "$NMS_DIR" --no-audit --no-fund "node-media-server@$NMS_VERSION" >/dev/null
fi

ensure_fixture
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

# run_case LABEL RTMP_PORT HTTP_PORT SERVER_PID OVER(rtmp|http|ws) -> $WORK/LABEL-OVER.json
run_case() {
    local label="$1" rport="$2" hport="$3" spid="$4" over="$5"
    local out="$WORK/$label-$over.json"
    local play=()
    case "$over" in
        rtmp) ;;
        hls) play=(--play-url "http://127.0.0.1:$hport/live/bench.m3u8") ;;
        *) play=(--play-url "$over://127.0.0.1:$hport/live/bench.flv") ;;
    esac
    local ramp=500
    local total=$(( PLAYERS / ramp + DURATION ))
    taskset -c 1 "$BIN" bench "rtmp://127.0.0.1:$rport/live/bench" --players "$PLAYERS" \
        --publish "$FIXTURE" --duration "$DURATION" --ramp "$ramp" "${play[@]}" --json -q \
        >"$out" 2>"$WORK/$label-$over.err" &
    measure_server "$out" "$spid" "$!" "$total" "$label over $over"
}
start_sluice() {
    RPORT=$(free_port); HPORT=$(free_port)
    env -u SLUICE_FFMPEG9 taskset -c 0 "$BIN" serve --listen "127.0.0.1:$RPORT" \
        --http "127.0.0.1:$HPORT" --log warn >"$WORK/sluice.log" 2>&1 &
    SPID=$!; PIDS+=("$SPID")
    wait_port "$RPORT"; wait_port "$HPORT"
}
start_nms() {
    RPORT=$(free_port); HPORT=$(free_port)
    mkdir -p "$WORK/nms"
    (cd "$WORK/nms" && exec taskset -c 0 node "$NMS_APP" --bind 127.0.0.1 --rtmp-port "$RPORT" \
        --http-port "$HPORT" --data-path "$WORK/nms/data" --no-admin >"$WORK/nms.log" 2>&1) &
    SPID=$!; PIDS+=("$SPID")
    wait_port "$RPORT"; wait_port "$HPORT"
}

for server in sluice nms; do
    [ -z "$ONLY" ] || [ "$ONLY" = "$server" ] || continue
    overs="rtmp http ws"
    # Node-Media-Server has no LL-HLS; Sluice's is measured too.
    [ "$server" = sluice ] && overs="$overs hls"
    for over in $overs; do
        echo "== $server, $PLAYERS players over $over"
        "start_$server"; run_case "$server" "$RPORT" "$HPORT" "$SPID" "$over"; stop "$SPID"
    done
done

TABLE="$WORK/table.md"
python3 - "$WORK" "$PLAYERS" "$DURATION" >"$TABLE" <<'PY'
import json, os, sys
work, players, duration = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(label):
    p = os.path.join(work, f"{label}.json")
    return json.load(open(p)) if os.path.exists(p) else None
def pct(r, key, q):
    return ((r or {}).get(key) or {}).get(q)
cols = [c for c in ("sluice-rtmp", "sluice-http", "sluice-ws", "sluice-hls", "nms-rtmp", "nms-http", "nms-ws") if load(c)]
res = {c: load(c) for c in cols}
rows = [
    ("server CPU, % of one core", lambda r: r["server_cpu_percent"]),
    ("server RSS, MiB", lambda r: r["server_rss_mib"]),
    ("players connected / failed", lambda r: f'{r["connected"]} / {r["failed"]}'),
    ("min per-player bitrate, kbps", lambda r: (r.get("bitrate_kbps") or {}).get("min")),
    ("median per-player bitrate, kbps", lambda r: (r.get("bitrate_kbps") or {}).get("median")),
    ("video latency p50, ms", lambda r: pct(r, "latency_ms", "p50")),
    ("video latency p99, ms", lambda r: pct(r, "latency_ms", "p99")),
    ("audio latency p99, ms", lambda r: pct(r, "audio_latency_ms", "p99")),
    ("first frame p50, ms", lambda r: pct(r, "first_frame_ms", "p50")),
    ("load generator CPU, %", lambda r: r["cpu"]["percent_of_one_core"]),
]
def fmt(v):
    if v is None: return "-"
    if isinstance(v, float): return f"{v:.1f}"
    return str(v)
print(f"\n**Fan-out over RTMP, HTTP-FLV and WS-FLV: 1 publisher x ~2 Mbps, {players} players, {duration} s**\n")
print("| metric | " + " | ".join(cols) + " |")
print("|---|" + "---|" * len(cols))
for name, f in rows:
    print(f"| {name} | " + " | ".join(fmt(f(res[c])) for c in cols) + " |")
checks = []
base = res.get("sluice-rtmp")
for over in ("http", "ws"):
    r = res.get(f"sluice-{over}")
    if r and base:
        checks.append((f"sluice {over}-flv CPU <= 1.1 x sluice RTMP CPU",
                       r["server_cpu_percent"] <= 1.1 * base["server_cpu_percent"]))
    if r:
        med = (r.get("bitrate_kbps") or {}).get("median") or 1e9
        checks.append((f"sluice {over}-flv: every player >= 95% of the bitrate, none failed",
                       r["failed"] == 0 and ((r.get("bitrate_kbps") or {}).get("min") or 0) >= 0.95 * med))
    n = res.get(f"nms-{over}")
    if r and n:
        checks.append((f"sluice {over}-flv CPU <= Node-Media-Server's", r["server_cpu_percent"] <= n["server_cpu_percent"]))
if checks:
    print("\n| target | met |\n|---|---|")
    for name, ok in checks:
        print(f"| {name} | {'yes' if ok else 'NO'} |")
PY
cat "$TABLE"
if [ "$RECORD" = 1 ]; then
    {
        echo
        echo "#### HTTP-FLV and WS-FLV fan-out, $(date -u +%Y-%m-%d) ($(nproc) vCPU, $(uname -r))"
        echo
        echo "Command: \`bench/http_fanout.sh $ARGS\` at $(git rev-parse --short HEAD) (Node-Media-Server $NMS_VERSION, node $(node --version))"
        cat "$TABLE"
    } >>"$ROOT/docs/PERFORMANCE.md"
    echo "recorded in docs/PERFORMANCE.md"
fi
