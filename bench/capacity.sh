#!/usr/bin/env bash
# Capacity benchmark (issue 16): server CPU per player at each latency budget, side by side with
# nginx-rtmp and, when given, SRS (docs/CAPACITY.md explains the budget and the load rule).
#
# Each server is pinned to CPU 0, the load generator (`sluice bench`, which also publishes in real
# time) to CPU 1; CPU and RSS are sampled from /proc in the middle of each run. Points:
#   d2     1000 players x 2 Mbps, default budget (0)       sluice, nginx, srs-default, srs-realtime
#   b100   1000 players x 2 Mbps, latency_budget_ms = 100  sluice
#   b350   1000 players x 2 Mbps, latency_budget_ms = 350  sluice
#   light   100 players x 2 Mbps, default budget           sluice
#   h4000  4000 players x 0.5 Mbps, default budget         sluice, srs-default
# The 0.5 Mbps fixture is 640x360 30 fps, ~420 kbps H.264 + 64 kbps AAC (bench/lib.sh).
#
# Usage: bench/capacity.sh [--points d2,b100,b350,light,h4000] [--duration S] [--record]
#                          [--srs PATH_TO_SRS_BINARY] [--no-nginx]
#   --srs     also run SRS (not in any registry: build it by hand, outside the checkout); the
#             script writes its two configs (shipped defaults: merged write 350 ms; "realtime":
#             min_latency on, mw_latency 100, tcp_nodelay on).
#   --record  append the table, with date and command, to docs/PERFORMANCE.md
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
POINTS="d2,b100,b350,light,h4000"
DURATION=20
RECORD=0
SRS=""
NGINX=1
ARGS="$*"
while [ $# -gt 0 ]; do
    case "$1" in
        --points) POINTS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --record) RECORD=1; shift ;;
        --srs) SRS="$2"; shift 2 ;;
        --no-nginx) NGINX=0; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_setup ffmpeg nginx taskset python3

MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
[ -f "$MODULE" ] || { echo "missing $MODULE (libnginx-mod-rtmp): run scripts/install-deps.sh" >&2; exit 1; }
[ -z "$SRS" ] || [ -x "$SRS" ] || { echo "--srs $SRS is not an executable" >&2; exit 1; }

ensure_fixture

start_srs() { # VARIANT(default|realtime)
    local port; port=$(free_port)
    local vhost="vhost __defaultVhost__ { }"
    if [ "$1" = realtime ]; then
        vhost="vhost __defaultVhost__ { tcp_nodelay on; min_latency on; play { mw_latency 100; } publish { mr off; } }"
    fi
    cat >"$WORK/srs-$1.conf" <<CONF
listen 127.0.0.1:$port;
max_connections 10000;
daemon off;
pid $WORK/srs-$1.pid;
srs_log_tank console;
srs_log_level warn;
$vhost
CONF
    taskset -c 0 "$SRS" -c "$WORK/srs-$1.conf" >"$WORK/srs-$1.log" 2>&1 &
    SPID=$!; PIDS+=("$SPID"); SPORT=$port
    wait_port "$port"
}

# point LABEL PLAYERS FIXTURE SERVER [ENV...] -> $WORK/LABEL.json
point() {
    local label="$1" players="$2" fixture="$3" server="$4"; shift 4
    echo "== $label: $players players, $(basename "$fixture"), $server $*"
    case "$server" in
        sluice) start_sluice "$label" "$@" ;;
        nginx) start_nginx ;;
        srs-default) start_srs default ;;
        srs-realtime) start_srs realtime ;;
    esac
    local out="$WORK/$label.json" ramp=500
    local total=$(( players / ramp + DURATION ))
    taskset -c 1 "$BIN" bench "rtmp://127.0.0.1:$SPORT/live/bench" --players "$players" \
        --publish "$fixture" --duration "$DURATION" --ramp "$ramp" --json -q \
        >"$out" 2>"$WORK/$label.err" &
    measure_server "$out" "$SPID" "$!" "$total" "$label"
    stop "$SPID"
}

ulimit -n 65536 2>/dev/null || ulimit -n 16384 2>/dev/null || true
has() { case ",$POINTS," in *",$1,"*) return 0 ;; esac; return 1; }
if has d2; then
    point d2-sluice 1000 "$FIXTURE" sluice
    [ "$NGINX" = 0 ] || point d2-nginx 1000 "$FIXTURE" nginx
    if [ -n "$SRS" ]; then
        point d2-srs-default 1000 "$FIXTURE" srs-default
        point d2-srs-realtime 1000 "$FIXTURE" srs-realtime
    fi
fi
has b100 && point b100-sluice 1000 "$FIXTURE" sluice SLUICE_SERVER_LATENCY_BUDGET_MS=100
has b350 && point b350-sluice 1000 "$FIXTURE" sluice SLUICE_SERVER_LATENCY_BUDGET_MS=350
has light && point light-sluice 100 "$FIXTURE" sluice
if has h4000; then
    point h4000-sluice 4000 "$FIXTURE_05" sluice
    [ -z "$SRS" ] || point h4000-srs-default 4000 "$FIXTURE_05" srs-default
