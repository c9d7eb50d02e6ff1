# Shared helpers of the benchmark scripts (sourced): ports, /proc CPU and RSS sampling, and the
# measurement of a server while a `sluice bench` load runs beside it.

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

# ensure_fixture: FIXTURE = the 2 Mbps test stream in .cache, made once with ffmpeg.
ensure_fixture() {
    FIXTURE="$ROOT/.cache/bench-2mbps.flv"
    if [ ! -s "$FIXTURE" ]; then
        echo "== making the 2 Mbps fixture (60 s, 1280x720 25 fps, GOP 2 s, CBR + AAC 128k)"
        mkdir -p "$ROOT/.cache"
        ffmpeg -hide_banner -loglevel error -y \
            -f lavfi -i "testsrc2=size=1280x720:rate=25" -f lavfi -i "sine=f=440:sample_rate=44100" \
            -t 60 -c:v libx264 -preset veryfast -tune zerolatency -g 50 -bf 0 \
            -b:v 1900k -minrate 1900k -maxrate 1900k -bufsize 1900k -x264-params nal-hrd=cbr \
            -c:a aac -b:a 128k -ac 2 -f flv "$FIXTURE.tmp"
        mv "$FIXTURE.tmp" "$FIXTURE"
    fi
}
