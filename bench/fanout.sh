#!/usr/bin/env bash
# Side-by-side fan-out and ingest benchmark: Sluice vs nginx-rtmp on the same machine.
#
# Each server is pinned to CPU 0 (taskset), the load generator (`sluice bench`, which also
# publishes) to CPU 1. One publisher of a ~2 Mbps H.264+AAC FLV (made by ffmpeg from a lavfi
# source) in real time, N players; server CPU and RSS are sampled from /proc in the middle of the
# run. Then an ingest run: M publishers x ~2 Mbps, no players.
#
# Usage: bench/fanout.sh [--players N] [--duration S] [--ingest M] [--record] [--only sluice|nginx]
#   --record   append the result table, with date and command, to docs/PERFORMANCE.md
# Besides the defaults ("sluice"), two documented Sluice settings are measured:
#   "sluice-lowlat" (fan-out) with SLUICE_BENCH_LOWLAT_ENV, default "SLUICE_SERVER_FANOUT_BATCH_MS=0"
#     (every audio frame written at once; video is never held back, in any setting);
#   "sluice-ingest" (ingest) with SLUICE_BENCH_INGEST_ENV, default
#     "SLUICE_HUB_GOP_CACHE_UNWATCHED=false" (no GOP kept for streams nobody watches).
#   Set either to "none" to skip that variant. (SLUICE_BENCH_EXTRA_ENV is the old name of the first.)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PLAYERS=1000
DURATION=30
INGEST=200
RECORD=0
ONLY=""
ARGS="$*"
while [ $# -gt 0 ]; do
    case "$1" in
        --players) PLAYERS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --ingest) INGEST="$2"; shift 2 ;;
        --record) RECORD=1; shift ;;
        --only) ONLY="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_setup ffmpeg nginx taskset python3

MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
[ -f "$MODULE" ] || { echo "missing $MODULE (libnginx-mod-rtmp): run scripts/install-deps.sh" >&2; exit 1; }

ensure_fixture

# run_case LABEL MODE(fanout|ingest) PORT SERVER_PID -> writes $WORK/LABEL-MODE.json
run_case() {
    local label="$1" mode="$2" port="$3" spid="$4"
    local out="$WORK/$label-$mode.json"
    local url="rtmp://127.0.0.1:$port/live/bench"
    local ramp total
    if [ "$mode" = fanout ]; then
        ramp=500
        total=$(( PLAYERS / ramp + DURATION ))
        taskset -c 1 "$BIN" bench "$url" --players "$PLAYERS" --publish "$FIXTURE" \
            --duration "$DURATION" --ramp "$ramp" --json -q >"$out" 2>"$WORK/$label-$mode.err" &
    else
        ramp=200
        total=$(( INGEST / ramp + DURATION ))
        taskset -c 1 "$BIN" bench "$url" --players 0 --publishers "$INGEST" --publish "$FIXTURE" \
            --duration "$DURATION" --ramp "$ramp" --json -q >"$out" 2>"$WORK/$label-$mode.err" &
    fi
    local bpid=$!
    measure_server "$out" "$spid" "$bpid" "$total" "$label $mode"
}

LOWLAT_ENV="${SLUICE_BENCH_LOWLAT_ENV:-${SLUICE_BENCH_EXTRA_ENV:-SLUICE_SERVER_FANOUT_BATCH_MS=0}}"
INGEST_ENV="${SLUICE_BENCH_INGEST_ENV:-SLUICE_HUB_GOP_CACHE_UNWATCHED=false}"
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true
LABELS=()
for mode in fanout ingest; do
    if [ -z "$ONLY" ] || [ "$ONLY" = sluice ]; then
        echo "== sluice ($mode)"
        start_sluice sluice; run_case sluice "$mode" "$SPORT" "$SPID"; stop "$SPID"
        if [ "$LOWLAT_ENV" != none ] && [ "$mode" = fanout ]; then
            echo "== sluice-lowlat ($mode: $LOWLAT_ENV)"
            # shellcheck disable=SC2086
            start_sluice sluice-lowlat $LOWLAT_ENV; run_case sluice-lowlat "$mode" "$SPORT" "$SPID"; stop "$SPID"
        fi
        if [ "$INGEST_ENV" != none ] && [ "$mode" = ingest ]; then
            echo "== sluice-ingest ($mode: $INGEST_ENV)"
            # shellcheck disable=SC2086
            start_sluice sluice-ingest $INGEST_ENV; run_case sluice-ingest "$mode" "$SPORT" "$SPID"; stop "$SPID"
        fi
    fi
    if [ -z "$ONLY" ] || [ "$ONLY" = nginx ]; then
        echo "== nginx-rtmp ($mode)"
        start_nginx; run_case nginx "$mode" "$SPORT" "$SPID"; stop "$SPID"
    fi
done

TABLE="$WORK/table.md"
python3 - "$WORK" "$PLAYERS" "$INGEST" "$DURATION" >"$TABLE" <<'PY'
import json, os, sys
work, players, ingest, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def load(label, mode):
    p = os.path.join(work, f"{label}-{mode}.json")
    return json.load(open(p)) if os.path.exists(p) else None
def pct(r, key, q):
    v = (r or {}).get(key) or {}
    return v.get(q)
def br(r):
    b = (r or {}).get("bitrate_kbps") or {}
    return b.get("min")
