//! Pull relays: one task per pulled stream. It finds an upstream that has the stream (in the
//! rule's order; the first that sends media within `relay.pull_probe_ms` wins), publishes what
//! it receives into the local hub under the same app and name, and ends `idle_secs` after the
//! last local player left.
//!
//! States, shared with every player waiting for the pull ([`PullShared`]): `Starting` →
//! `Live` (players subscribe and get the stream) or `Failed` (no upstream had it within
//! `relay.pull_wait_ms`: waiting players get `NetStream.Play.StreamNotFound`) → `Closed`.
//! When a live upstream ends the stream while local players are still subscribed, the upstreams
//! are tried again after a back-off, for as long as players remain; the players see
//! `UnpublishNotify` and then `PublishNotify`, as when a local publisher comes back.
//!
//! In a cluster ([`crate::cluster`]) an app without a pull rule pulls from the node that owns
//! the stream in the registry: the owner is looked up at every attempt (at least once per
//! heartbeat while players wait), so after a failover the pull finds the new owner and the same
//! local players go on. This node is never its own upstream, and the pull ends when a local
//! publisher takes the stream.

use super::config::{PullRule, RelaySection};
use super::push::client_options;
use super::target::{redact, upstream_url, Backoff};
use super::{lock, Inner};
use crate::cluster::Cluster;
use crate::control::{Role, Transport};
use crate::hub::{MediaFrame, PeerInfo, PublishError, Publisher};
use crate::Context;
use sluice_client::{Client, ClientStream, PlayEvent, Player, Scheme, Url};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

/// What [`super::Relays::pull`] gives a player to wait on: `Ok` once the stream is live here,
/// `Err` with the reason when no upstream has it.
pub type PullWait = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PullState {
    Starting,
    Live,
    Failed,
    Closed,
}

/// One pulled stream, as the players waiting for it and the API see it.
#[derive(Debug)]
pub(crate) struct PullShared {
    state: watch::Sender<PullState>,
    /// The redacted upstream it is pulled from while live, and since when.
    upstream: Mutex<Option<(String, SystemTime)>>,
}

impl PullShared {
    pub(crate) fn live_upstream(&self) -> Option<(String, SystemTime)> {
        lock(&self.upstream).clone()
    }

    fn set(&self, s: PullState) {
        self.state.send_replace(s);
    }
}

/// Where a pull looks for the stream.
#[derive(Debug, Clone)]
enum Source {
    /// The upstreams of a `[[relay.pull]]` rule, in order.
    Rule(PullRule),
    /// The node that owns the stream in the cluster registry, looked up at each attempt.
    Cluster(Arc<Cluster>),
}

impl Source {
    fn idle_secs(&self) -> u64 {
        match self {
            Source::Rule(r) => r.idle_secs,
            Source::Cluster(c) => c.pull_idle_secs(),
        }
    }
}

/// Join the pull of `app`/`stream`, opening it if there is none: from the app's
/// `[[relay.pull]]` rule, else, in a cluster, from the node that owns the stream. `None`: no
/// rule and no cluster.
pub(super) fn join(
    inner: &Arc<Inner>,
    ctx: &Arc<Context>,
    app: &str,
    stream: &str,
) -> Option<PullWait> {
    if let Some(rule) = ctx.live.load().settings.relay.pull_rule(app) {
        return Some(start(inner, ctx, app, stream, Source::Rule(rule.clone())));
    }
    if !ctx.cluster.is_shared() {
        return None;
    }
    let key = (app.to_owned(), stream.to_owned());
    let running = lock(&inner.pulls)
        .get(&key)
        .is_some_and(|p| matches!(*p.state.borrow(), PullState::Starting | PullState::Live));
    let source = Source::Cluster(ctx.cluster.clone());
    if running {
        return Some(start(inner, ctx, app, stream, source));
    }
    let (inner, ctx) = (inner.clone(), ctx.clone());
    Some(Box::pin(async move {
        let (app, stream) = key;
        match ctx.cluster.owner_elsewhere(&app, &stream).await {
            Ok(Some(owner)) => {
                info!(%app, %stream, owner = %owner.node, advertise = %owner.advertise, "play: pulling from the node that publishes the stream");
                start(&inner, &ctx, &app, &stream, source).await
            }
            // Nobody else publishes it (or the registry cannot say: counted and logged by the
            // cluster): the player waits here, for a local publisher or for the pull that
            // starts once another node publishes the stream.
            Ok(None) | Err(_) => {
                watch_for_owner(&inner, &ctx, &app, &stream);
                Ok(())
            }
        }
    }))
}

