//! Retention: when a recording's file closes, recordings under `[record] dir` older than
//! `keep_days` are deleted, then the oldest ones until all take at most `max_total_bytes`.
//! Only `.flv` and `.mp4` files count; files being written are never touched. Age is the
//! file's modification time (when it was last written).

use super::RecordSection;
use crate::Context;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tracing::{info, warn};

/// One recording on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Its path.
    pub path: PathBuf,
    /// Last written.
    pub modified: SystemTime,
    /// Size in bytes.
    pub size: u64,
}

/// The files to delete (oldest first) so that none is older than `keep` (if set) and the rest
/// take at most `max_total` bytes (if set).
pub fn plan(
    mut files: Vec<FileInfo>,
    now: SystemTime,
    keep: Option<Duration>,
    max_total: Option<u64>,
) -> Vec<FileInfo> {
    files.sort_by_key(|f| f.modified);
    let mut total: u64 = files.iter().map(|f| f.size).sum();
    let mut out = Vec::new();
    for f in files {
        let too_old = keep.is_some_and(|k| now.duration_since(f.modified).unwrap_or_default() > k);
        let too_big = max_total.is_some_and(|m| total > m);
        if too_old || too_big {
            total -= f.size;
            out.push(f);
        }
    }
    out
}

/// Every recording under `dir` (recursively), skipping `open`.
fn list(dir: &Path, open: &[PathBuf], out: &mut Vec<FileInfo>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_dir() {
            list(&path, open, out);
            continue;
        }
        let ext = path.extension().and_then(|x| x.to_str()).unwrap_or("");
        if !matches!(ext, "flv" | "mp4") {
            continue;
        }
        let canon = path.canonicalize().unwrap_or_else(|_| path.clone());
        if open.contains(&canon) {
            continue;
        }
        out.push(FileInfo {
            path,
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            size: meta.len(),
        });
    }
}

/// Apply the retention rule of `cfg` (a file has just closed).
pub fn after_close(ctx: &Context, cfg: &RecordSection) {
    if cfg.keep_days == 0 && cfg.max_total_bytes == 0 {
        return;
    }
    let _one_at_a_time = ctx
        .recorders
        .sweep
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let open: Vec<PathBuf> = ctx
        .recorders
        .open_paths()
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| {
            PathBuf::from(&p)
                .canonicalize()
                .unwrap_or_else(|_| PathBuf::from(p))
        })
        .collect();
    let mut files = Vec::new();
    list(Path::new(&cfg.dir), &open, &mut files);
    let keep = (cfg.keep_days > 0).then(|| Duration::from_secs(cfg.keep_days * 86_400));
    let max_total = (cfg.max_total_bytes > 0).then_some(cfg.max_total_bytes);
    for f in plan(files, SystemTime::now(), keep, max_total) {
        match std::fs::remove_file(&f.path) {
            Ok(()) => {
                info!(path = %f.path.display(), size = f.size, "recording deleted by retention")
            }
            Err(e) => {
                warn!(path = %f.path.display(), error = %e, "retention could not delete a recording")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, age_days: u64, size: u64, now: SystemTime) -> FileInfo {
        FileInfo {
            path: name.into(),
            modified: now - Duration::from_secs(age_days * 86_400),
            size,
        }
    }

    #[test]
    fn oldest_go_first() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 * 86_400);
        let files = vec![
            file("new", 0, 10, now),
            file("old", 9, 10, now),
            file("mid", 3, 10, now),
        ];
        let names = |v: Vec<FileInfo>| v.into_iter().map(|f| f.path).collect::<Vec<_>>();
        assert_eq!(
            names(plan(
                files.clone(),
                now,
                Some(Duration::from_secs(7 * 86_400)),
                None
            )),
            [PathBuf::from("old")]
        );
        assert_eq!(
            names(plan(files.clone(), now, None, Some(15))),
            [PathBuf::from("old"), PathBuf::from("mid")]
        );
        assert!(plan(files, now, None, Some(30)).is_empty());
    }
}
