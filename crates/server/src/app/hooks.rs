//! HTTP hooks: the auth and notification scheme of nginx-rtmp and SRS.
//!
//! `on_connect`, `on_publish` and `on_play` are asked and decide: a 2xx answer allows, anything
//! else (another status, a refused connection, no answer within `hooks.timeout_ms`) denies.
//! `on_unpublish`, `on_stop` and `on_record_done` are told, in the background; nothing waits
//! for them.
//!
//! Two body styles (`hooks.style`):
//! - `json` (default): a JSON POST with `action`, `client_id`, `ip`, `app`, `stream`, `param`
//!   (the query string as the client sent it, tokens included), `tc_url`, `transport`. A JSON
//!   answer `{"stream": "alice"}` renames the stream (publish and play); an `on_publish` answer
//!   `{"push": ["rtmps://…/key", …]}` adds push relay targets for this publish (see
//!   [`crate::relay`]; at most [`MAX_PUSH_TARGETS`] URLs, each checked to be an RTMP URL);
//!   `{"record": true}` records the stream (`false`: not even if `[record]` says so);
//!   `on_record_done` gets `action: "record_done"`, `app`, `stream`, `path`, `duration` (s),
//!   `size` (bytes), `format` and `error` (null unless the recording failed);
//! - `nginx`: nginx-rtmp's `application/x-www-form-urlencoded` POST (`call=publish&addr=…&
//!   clientid=…&app=…&name=…&tcurl=…` followed by the client's own query arguments); a 3xx with
//!   `Location: alice` renames, as nginx-rtmp's `on_publish` does.
//!
//! Redirects are never followed. At most `hooks.max_in_flight` calls run at once; past that a
//! request is denied at once rather than queued without bound.

use super::config::{HookStyle, HooksSection};
use super::{Action, Deny, DenyKind, Request};
use crate::control::Metrics;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

/// The longest body of a hook answer that is read (a rename needs a few bytes).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The longest stream name a hook may rename to.
const MAX_NAME_LEN: usize = 256;

/// Most push targets one `on_publish` answer may add.
pub const MAX_PUSH_TARGETS: usize = 16;

/// What an allowing hook answered besides "yes".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookAnswer {
    /// The new stream name, when the hook renamed it.
    pub rename: Option<String>,
    /// Push relay targets (`on_publish` JSON answers only).
    pub push: Vec<String>,
    /// `on_publish` JSON `record`: record (true) or do not (false).
    pub record: Option<bool>,
}

/// Which hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookEvent {
    /// `on_connect`.
    Connect,
    /// `on_publish`.
    Publish,
    /// `on_unpublish`.
    Unpublish,
    /// `on_play`.
    Play,
    /// `on_stop`.
    Stop,
    /// `on_record_done`.
    RecordDone,
}

impl HookEvent {
    /// The configuration key and metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::Connect => "on_connect",
            HookEvent::Publish => "on_publish",
            HookEvent::Unpublish => "on_unpublish",
            HookEvent::Play => "on_play",
            HookEvent::Stop => "on_stop",
            HookEvent::RecordDone => "on_record_done",
        }
    }

    fn call(self) -> &'static str {
        match self {
            HookEvent::Connect => "connect",
            HookEvent::Publish => "publish",
            HookEvent::Unpublish => "publish_done",
            HookEvent::Play => "play",
            HookEvent::Stop => "play_done",
            HookEvent::RecordDone => "record_done",
        }
    }

    fn action(self) -> &'static str {
        match self {
            HookEvent::Connect => "connect",
            HookEvent::Publish => "publish",
            HookEvent::Unpublish => "unpublish",
            HookEvent::Play => "play",
            HookEvent::Stop => "stop",
            HookEvent::RecordDone => "record_done",
        }
    }

    /// The hook that decides `action`.
    pub fn deciding(action: Action) -> HookEvent {
        match action {
            Action::Connect => HookEvent::Connect,
            Action::Publish => HookEvent::Publish,
            Action::Play => HookEvent::Play,
        }
    }
}

/// A hook URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hooks.{key}: {url:?} is not an http:// or https:// URL")]
pub struct HookUrlError {
    key: &'static str,
    url: String,
}

