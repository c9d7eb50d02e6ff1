//! The application layer: one place where connect, publish and play are decided, for every
//! transport (RTMP over TCP, TLS, RTMPE and RTMPT today; HTTP players too).
//!
//! A driver builds a [`Request`] and asks [`App::check`]; the chain is
//! static rules ([`rules`], `[access]`) → signed token ([`token`], part of the rules) → HTTP hook
//! ([`hooks`], `[hooks]`) → rename. The answer is allowed under a (maybe new) name, or a
//! [`Deny`] with a reason the driver maps to its protocol (`NetStream.Publish.Denied`, HTTP 403,
//! ...). Rules are decided at once; a hook makes the check [`Check::Pending`], a future the
//! connection polls in its own loop, so that it keeps reading, pinging and serving its other
//! streams meanwhile.
//!
//! The `App` in force is behind [`Context::app`](crate::Context) and is replaced whole on
//! reload; a request already decided keeps its decision (a rule that now denies applies to new
//! requests only).

pub mod config;
pub mod hooks;
pub mod rules;
pub mod token;

use crate::control::{Metrics, Transport};
use hooks::{HookEvent, Hooks};
use rules::{RuleError, Rules};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

/// What a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// NetConnection `connect`.
    Connect,
    /// NetStream `publish`.
    Publish,
    /// NetStream `play` (RTMP) or an HTTP/WebSocket media request.
    Play,
}

impl Action {
    /// `connect`, `publish` or `play` (also the token's action and the metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Connect => "connect",
            Action::Publish => "publish",
            Action::Play => "play",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Action::Connect => "connect",
            Action::Publish => "publish",
            Action::Play => "play",
        }
    }
}

/// One request to decide.
#[derive(Debug, Clone)]
pub struct Request {
    /// Connect, publish or play.
    pub action: Action,
    /// The connection id (as in the log and the API).
    pub client_id: u64,
    /// The client's address (the real one when a trusted proxy header gave it).
    pub peer: SocketAddr,
    /// Application.
    pub app: String,
    /// Stream name without its query (empty for connect).
    pub stream: String,
    /// The query string as the client sent it: the stream name's, or else connect's.
    pub param: String,
    /// The connect's tcUrl (empty for HTTP players).
    pub tc_url: String,
    /// How the client reached us.
    pub transport: Transport,
}

/// Why a request was denied (also the `reason` label of `sluice_requests_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyKind {
    /// A rule says nobody, or no entry admits the client.
    Rule,
    /// A `key:` entry did not match.
    Key,
    /// An `ip:` entry did not match.
    Address,
    /// The signed token is missing or does not match.
    Token,
    /// The signed token has expired.
    TokenExpired,
    /// The hook answered no.
    Hook,
    /// The hook did not answer in time.
    HookTimeout,
    /// The hook could not be called (connection refused, too many in flight).
    HookError,
    /// The stream is already being published.
    InUse,
    /// The name is empty or unusable.
    BadName,
    /// The stream is not live here and no pull relay upstream has it.
    NotFound,
    /// The cluster registry could not be asked whether the stream is published elsewhere.
    Unverified,
}

impl DenyKind {
    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyKind::Rule => "rule",
            DenyKind::Key => "key",
            DenyKind::Address => "address",
            DenyKind::Token => "token",
            DenyKind::TokenExpired => "token_expired",
            DenyKind::Hook => "hook",
            DenyKind::HookTimeout => "hook_timeout",
            DenyKind::HookError => "hook_error",
            DenyKind::InUse => "in_use",
            DenyKind::BadName => "bad_name",
            DenyKind::NotFound => "not_found",
            DenyKind::Unverified => "unverified",
        }
    }
}

/// A refusal, with the reason the client and the log are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deny {
    /// The kind.
    pub kind: DenyKind,
    /// What to tell the client (never contains a secret).
    pub message: String,
}

impl Deny {
    /// A refusal of `kind`.
    pub fn new(kind: DenyKind, message: String) -> Deny {
        Deny { kind, message }
    }
}