fi

TABLE="$WORK/table.md"
python3 - "$WORK" "$DURATION" >"$TABLE" <<'PY'
import glob, json, os, sys
work, duration = sys.argv[1], sys.argv[2]
res = {os.path.basename(p)[:-5]: json.load(open(p)) for p in sorted(glob.glob(os.path.join(work, "*.json")))}
def q(r, key, p):
    return ((r or {}).get(key) or {}).get(p)
def fmt(v):
    return "-" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))
order = ["d2-sluice", "d2-nginx", "d2-srs-default", "d2-srs-realtime", "b100-sluice", "b350-sluice",
         "light-sluice", "h4000-sluice", "h4000-srs-default"]
print(f"\n**Capacity: players x bitrate at each latency budget, {duration} s per point**\n")
print("| point | CPU % | RSS MiB | connected / failed | min / median kbps | p50 / p99 ms | audio p99 ms | first frame p50 ms | bench CPU % |")
print("|---|---|---|---|---|---|---|---|---|")
for k in order:
    r = res.get(k)
    if not r: continue
    b = r.get("bitrate_kbps") or {}
    print(f"| {k} | {fmt(r['server_cpu_percent'])} | {fmt(r['server_rss_mib'])} | {r['connected']} / {r['failed']} "
          f"| {fmt(b.get('min'))} / {fmt(b.get('median'))} | {fmt(q(r,'latency_ms','p50'))} / {fmt(q(r,'latency_ms','p99'))} "
          f"| {fmt(q(r,'audio_latency_ms','p99'))} | {fmt(q(r,'first_frame_ms','p50'))} | {fmt(r['cpu']['percent_of_one_core'])} |")
def full_rate(r):
    b = r.get("bitrate_kbps") or {}
    return r["failed"] == 0 and (b.get("min") or 0) >= 0.95 * (b.get("median") or 1e9)
checks = []
s, n = res.get("d2-sluice"), res.get("d2-nginx")
if s and n:
    checks.append(("default, 1000 x 2 Mbps: CPU <= 0.6 x nginx-rtmp", s["server_cpu_percent"] <= 0.6 * n["server_cpu_percent"]))
    checks.append(("default, 1000 x 2 Mbps: p99 <= nginx-rtmp's", (q(s,"latency_ms","p99") or 1e9) <= (q(n,"latency_ms","p99") or 0)))
    checks.append(("default, 1000 x 2 Mbps: RSS <= 0.5 x nginx-rtmp", s["server_rss_mib"] <= 0.5 * n["server_rss_mib"]))
for k, cpu, p99 in (("b100-sluice", 12, 110), ("b350-sluice", 9, 370)):
    r = res.get(k)
    if r:
        checks.append((f"{k[:4]}: CPU <= {cpu} %", r["server_cpu_percent"] <= cpu))
        checks.append((f"{k[:4]}: p99 <= {p99} ms", (q(r,"latency_ms","p99") or 1e9) <= p99))
        checks.append((f"{k[:4]}: every player at full rate", full_rate(r)))
r = res.get("h4000-sluice")
if r:
    checks.append(("4000 x 0.5 Mbps: CPU <= 85 %", r["server_cpu_percent"] <= 85))
    checks.append(("4000 x 0.5 Mbps: p99 <= 250 ms", (q(r,"latency_ms","p99") or 1e9) <= 250))
    checks.append(("4000 x 0.5 Mbps: every player at full rate", full_rate(r)))
    srs = res.get("h4000-srs-default")
    if srs:
        mn = lambda x: (x.get("bitrate_kbps") or {}).get("min") or 0
        checks.append(("4000 x 0.5 Mbps: slowest player no slower than SRS's", mn(r) >= mn(srs)))
r = res.get("light-sluice")
if r:
    checks.append(("100 x 2 Mbps: video p99 <= 20 ms", (q(r,"latency_ms","p99") or 1e9) <= 20))
for k in ("d2", "h4000"):
    r, srs = res.get(f"{k}-sluice"), res.get(f"{k}-srs-default")
    if r and srs:
        checks.append((f"{k}: RSS <= 0.25 x SRS", r["server_rss_mib"] <= 0.25 * srs["server_rss_mib"]))
for k, r in res.items():
    if r["cpu"]["percent_of_one_core"] >= 90:
        checks.append((f"{k}: load generator not the bottleneck (its CPU < 90 %)", False))
if checks:
    print("\n| target | met |\n|---|---|")
    for name, ok in checks:
        print(f"| {name} | {'yes' if ok else 'NO'} |")
PY
cat "$TABLE"
if [ "$RECORD" = 1 ]; then
    {
        echo
        echo "#### Capacity, $(date -u +%Y-%m-%d) ($(nproc) vCPU, $(uname -r))"
        echo
        echo "Command: \`bench/capacity.sh $ARGS\`"
        cat "$TABLE"
    } >>"$ROOT/docs/PERFORMANCE.md"
    echo "recorded in docs/PERFORMANCE.md"
fi
