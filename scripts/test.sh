#!/usr/bin/env bash
# The one test command of the Sluice project (CI runs it through .ci/run).
#
# 1. installs the peer tools (scripts/install-deps.sh; fast when already present),
# 2. checks formatting, 3. clippy with warnings denied, 4. the whole test suite
# (unit, property and interop tests), 5. type-checks the fuzz crate.
#
# Stops at the first failing step with a non-zero exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

START=$(date +%s)
section() {
    printf '\n==== [%4ds] %s ====\n' "$(($(date +%s) - START))" "$*"
}

section "install peer tools (scripts/install-deps.sh)"
bash "$ROOT/scripts/install-deps.sh"

# Path of the recent ffmpeg (imageio-ffmpeg wheel) the Enhanced RTMP tests use.
SLUICE_FFMPEG9="$(cat "$ROOT/.cache/ffmpeg9.path")"
export SLUICE_FFMPEG9
[ -x "$SLUICE_FFMPEG9" ] || {
    echo "SLUICE_FFMPEG9=$SLUICE_FFMPEG9 is not executable" >&2
    exit 1
}
echo "SLUICE_FFMPEG9=$SLUICE_FFMPEG9"

section "cargo fmt --all -- --check"
cargo fmt --all -- --check

section "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

section "cargo test --workspace"
cargo test --workspace

section "cargo check --manifest-path fuzz/Cargo.toml"
cargo check --manifest-path fuzz/Cargo.toml

section "all steps passed"