/// The configured hooks and the HTTP client that calls them.
#[derive(Debug)]
pub struct Hooks {
    client: reqwest::Client,
    cfg: HooksSection,
    in_flight: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl Hooks {
    /// Hooks for `cfg`; `None` when no URL is set.
    pub fn new(cfg: &HooksSection, metrics: Arc<Metrics>) -> Result<Option<Hooks>, HookUrlError> {
        let urls = [
            ("on_connect", &cfg.on_connect),
            ("on_publish", &cfg.on_publish),
            ("on_unpublish", &cfg.on_unpublish),
            ("on_play", &cfg.on_play),
            ("on_stop", &cfg.on_stop),
            ("on_record_done", &cfg.on_record_done),
        ];
        for (key, url) in urls {
            let http = url.starts_with("http://") || url.starts_with("https://");
            if !url.is_empty() && (!http || reqwest::Url::parse(url).is_err()) {
                return Err(HookUrlError {
                    key,
                    url: url.clone(),
                });
            }
        }
        if urls.iter().all(|(_, u)| u.is_empty()) {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(cfg.timeout_ms.max(1)))
            .build()
            .expect("the HTTP client builds with a TLS backend compiled in");
        Ok(Some(Hooks {
            client,
            cfg: cfg.clone(),
            in_flight: Arc::new(Semaphore::new(cfg.max_in_flight.max(1))),
            metrics,
        }))
    }

    /// The URL of `ev`, when configured.
    pub fn url(&self, ev: HookEvent) -> Option<&str> {
        let u = match ev {
            HookEvent::Connect => &self.cfg.on_connect,
            HookEvent::Publish => &self.cfg.on_publish,
            HookEvent::Unpublish => &self.cfg.on_unpublish,
            HookEvent::Play => &self.cfg.on_play,
            HookEvent::Stop => &self.cfg.on_stop,
            HookEvent::RecordDone => &self.cfg.on_record_done,
        };
        (!u.is_empty()).then_some(u.as_str())
    }

    fn request(&self, ev: HookEvent, url: &str, req: &Request) -> reqwest::RequestBuilder {
        match self.cfg.style {
            HookStyle::Json => self.client.post(url).json(&serde_json::json!({
                "action": ev.action(),
                "client_id": req.client_id,
                "ip": req.peer.ip().to_string(),
                "app": req.app,
                "stream": req.stream,
                "param": req.param,
                "tc_url": req.tc_url,
                "transport": req.transport.as_str(),
            })),
            HookStyle::Nginx => {
                let mut form = vec![
                    ("call", ev.call().to_owned()),
                    ("addr", req.peer.ip().to_string()),
                    ("clientid", req.client_id.to_string()),
                    ("app", req.app.clone()),
                    ("tcurl", req.tc_url.clone()),
                ];
                if ev != HookEvent::Connect {
                    form.push(("name", req.stream.clone()));
                }
                let mut body = form_encode(form.iter().map(|(k, v)| (*k, v.as_str())));
                // nginx-rtmp appends the client's own arguments as they came.
                if !req.param.is_empty() {
                    body.push('&');
                    body.push_str(&req.param);
                }
                self.client
                    .post(url)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body)
            }
        }
    }

    /// Ask the hook that decides `req`: an allowing answer may rename the stream and (for
    /// `on_publish`) add push targets or ask to record. Without a URL for it, allows.
    pub async fn ask(&self, req: &Request) -> Result<HookAnswer, Deny> {
        let ev = HookEvent::deciding(req.action);
        let Some(url) = self.url(ev) else {
            return Ok(HookAnswer::default());
        };
        let Ok(_permit) = self.in_flight.clone().try_acquire_owned() else {
            self.metrics.hook_call(ev.as_str(), "busy", 0.0);
            return Err(Deny::new(
                DenyKind::HookError,
                format!(
                    "{}: too many hook calls in flight (hooks.max_in_flight)",
                    ev.as_str()
                ),
            ));
        };
        let started = Instant::now();
        let timeout = Duration::from_millis(self.cfg.timeout_ms.max(1));
        let sent = tokio::time::timeout(timeout, self.request(ev, url, req).send()).await;
        let secs = started.elapsed().as_secs_f64();
        let resp = match sent {
            Ok(Ok(r)) => r,
            Ok(Err(e)) if !e.is_timeout() => {
                self.metrics.hook_call(ev.as_str(), "error", secs);
                return Err(Deny::new(
                    DenyKind::HookError,
                    format!("{}: request failed: {e}", ev.as_str()),
                ));
            }
            // reqwest's own timeout or ours: the same for the client.
            _ => {
                self.metrics.hook_call(ev.as_str(), "timeout", secs);
                return Err(Deny::new(
                    DenyKind::HookTimeout,
                    format!(
                        "{}: no answer within {} ms",
                        ev.as_str(),
                        self.cfg.timeout_ms
                    ),
                ));
            }
        };
        let status = resp.status();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_limited(resp, timeout.saturating_sub(started.elapsed())).await;
        let secs = started.elapsed().as_secs_f64();
        let outcome = self.judge(ev, status, location, &body);
        self.metrics.hook_call(
            ev.as_str(),
            if outcome.is_ok() { "allow" } else { "deny" },
            secs,
        );
        debug!(
            hook = ev.as_str(),
            status = status.as_u16(),
            secs,
            "hook answered"
        );
        outcome
    }

