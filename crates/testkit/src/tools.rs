//! Discovery of the peer programs the interop tests drive.
//!
//! `scripts/install-deps.sh` installs them: Debian packages for `ffmpeg`,
//! `ffprobe`, `rtmpdump`, `gst-launch-1.0`, `nginx` (+ `libnginx-mod-rtmp`),
//! `chromium`, and the `imageio-ffmpeg` wheel in `.cache/pyenv` for a recent
//! ffmpeg ("ffmpeg9") with Enhanced RTMP support. Tests must fail loudly when a
//! tool is missing, so every lookup here panics with a message naming the
//! installer instead of returning an `Option`.

use std::env;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Environment variable that overrides where the recent ffmpeg is.
pub const FFMPEG9_ENV: &str = "SLUICE_FFMPEG9";

/// File (relative to the repository root) where `install-deps.sh` records the
/// path of the `imageio-ffmpeg` binary.
pub const FFMPEG9_PATH_FILE: &str = ".cache/ffmpeg9.path";

/// Symlink (relative to the repository root) to the `imageio-ffmpeg` binary.
pub const FFMPEG9_LINK: &str = ".cache/bin/ffmpeg9";

fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Looks `name` up in `PATH` (or takes it as a path if it contains a `/`).
/// Returns `None` if it is not there; see [`tool`] for the panicking form.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable_file(&p).then_some(p);
    }
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable_file(candidate))
}

/// The path of a required peer tool (`ffmpeg`, `ffprobe`, `rtmpdump`,
/// `gst-launch-1.0`, `nginx`, ...).
///
/// # Panics
/// If the tool is not in `PATH`: "peer tool X is missing: run
/// scripts/install-deps.sh". Interop tests never skip.
pub fn tool(name: &str) -> PathBuf {
    find_tool(name)
        .unwrap_or_else(|| panic!("peer tool {name} is missing: run scripts/install-deps.sh"))
}

/// The repository root: the nearest ancestor of `CARGO_MANIFEST_DIR` (the
/// running test's crate, else this crate's) holding `scripts/install-deps.sh`.
///
/// # Panics
/// If no such directory exists.
pub fn repo_root() -> PathBuf {
    let starts = [
        env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR"))),
    ];
    for start in starts.into_iter().flatten() {
        if let Some(root) = start
            .ancestors()
            .find(|dir| dir.join("scripts/install-deps.sh").is_file())
        {
            return root.to_path_buf();
        }
    }
    panic!("cannot find the Sluice repository root (no scripts/install-deps.sh above CARGO_MANIFEST_DIR)")
}

/// The recent ffmpeg from the `imageio-ffmpeg` wheel (ffmpeg 9 at the time of
/// writing), which reads and writes Enhanced RTMP FLV (HEVC, AV1, VP9, Opus) and
/// speaks RTMPE/RTMPT.
///
/// Looks at `$SLUICE_FFMPEG9`, then `.cache/ffmpeg9.path`, then
/// `.cache/bin/ffmpeg9` under [`repo_root`].
///
/// # Panics
/// If none of them names an executable file.
pub fn ffmpeg9() -> PathBuf {
    if let Some(v) = env::var_os(FFMPEG9_ENV).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(v);
        if is_executable_file(&p) {
            return p;
        }
        panic!(
            "peer tool ffmpeg9 is missing: {FFMPEG9_ENV}={} is not an executable file: run scripts/install-deps.sh",
            p.display()
        );
    }
    let root = repo_root();
    if let Ok(text) = fs::read_to_string(root.join(FFMPEG9_PATH_FILE)) {
        let p = PathBuf::from(text.trim());
        if is_executable_file(&p) {
            return p;
        }
    }
    let link = root.join(FFMPEG9_LINK);
    if is_executable_file(&link) {
        return link;
    }
    panic!(
        "peer tool ffmpeg9 (imageio-ffmpeg) is missing: neither ${FFMPEG9_ENV} nor {} is usable: run scripts/install-deps.sh",
        root.join(FFMPEG9_PATH_FILE).display()
    )
}