/// While local players wait for `app`/`stream` and nobody publishes it here, look its owner
/// up once per heartbeat and start the pull when another node publishes it (one watch per
/// stream).
fn watch_for_owner(inner: &Arc<Inner>, ctx: &Arc<Context>, app: &str, stream: &str) {
    let key = (app.to_owned(), stream.to_owned());
    if !lock(&inner.owner_watches).insert(key.clone()) {
        return;
    }
    let (inner, ctx) = (Arc::downgrade(inner), Arc::downgrade(ctx));
    tokio::spawn(async move {
        let (app, stream) = &key;
        loop {
            let Some(period) = ctx.upgrade().map(|c| c.cluster.heartbeat_period()) else {
                return;
            };
            // The first wait also lets the player that asked subscribe.
            tokio::time::sleep(period).await;
            let (Some(c), Some(i)) = (ctx.upgrade(), inner.upgrade()) else {
                return;
            };
            let running = lock(&i.pulls).get(&key).is_some_and(|p| {
                matches!(*p.state.borrow(), PullState::Starting | PullState::Live)
            });
            if *c.shutdown.borrow()
                || running
                || c.hub.is_live(app, stream)
                || c.hub.player_count(app, stream) == 0
            {
                break;
            }
            if let Ok(Some(owner)) = c.cluster.owner_elsewhere(app, stream).await {
                info!(%app, %stream, owner = %owner.node, "waiting players: another node publishes the stream now, pulling it");
                // The job runs on its own; the players are subscribed already.
                drop(start(
                    &i,
                    &c,
                    app,
                    stream,
                    Source::Cluster(c.cluster.clone()),
                ));
                break;
            }
        }
        if let Some(i) = inner.upgrade() {
            lock(&i.owner_watches).remove(&key);
        }
    });
}

/// Join the pull of `app`/`stream` from `source`, opening it if there is none.
fn start(
    inner: &Arc<Inner>,
    ctx: &Arc<Context>,
    app: &str,
    stream: &str,
    source: Source,
) -> PullWait {
    let live = ctx.live.load();
    let cfg = &live.settings.relay;
    let wait = Duration::from_millis(cfg.pull_wait_ms.max(1));
    let key = (app.to_owned(), stream.to_owned());
    let mut pulls = lock(&inner.pulls);
    let shared = match pulls.get(&key) {
        Some(p) if matches!(*p.state.borrow(), PullState::Starting | PullState::Live) => p.clone(),
        _ => {
            let p = Arc::new(PullShared {
                state: watch::channel(PullState::Starting).0,
                upstream: Mutex::new(None),
            });
            pulls.insert(key, p.clone());
            let job = Job {
                ctx: ctx.clone(),
                inner: Arc::downgrade(inner),
                shared: p.clone(),
                app: app.to_owned(),
                stream: stream.to_owned(),
                source,
                cfg: cfg.clone(),
            };
            tokio::spawn(job.run());
            p
        }
    };
    drop(pulls);
    let mut rx = shared.state.subscribe();
    Box::pin(async move {
        let decided = tokio::time::timeout(wait, async {
            rx.wait_for(|s| *s != PullState::Starting).await.map(|s| *s)
        })
        .await;
        match decided {
            Ok(Ok(PullState::Live)) => Ok(()),
            Ok(_) => Err("no upstream has the stream".to_owned()),
            Err(_) => Err(format!(
                "no upstream sent the stream within {} ms (relay.pull_wait_ms)",
                wait.as_millis()
            )),
        }
    })
}

/// An upstream that sends the stream, and what it sent while being probed.
struct Found {
    url: Url,
    player: Player<ClientStream>,
    early: Vec<PlayEvent>,
}

/// Why serving a found upstream ended.
enum Served {
    /// No local player for `idle_secs`, the server shuts down, or a local publisher has the
    /// stream: the pull is over.
    Done,
    /// The upstream ended the stream or failed.
    UpstreamEnded,
}

struct Job {
    ctx: Arc<Context>,
    inner: Weak<Inner>,
    shared: Arc<PullShared>,
    app: String,
    stream: String,
    source: Source,
    cfg: RelaySection,
}

