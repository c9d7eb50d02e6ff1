//! `[record]`: where recordings go, what is recorded, how files are split and kept.
//!
//! Which streams are recorded by configuration: the first `[[record.app]]` rule whose `app` and
//! `stream` patterns match (`*` matches any run of characters, as in `[access]`) gives the mode;
//! without a match, `record.record` does (default `"off"`). A publisher's own request (`publish`
//! type `record` / `append`, if `allow_publisher_request`), an `on_publish` hook answer
//! `{"record": true}` and `POST /api/v1/streams/{app}/{stream}/record` start a recording too
//! (mode `all` unless a rule says otherwise).

use crate::app::rules::glob_match;
use serde::{Deserialize, Serialize};

/// Default for [`RecordSection::queue_max_bytes`]: 64 MiB of frames waiting for the disk.
pub const DEFAULT_QUEUE_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Default for [`RecordSection::index_entries`]: room for 2000 keyframes in `onMetaData`.
pub const DEFAULT_INDEX_ENTRIES: usize = 2000;

/// What a recording keeps.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum RecordMode {
    /// Not recorded by configuration.
    #[default]
    Off,
    /// Every audio, video and data message.
    All,
    /// Video (and data) only.
    Video,
    /// Audio (and data) only.
    Audio,
    /// Video keyframes and sequence headers only (a time-lapse).
    Keyframes,
}

impl RecordMode {
    /// The name as in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordMode::Off => "off",
            RecordMode::All => "all",
            RecordMode::Video => "video",
            RecordMode::Audio => "audio",
            RecordMode::Keyframes => "keyframes",
        }
    }
}

/// The container written.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum RecordFormat {
    /// FLV with a keyframe index in `onMetaData` (written when the file closes).
    #[default]
    Flv,
    /// Fragmented MP4 (an init segment, then one fragment per keyframe).
    Mp4,
}

impl RecordFormat {
    /// The file extension (the `{ext}` placeholder).
    pub fn ext(self) -> &'static str {
        match self {
            RecordFormat::Flv => "flv",
            RecordFormat::Mp4 => "mp4",
        }
    }
}

/// `[[record.app]]`: the mode (and format) of the streams whose app and name match.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecordRule {
    /// Application pattern. Default `*`.
    #[serde(default = "star")]
    pub app: String,
    /// Stream name pattern. Default `*`.
    #[serde(default = "star")]
    pub stream: String,
    /// What to record.
    pub record: RecordMode,
    /// Container; unset = `record.format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<RecordFormat>,
}

fn star() -> String {
    "*".into()
}

/// `[record]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RecordSection {
    /// Directory every recording is written under (created when needed). Default `recordings`.
    pub dir: String,
    /// File path under `dir`, with placeholders `{app}`, `{stream}`, `{date}` (UTC `YYYYMMDD`),
    /// `{time}` (UTC `HHMMSS`), `{unix}` (seconds since 1970) and `{ext}` (`flv` or `mp4`).
    /// Default `{app}/{stream}-{date}-{time}.{ext}`.
    pub path: String,
    /// The file a publisher's `append` adds to (same placeholders). Default `{app}/{stream}.{ext}`.
    pub append_path: String,
    /// Container: `flv` or `mp4`. Default `flv`.
    pub format: RecordFormat,
    /// Mode of the streams no rule matches: `off`, `all`, `video`, `audio`, `keyframes`.
    /// Default `off`.
    pub record: RecordMode,
    /// Honour `publish` type `record` / `append`. Default true.
    pub allow_publisher_request: bool,
    /// Start a new file at the first keyframe after this many seconds (0 = never). Default 0.
    pub max_duration_secs: u64,
    /// Start a new file at the first keyframe after this many bytes (0 = never). Default 0.
    pub max_bytes: u64,
    /// When a file closes, delete recordings under `dir` older than this many days (0 = keep).
    /// Default 0.
    pub keep_days: u64,
    /// When a file closes, delete the oldest recordings under `dir` until they take at most this
    /// many bytes (0 = no limit). Default 0.
    pub max_total_bytes: u64,
    /// Most payload bytes a recording may have waiting for the disk. A recorder never slows the
    /// publisher; past this bound it stops with an error instead of dropping frames.
    /// Default [`DEFAULT_QUEUE_MAX_BYTES`].
    pub queue_max_bytes: u64,
    /// Keyframes the FLV `onMetaData` has room for (reserved at the start of the file, 18 bytes
    /// each); a longer file's index keeps an evenly spaced subset. Default [`DEFAULT_INDEX_ENTRIES`].
    pub index_entries: usize,
    /// Rules by app and stream, first match wins.
    pub app: Vec<RecordRule>,
}

impl Default for RecordSection {
    fn default() -> Self {
        RecordSection {
            dir: "recordings".into(),
            path: "{app}/{stream}-{date}-{time}.{ext}".into(),
            append_path: "{app}/{stream}.{ext}".into(),
            format: RecordFormat::Flv,
            record: RecordMode::Off,
            allow_publisher_request: true,
            max_duration_secs: 0,
            max_bytes: 0,
            keep_days: 0,
            max_total_bytes: 0,
            queue_max_bytes: DEFAULT_QUEUE_MAX_BYTES,
            index_entries: DEFAULT_INDEX_ENTRIES,
            app: Vec::new(),
        }
    }
}

impl RecordSection {
    /// The configured mode and format of `app`/`stream`.
    pub fn rule_for(&self, app: &str, stream: &str) -> (RecordMode, RecordFormat) {
        match self
            .app
            .iter()
            .find(|r| glob_match(&r.app, app) && glob_match(&r.stream, stream))
        {
            Some(r) => (r.record, r.format.unwrap_or(self.format)),
            None => (self.record, self.format),
        }
    }
}

/// `template` with its placeholders filled in. `app` and `stream` are made safe as one path
/// component each (no `/`, no `..`, no control characters).
pub fn expand(template: &str, app: &str, stream: &str, ext: &str, unix_ms: u64) -> String {
    let (date, time) = crate::http::flv_live::utc_date_time(unix_ms);
    // `utc_date_time` gives `YYYY-MM-DD` and `HH:MM:SS.mmm`.
    let date: String = date.chars().filter(char::is_ascii_digit).collect();
    let time: String = time.chars().take(8).filter(char::is_ascii_digit).collect();
    template
        .replace("{app}", &component(app))
        .replace("{stream}", &component(stream))
        .replace("{date}", &date)
        .replace("{time}", &time)
        .replace("{unix}", &(unix_ms / 1000).to_string())
        .replace("{ext}", ext)
}

fn component(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if out.is_empty() || out.chars().all(|c| c == '.') {
        "_".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_in_and_sanitise() {
        // 2023-11-14T22:13:20Z
        let p = expand(
            "{app}/{stream}-{date}-{time}.{ext}",
            "live",
            "../x/y",
            "flv",
            1_700_000_000_123,
        );
        assert_eq!(p, "live/.._x_y-20231114-221320.flv");
        assert_eq!(expand("{stream}-{unix}", "a", "..", "mp4", 5000), "_-5");
    }

    #[test]
    fn rules_pick_mode_and_format() {
        let s = RecordSection {
            app: vec![RecordRule {
                app: "tv".into(),
                stream: "cam*".into(),
                record: RecordMode::Video,
                format: Some(RecordFormat::Mp4),
            }],
            ..RecordSection::default()
        };
        assert_eq!(
            s.rule_for("tv", "cam1"),
            (RecordMode::Video, RecordFormat::Mp4)
        );
        assert_eq!(s.rule_for("tv", "x"), (RecordMode::Off, RecordFormat::Flv));
    }
}
