//! HLS sessions: one per stream that HLS clients ask for (or, with `http.hls_always`, per
//! published stream). A session is a hub subscriber like any other sink; its task feeds the
//! sans-IO [`HlsSegmenter`] of [`sluice_mux::hls`], so a stream is muxed once however many
//! clients poll it, and every client gets the same [`bytes::Bytes`]. Requests read the
//! playlist under a short lock and wait for a change on a watch channel (blocking reloads,
//! preload-hinted parts).
//!
//! A session ends `http.hls_idle_secs` after its last request (never while `hls_always`
//! keeps it and its stream is published), when the hub closes its subscription, or at
//! shutdown. A new session has a new tag in its URIs (the time it started, in base 36), so a
//! URI never names two different contents and segments can be cached as immutable.

use crate::hub::{FrameKind, PeerInfo, PlayerEvent};
use crate::Context;
use sluice_mux::hls::{HlsConfig, HlsSegmenter};
use sluice_mux::{FlvToSamples, TrackKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info};

/// Settings of the HLS sessions (from `[http]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsSettings {
    /// Playlist and segmenter settings.
    pub playlist: HlsConfig,
    /// Longest wait of a blocking request (`http.hls_block_max_ms`, 3 s).
    pub block_max: Duration,
    /// Idle time before a session is dropped (`http.hls_idle_secs`, 30 s).
    pub idle: Duration,
    /// A session for every published stream (`http.hls_always`, false).
    pub always: bool,
    /// Wait for a publisher before answering 404 (`http.flv_publish_wait_ms`, 0).
    pub publish_wait: Duration,
}

impl HlsSettings {
    /// The settings of `[http]`.
    pub fn from_settings(http: &crate::config::HttpSection) -> Self {
        HlsSettings {
            playlist: HlsConfig {
                segment_target_ms: http.hls_segment_target_ms,
                part_target_ms: http.hls_part_target_ms,
                window_segments: http.hls_window_segments,
                delta_updates: http.hls_delta_updates,
            },
            block_max: Duration::from_millis(http.hls_block_max_ms),
            idle: Duration::from_secs(http.hls_idle_secs.max(1)),
            always: http.hls_always,
            publish_wait: Duration::from_millis(http.flv_publish_wait_ms),
        }
    }
}

/// One stream's HLS state, shared by the session task and the requests.
#[derive(Debug)]
pub struct Session {
    /// The tag in every URI of this session.
    pub tag: String,
    seg: Mutex<HlsSegmenter>,
    /// The playlist version after each change (and `u64::MAX` when the session ended).
    changed: watch::Sender<u64>,
    last_request: Mutex<Instant>,
    /// The stream has a publisher now.
    live: std::sync::atomic::AtomicBool,
}

impl Session {
    /// The segmenter and its playlist (held briefly: the session task writes under it).
    pub fn lock(&self) -> MutexGuard<'_, HlsSegmenter> {
        self.seg.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks a request (keeps the session alive).
    pub fn touch(&self) {
        *self.last_request.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Whether the stream has a publisher.
    pub fn is_live(&self) -> bool {
        self.live.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A receiver that sees every change of the playlist.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Waits until `ready` holds for the segmenter, or until `deadline`; returns whether it
    /// held.
    pub async fn wait_for(
        &self,
        deadline: Instant,
        mut ready: impl FnMut(&HlsSegmenter) -> bool,
    ) -> bool {
        let mut rx = self.subscribe();
        loop {
            rx.borrow_and_update();
            if ready(&self.lock()) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) if *rx.borrow() != u64::MAX => {}
                _ => return ready(&self.lock()),
            }
        }
    }
}

/// The sessions of one server, by (app, stream).
#[derive(Debug)]
pub struct Sessions {
    ctx: Weak<Context>,
    /// Settings.
    pub cfg: HlsSettings,
    map: Mutex<HashMap<(String, String), Arc<Session>>>,
}

impl Sessions {
    /// No sessions yet; with `hls_always`, starts the task that opens one per published stream.
    pub fn new(ctx: &Arc<Context>, cfg: HlsSettings) -> Arc<Sessions> {
        let s = Arc::new(Sessions {
            ctx: Arc::downgrade(ctx),
            cfg,
            map: Mutex::new(HashMap::new()),
        });
        if cfg.always {
            tokio::spawn(always_loop(Arc::downgrade(&s), ctx.shutdown.subscribe()));
        }
        s
    }

    fn map(&self) -> MutexGuard<'_, HashMap<(String, String), Arc<Session>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session of a stream, if one runs.
    pub fn get(&self, app: &str, stream: &str) -> Option<Arc<Session>> {
        self.map()
            .get(&(app.to_owned(), stream.to_owned()))
            .cloned()
    }

