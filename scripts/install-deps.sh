#!/usr/bin/env bash
# Installs every peer tool the Sluice test suite talks to (interop tests run real
# ffmpeg, rtmpdump, GStreamer, nginx-rtmp and Chromium against our server/client).
#
# Target: a fresh Debian 12 (bookworm) machine. Idempotent: when everything is
# already there it returns in well under a second without touching apt or pip.
#
# Also installs the npm packages mpegts.js and hls.js (pinned) into .cache/npm
# for the browser playback tests (HTTP-FLV / WebSocket-FLV and LL-HLS in
# headless Chromium).
#
# Also installs the PyPI wheel `imageio-ffmpeg` (a static, recent ffmpeg with
# Enhanced RTMP / HEVC-in-FLV support) into the project-local venv .cache/pyenv,
# and exposes its binary as .cache/bin/ffmpeg9 (symlink) and .cache/ffmpeg9.path.
#
# Exit status is non-zero, with a message naming what failed, if anything cannot
# be installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
VENV="$CACHE/pyenv"
FFMPEG9_LINK="$CACHE/bin/ffmpeg9"
FFMPEG9_PATH_FILE="$CACHE/ffmpeg9.path"
IMAGEIO_FFMPEG_VERSION="0.8.1"
NPM_PREFIX="$CACHE/npm"
MPEGTS_JS_VERSION="1.8.2"
MPEGTS_JS_FILE="$NPM_PREFIX/node_modules/mpegts.js/dist/mpegts.js"
HLS_JS_VERSION="1.6.15"
HLS_JS_FILE="$NPM_PREFIX/node_modules/hls.js/dist/hls.js"

# Debian packages. redis-server backs the cluster tests; prometheus provides
# `promtool check metrics` for the /metrics test. gstreamer1.0-plugins-ugly (x264enc) and gstreamer1.0-libav
# (avdec_h264/avdec_aac) are needed so GStreamer can both produce and decode the
# H.264/AAC streams the interop tests push through the server.
APT_PACKAGES=(
    ffmpeg
    rtmpdump
    gstreamer1.0-tools
    gstreamer1.0-plugins-base
    gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad
    gstreamer1.0-plugins-ugly
    gstreamer1.0-libav
    nginx
    libnginx-mod-rtmp
    chromium
    chromium-driver
    python3-venv
    curl
    redis-server
    prometheus
)
# Commands (and one file) whose presence the tests rely on.
REQUIRED_COMMANDS=(ffmpeg ffprobe rtmpdump gst-launch-1.0 gst-inspect-1.0 nginx chromium chromedriver curl redis-server promtool)
NGINX_RTMP_MODULE="/usr/lib/nginx/modules/ngx_rtmp_module.so"

log() { printf '[install-deps] %s\n' "$*"; }
die() {
    printf '[install-deps] ERROR: %s\n' "$*" >&2
    exit 1
}

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and sudo is not available"
    SUDO=(sudo)
fi

apt_ready() {
    local c p
    for c in "${REQUIRED_COMMANDS[@]}"; do
        command -v "$c" >/dev/null 2>&1 || return 1
    done
    [ -f "$NGINX_RTMP_MODULE" ] || return 1
    for p in "${APT_PACKAGES[@]}"; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || return 1
    done
    return 0
}

stop_system_nginx() {
    # The Debian package may start nginx as a service (port 80). The tests start
    # their own nginx instances; a system one must not be left running.
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        "${SUDO[@]}" systemctl disable --now nginx >/dev/null 2>&1 || true
    fi
    if [ -f /run/nginx.pid ]; then
        local pid
        pid="$(cat /run/nginx.pid 2>/dev/null || true)"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            log "stopping the nginx system service started by the package (pid $pid)"
            "${SUDO[@]}" kill -QUIT "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
        fi
    fi
    if command -v update-rc.d >/dev/null 2>&1 && [ -f /etc/init.d/nginx ]; then
        "${SUDO[@]}" update-rc.d nginx disable >/dev/null 2>&1 || true
    fi
}

install_apt() {
    if apt_ready; then
        log "Debian packages: all present (fast path, apt skipped)"
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    local t0 t1
    t0=$(date +%s)
    log "apt-get update"
    "${SUDO[@]}" apt-get update -q >/dev/null || die "apt-get update failed"

    local p missing=()
    for p in "${APT_PACKAGES[@]}"; do
        # Capture first: `grep -q` closing the pipe early would trip pipefail.
        local policy
        policy="$(apt-cache policy "$p" 2>/dev/null || true)"
        case "$policy" in
            *"Candidate: (none)"* | "") missing+=("$p") ;;
            *Candidate:*) ;;
            *) missing+=("$p") ;;
        esac
    done
    [ "${#missing[@]}" -eq 0 ] || die "no installation candidate for Debian package(s): ${missing[*]}"

    # Keep maintainer scripts from starting services (nginx) during the install.
    local own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    log "apt-get install ${APT_PACKAGES[*]}"
    local rc=0
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${APT_PACKAGES[@]}" >"${TMPDIR:-/tmp}/sluice-apt-install.log" 2>&1 || rc=$?
    if [ "$own_policy" -eq 1 ]; then
        "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d
    fi
    if [ "$rc" -ne 0 ]; then
        tail -n 30 "${TMPDIR:-/tmp}/sluice-apt-install.log" >&2 || true
        die "apt-get install failed (exit $rc); full log: ${TMPDIR:-/tmp}/sluice-apt-install.log"
    fi
    stop_system_nginx
    apt_ready || die "packages installed but a required command or $NGINX_RTMP_MODULE is still missing"
    t1=$(date +%s)
    log "Debian packages installed in $((t1 - t0)) s"
}