impl Job {
    async fn run(self) {
        let mut backoff = Backoff::new(
            Duration::from_millis(self.cfg.backoff_min_ms),
            Duration::from_millis(self.cfg.backoff_max_ms),
        );
        let mut ever_live = false;
        let mut failed = false;
        loop {
            let deadline = Instant::now() + Duration::from_millis(self.cfg.pull_wait_ms.max(1));
            match self.find(deadline).await {
                Some(found) => {
                    ever_live = true;
                    backoff.reset();
                    if let Served::Done = self.serve(found).await {
                        break;
                    }
                }
                None if !ever_live => {
                    warn!(app = %self.app, stream = %self.stream, "pull failed: no upstream has the stream");
                    failed = true;
                    break;
                }
                None => {}
            }
            // The upstream went away while local players wait: try again while they do, unless
            // a local publisher has the stream now (a cluster's publisher moved here).
            if self.ctx.hub.player_count(&self.app, &self.stream) == 0
                || *self.ctx.shutdown.borrow()
                || self.ctx.hub.is_live(&self.app, &self.stream)
            {
                break;
            }
            let mut delay = backoff.next_delay();
            if let Source::Cluster(c) = &self.source {
                // The owner may change at any heartbeat: look again at least that often.
                delay = delay.min(c.heartbeat_period());
            }
            tokio::time::sleep(delay).await;
        }
        *lock(&self.shared.upstream) = None;
        self.shared.set(if failed {
            PullState::Failed
        } else {
            PullState::Closed
        });
        if let Some(inner) = self.inner.upgrade() {
            let mut pulls = lock(&inner.pulls);
            let key = (self.app.clone(), self.stream.clone());
            if pulls
                .get(&key)
                .is_some_and(|p| Arc::ptr_eq(p, &self.shared))
            {
                pulls.remove(&key);
            }
        }
    }

    /// The first upstream that sends the stream before `deadline`.
    async fn find(&self, deadline: Instant) -> Option<Found> {
        let upstreams = match &self.source {
            Source::Rule(rule) => rule.upstreams.clone(),
            Source::Cluster(c) => match c.owner_elsewhere(&self.app, &self.stream).await {
                // Never ourselves: `owner_elsewhere` leaves this node out.
                Ok(Some(owner)) => vec![format!("{}/{{app}}", owner.advertise)],
                Ok(None) => {
                    info!(app = %self.app, stream = %self.stream, "pull: no other node publishes the stream");
                    Vec::new()
                }
                Err(error) => {
                    // Logged once per change of the registry's state by the cluster.
                    tracing::debug!(app = %self.app, stream = %self.stream, %error, "pull: the cluster registry cannot say who publishes the stream");
                    Vec::new()
                }
            },
        };
        for upstream in &upstreams {
            if Instant::now() >= deadline {
                break;
            }
            let shown = super::target::redact_str(&super::target::fill(upstream, &self.app, ""));
            match self.open(upstream, deadline).await {
                Ok(found) => return Some(found),
                Err(error) => {
                    info!(app = %self.app, stream = %self.stream, upstream = %shown, %error, "pull: upstream does not have the stream")
                }
            }
        }
        None
    }

    async fn open(&self, upstream: &str, deadline: Instant) -> Result<Found, String> {
        let url = upstream_url(upstream, &self.app, &self.stream).map_err(|e| e.to_string())?;
        let mut options = client_options(&self.cfg)?;
        let left = deadline.saturating_duration_since(Instant::now());
        options.connect_timeout = options.connect_timeout.min(left);
        options.command_timeout = options.command_timeout.min(left);
        let mut player = Client::play(&url, &options)
            .await
            .map_err(|e| e.to_string())?;
        let probe_end =
            deadline.min(Instant::now() + Duration::from_millis(self.cfg.pull_probe_ms.max(1)));
        let mut early = Vec::new();
        loop {
            match tokio::time::timeout_at(probe_end, player.next_event()).await {
                Err(_) => return Err("no media within relay.pull_probe_ms".into()),
                Ok(Err(e)) => return Err(e.to_string()),
                Ok(Ok(PlayEvent::Eof(reason))) => {
                    return Err(format!("the upstream ended the stream ({reason:?})"))
                }
                Ok(Ok(
                    ev @ (PlayEvent::Audio { .. }
                    | PlayEvent::Video { .. }
                    | PlayEvent::Metadata { .. }),
                )) => {
                    early.push(ev);
                    return Ok(Found { url, player, early });
                }
                Ok(Ok(ev)) => early.push(ev),
            }
        }
    }

