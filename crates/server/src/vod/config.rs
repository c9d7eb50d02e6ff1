//! `[vod]`: which applications serve files over RTMP, from where, and how they are paced and
//! packed.

use crate::app::rules::glob_match;
use serde::{Deserialize, Serialize};

/// `[[vod.app]]`: an application whose plays are served from files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VodApp {
    /// Application pattern (`*` matches any run of characters).
    pub app: String,
    /// Directory the stream names are looked up in; empty = `record.dir`. Default empty.
    #[serde(default)]
    pub dir: String,
}

/// `[vod]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VodSection {
    /// The VOD applications, first match wins. Default: one, `vod`, serving `record.dir`.
    pub app: Vec<VodApp>,
    /// Pack consecutive frames into aggregate messages (type 22). Default true.
    pub aggregate: bool,
    /// Most bytes of frames in one aggregate message. Default 65536.
    pub aggregate_max_bytes: usize,
    /// Frames due within this many ms of the first go in one aggregate. Default 250.
    pub aggregate_window_ms: u32,
    /// Media is sent ahead of the play clock by the player's buffer length plus this. Default
    /// 1000.
    pub buffer_margin_ms: u32,
    /// Buffer length assumed until the player sends Set Buffer Length. Default 3000.
    pub default_buffer_ms: u32,
    /// A larger buffer length than this is taken as this (rtmpdump asks for ten hours): the
    /// most media is sent ahead of the play clock. Default 60000.
    pub max_lead_ms: u32,
    /// Bytes read from a file at a time. Default 65536.
    pub read_size: usize,
    /// Batches of frames read ahead and waiting for the connection (each at most
    /// `aggregate_max_bytes`, or one frame). Default 8.
    pub read_ahead_batches: usize,
    /// Largest tag accepted in a file (bigger ones end the play with an error). Default
    /// 16777215 (the FLV maximum).
    pub max_tag_size: u32,
}

impl Default for VodSection {
    fn default() -> Self {
        VodSection {
            app: vec![VodApp {
                app: "vod".into(),
                dir: String::new(),
            }],
            aggregate: true,
            aggregate_max_bytes: 64 * 1024,
            aggregate_window_ms: 250,
            buffer_margin_ms: 1000,
            default_buffer_ms: 3000,
            max_lead_ms: 60_000,
            read_size: 64 * 1024,
            read_ahead_batches: 8,
            max_tag_size: sluice_flv::MAX_TAG_DATA_SIZE,
        }
    }
}

impl VodSection {
    /// The directory `app` serves (`record_dir` for an empty `dir`), if it is a VOD app.
    pub fn dir_for(&self, app: &str, record_dir: &str) -> Option<String> {
        let rule = self.app.iter().find(|a| glob_match(&a.app, app))?;
        Some(if rule.dir.is_empty() {
            record_dir.to_owned()
        } else {
            rule.dir.clone()
        })
    }

    /// Checks the values (called with the rest of the settings).
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.aggregate_max_bytes == 0 || self.aggregate_max_bytes > 0xFF_FFFF {
            return Err("aggregate_max_bytes must be between 1 and 16777215");
        }
        if self.read_size < 4096 || self.read_ahead_batches == 0 {
            return Err("read_size must be at least 4096 and read_ahead_batches at least 1");
        }
        if self.max_tag_size == 0 || self.max_tag_size > sluice_flv::MAX_TAG_DATA_SIZE {
            return Err("max_tag_size must be between 1 and 16777215");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_app_serves_the_recordings() {
        let v = VodSection::default();
        assert_eq!(
            v.dir_for("vod", "recordings").as_deref(),
            Some("recordings")
        );
        assert_eq!(v.dir_for("live", "recordings"), None);
        let v: VodSection =
            toml::from_str("aggregate = false\n[[app]]\napp = \"movies*\"\ndir = \"/srv/films\"\n")
                .unwrap();
        assert!(!v.aggregate);
        assert_eq!(v.dir_for("movies2", "r").as_deref(), Some("/srv/films"));
        assert_eq!(v.dir_for("vod", "r"), None);
        assert!(v.validate().is_ok());
        assert!(toml::from_str::<VodSection>("bogus = 1").is_err());
    }
}
