//! Relays: push a published stream to other servers (restreaming), and pull a stream that is
//! not live here from an upstream when a player asks for it (an edge in front of an origin).
//!
//! Both are sinks and sources of the [hub](crate::hub) like any other, over the
//! [client crate](sluice_client) (`rtmp`, `rtmps`, `rtmpe`, `rtmpt`, `rtmpte`, `rtmpts`):
//!
//! - **Push** (`push.rs`): when a publish is accepted, the targets of the matching
//!   `[[relay.push]]` rules and those the `on_publish` hook named start, each as its own task
//!   with its own connection and its own hub subscriber. The subscriber's backlog bound is the
//!   one every player has (`hub.player_queue_max_*`): a slow target drops video to the next
//!   keyframe and never slows the publisher, the players or the other targets. A target that
//!   fails is retried after an exponential back-off (`relay.backoff_min_ms` doubling up to
//!   `relay.backoff_max_ms`) for as long as the stream is live. Targets can be added and removed
//!   through the API while the stream is live ([`api`]). Everything stops when the publisher
//!   leaves (the [`PushGuard`] it holds is dropped).
//! - **Pull** (`pull.rs`): a play of a stream that is not live, in an app with a
//!   `[[relay.pull]]` rule, opens one pull shared by every player (RTMP, HTTP-FLV, fMP4): it
//!   tries the upstreams in order, takes the first that sends media within
//!   `relay.pull_probe_ms`, publishes it into the local hub, and closes `idle_secs` after the
//!   last player left. Players arriving meanwhile wait for the same pull; if no upstream has the
//!   stream within `relay.pull_wait_ms` they get `NetStream.Play.StreamNotFound` (HTTP: 404).
//! - **Loops**: every relay connection announces [`RELAY_FLASH_VER`] in `connect`; a play from
//!   such a connection never opens a pull, so two servers pulling from each other cannot chase
//!   a stream that neither has.
//! - **Secrets**: a target URL usually ends in a stream key. Logs, the API and metrics show
//!   [`target::redact`]ed URLs (`scheme://host[:port]/app`) only, and errors are scrubbed of the
//!   key before they are stored or logged.

pub mod api;
pub mod config;
mod pull;
mod push;
pub mod target;

use crate::Context;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::SystemTime;
use tokio::sync::watch;

pub use config::{PullRule, PushRule, RelaySection};

/// The `flashVer` of every relay connection (push and pull). A play whose `connect` carried
/// it never opens a pull (loop prevention).
pub const RELAY_FLASH_VER: &str = "FMLE/3.0 (compatible; Sluice relay)";

/// What marks a connection as one of our relays: [`RELAY_FLASH_VER`] contains it.
pub const RELAY_MARK: &str = "Sluice relay";

/// Whether a `connect`'s `flashVer` says the peer is a Sluice relay.
pub fn is_relay_flash_ver(flash_ver: Option<&str>) -> bool {
    flash_ver.is_some_and(|f| f.contains(RELAY_MARK))
}

type Key = (String, String);

/// Where a push target came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A `[[relay.push]]` rule.
    Config,
    /// The `on_publish` hook's answer.
    Hook,
    /// `POST /api/v1/streams/{app}/{stream}/push`.
    Api,
}

impl Origin {
    /// The name the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Config => "config",
            Origin::Hook => "hook",
            Origin::Api => "api",
        }
    }
}

/// The state of a push target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushState {
    /// Connecting and publishing.
    Connecting,
    /// Publishing: media flows.
    Live,
    /// The last attempt failed; waiting before the next.
    Backoff,
}

impl PushState {
    /// The name the API and metrics show.
    pub fn as_str(self) -> &'static str {
        match self {
            PushState::Connecting => "connecting",
            PushState::Live => "live",
            PushState::Backoff => "backoff",
        }
    }
}

/// What changes about a push target (under its lock, a few times per connection).
#[derive(Debug, Clone)]
pub struct PushStatus {
    /// The state.
    pub state: PushState,
    /// Since when (wall clock).
    pub since: SystemTime,
    /// The last failure, scrubbed of the stream key.
    pub last_error: Option<String>,
    /// Successful publishes so far.
    pub connects: u64,
    /// Failed attempts so far.
    pub failures: u64,
}

