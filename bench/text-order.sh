#!/usr/bin/env bash
# Regenerate crates/cli/text-order.txt: the functions a running server executes, for the release
# link's `--symbol-ordering-file` (crates/cli/build.rs). Placed together at the start of `.text`,
# they are the only machine code a server keeps resident, instead of most of the binary (page
# faults on code map 64 KiB around the page touched: docs/PERFORMANCE.md, "Resident code").
#
# How: the release server runs under valgrind's callgrind (every function it executes is listed,
# with its own instruction count) through a small version of each workload: startup, RTMP
# publish and play (the bench load generator), HTTP-FLV, WebSocket-FLV and LL-HLS players, the
# control API and /metrics, a reload and a graceful shutdown. The list keeps the names present
# in the binary, hottest first.
#
# When: after a dependency or compiler update, or a large change to the fan-out path. Symbol
# names carry a hash of their crate's build (versions, features, compiler), so such a change
# leaves part of the list matching nothing; build.rs then skips those names and the binary is
# only less compact, never wrong. The script prints how much of the list the binary matched.
#
# Usage: bench/text-order.sh [--check]
#   --check  only report how many names of the committed list the current release binary has.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1
ORDER="$ROOT/crates/cli/text-order.txt"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
if [ "$CHECK" = 1 ]; then
    bench_setup nm python3
    text_order_note always
    exit 0
fi
# valgrind is not among the test suite's peer tools (scripts/install-deps.sh).
command -v valgrind >/dev/null || { echo "missing valgrind: apt-get install valgrind" >&2; exit 1; }
bench_setup valgrind nm curl python3
ensure_fixture

RTMP=$(free_port); HTTP=$(free_port)
OUT="$WORK/callgrind.out"
echo "== sluice under callgrind (RTMP $RTMP, HTTP $HTTP)"
SLUICE_HTTP_LISTEN="127.0.0.1:$HTTP" valgrind --tool=callgrind --demangle=no \
    --dump-instr=no --callgrind-out-file="$OUT" \
    "$BIN" serve --listen "127.0.0.1:$RTMP" --log warn >"$WORK/server.log" 2>&1 &
SPID=$!; PIDS+=("$SPID")
for _ in $(seq 1 600); do
    (echo >/dev/tcp/127.0.0.1/"$RTMP") 2>/dev/null && break
    sleep 0.1
done
load() { # NAME PLAY_URL_OR_EMPTY PLAYERS
    local url=(); [ -n "$2" ] && url=(--play-url "$2")
    echo "== $1: $3 players"
    "$BIN" bench "rtmp://127.0.0.1:$RTMP/live/$1" "${url[@]}" --players "$3" --publish "$FIXTURE" \
        --duration 10 --ramp 20 --json -q >"$WORK/$1.json" 2>"$WORK/$1.err" ||
        { cat "$WORK/$1.err" >&2; exit 1; }
}
load rtmp "" 20 &
LOAD=$!
sleep 4
for path in /api/v1/streams /api/v1/clients /api/v1/info /metrics; do
    curl -fsS "http://127.0.0.1:$HTTP$path" >/dev/null
done
curl -fsS -X POST "http://127.0.0.1:$HTTP/api/v1/reload" >/dev/null || true
wait "$LOAD"
load flv "http://127.0.0.1:$HTTP/live/flv.flv" 5
load ws "ws://127.0.0.1:$HTTP/live/ws.flv" 5
load hls "http://127.0.0.1:$HTTP/live/hls.m3u8" 3
kill -INT "$SPID"
wait "$SPID" || true
[ -s "$OUT" ] || { echo "callgrind wrote nothing" >&2; cat "$WORK/server.log" >&2; exit 1; }

python3 - "$BIN" "$OUT" "$ORDER" <<'PY'
import re, subprocess, sys
binary, profile, order = sys.argv[1:]
names, cost, current, skip = {}, {}, None, False
for line in open(profile, errors="replace"):
    line = line.rstrip("\n")
    m = re.match(r"^fn=\((\d+)\)(?: (.*))?$", line)
    if m:
        if m.group(2):
            names[m.group(1)] = m.group(2)
        current = names.get(m.group(1))
        cost.setdefault(current, 0)
        continue
    m = re.match(r"^c?f[nlie]=\((\d+)\)(?: (.*))?$", line)
    if m:
        if line.startswith("cfn=") and m.group(2):
            names[m.group(1)] = m.group(2)
        continue
    if line.startswith("calls="):
        skip = True  # the next cost line is the call's inclusive cost
        continue
    m = re.match(r"^[+-]?\d+ (\d+)", line)
    if m and current is not None:
        if skip:
            skip = False
        else:
            cost[current] += int(m.group(1))
present = {l.split()[-1] for l in subprocess.run(["nm", "--defined-only", binary],
           capture_output=True, text=True, check=True).stdout.splitlines() if l.strip()}
listed = sorted((n for n in cost if n in present), key=lambda n: (-cost[n], n))
with open(order, "w") as f:
    f.write("".join(n + "\n" for n in listed))
print(f"{len(listed)} functions executed ({len(cost)} seen, the rest in shared libraries) -> {order}")
PY