rows = [
    ("server CPU, % of one core", lambda r: r and r["server_cpu_percent"], "lower"),
    ("server RSS, MiB", lambda r: r and r["server_rss_mib"], "lower"),
    ("players connected / failed", lambda r: r and f'{r["connected"]} / {r["failed"]}', None),
    ("min per-player bitrate, kbps", br, "higher"),
    ("median per-player bitrate, kbps", lambda r: ((r or {}).get("bitrate_kbps") or {}).get("median"), "higher"),
    ("latency p50, ms", lambda r: pct(r, "latency_ms", "p50"), "lower"),
    ("latency p99, ms", lambda r: pct(r, "latency_ms", "p99"), "lower"),
    ("audio latency p50, ms", lambda r: pct(r, "audio_latency_ms", "p50"), "lower"),
    ("audio latency p99, ms", lambda r: pct(r, "audio_latency_ms", "p99"), "lower"),
    ("first frame p50, ms", lambda r: pct(r, "first_frame_ms", "p50"), "lower"),
    ("first frame p99, ms", lambda r: pct(r, "first_frame_ms", "p99"), "lower"),
    ("load generator CPU, %", lambda r: r and r["cpu"]["percent_of_one_core"], None),
]
def fmt(v):
    if v is None: return "-"
    if isinstance(v, float): return f"{v:.1f}"
    return str(v)
labels = [l for l in ("sluice", "sluice-lowlat", "sluice-ingest", "nginx") if load(l, "fanout") or load(l, "ingest")]
for mode, title in (("fanout", f"Fan-out: 1 publisher x ~2 Mbps, {players} players, {duration} s"),
                    ("ingest", f"Ingest: {ingest} publishers x ~2 Mbps, {duration} s")):
    res = {l: load(l, mode) for l in labels}
    if not any(res.values()): continue
    cols = [l for l in labels if res[l]]
    print(f"\n**{title}**\n")
    head = "| metric | " + " | ".join(cols) + (" | sluice / nginx |" if "nginx" in cols and "sluice" in cols else " |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for name, f, _ in rows:
        if mode == "ingest" and ("latency" in name or "first frame" in name or "bitrate" in name or "players" in name):
            continue
        vals = [f(res[c]) for c in cols]
        line = f"| {name} | " + " | ".join(fmt(v) for v in vals)
        if "nginx" in cols and "sluice" in cols:
            a, b = f(res["sluice"]), f(res["nginx"])
            ratio = f"{a / b:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "-"
            line += f" | {ratio}"
        print(line + " |")
# Targets (issue 5), checked on this run.
s, n, ll = load("sluice", "fanout"), load("nginx", "fanout"), load("sluice-lowlat", "fanout")
si, ni, sp = load("sluice", "ingest"), load("nginx", "ingest"), load("sluice-ingest", "ingest")
checks = []
if s and n:
    checks.append(("default: CPU <= 0.6 x nginx", s["server_cpu_percent"] <= 0.6 * n["server_cpu_percent"]))
    checks.append(("default: latency p99 <= nginx", (pct(s,"latency_ms","p99") or 1e9) <= (pct(n,"latency_ms","p99") or 0)))
    checks.append(("default: audio latency p99 <= nginx's audio p99", (pct(s,"audio_latency_ms","p99") or 1e9) <= (pct(n,"audio_latency_ms","p99") or 0)))
    checks.append(("RSS <= 0.5 x nginx", s["server_rss_mib"] <= 0.5 * n["server_rss_mib"]))
# Latency is measured on video and (AAC) audio frames separately: no setting holds video back (a
# batch ends at each picture), audio waits up to fanout_batch_ms for the next picture. The
# defaults are checked against the low-latency targets too, next to the variant that writes every
# audio frame at once.
for label, r in (("defaults", s), ("sluice-lowlat", ll)):
    if r and n:
        checks.append((f"low-latency ({label}): p99 <= 0.5 x nginx", (pct(r,"latency_ms","p99") or 1e9) <= 0.5 * (pct(n,"latency_ms","p99") or 0)))
        checks.append((f"low-latency ({label}): audio p99 <= 0.5 x nginx's audio p99", (pct(r,"audio_latency_ms","p99") or 1e9) <= 0.5 * (pct(n,"audio_latency_ms","p99") or 0)))
        checks.append((f"low-latency ({label}): CPU <= nginx", r["server_cpu_percent"] <= n["server_cpu_percent"]))
if s:
    checks.append(("first frame p50 <= 30 ms", (pct(s,"first_frame_ms","p50") or 1e9) <= 30))
    checks.append(("every player >= 95% of published bitrate, none dropped",
                   s["failed"] == 0 and (br(s) or 0) >= 0.95 * ((s.get("bitrate_kbps") or {}).get("median") or 1e9)))
    checks.append(("bench drives the players without falling behind (its CPU < 90%)", s["cpu"]["percent_of_one_core"] < 90))
for label, r in (("defaults", si), ("gop_cache_unwatched = false", sp)):
    if r and ni:
        checks.append((f"ingest ({label}): CPU <= 0.6 x nginx", r["server_cpu_percent"] <= 0.6 * ni["server_cpu_percent"]))
        checks.append((f"ingest ({label}): RSS <= nginx", r["server_rss_mib"] <= ni["server_rss_mib"]))
if checks:
    print("\n| target | met |\n|---|---|")
    for name, ok in checks:
        print(f"| {name} | {'yes' if ok else 'NO'} |")
PY
cat "$TABLE"
if [ "$RECORD" = 1 ]; then
    {
        echo
        echo "#### Fan-out and ingest, $(date -u +%Y-%m-%d) ($(nproc) vCPU, $(uname -r))"
        echo
        echo "Command: \`bench/fanout.sh $ARGS\` (sluice-lowlat: \`$LOWLAT_ENV\`, sluice-ingest: \`$INGEST_ENV\`)"
        cat "$TABLE"
    } >>"$ROOT/docs/PERFORMANCE.md"
    echo "recorded in docs/PERFORMANCE.md"
fi
