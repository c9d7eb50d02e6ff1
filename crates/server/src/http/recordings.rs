//! Recordings over HTTP (issue 13, item 4): `GET /api/v1/recordings` lists the files under
//! `[record] dir`, and `GET /recordings/{path}` serves one with Range requests (tower-http's
//! `ServeDir`: byte ranges, `Last-Modified`/`If-*`, a content type by extension, no path outside
//! the directory), so a player or the web page can seek in an FLV or MP4 recording. Both are
//! behind the API's access rule (loopback, or `[api] token`): recordings are the operator's.

use super::access;
use super::api::{rfc3339, ApiError, ControlState, Json};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use std::path::{Path, PathBuf};
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// Most files listed (the walk stops there; `truncated` says so).
pub const MAX_LISTED: usize = 10_000;

/// Deepest directory level walked under `record.dir`.
const MAX_DEPTH: usize = 8;

/// One recording file.
#[derive(Debug, Serialize, PartialEq)]
pub struct RecordingFile {
    /// Path under `record.dir`, with `/` separators.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Last modification (RFC 3339, UTC).
    pub modified: String,
    /// Where to fetch it: `/recordings/{path}`.
    pub url: String,
}

/// `GET /api/v1/recordings`.
#[derive(Debug, Serialize)]
struct RecordingList {
    items: Vec<RecordingFile>,
    /// More than [`MAX_LISTED`] files: the list stops there.
    truncated: bool,
}

/// The `.flv` / `.mp4` files under `root`, sorted by path, at most `max`.
pub fn list(root: &Path, max: usize) -> (Vec<RecordingFile>, bool) {
    let mut out = Vec::new();
    let mut truncated = false;
    let mut stack: Vec<(PathBuf, usize)> = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                if depth + 1 < MAX_DEPTH {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            let ext = path.extension().and_then(|x| x.to_str()).unwrap_or("");
            if !matches!(ext, "flv" | "mp4") {
                continue;
            }
            if out.len() >= max {
                truncated = true;
                continue;
            }
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let rel = rel.join("/");
            out.push(RecordingFile {
                url: format!("/recordings/{rel}"),
                path: rel,
                bytes: meta.len(),
                modified: meta
                    .modified()
                    .map(rfc3339)
                    .unwrap_or_else(|_| rfc3339(std::time::UNIX_EPOCH)),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    (out, truncated)
}

fn record_dir(state: &ControlState) -> Result<PathBuf, ApiError> {
    let ctx = state.ctx()?;
    let dir = PathBuf::from(&ctx.live.load().settings.record.dir);
    Ok(dir)
}

async fn list_recordings(
    State(state): State<ControlState>,
) -> Result<Json<RecordingList>, ApiError> {
    let dir = record_dir(&state)?;
    let (items, truncated) = tokio::task::spawn_blocking(move || list(&dir, MAX_LISTED))
        .await
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(RecordingList { items, truncated }))
}

/// `GET /recordings/{path}`: the file, with Range requests.
async fn serve_recording(State(state): State<ControlState>, req: Request) -> Response {
    let dir = match record_dir(&state) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    // ServeDir sees the path after `/recordings`.
    let (mut parts, body) = req.into_parts();
    let rest = parts
        .uri
        .path()
        .strip_prefix("/recordings")
        .unwrap_or("/")
        .to_owned();
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    parts.uri = match format!("{rest}{query}").parse() {
        Ok(u) => u,
        Err(_) => return ApiError::not_found("no such recording").into_response(),
    };
    let req = Request::from_parts(parts, body);
    match ServeDir::new(dir).oneshot(req).await {
        Ok(r) if r.status() == axum::http::StatusCode::NOT_FOUND => {
            ApiError::not_found("no such recording").into_response()
        }
        Ok(r) => r.into_response(),
        Err(e) => match e {},
    }
}

/// The recordings routes, behind the API's access rule.
pub fn routes(state: ControlState) -> Router {
    let r = Router::new()
        .route("/api/v1/recordings", get(list_recordings))
        .route("/recordings/{*path}", get(serve_recording));
    access::guarded(r, state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_flv_and_mp4_files_sorted_and_bounded() {
        let dir = std::env::temp_dir().join(format!("sluice-rec-list-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("live")).unwrap();
        std::fs::write(dir.join("live/b.flv"), b"FLV").unwrap();
        std::fs::write(dir.join("live/a.mp4"), b"12345").unwrap();
        std::fs::write(dir.join("live/notes.txt"), b"x").unwrap();
        let (items, truncated) = list(&dir, 10);
        assert!(!truncated);
        let paths: Vec<_> = items.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["live/a.mp4", "live/b.flv"]);
        assert_eq!(items[0].bytes, 5);
        assert_eq!(items[0].url, "/recordings/live/a.mp4");
        let (items, truncated) = list(&dir, 1);
        assert_eq!(items.len(), 1);
        assert!(truncated);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