/// One push target of one live stream.
#[derive(Debug)]
pub struct PushTarget {
    /// Its id (unique in this server), for `DELETE …/push/{id}`.
    pub id: u64,
    /// The full URL, key included: only the push task reads it.
    url: String,
    /// [`target::redact`] of the URL: what logs, the API and metrics show.
    pub shown: String,
    /// Where it came from.
    pub origin: Origin,
    status: Mutex<PushStatus>,
    /// Bytes sent to the target, over every connection.
    pub bytes: AtomicU64,
    /// Video frames the hub dropped for this target because it was slow.
    pub dropped: AtomicU64,
    stop: watch::Sender<bool>,
}

impl PushTarget {
    fn new(id: u64, url: String, origin: Origin) -> PushTarget {
        PushTarget {
            id,
            shown: target::redact_str(&url),
            url,
            origin,
            status: Mutex::new(PushStatus {
                state: PushState::Connecting,
                since: SystemTime::now(),
                last_error: None,
                connects: 0,
                failures: 0,
            }),
            bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            stop: watch::channel(false).0,
        }
    }

    /// A copy of the status.
    pub fn status(&self) -> PushStatus {
        lock(&self.status).clone()
    }

    fn update(&self, f: impl FnOnce(&mut PushStatus)) {
        let mut s = lock(&self.status);
        let before = s.state;
        f(&mut s);
        if s.state != before {
            s.since = SystemTime::now();
        }
    }

    fn stop(&self) {
        self.stop.send_replace(true);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug)]
struct PushSet {
    generation: u64,
    targets: Vec<Arc<PushTarget>>,
}

#[derive(Debug, Default)]
struct Inner {
    pushes: Mutex<HashMap<Key, PushSet>>,
    pulls: Mutex<HashMap<Key, Arc<pull::PullShared>>>,
    /// Streams whose local players wait for some node of the cluster to publish them.
    owner_watches: Mutex<std::collections::HashSet<Key>>,
    next_id: AtomicU64,
}

/// Every push and pull of a server (one per [`Context`]).
#[derive(Debug, Default)]
pub struct Relays {
    inner: Arc<Inner>,
}

/// Why a push target could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddPushError {
    /// The stream is not live here (push targets belong to a live publish).
    #[error("no live stream {0}/{1}")]
    NotLive(String, String),
    /// `relay.max_push_per_stream` reached.
    #[error("the stream has {0} push targets already (relay.max_push_per_stream)")]
    TooMany(usize),
    /// Not a usable RTMP URL (the reason never quotes the URL).
    #[error("{0}")]
    BadUrl(#[from] target::TargetError),
}

/// Held by a publishing connection for one stream: dropping it stops the stream's pushes.
#[derive(Debug)]
pub struct PushGuard {
    inner: Weak<Inner>,
    key: Key,
    generation: u64,
}

impl Drop for PushGuard {
    fn drop(&mut self) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let mut pushes = lock(&inner.pushes);
        if pushes
            .get(&self.key)
            .is_some_and(|s| s.generation == self.generation)
        {
            if let Some(set) = pushes.remove(&self.key) {
                for t in set.targets {
                    t.stop();
                }
            }
        }
    }
}

impl Relays {
    fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A publish of `app`/`stream` was accepted: start the pushes of the matching
    /// `[[relay.push]]` rules and the hook's `extra` URLs. The guard stops them all.
    pub fn start_pushes(
        &self,
        ctx: &Arc<Context>,
        app: &str,
        stream: &str,
        extra: &[String],
    ) -> PushGuard {
        let live = ctx.live.load();
        let cfg = &live.settings.relay;
        let generation = self.next_id();
        let key = (app.to_owned(), stream.to_owned());
        let mut urls: Vec<(String, Origin)> = cfg
            .push_targets(app, stream)
            .into_iter()
            .map(|u| (u, Origin::Config))
            .collect();
        urls.extend(extra.iter().map(|u| (u.clone(), Origin::Hook)));
        let mut targets: Vec<Arc<PushTarget>> = Vec::new();
        for (url, origin) in urls {
            if targets.iter().any(|t| t.url == url) {
                continue;
            }
            if targets.len() >= cfg.max_push_per_stream {
                tracing::warn!(app, stream, target = %target::redact_str(&url), "push target left out: relay.max_push_per_stream reached");
                continue;
            }
            targets.push(Arc::new(PushTarget::new(self.next_id(), url, origin)));
        }
        for t in &targets {
            push::spawn(ctx, t.clone(), app, stream, cfg);
        }
        let replaced = lock(&self.inner.pushes).insert(
            key.clone(),
            PushSet {
                generation,
                targets,
            },
        );
        // A publisher that left without its guard dropping first cannot happen (the guard
        // lives in its slot); stop whatever an older set still ran, to be sure.
        for t in replaced.into_iter().flat_map(|s| s.targets) {
            t.stop();
        }
        PushGuard {
            inner: Arc::downgrade(&self.inner),
            key,
            generation,
        }
    }

