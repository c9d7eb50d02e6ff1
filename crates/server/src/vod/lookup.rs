//! Stream name → file, with the habits of FMS and Wowza: `name`, `name.flv`, `name.mp4`,
//! `flv:name`, `mp4:name` (a prefix names the container; `mp4:` also finds `name.f4v`, `.m4v`,
//! `.mov` when written out). Names may hold `/` to reach subdirectories (the recorder writes
//! `{app}/{stream}-...`), but never escape the directory: `..`, absolute paths, backslashes and
//! NUL bytes are refused, and a candidate whose canonical path (symlinks resolved) lies outside
//! the canonical directory is ignored.

use std::path::{Component, Path, PathBuf};

/// The container of a file served by VOD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// FLV.
    Flv,
    /// MP4 (ISO BMFF).
    Mp4,
}

/// Why a name gives no file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LookupError {
    /// The name would leave the directory or is not a relative path.
    #[error("stream name {0:?} is not a relative path inside the VOD directory")]
    BadName(String),
    /// No candidate file exists.
    #[error("no file for stream name {0:?}")]
    NotFound(String),
}

/// The relative paths a name may stand for, in the order they are tried, with the container
/// each implies (`None`: from the file's own extension or contents).
pub fn candidates(name: &str) -> Result<Vec<(PathBuf, Option<Container>)>, LookupError> {
    let bad = || LookupError::BadName(name.to_owned());
    let (prefix, rest) = match name.split_once(':') {
        Some(("flv", r)) => (Some(Container::Flv), r),
        Some(("mp4" | "f4v" | "mov", r)) => (Some(Container::Mp4), r),
        _ => (None, name),
    };
    if rest.is_empty() || rest.contains(['\\', '\0', ':']) {
        return Err(bad());
    }
    let rel = Path::new(rest);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(bad());
    }
    let ext = rel
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let by_ext = match ext.as_deref() {
        Some("flv") => Some(Container::Flv),
        Some("mp4" | "f4v" | "m4v" | "mov") => Some(Container::Mp4),
        _ => None,
    };
    let with = |e: &str| PathBuf::from(format!("{rest}.{e}"));
    Ok(match (prefix, by_ext) {
        (Some(c), Some(e)) if c == e => vec![(rel.to_path_buf(), Some(c))],
        (Some(Container::Flv), _) => vec![(with("flv"), Some(Container::Flv))],
        (Some(Container::Mp4), _) => vec![
            (with("mp4"), Some(Container::Mp4)),
            (rel.to_path_buf(), Some(Container::Mp4)),
        ],
        (None, Some(c)) => vec![(rel.to_path_buf(), Some(c))],
        (None, None) => vec![
            (rel.to_path_buf(), None),
            (with("flv"), Some(Container::Flv)),
            (with("mp4"), Some(Container::Mp4)),
        ],
    })
}

/// The file `name` stands for under `dir`, and its container (blocking file system calls:
/// run it off the connection's task).
pub fn resolve(dir: &Path, name: &str) -> Result<(PathBuf, Container), LookupError> {
    let list = candidates(name)?;
    let root = dir
        .canonicalize()
        .map_err(|_| LookupError::NotFound(name.to_owned()))?;
    for (rel, container) in list {
        let Ok(path) = root.join(&rel).canonicalize() else {
            continue;
        };
        if !path.starts_with(&root) || !path.is_file() {
            continue;
        }
        let container = match container {
            Some(c) => c,
            None => sniff(&path),
        };
        return Ok((path, container));
    }
    Err(LookupError::NotFound(name.to_owned()))
}

/// FLV if the file starts with the FLV signature, MP4 otherwise.
fn sniff(path: &Path) -> Container {
    use std::io::Read;
    let mut sig = [0u8; 3];
    let flv = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut sig))
        .is_ok()
        && &sig == b"FLV";
    if flv {
        Container::Flv
    } else {
        Container::Mp4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_prefixes() {
        let c = |n: &str| {
            candidates(n)
                .unwrap()
                .into_iter()
                .map(|(p, c)| (p.to_string_lossy().into_owned(), c))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            c("a/b"),
            [
                ("a/b".to_owned(), None),
                ("a/b.flv".to_owned(), Some(Container::Flv)),
                ("a/b.mp4".to_owned(), Some(Container::Mp4))
            ]
        );
        assert_eq!(c("flv:x"), [("x.flv".to_owned(), Some(Container::Flv))]);
        assert_eq!(c("flv:x.flv"), [("x.flv".to_owned(), Some(Container::Flv))]);
        assert_eq!(c("x.FLV"), [("x.FLV".to_owned(), Some(Container::Flv))]);
        assert_eq!(c("mp4:x")[0], ("x.mp4".to_owned(), Some(Container::Mp4)));
        for bad in [
            "",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "flv:/x",
            "a\\b",
            "flv:",
            "./x",
            "x:y:z",
        ] {
            assert!(
                matches!(candidates(bad), Err(LookupError::BadName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn resolves_inside_the_directory_only() {
        let base = std::env::temp_dir().join(format!("sluice-vod-lookup-{}", std::process::id()));
        let dir = base.join("vod");
        std::fs::create_dir_all(dir.join("live")).unwrap();
        std::fs::write(dir.join("live/a.flv"), b"FLV\x01").unwrap();
        std::fs::write(dir.join("plain"), b"FLV\x01").unwrap();
        std::fs::write(dir.join("m.mp4"), b"\0\0\0\x18ftyp").unwrap();
        std::fs::write(base.join("secret.flv"), b"FLV\x01").unwrap();
        std::os::unix::fs::symlink(base.join("secret.flv"), dir.join("link.flv")).unwrap();
        let (p, c) = resolve(&dir, "live/a").unwrap();
        assert!(p.ends_with("live/a.flv") && c == Container::Flv);
        assert!(resolve(&dir, "flv:live/a").is_ok());
        assert!(resolve(&dir, "plain").is_ok());
        assert_eq!(resolve(&dir, "mp4:m").unwrap().1, Container::Mp4);
        assert_eq!(resolve(&dir, "m").unwrap().1, Container::Mp4);
        assert_eq!(
            resolve(&dir, "link"),
            Err(LookupError::NotFound("link".into()))
        );
        assert_eq!(
            resolve(&dir, "missing"),
            Err(LookupError::NotFound("missing".into()))
        );
        assert!(matches!(
            resolve(&dir, "../secret"),
            Err(LookupError::BadName(_))
        ));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