ffmpeg9_ready() {
    [ -x "$VENV/bin/python" ] || return 1
    [ -f "$FFMPEG9_PATH_FILE" ] || return 1
    local p
    p="$(cat "$FFMPEG9_PATH_FILE")"
    [ -x "$p" ] || return 1
    [ -L "$FFMPEG9_LINK" ] && [ -x "$FFMPEG9_LINK" ] || return 1
    return 0
}

install_ffmpeg9() {
    if ffmpeg9_ready; then
        log "imageio-ffmpeg: present (fast path, pip skipped)"
        return 0
    fi
    local t0 t1 py
    t0=$(date +%s)
    # Debian's interpreter is the one python3-venv equips; fall back to PATH.
    if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py="$(command -v python3 || true)"; fi
    [ -n "$py" ] || die "python3 not found"
    mkdir -p "$CACHE/bin"
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating venv $VENV with $py"
        rm -rf "$VENV"
        "$py" -m venv "$VENV" || die "python3 -m venv failed (is python3-venv installed?)"
    fi
    log "pip install imageio-ffmpeg==$IMAGEIO_FFMPEG_VERSION"
    "$VENV/bin/python" -m pip install -q "imageio-ffmpeg==$IMAGEIO_FFMPEG_VERSION" ||
        die "pip install imageio-ffmpeg failed"
    local exe
    exe="$("$VENV/bin/python" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')" ||
        die "imageio_ffmpeg.get_ffmpeg_exe() failed"
    [ -x "$exe" ] || die "imageio-ffmpeg binary $exe is not executable"
    "$exe" -hide_banner -version >/dev/null 2>&1 || die "imageio-ffmpeg binary $exe does not run"
    printf '%s\n' "$exe" >"$FFMPEG9_PATH_FILE"
    ln -sfn "$exe" "$FFMPEG9_LINK"
    t1=$(date +%s)
    log "imageio-ffmpeg installed in $((t1 - t0)) s"
}

# npm_ready PACKAGE VERSION FILE: the pinned version of PACKAGE is in .cache/npm.
npm_ready() {
    [ -f "$3" ] || return 1
    [ "$(node -p "require('$NPM_PREFIX/node_modules/$1/package.json').version" 2>/dev/null || true)" = "$2" ]
}

# install_npm PACKAGE VERSION FILE
install_npm() {
    if npm_ready "$1" "$2" "$3"; then
        log "$1 $2: present (fast path, npm skipped)"
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        # Machines whose nodejs comes without npm (Debian's own nodejs) get Debian's npm.
        log "apt-get install npm"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm \
            >"${TMPDIR:-/tmp}/sluice-apt-npm.log" 2>&1 || die "apt-get install npm failed; log: ${TMPDIR:-/tmp}/sluice-apt-npm.log"
    fi
    command -v npm >/dev/null 2>&1 || die "npm not found after installing it"
    log "npm install --prefix $NPM_PREFIX $1@$2"
    mkdir -p "$NPM_PREFIX"
    # Both packages in one install: npm removes packages of the prefix it was not asked for.
    npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --no-save --loglevel=error \
        "mpegts.js@$MPEGTS_JS_VERSION" "hls.js@$HLS_JS_VERSION" >/dev/null || die "npm install $1@$2 failed"
    npm_ready "$1" "$2" "$3" || die "$1 installed but $3 is missing or not version $2"
}

install_apt
install_ffmpeg9
install_npm mpegts.js "$MPEGTS_JS_VERSION" "$MPEGTS_JS_FILE"
install_npm hls.js "$HLS_JS_VERSION" "$HLS_JS_FILE"

log "versions:"
log "  ffmpeg:    $(ffmpeg -hide_banner -version | head -n 1)"
log "  rtmpdump:  $(rtmpdump -h 2>&1 | head -n 1)"
log "  gstreamer: $(gst-launch-1.0 --version | sed -n 2p)"
log "  nginx:     $(nginx -v 2>&1)"
log "  chromium:  $(chromium --version 2>/dev/null || echo unknown)"
log "  ffmpeg9:   $("$FFMPEG9_LINK" -hide_banner -version | head -n 1) ($(cat "$FFMPEG9_PATH_FILE"))"
log "  mpegts.js: $MPEGTS_JS_VERSION ($MPEGTS_JS_FILE)"
log "  hls.js:    $HLS_JS_VERSION ($HLS_JS_FILE)"
