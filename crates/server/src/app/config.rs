//! `[access]` and `[hooks]`: who may publish and play, and which HTTP services are asked.

use serde::{Deserialize, Serialize};

/// One "who may" value: a single string or a list (any entry that admits the client admits it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Who {
    /// `publish = "token"`.
    One(String),
    /// `publish = ["ip:10.0.0.0/8", "token"]`.
    Any(Vec<String>),
}

impl Who {
    /// The entries.
    pub fn entries(&self) -> &[String] {
        match self {
            Who::One(s) => std::slice::from_ref(s),
            Who::Any(v) => v,
        }
    }
}

impl Default for Who {
    fn default() -> Self {
        Who::One("anyone".into())
    }
}

/// `[[access.rule]]`: what applies to the streams whose app and name match.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSection {
    /// Application pattern (`*` matches any run of characters). Default `*`.
    #[serde(default = "star")]
    pub app: String,
    /// Stream name pattern. Default `*`.
    #[serde(default = "star")]
    pub stream: String,
    /// Who may publish; unset = `access.publish`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<Who>,
    /// Who may play; unset = `access.play`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play: Option<Who>,
}

fn star() -> String {
    "*".into()
}

/// `[access]`.
///
/// Each "who" entry is one of: `anyone`; `nobody`; `token` (a signed URL made with `secret`,
/// see `sluice token`); `key:SECRET` (the client's query has `key=SECRET`); `ip:CIDR[,CIDR...]`
/// (the client's address, after a trusted proxy header, is in one of the ranges).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AccessSection {
    /// Who may publish where no rule matches. Default `"anyone"`.
    pub publish: Who,
    /// Who may play where no rule matches. Default `"anyone"`.
    pub play: Who,
    /// Secret for signed URLs (HMAC-SHA256). Needed by every `token` entry. Default empty.
    pub secret: String,
    /// Rules, first match wins (by app, then stream name).
    pub rule: Vec<RuleSection>,
}

/// `hooks.style`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum HookStyle {
    /// JSON POST; 2xx allows, a JSON body's `stream` renames.
    #[default]
    Json,
    /// nginx-rtmp's form POST (`call=publish&addr=…&app=…&name=…` plus the client's query);
    /// 2xx allows, 3xx with `Location` renames.
    Nginx,
}

/// `[hooks]`: HTTP services asked about (or told of) each event. Every URL is optional.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HooksSection {
    /// Asked before a connect is accepted.
    pub on_connect: String,
    /// Asked before a publish is accepted (may rename the stream).
    pub on_publish: String,
    /// Told when a publisher stops (not waited for).
    pub on_unpublish: String,
    /// Asked before a play is accepted (may rename the stream).
    pub on_play: String,
    /// Told when a player stops (not waited for).
    pub on_stop: String,
    /// Told when a recording's file closes (not waited for).
    pub on_record_done: String,
    /// Request body style: `json` or `nginx`. Default `json`.
    pub style: HookStyle,
    /// How long a hook may take before the request it decides is denied. Default 3000.
    pub timeout_ms: u64,
    /// Most hook requests in flight at once; past it, new requests are denied at once
    /// (a slow hook service cannot pile up unbounded work). Default 1024.
    pub max_in_flight: usize,
}

impl Default for HooksSection {
    fn default() -> Self {
        HooksSection {
            on_connect: String::new(),
            on_publish: String::new(),
            on_unpublish: String::new(),
            on_play: String::new(),
            on_stop: String::new(),
            on_record_done: String::new(),
            style: HookStyle::Json,
            timeout_ms: 3000,
            max_in_flight: 1024,
        }
    }
}