impl std::fmt::Display for Deny {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// An allowed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// The stream name to use (the request's, or the hook's rename).
    pub stream: String,
    /// Push relay targets the `on_publish` hook added for this publish (URLs with their keys;
    /// see [`crate::relay`]). Empty for connect and play.
    pub push: Vec<String>,
    /// The `on_publish` hook asked to record (true) or not to (false).
    pub record: Option<bool>,
}

impl Allowed {
    /// Allowed under `stream`, with no push targets and no recording request.
    pub fn named(stream: String) -> Allowed {
        Allowed {
            stream,
            push: Vec::new(),
            record: None,
        }
    }
}

/// The answer to a request.
pub type Decision = Result<Allowed, Deny>;

/// A decision that takes an HTTP round trip.
pub type PendingDecision = Pin<Box<dyn Future<Output = Decision> + Send>>;

/// What [`App::check`] gives back.
pub enum Check {
    /// Decided at once (no hook for this request).
    Ready(Decision),
    /// Decided when the future completes (a hook is asked).
    Pending(PendingDecision),
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Ready(d) => f.debug_tuple("Ready").field(d).finish(),
            Check::Pending(_) => f.write_str("Pending"),
        }
    }
}

/// `[access]` or `[hooks]` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// A rule is wrong.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// A hook URL is wrong.
    #[error(transparent)]
    Hook(#[from] hooks::HookUrlError),
}

/// The decision chain in force.
#[derive(Debug)]
pub struct App {
    rules: Rules,
    hooks: Option<Arc<Hooks>>,
    metrics: Arc<Metrics>,
}

impl App {
    /// The chain for these settings.
    pub fn new(settings: &crate::Settings, metrics: Arc<Metrics>) -> Result<App, AppError> {
        Ok(App {
            rules: Rules::new(&settings.access)?,
            hooks: Hooks::new(&settings.hooks, metrics.clone())?.map(Arc::new),
            metrics,
        })
    }

    /// The signed-URL secret (empty when none is set).
    pub fn secret(&self) -> &[u8] {
        self.rules.secret()
    }

    /// Decide `req`. The rules are decided at once; with a hook for the action, the rest
    /// is a future. Counted in `sluice_requests_total` when decided.
    pub fn check(&self, req: Request) -> Check {
        let now = unix_now();
        if let Err(d) = self.rules.check(&req, now) {
            self.count(req.action, &Err(d.clone()));
            return Check::Ready(Err(d));
        }
        let hook = self
            .hooks
            .as_ref()
            .filter(|h| h.url(HookEvent::deciding(req.action)).is_some())
            .cloned();
        let Some(hooks) = hook else {
            let d = Ok(Allowed::named(req.stream));
            self.count(req.action, &d);
            return Check::Ready(d);
        };
        let metrics = self.metrics.clone();
        Check::Pending(Box::pin(async move {
            let d = hooks.ask(&req).await.map(|answer| Allowed {
                stream: answer.rename.unwrap_or(req.stream),
                push: answer.push,
                record: answer.record,
            });
            count(&metrics, req.action, &d);
            d
        }))
    }

    /// Whether the rules let a client at `peer` play `app`/`stream` with no key and no token
    /// (hooks are not asked, nothing is counted): what the console page lists.
    pub fn allows_anonymous_play(&self, app: &str, stream: &str, peer: SocketAddr) -> bool {
        self.rules.allows_anonymous_play(app, stream, peer)
    }

    /// Tell the `on_unpublish` / `on_stop` hook (in the background).
    pub fn notify_end(&self, req: Request) {
        let ev = match req.action {
            Action::Publish => HookEvent::Unpublish,
            Action::Play => HookEvent::Stop,
            Action::Connect => return,
        };
        if let Some(h) = &self.hooks {
            h.tell(ev, req);
        }
    }

    /// Tell the `on_record_done` hook (in the background).
    pub fn record_done(&self, done: crate::record::writer::RecordDone) {
        if let Some(h) = &self.hooks {
            h.tell_record_done(done);
        }
    }

    fn count(&self, action: Action, d: &Decision) {
        count(&self.metrics, action, d);
    }
}

fn count(metrics: &Metrics, action: Action, d: &Decision) {
    match d {
        Ok(_) => metrics.request(action.as_str(), true, ""),
        Err(e) => metrics.request(action.as_str(), false, e.kind.as_str()),
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