    /// The session of a stream, started if none runs (`None` when the server is going away).
    pub fn get_or_start(self: &Arc<Self>, app: &str, stream: &str) -> Option<Arc<Session>> {
        let ctx = self.ctx.upgrade()?;
        if *ctx.shutdown.borrow() {
            return None;
        }
        let key = (app.to_owned(), stream.to_owned());
        let mut map = self.map();
        if let Some(s) = map.get(&key) {
            return Some(s.clone());
        }
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let session = Arc::new(Session {
            tag: base36(started as u64),
            seg: Mutex::new(HlsSegmenter::new(self.cfg.playlist)),
            changed: watch::channel(0).0,
            last_request: Mutex::new(Instant::now()),
            live: false.into(),
        });
        map.insert(key.clone(), session.clone());
        drop(map);
        let id = ctx.next_connection_id();
        let sub = ctx
            .hub
            .subscribe(app, stream, PeerInfo::new("hls").with_connection_id(id));
        info!(conn = id, app = %app, stream = %stream, tag = %session.tag, "HLS session start");
        tokio::spawn(run(
            Arc::downgrade(self),
            key,
            session.clone(),
            sub,
            ctx.shutdown.subscribe(),
        ));
        Some(session)
    }

    /// Number of sessions running.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no session runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn base36(mut n: u64) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// The session task: hub events into the segmenter until idle, closed or shut down.
async fn run(
    sessions: Weak<Sessions>,
    key: (String, String),
    session: Arc<Session>,
    mut sub: crate::hub::Subscriber,
    mut shutdown: watch::Receiver<bool>,
) {
    let adapter = FlvToSamples::new();
    let (idle, always) = match sessions.upgrade() {
        Some(s) => (s.cfg.idle, s.cfg.always),
        None => return,
    };
    let mut events = Vec::new();
    let mut started = false;
    let reason = loop {
        let last = *session
            .last_request
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let idle_at = last + idle;
        tokio::select! {
            r = sub.recv_batch(&mut events) => {
                if r.is_err() {
                    break "subscription closed";
                }
                let wall = SystemTime::now();
                let newest = events.iter().filter_map(|e| match e {
                    PlayerEvent::Frame(f) if !f.sequence_header && f.kind != FrameKind::Data => Some(f.timestamp),
                    _ => None,
                }).reduce(|a, b| if (b.wrapping_sub(a) as i32) > 0 { b } else { a });
                let mut seg = session.lock();
                for ev in events.drain(..) {
                    match ev {
                        PlayerEvent::Publish => {
                            if started {
                                seg.handle_restart();
                            }
                            started = true;
                            session.live.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        PlayerEvent::Unpublish => {
                            seg.end();
                            session.live.store(false, std::sync::atomic::Ordering::Relaxed);
                        }
                        PlayerEvent::Frame(f) => {
                            let kind = match f.kind {
                                FrameKind::Audio => TrackKind::Audio,
                                FrameKind::Video => TrackKind::Video,
                                FrameKind::Data => continue,
                            };
                            // The hub does not keep arrival times: the newest frame of a wake-up
                            // arrived now, older ones (the GOP cache at join) that much earlier.
                            let behind = newest.map_or(0, |n| (n.wrapping_sub(f.timestamp) as i32).max(0));
                            let at = unix_ms(wall).saturating_sub(behind as u64);
                            let item = match adapter.push(kind, f.timestamp, &f.payload) {
                                Ok(Some(item)) => item,
                                Ok(None) => continue,
                                Err(e) => {
                                    debug!(error = %e, "HLS: frame skipped");
                                    continue;
                                }
                            };
                            if let Err(e) = seg.handle_item(item, at) {
                                debug!(error = %e, "HLS: sample skipped");
                            }
                        }
                        PlayerEvent::Metadata(_) | PlayerEvent::Dropped { .. } => {}
                    }
                }
                let version = seg.playlist().version();
                drop(seg);
                session.changed.send_replace(version);
            }
            () = tokio::time::sleep_until(idle_at) => {
                let last = *session.last_request.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= idle && !(always && session.is_live()) {
                    break "idle";
                }
            }
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    break "shutdown";
                }
            }
        }
    };
    if let Some(s) = sessions.upgrade() {
        let mut map = s.map();
        if map.get(&key).is_some_and(|cur| Arc::ptr_eq(cur, &session)) {
            map.remove(&key);
        }
    }
    session.changed.send_replace(u64::MAX);
    info!(app = %key.0, stream = %key.1, tag = %session.tag, reason, "HLS session end");
}

/// With `hls_always`: a session for every published stream, checked twice a second.
async fn always_loop(sessions: Weak<Sessions>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
        let Some(s) = sessions.upgrade() else { return };
        let Some(ctx) = s.ctx.upgrade() else { return };
        for stream in ctx.registry.streams() {
            if s.get(&stream.app, &stream.name).is_none() {
                s.get_or_start(&stream.app, &stream.name);
            }
        }
    }
}