    fn judge(
        &self,
        ev: HookEvent,
        status: reqwest::StatusCode,
        location: Option<String>,
        body: &[u8],
    ) -> Result<HookAnswer, Deny> {
        let hook = ev.as_str();
        if status.is_success() {
            return if self.cfg.style == HookStyle::Json && ev != HookEvent::Connect {
                judge_json(ev, body)
            } else {
                Ok(HookAnswer::default())
            };
        }
        if status.is_redirection() && self.cfg.style == HookStyle::Nginx && ev != HookEvent::Connect
        {
            return match location.as_deref() {
                Some(l) if l.contains("://") => Err(Deny::new(
                    DenyKind::Hook,
                    format!("{hook}: redirect to another server ({l}) is not supported"),
                )),
                Some(l) => valid_name(hook, l).map(|name| HookAnswer {
                    rename: Some(name),
                    ..HookAnswer::default()
                }),
                None => Err(Deny::new(
                    DenyKind::Hook,
                    format!("{hook}: {status} without a Location header"),
                )),
            };
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
        Err(Deny::new(
            DenyKind::Hook,
            format!("{hook} answered {}: {}", status.as_u16(), text.trim()),
        ))
    }

    /// Tell `on_unpublish` / `on_stop` in the background (nothing waits for the answer).
    pub fn tell(self: &Arc<Self>, ev: HookEvent, req: Request) {
        let hooks = self.clone();
        self.send_in_background(ev, move |url| hooks.request(ev, url, &req));
    }

    /// Tell `on_record_done` that a recording's file closed (in the background).
    pub fn tell_record_done(self: &Arc<Self>, done: crate::record::writer::RecordDone) {
        let ev = HookEvent::RecordDone;
        let hooks = self.clone();
        self.send_in_background(ev, move |url| match hooks.cfg.style {
            HookStyle::Json => hooks.client.post(url).json(&serde_json::json!({
                "action": ev.action(),
                "app": done.app,
                "stream": done.stream,
                "path": done.path,
                "duration": done.duration,
                "size": done.size,
                "format": done.format,
                "error": done.error,
            })),
            HookStyle::Nginx => {
                let duration = done.duration.to_string();
                let size = done.size.to_string();
                let form = [
                    ("call", ev.call()),
                    ("app", done.app.as_str()),
                    ("name", done.stream.as_str()),
                    ("path", done.path.as_str()),
                    ("duration", duration.as_str()),
                    ("size", size.as_str()),
                ];
                hooks
                    .client
                    .post(url)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form_encode(form.into_iter()))
            }
        });
    }

    fn send_in_background(
        self: &Arc<Self>,
        ev: HookEvent,
        build: impl FnOnce(&str) -> reqwest::RequestBuilder + Send + 'static,
    ) {
        let Some(url) = self.url(ev).map(str::to_owned) else {
            return;
        };
        // Called from drops too: outside a runtime (a test's teardown) there is nobody to send.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            self.metrics.hook_call(ev.as_str(), "busy", 0.0);
            warn!(
                hook = ev.as_str(),
                "notification dropped: hooks.max_in_flight reached"
            );
            return;
        };
        let hooks = self.clone();
        rt.spawn(async move {
            let started = Instant::now();
            let res = build(&url).send().await;
            let secs = started.elapsed().as_secs_f64();
            let result = match &res {
                Ok(r) if r.status().is_success() => "allow",
                Ok(_) => "deny",
                Err(e) if e.is_timeout() => "timeout",
                Err(_) => "error",
            };
            hooks.metrics.hook_call(ev.as_str(), result, secs);
            if let Err(e) = res {
                warn!(hook = ev.as_str(), error = %e, "notification failed");
            }
            drop(permit);
        });
    }
}