    /// Publish what `found` sends into the hub until the upstream ends, or nobody watches.
    async fn serve(&self, found: Found) -> Served {
        let Found {
            url,
            mut player,
            early,
        } = found;
        let ctx = &self.ctx;
        let shown = redact(&url);
        let publisher = match ctx.hub.publish(
            &self.app,
            &self.stream,
            PeerInfo::new(format!("pull {shown}")),
        ) {
            Ok(p) => p,
            Err(PublishError::AlreadyPublishing) => {
                // A local publisher came first: the players get that one.
                info!(app = %self.app, stream = %self.stream, "pull not needed: the stream is published here");
                self.shared.set(PullState::Live);
                let _ = player.stop().await;
                return Served::Done;
            }
            Err(PublishError::ShutDown) => return Served::Done,
        };
        let id = ctx.next_connection_id();
        let client = ctx
            .registry
            .add_client(id, peer_of(&url).await, transport_of(url.scheme()));
        client.set_state(&self.app, &self.stream, Role::Publisher);
        let entry = ctx.registry.add_stream(&self.app, &self.stream, &client);
        *lock(&self.shared.upstream) = Some((shown.clone(), SystemTime::now()));
        self.shared.set(PullState::Live);
        info!(conn = id, app = %self.app, stream = %self.stream, upstream = %shown, "pull live");
        let mut feed = Feed {
            publisher,
            entry: &entry,
        };
        for ev in early {
            feed.handle(ev);
        }
        let idle = Duration::from_secs(self.source.idle_secs());
        let mut idle_since: Option<Instant> = None;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A cluster node silent for a lease is presumed dead (its host may be gone without a
        // reset): the pull ends and the owner is looked up again.
        let stall = match &self.source {
            Source::Cluster(c) => Some(c.lease()),
            Source::Rule(_) => None,
        };
        let mut last_event = Instant::now();
        let served = loop {
            tokio::select! {
                r = player.next_event() => match r {
                    Ok(PlayEvent::Eof(reason)) => {
                        info!(conn = id, app = %self.app, stream = %self.stream, upstream = %shown, ?reason, "pull: the upstream ended the stream");
                        break Served::UpstreamEnded;
                    }
                    Ok(ev) => {
                        last_event = Instant::now();
                        feed.handle(ev);
                    }
                    Err(error) => {
                        warn!(conn = id, app = %self.app, stream = %self.stream, upstream = %shown, %error, "pull: upstream failed");
                        break Served::UpstreamEnded;
                    }
                },
                _ = tick.tick() => {
                    let c = player.connection();
                    client.store_bytes(c.bytes_read(), c.bytes_written());
                    entry.bytes_in.store(c.bytes_read(), std::sync::atomic::Ordering::Relaxed);
                    let players = feed.publisher.player_count();
                    entry.players.store(players as u64, std::sync::atomic::Ordering::Relaxed);
                    if feed.publisher.is_shut_down() {
                        break Served::Done;
                    }
                    if stall.is_some_and(|d| last_event.elapsed() >= d) {
                        warn!(conn = id, app = %self.app, stream = %self.stream, upstream = %shown, "pull: the owning node sent nothing for a lease (cluster.lease_ms)");
                        break Served::UpstreamEnded;
                    }
                    if players > 0 {
                        idle_since = None;
                    } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= idle {
                        info!(conn = id, app = %self.app, stream = %self.stream, upstream = %shown, idle_secs = self.source.idle_secs(), "pull closed: no player");
                        let _ = player.stop().await;
                        break Served::Done;
                    }
                }
            }
        };
        *lock(&self.shared.upstream) = None;
        served
    }
}

/// The pulled stream's publisher side: upstream events into the hub, codecs into the registry.
struct Feed<'a> {
    publisher: Publisher,
    entry: &'a crate::control::StreamGuard,
}

impl Feed<'_> {
    fn handle(&mut self, ev: PlayEvent) {
        match ev {
            PlayEvent::Metadata { body, .. } => {
                crate::driver::media::record_fps(self.entry, &body);
                self.publisher.set_metadata(body);
            }
            PlayEvent::Video { timestamp, payload } => {
                let info = sluice_flv::classify_video(&payload);
                if info.is_sequence_header {
                    crate::driver::media::record_codec(self.entry, true, &payload);
                }
                self.publisher.send(MediaFrame {
                    kind: crate::hub::FrameKind::Video,
                    timestamp: timestamp.value(),
                    keyframe: info.is_keyframe,
                    sequence_header: info.is_sequence_header,
                    payload,
                });
            }
            PlayEvent::Audio { timestamp, payload } => {
                let info = sluice_flv::classify_audio(&payload);
                if info.is_sequence_header {
                    crate::driver::media::record_codec(self.entry, false, &payload);
                }
                self.publisher.send(MediaFrame {
                    kind: crate::hub::FrameKind::Audio,
                    timestamp: timestamp.value(),
                    keyframe: false,
                    sequence_header: info.is_sequence_header,
                    payload,
                });
            }
            PlayEvent::Data {
                timestamp, payload, ..
            } => self
                .publisher
                .send(MediaFrame::data(timestamp.value(), payload)),
            _ => {}
        }
    }
}

/// The upstream's address for the registry (unspecified when it does not resolve now).
async fn peer_of(url: &Url) -> SocketAddr {
    tokio::net::lookup_host(url.host_port())
        .await
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], url.port())))
}

fn transport_of(scheme: Scheme) -> Transport {
    match scheme {
        Scheme::Rtmp => Transport::Rtmp,
        Scheme::Rtmps => Transport::Rtmps,
        Scheme::Rtmpe => Transport::Rtmpe,
        Scheme::Rtmpt | Scheme::Rtmpte => Transport::Rtmpt,
        Scheme::Rtmpts => Transport::Rtmpts,
        Scheme::Rtmfp => Transport::Rtmfp,
    }
}
