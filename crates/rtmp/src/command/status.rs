//! `onStatus` information objects (RTMP 1.0 §7.2.2): level, code and description, plus the status
//! codes NetConnection and NetStream use.

use sluice_amf::{Amf0Object, Amf0Value};

/// The `level` field of a status object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusLevel {
    /// `status`: informational, success.
    Status,
    /// `warning`.
    Warning,
    /// `error`: the request failed.
    Error,
}

impl StatusLevel {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusLevel::Status => "status",
            StatusLevel::Warning => "warning",
            StatusLevel::Error => "error",
        }
    }

    /// Parse the wire string (unknown strings count as `status`).
    pub fn parse(s: &str) -> StatusLevel {
        match s {
            "error" => StatusLevel::Error,
            "warning" => StatusLevel::Warning,
            _ => StatusLevel::Status,
        }
    }
}

/// Well-known status codes.
pub mod codes {
    /// connect accepted.
    pub const CONNECT_SUCCESS: &str = "NetConnection.Connect.Success";
    /// connect refused by the application.
    pub const CONNECT_REJECTED: &str = "NetConnection.Connect.Rejected";
    /// connect failed.
    pub const CONNECT_FAILED: &str = "NetConnection.Connect.Failed";
    /// connection closed.
    pub const CONNECT_CLOSED: &str = "NetConnection.Connect.Closed";
    /// The application named in connect does not exist.
    pub const CONNECT_INVALID_APP: &str = "NetConnection.Connect.InvalidApp";
    /// A call failed.
    pub const CALL_FAILED: &str = "NetConnection.Call.Failed";
    /// publish accepted.
    pub const PUBLISH_START: &str = "NetStream.Publish.Start";
    /// publish refused: the name is in use or not allowed.
    pub const PUBLISH_BAD_NAME: &str = "NetStream.Publish.BadName";
    /// publish refused for another reason.
    pub const PUBLISH_DENIED: &str = "NetStream.Publish.Denied";
    /// Publishing stopped.
    pub const UNPUBLISH_SUCCESS: &str = "NetStream.Unpublish.Success";
    /// play: the playlist was reset.
    pub const PLAY_RESET: &str = "NetStream.Play.Reset";
    /// play started.
    pub const PLAY_START: &str = "NetStream.Play.Start";
    /// play stopped.
    pub const PLAY_STOP: &str = "NetStream.Play.Stop";
    /// A recorded stream played to its end (sent in `onPlayStatus`).
    pub const PLAY_COMPLETE: &str = "NetStream.Play.Complete";
    /// play failed.
    pub const PLAY_FAILED: &str = "NetStream.Play.Failed";
    /// play: no such stream.
    pub const PLAY_STREAM_NOT_FOUND: &str = "NetStream.Play.StreamNotFound";
    /// The publisher of a live stream being played started publishing.
    pub const PLAY_PUBLISH_NOTIFY: &str = "NetStream.Play.PublishNotify";
    /// The publisher of a live stream being played stopped publishing.
    pub const PLAY_UNPUBLISH_NOTIFY: &str = "NetStream.Play.UnpublishNotify";
    /// play2 switched streams.
    pub const PLAY_TRANSITION: &str = "NetStream.Play.Transition";
    /// The stream was paused.
    pub const PAUSE_NOTIFY: &str = "NetStream.Pause.Notify";
    /// The stream was resumed.
    pub const UNPAUSE_NOTIFY: &str = "NetStream.Unpause.Notify";
    /// seek done.
    pub const SEEK_NOTIFY: &str = "NetStream.Seek.Notify";
    /// seek failed.
    pub const SEEK_FAILED: &str = "NetStream.Seek.Failed";
    /// record started.
    pub const RECORD_START: &str = "NetStream.Record.Start";
    /// A stream-level request failed.
    pub const STREAM_FAILED: &str = "NetStream.Failed";
}

/// A status information object: `{ level, code, description, ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusInfo {
    /// `level`.
    pub level: StatusLevel,
    /// `code`, e.g. `NetStream.Play.Start`.
    pub code: String,
    /// `description`, human-readable.
    pub description: String,
    /// Any further properties (e.g. `details`, `clientid`, `objectEncoding`), in order.
    pub extra: Amf0Object,
}

impl StatusInfo {
    /// A status object with the given level, code and description.
    pub fn new(
        level: StatusLevel,
        code: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        StatusInfo {
            level,
            code: code.into(),
            description: description.into(),
            extra: Amf0Object::new(),
        }
    }

    /// `status`-level info.
    pub fn status(code: impl Into<String>, description: impl Into<String>) -> Self {
        Self::new(StatusLevel::Status, code, description)
    }

    /// `error`-level info.
    pub fn error(code: impl Into<String>, description: impl Into<String>) -> Self {
        Self::new(StatusLevel::Error, code, description)
    }

    /// Builder: add a property.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Amf0Value>) -> Self {
        self.extra.insert(key, value);
        self
    }

    /// The AMF object form.
    pub fn to_object(&self) -> Amf0Object {
        let mut o = Amf0Object::with_capacity(3 + self.extra.len());
        o.insert("level", self.level.as_str());
        o.insert("code", self.code.as_str());
        o.insert("description", self.description.as_str());
        for (k, v) in self.extra.iter() {
            o.insert(k, v.clone());
        }
        o
    }

    /// Read a status object (missing fields become empty strings).
    pub fn from_value(v: &Amf0Value) -> Option<StatusInfo> {
        let obj = v.as_object()?;
        let mut extra = Amf0Object::new();
        for (k, v) in obj.iter() {
            if !matches!(k, "level" | "code" | "description") {
                extra.insert(k, v.clone());
            }
        }
        Some(StatusInfo {
            level: StatusLevel::parse(obj.get_str("level").unwrap_or("status")),
            code: obj.get_str("code").unwrap_or_default().to_owned(),
            description: obj.get_str("description").unwrap_or_default().to_owned(),
            extra,
        })
    }

    /// Whether the level is `error`.
    pub fn is_error(&self) -> bool {
        self.level == StatusLevel::Error
    }
}