    /// Add a push target to a live stream (the API); returns its id.
    pub fn add_push(
        &self,
        ctx: &Arc<Context>,
        app: &str,
        stream: &str,
        url: &str,
    ) -> Result<u64, AddPushError> {
        target::parse_target(url)?;
        let live = ctx.live.load();
        let cfg = &live.settings.relay;
        let mut pushes = lock(&self.inner.pushes);
        let set = pushes
            .get_mut(&(app.to_owned(), stream.to_owned()))
            .ok_or_else(|| AddPushError::NotLive(app.to_owned(), stream.to_owned()))?;
        if set.targets.len() >= cfg.max_push_per_stream {
            return Err(AddPushError::TooMany(set.targets.len()));
        }
        let t = Arc::new(PushTarget::new(self.next_id(), url.to_owned(), Origin::Api));
        set.targets.push(t.clone());
        drop(pushes);
        push::spawn(ctx, t.clone(), app, stream, cfg);
        Ok(t.id)
    }

    /// Stop and remove push target `id` of `app`/`stream`; false if there is none.
    pub fn remove_push(&self, app: &str, stream: &str, id: u64) -> bool {
        let mut pushes = lock(&self.inner.pushes);
        let Some(set) = pushes.get_mut(&(app.to_owned(), stream.to_owned())) else {
            return false;
        };
        let Some(i) = set.targets.iter().position(|t| t.id == id) else {
            return false;
        };
        let t = set.targets.remove(i);
        t.stop();
        tracing::info!(app, stream, id, target = %t.shown, "push target removed");
        true
    }

    /// The push targets of `app`/`stream` (empty when it has none or is not live).
    pub fn pushes(&self, app: &str, stream: &str) -> Vec<Arc<PushTarget>> {
        lock(&self.inner.pushes)
            .get(&(app.to_owned(), stream.to_owned()))
            .map(|s| s.targets.clone())
            .unwrap_or_default()
    }

    /// Every push target with its stream, ordered by app, stream and id.
    pub fn all_pushes(&self) -> Vec<(Key, Arc<PushTarget>)> {
        let mut v: Vec<_> = lock(&self.inner.pushes)
            .iter()
            .flat_map(|(k, s)| s.targets.iter().map(move |t| (k.clone(), t.clone())))
            .collect();
        v.sort_by(|a, b| (&a.0, a.1.id).cmp(&(&b.0, b.1.id)));
        v
    }

    /// A play of `app`/`stream`, which is not live here, from a client that is not a relay: if
    /// a `[[relay.pull]]` rule names upstreams for the app, join (or open) the stream's pull
    /// and return a future that completes when it is live (`Ok`) or no upstream has it within
    /// `relay.pull_wait_ms` (`Err`). `None`: no pull rule for the app.
    pub fn pull(&self, ctx: &Arc<Context>, app: &str, stream: &str) -> Option<pull::PullWait> {
        pull::join(&self.inner, ctx, app, stream)
    }

    /// The pull feeding `app`/`stream`, when it is pulled: the redacted upstream and since when.
    pub fn pulled_from(&self, app: &str, stream: &str) -> Option<(String, SystemTime)> {
        lock(&self.inner.pulls)
            .get(&(app.to_owned(), stream.to_owned()))
            .and_then(|p| p.live_upstream())
    }

    /// Streams being pulled (starting or live).
    pub fn pull_count(&self) -> usize {
        lock(&self.inner.pulls).len()
    }
}