/// Read at most [`MAX_ANSWER_BYTES`] of a body within `left`.
async fn read_limited(mut resp: reqwest::Response, left: Duration) -> Vec<u8> {
    let mut body = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = resp.chunk().await {
            let room = MAX_ANSWER_BYTES - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_ANSWER_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(left.max(Duration::from_millis(100)), read).await;
    body
}

/// The body of an allowing JSON answer: `stream` renames; `push` (on_publish only) lists push
/// targets. A body that is not JSON, or has neither key, allows as named.
fn judge_json(ev: HookEvent, body: &[u8]) -> Result<HookAnswer, Deny> {
    let hook = ev.as_str();
    let mut answer = HookAnswer::default();
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(answer);
    };
    if let Some(name) = v.get("stream").and_then(|s| s.as_str()) {
        answer.rename = Some(valid_name(hook, name)?);
    }
    if ev == HookEvent::Publish {
        answer.record = v.get("record").and_then(serde_json::Value::as_bool);
    }
    if let Some(push) = v.get("push") {
        if ev != HookEvent::Publish {
            return Err(Deny::new(
                DenyKind::Hook,
                format!("{hook}: `push` is only understood in on_publish answers"),
            ));
        }
        let bad = || {
            Deny::new(
                DenyKind::Hook,
                format!(
                    "{hook}: `push` must be a list of at most {MAX_PUSH_TARGETS} rtmp[s|e|t]:// URLs"
                ),
            )
        };
        let list = push.as_array().ok_or_else(bad)?;
        if list.len() > MAX_PUSH_TARGETS {
            return Err(bad());
        }
        for u in list {
            let u = u.as_str().ok_or_else(bad)?;
            // Checked here so that a hook's typo denies the publish with a reason, instead of
            // a target failing forever in the background. The error never echoes the URL: it
            // may carry a stream key.
            crate::relay::target::parse_target(u).map_err(|_| bad())?;
            answer.push.push(u.to_owned());
        }
    }
    Ok(answer)
}

fn valid_name(hook: &str, name: &str) -> Result<String, Deny> {
    let name = name.trim().trim_matches('/');
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(Deny::new(
            DenyKind::Hook,
            format!("{hook} renamed the stream to an invalid name"),
        ));
    }
    Ok(name.to_owned())
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn form_encode<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        push_encoded(&mut out, k);
        out.push('=');
        push_encoded(&mut out, v);
    }
    out
}

fn push_encoded(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode([("call", "publish"), ("tcurl", "rtmp://h/live?a=1 2")].into_iter()),
            "call=publish&tcurl=rtmp%3A%2F%2Fh%2Flive%3Fa%3D1+2"
        );
    }

    #[test]
    fn json_answers_rename_and_push() {
        let ok = |ev, body: &str| judge_json(ev, body.as_bytes());
        assert_eq!(
            ok(HookEvent::Publish, "not json").unwrap(),
            HookAnswer::default()
        );
        assert_eq!(
            ok(
                HookEvent::Publish,
                r#"{"stream": "alice", "push": ["rtmps://h/app/key"]}"#
            )
            .unwrap(),
            HookAnswer {
                rename: Some("alice".into()),
                push: vec!["rtmps://h/app/key".into()],
                record: None,
            }
        );
        assert_eq!(
            ok(HookEvent::Publish, r#"{"record": true}"#)
                .unwrap()
                .record,
            Some(true)
        );
        assert!(ok(HookEvent::Publish, r#"{"push": "rtmp://h/a/k"}"#).is_err());
        assert!(ok(HookEvent::Publish, r#"{"push": ["http://h/a/k"]}"#).is_err());
        assert!(ok(HookEvent::Publish, r#"{"push": [1]}"#).is_err());
        assert!(ok(HookEvent::Play, r#"{"push": ["rtmp://h/a/k"]}"#).is_err());
        let many = format!(
            r#"{{"push": [{}]}}"#,
            vec![r#""rtmp://h/a/k""#; 17].join(",")
        );
        assert!(ok(HookEvent::Publish, &many).is_err());
        // The refusal never echoes a URL (it may hold a stream key).
        let e = ok(HookEvent::Publish, r#"{"push": ["ftp://h/a/secretkey"]}"#).unwrap_err();
        assert!(!e.message.contains("secretkey"), "{}", e.message);
    }

    #[test]
    fn names_from_hooks_are_checked() {
        assert_eq!(valid_name("on_publish", "/alice/").unwrap(), "alice");
        assert!(valid_name("on_publish", "").is_err());
        assert!(valid_name("on_publish", "a\nb").is_err());
        assert!(valid_name("on_publish", &"x".repeat(300)).is_err());
    }
}
