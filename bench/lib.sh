# Shared helpers of the benchmark scripts (sourced): ports, /proc CPU and RSS sampling, and the
# measurement of a server while a `sluice bench` load runs beside it.

# bench_setup TOOL...: fail unless every TOOL is installed and there are 2 CPUs (server on CPU 0,
# load on CPU 1); build the release binary (BIN); a scratch directory (WORK) removed, and every
# process listed in PIDS killed, on exit.
bench_setup() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || { echo "missing $t: run scripts/install-deps.sh" >&2; exit 1; }
    done
    [ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs (server on CPU 0, load on CPU 1)" >&2; exit 1; }
    echo "== building release"
    cargo build --release -p sluice >/dev/null
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/sluice"
    WORK="$(mktemp -d)"
    PIDS=()
    trap bench_cleanup EXIT
    text_order_note
}

# text_order_note [always]: say so when most of crates/cli/text-order.txt (the code layout of the
# release link, bench/text-order.sh) names nothing in BIN: its resident memory is then not what
# it would be with a fresh list. With `always`, report the match either way.
text_order_note() {
    command -v nm >/dev/null || return 0
    python3 - "$BIN" "$ROOT/crates/cli/text-order.txt" "${1:-}" <<'PY'
import os, subprocess, sys
binary, order, always = sys.argv[1:]
if not os.path.isfile(order):
    sys.exit(0)
names = {l.split()[-1] for l in subprocess.run(["nm", "--defined-only", binary],
         capture_output=True, text=True).stdout.splitlines() if l.strip()}
listed = [l.strip() for l in open(order) if l.strip()]
hit = sum(1 for n in listed if n in names)
if always:
    print(f"{hit} of {len(listed)} functions of {order} are in {binary}")
elif listed and hit < 0.8 * len(listed):
    print(f"note: only {hit} of {len(listed)} functions of {order} are in this binary: "
          "run bench/text-order.sh (resident memory is higher than with a fresh list)")
PY
}
bench_cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 100); do
        (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 never opened" >&2; return 1
}
# cpu_ticks PID -> utime+stime in clock ticks
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)

# measure_server OUT SERVER_PID BENCH_PID TOTAL_SECS LABEL: sample the server's CPU over the
# middle third of the load's TOTAL_SECS, wait for the load (`sluice bench --json` writing OUT),
# and add server_cpu_percent and server_rss_mib to OUT.
measure_server() {
    local out="$1" spid="$2" bpid="$3" total="$4" label="$5"
    local start=$(( total / 3 ))
    local span=$(( total / 3 ))
    [ "$span" -ge 2 ] || span=2
    sleep "$start"
    local t0 c0 t1 c1 rss
    t0=$(date +%s.%N); c0=$(cpu_ticks "$spid")
    sleep "$span"
    t1=$(date +%s.%N); c1=$(cpu_ticks "$spid")
    rss=$(rss_kib "$spid")
    wait "$bpid" || { echo "bench failed for $label:" >&2; cat "${out%.json}.err" >&2; return 1; }
    python3 - "$out" "$t0" "$t1" "$c0" "$c1" "$HZ" "$rss" <<'PY'
import json, sys
path, t0, t1, c0, c1, hz, rss = sys.argv[1:]
r = json.load(open(path))
r["server_cpu_percent"] = (float(c1) - float(c0)) / float(hz) / (float(t1) - float(t0)) * 100
r["server_rss_mib"] = int(rss) / 1024
json.dump(r, open(path, "w"))
PY
    echo "   $label: server CPU $(python3 -c "import json;print(round(json.load(open('$out'))['server_cpu_percent'],1))")%"
}

# make_fixture PATH SIZE FPS VIDEO_KBPS AUDIO_KBPS: a 60 s H.264 (CBR, GOP 2 s, no B-frames) + AAC
# FLV from a lavfi source, made once with ffmpeg and kept in .cache.
make_fixture() {
    local path="$1" size="$2" fps="$3" vk="$4" ak="$5"
    [ -s "$path" ] && return 0
    echo "== making the fixture $(basename "$path") (60 s, $size $fps fps, GOP 2 s, CBR ${vk}k + AAC ${ak}k)"
    mkdir -p "$(dirname "$path")"
    ffmpeg -hide_banner -loglevel error -y \
        -f lavfi -i "testsrc2=size=$size:rate=$fps" -f lavfi -i "sine=f=440:sample_rate=44100" \
        -t 60 -c:v libx264 -preset veryfast -tune zerolatency -g $((fps * 2)) -bf 0 \
        -b:v "${vk}k" -minrate "${vk}k" -maxrate "${vk}k" -bufsize "${vk}k" -x264-params nal-hrd=cbr \
        -c:a aac -b:a "${ak}k" -ac 2 -f flv "$path.tmp"
    mv "$path.tmp" "$path"
}

# ensure_fixture: FIXTURE = the 2 Mbps test stream (1280x720 25 fps, 1900k + 128k);
# FIXTURE_05 = the 0.5 Mbps one (640x360 30 fps, 420k + 64k).
ensure_fixture() {
    FIXTURE="$ROOT/.cache/bench-2mbps.flv"
    FIXTURE_05="$ROOT/.cache/bench-0.5mbps.flv"
    make_fixture "$FIXTURE" 1280x720 25 1900 128
    make_fixture "$FIXTURE_05" 640x360 30 420 64
}

# Servers for the fan-out scripts; each sets SPID and SPORT and is pinned to CPU 0. They use the
# caller's WORK (scratch directory), BIN (sluice binary), MODULE (nginx-rtmp module) and PIDS.
start_sluice() { # LABEL EXTRA_ENV...
    local label="$1"; shift
    local port; port=$(free_port)
    env -u SLUICE_FFMPEG9 "$@" SLUICE_HTTP_LISTEN= taskset -c 0 "$BIN" serve --listen "127.0.0.1:$port" --log warn \
        >"$WORK/$label.log" 2>&1 &
    SPID=$!; PIDS+=("$SPID"); SPORT=$port
    wait_port "$port"
}
start_nginx() {
    local port; port=$(free_port)
    mkdir -p "$WORK/nginx"
    cat >"$WORK/nginx/nginx.conf" <<CONF
load_module $MODULE;
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
error_log $WORK/nginx/error.log warn;
pid $WORK/nginx/nginx.pid;
events { worker_connections 8192; }
rtmp {
    server {
        listen 127.0.0.1:$port;
        chunk_size 4096;
        application live { live on; record off; }
    }
}
CONF
    taskset -c 0 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx.log" 2>&1 &
    SPID=$!; PIDS+=("$SPID"); SPORT=$port
    wait_port "$port"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
