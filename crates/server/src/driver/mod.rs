//! The connection driver: one tokio task per connection, over any async byte stream (TCP today;
//! TLS, RTMPE and RTMPT sessions feed the same function). It moves bytes between the socket and
//! the sans-IO [`ServerSession`], turns session events into hub operations (publish, play) and
//! hub events into messages for players.
//!
//! Writes are batched: everything the session has queued goes out in vectored writes of up to
//! [`MAX_IOVECS`] buffers. A player's task drains every event the hub has for it before writing,
//! so a burst of messages costs one system call, not one per message or chunk.
//!
//! Reads of a plain-TCP publisher whose streams have no player are spaced out: after a read it
//! raises the socket's receive low watermark (`SO_RCVLOWAT`, see `sockopt.rs`) and reads next
//! on a grid of `unwatched_read_ms` shared by all connections (or at once when a read filled its
//! buffer), so its arriving segments do not wake the reactor one by one. Nothing is lost or
//! reordered, only read later; the first player to arrive lifts it at the next grid slot.
//!
//! Memory per connection is kept to what the connection is doing: buffers, queues and lists that
//! are empty between uses (a player's input buffer, output lists, the join snapshot) are freed,
//! and a player holds about 5 KB (`docs/PERFORMANCE.md`).
//!
//! The parts: this module holds the connection state, the generic I/O loop (TLS, RTMPE, RTMPT)
//! and the timers; `direct` the plain-TCP direct fan-out path; `events` what each session event
//! (connect, publish, play, calls, shared objects) leads to; `media` the publisher's messages into
//! the hub and the hub's events out to a player.

use crate::control::{ClientGuard, Role, StreamGuard, Transport};
use crate::hub::{DirectSink, MediaFrame, PlayerEvent, Publisher, Subscriber};
use crate::shared_objects::SoSender;
use crate::timestamps::TimestampMapper;
use crate::Context;

mod batch;
pub(crate) mod decide;
mod direct;
pub(crate) use direct::try_write_out;
mod events;
pub(crate) mod media;
mod vod;
use bytes::{Buf, Bytes};
pub use direct::serve_tcp_connection;
use sluice_rtmp::message::SharedObjectMessage;
use sluice_rtmp::session::ServerSession;
use std::collections::HashMap;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Most buffers handed to one vectored write (Linux's IOV_MAX is 1024).
pub const MAX_IOVECS: usize = 1024;

/// Hub events a player's delivery list keeps across deliveries; more is released after a burst.
const PENDING_KEEP: usize = 4;

/// Batches of up to this many buffers are written from a stack array (no allocation).
const SMALL_IOVECS: usize = 32;

/// Why a connection ended, for the close log line.
#[derive(Debug)]
enum CloseReason {
    PeerClosed,
    Protocol(String),
    Io(std::io::Error),
    HandshakeTimeout,
    IdleTimeout,
    WriteStalled,
    ConnectRejected,
    CloseCommand,
    TooSlow,
    Shutdown,
    /// `DELETE /api/v1/clients/{id}`.
    Kicked,
}

impl CloseReason {
    /// The kind of close, for summarising repeated warnings (`log.repeat_limit`).
    fn kind(&self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer closed",
            CloseReason::Protocol(_) => "protocol error",
            CloseReason::Io(_) => "I/O error",
            CloseReason::HandshakeTimeout => "handshake timeout",
            CloseReason::IdleTimeout => "idle timeout",
            CloseReason::WriteStalled => "write stalled",
            CloseReason::ConnectRejected => "connect rejected",
            CloseReason::CloseCommand => "close command",
            CloseReason::TooSlow => "player too slow",
            CloseReason::Shutdown => "shutdown",
            CloseReason::Kicked => "kicked",
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::PeerClosed => write!(f, "peer closed the connection"),
            CloseReason::Protocol(e) => write!(f, "protocol error: {e}"),
            CloseReason::Io(e) => write!(f, "I/O error: {e}"),
            CloseReason::HandshakeTimeout => {
                write!(f, "handshake/connect not completed in time")
            }
            CloseReason::IdleTimeout => write!(f, "no data from peer within the idle timeout"),
            CloseReason::WriteStalled => write!(f, "peer stopped reading (write stalled)"),
            CloseReason::ConnectRejected => write!(f, "connect rejected"),
            CloseReason::CloseCommand => write!(f, "client sent close"),
            CloseReason::TooSlow => write!(f, "player too slow"),
            CloseReason::Shutdown => write!(f, "server shutting down"),
            CloseReason::Kicked => write!(f, "kicked through the API"),
        }
    }
}

struct PublishSlot {
    publisher: Publisher,
    /// The stream's entry in the registry (API, metrics), removed with the slot.
    entry: StreamGuard,
    /// The stream's push relays, stopped with the slot.
    _pushes: crate::relay::PushGuard,
    /// The stream's claim in the cluster registry, released with the slot.
    _claim: Option<crate::cluster::ClaimGuard>,
    /// Frames received but not yet handed to the hub (see [`batch`]).
    batch: batch::Batch,
    name: String,
    started: Instant,
    bytes: u64,
    frames: u64,
    logged_video: bool,
    logged_audio: bool,
}

struct PlaySlot {
    stream_id: u32,
    subscriber: Subscriber,
    name: String,
    /// Whether a publisher is live for this player (false while waiting).
    live: bool,
    /// Whether the player has seen a publisher at least once (for PublishNotify).
    started: bool,
    ts: TimestampMapper,
    frames: u64,
    dropped: u64,
    /// Events received from the hub, not yet turned into messages.
    pending: Vec<PlayerEvent>,
}

/// How often a connection checks its handshake and idle timeouts and pings an idle peer.
const TICK: Duration = Duration::from_secs(1);

/// The first read size of every connection (it doubles, up to 64 KiB, while reads fill it).
const MIN_READ_SIZE: usize = 4096;

/// Timers and sizes of one connection's loop (both the task-driven and the direct path).
struct LoopState {
    handshake_timeout: Duration,
    idle_timeout: Duration,
    ping_interval: Duration,
    write_timeout: Duration,
    batch_window: Duration,
    batch_deadline: Option<tokio::time::Instant>,
    /// `unwatched_read_ms`: how long a publisher without players waits between reads.
    unwatched_read: Duration,
    /// No read before this instant (set after a read by a publisher without players).
    read_gate: Option<tokio::time::Instant>,
    /// After the last read: the connection publishes and nobody watches (see
    /// `Connection::is_unwatched_publisher`), worked out once per read.
    unwatched: bool,
    /// The socket's receive low watermark is raised (see [`UNWATCHED_LOW_WATERMARK`]).
    low_watermark: bool,
    /// Setting the low watermark failed once: do without it on this connection.
    no_low_watermark: bool,
    started: Instant,
    last_rx: Instant,
    last_ping: Instant,
    /// Players send little: reads start small and grow (to 64 KiB) only for peers that fill them.
    read_size: usize,
}

impl LoopState {
    fn new(ctx: &Context) -> Self {
        let live = ctx.live.load();
        let settings = &live.settings.server;
        Self {
            handshake_timeout: Duration::from_secs(settings.handshake_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(settings.idle_timeout_secs.max(1)),
            ping_interval: Duration::from_secs(settings.ping_interval_secs),
            write_timeout: ctx
                .hub
                .config()
                .slow_player_timeout
                .max(Duration::from_secs(5)),
            batch_window: Duration::from_millis(settings.fanout_batch_ms),
            batch_deadline: None,
            unwatched_read: Duration::from_millis(settings.unwatched_read_ms),
            read_gate: None,
            unwatched: false,
            low_watermark: false,
            no_low_watermark: false,
            started: Instant::now(),
            last_rx: Instant::now(),
            last_ping: Instant::now(),
            read_size: MIN_READ_SIZE,
        }
    }
}

/// What the loop does after the session consumed a read.
enum AfterRead {
    Go,
    Close(CloseReason),
    /// Send whatever the session queued (e.g. an `_error`), then close.
    FlushClose(CloseReason),
}

impl PublishSlot {
    fn flush(&mut self) {
        if !self.batch.is_empty() {
            // The hub writes to caught-up players in place (direct.rs): this is the fan-out
            // time the next batch's hold makes room for.
            let start = std::time::Instant::now();
            self.publisher.send_many(self.batch.take());
            self.batch.record_fanout(start.elapsed());
        }
    }

    /// Add a frame to the batch (`load_hold`: what the load rule asks for); hand the batch to
    /// the hub when it is complete.
    fn push(&mut self, frame: MediaFrame, load_hold: Duration) {
        if self
            .batch
            .push(frame, tokio::time::Instant::now(), load_hold)
        {
            self.flush();
        }
    }
}

/// The next shared object update for this connection, or pending forever before it uses one.
async fn recv_so(
    rx: &mut Option<mpsc::Receiver<SharedObjectMessage>>,
) -> Option<SharedObjectMessage> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// Sleep until `deadline`, or forever when there is none.
async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Split `name?query` into the stream key and the query.
pub fn split_query(name: &str) -> (&str, &str) {
    match name.split_once('?') {
        Some((k, q)) => (k, q),
        None => (name, ""),
    }
}

/// The application namespace from connect's `app` (query removed, slashes trimmed).
pub fn app_key(app: &str) -> String {
    let (app, _) = split_query(app);
    app.trim_matches('/').to_owned()
}

/// Drive one connection to completion; `transport` is how it reached us (RTMPS, RTMPT, ...).
pub async fn serve_connection<S>(io: S, peer: SocketAddr, ctx: Arc<Context>, transport: Transport)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut conn = Connection::new(peer, ctx, transport);
    let reason = conn.run(io).await;
    conn.finish(&reason);
}

struct Connection {
    id: u64,
    peer: SocketAddr,
    ctx: Arc<Context>,
    session: ServerSession,
    app: String,
    publishers: HashMap<u32, PublishSlot>,
    players: Vec<PlaySlot>,
    out: Vec<Bytes>,
    bytes_out: u64,
    warned_ignored: bool,
    /// Set on plain-TCP connections: attached to each new subscriber (see [`serve_tcp_connection`]).
    direct: Option<Weak<dyn DirectSink>>,
    /// A write error met by a sink, for the task to close with.
    write_error: Option<std::io::Error>,
    /// Where shared object updates for this connection are sent (once it uses one).
    so_tx: Option<SoSender>,
    /// The receiving end, until the connection loop takes it.
    so_rx: Option<mpsc::Receiver<SharedObjectMessage>>,
    /// This connection in the registry (API, metrics, kicks).
    client: ClientGuard,
    /// The connect's tcUrl, and its query (or the app's), for the app's requests.
    tc_url: String,
    connect_param: String,
    /// Requests whose decision takes a hook's round trip.
    decisions: Vec<decide::Waiting>,
    /// The peer announced itself as one of our relays in `connect` (its plays never open
    /// a pull: loop prevention, see [`crate::relay`]).
    relay_peer: bool,
    /// Plays served from files ([`crate::vod`]).
    vod: crate::vod::VodPlays,
}

impl Connection {
    /// A connection that has received nothing yet.
    fn new(peer: SocketAddr, ctx: Arc<Context>, transport: Transport) -> Connection {
        let id = ctx.next_connection_id();
        let client = ctx.registry.add_client(id, peer, transport);
        ctx.metrics.connection_opened(transport);
        Connection {
            id,
            client,
            tc_url: String::new(),
            connect_param: String::new(),
            decisions: Vec::new(),
            relay_peer: false,
            vod: crate::vod::VodPlays::default(),
            peer,
            session: ServerSession::new(
                ctx.live.load().session_config.clone(),
                &mut rand::thread_rng(),
            ),
            ctx,
            app: String::new(),
            publishers: HashMap::new(),
            players: Vec::new(),
            out: Vec::with_capacity(16),
            bytes_out: 0,
            warned_ignored: false,
            so_tx: None,
            so_rx: None,
            direct: None,
            write_error: None,
        }
    }

    async fn run<S>(&mut self, mut io: S) -> CloseReason
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let mut lp = LoopState::new(&self.ctx);
        let write_timeout = lp.write_timeout;
        let mut shutdown_rx = self.ctx.shutdown.subscribe();
        let shutdown_flag = shutdown_rx.clone();
        // One long-lived future: re-creating `changed()` on every loop turn costs two lock
        // round trips per wake-up per connection.
        let mut shutdown = std::pin::pin!(async move {
            while !*shutdown_rx.borrow_and_update() {
                if shutdown_rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        });
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut so_rx = None;
        let entry = self.client.entry().clone();
        let mut kicked = std::pin::pin!(entry.notify.notified());
        let vod_wake = self.vod.wake();

        loop {
            if let Err(r) = self.flush(&mut io, write_timeout).await {
                return r;
            }
            if self.session.is_closed() {
                return CloseReason::ConnectRejected;
            }
            if *shutdown_flag.borrow() {
                self.on_shutdown();
                let _ = self.flush(&mut io, Duration::from_secs(2)).await;
                return CloseReason::Shutdown;
            }
            // Read straight into the session's input buffer (no copy on ingest).
            self.reserve_read(lp.read_size);
            if so_rx.is_none() {
                so_rx = self.so_rx.take();
            }
            tokio::select! {
                biased;
                _ = shutdown.as_mut() => {
                    continue;
                }
                Some(m) = recv_so(&mut so_rx) => {
                    self.send_shared_object(&m, false);
                }
                _ = kicked.as_mut() => {
                    if entry.is_kicked() {
                        return CloseReason::Kicked;
                    }
                    kicked.set(entry.notify.notified());
                }
                (i, d) = decide::next_decision(&mut self.decisions) => {
                    let w = self.decisions.swap_remove(i);
                    if let Some(r) = self.on_waited_decision(w, d) {
                        return r;
                    }
                }
                r = io.read_buf(self.session.recv_buffer()) => {
                    match r {
                        Ok(0) => return CloseReason::PeerClosed,
                        Ok(n) => match self.after_read(n, &mut lp) {
                            AfterRead::Go => {}
                            AfterRead::Close(r) => return r,
                            AfterRead::FlushClose(r) => {
                                let _ = self.flush(&mut io, Duration::from_secs(1)).await;
                                return r;
                            }
                        },
                        Err(e) => return CloseReason::Io(e),
                    }
                }
                _ = sleep_until_opt(lp.batch_deadline) => {
                    // Everything due by the deadline that fired goes (the timer is re-armed later).
                    let due = lp.batch_deadline.take().unwrap_or_else(tokio::time::Instant::now);
                    let now = tokio::time::Instant::now().max(due);
                    lp.batch_deadline = self.flush_due(now, lp.batch_window);
                }
                r = recv_players(&mut self.players) => {
                    match r {
                        Ok(index) => {
                            self.deliver(index);
                            // Other players of this connection may have data too.
                            for i in 0..self.players.len() {
                                if i != index {
                                    self.deliver(i);
                                }
                            }
                        }
                        Err(closed) => {
                            warn!(conn = self.id, peer = %self.peer, reason = %closed, "player closed by hub");
                            return CloseReason::TooSlow;
                        }
                    }
                }
                _ = tick.tick() => {
                    if let Some(r) = self.on_tick(&mut lp) {
                        return r;
                    }
                }
                _ = vod_wake.notified() => self.pump_vod(),
            }
        }
    }

    /// Write everything the session has queued.
    async fn flush<S>(&mut self, io: &mut S, timeout: Duration) -> Result<(), CloseReason>
    where
        S: AsyncWrite + Unpin,
    {
        self.session.drain_transmit(&mut self.out);
        if self.out.is_empty() {
            return Ok(());
        }
        let total: usize = self.out.iter().map(Bytes::len).sum();
        let res = {
            let mut write = std::pin::pin!(write_all_vectored(io, &mut self.out));
            // Almost always the socket takes everything at once: try without arming a timer
            // (a timer per write is measurable with 1000 players), and only arm the stall
            // timeout when the peer's window is full.
            let first = {
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                std::future::Future::poll(write.as_mut(), &mut cx)
            };
            match first {
                std::task::Poll::Ready(r) => Ok(r),
                std::task::Poll::Pending => tokio::time::timeout(timeout, write).await,
            }
        };
        self.out.clear();
        match res {
            Ok(Ok(())) => {
                self.bytes_out += total as u64;
                Ok(())
            }
            Ok(Err(e)) => Err(CloseReason::Io(e)),
            Err(_) => Err(CloseReason::WriteStalled),
        }
    }

    /// Free the input buffer (and the session's other idle queues) of a peer that sends little
    /// (a player: acknowledgements and the odd command) once everything in it was consumed,
    /// instead of keeping 4 KiB per player for the connection's life. The next read allocates again; peers that fill their reads (publishers)
    /// keep theirs.
    fn release_idle_read_buffer(&mut self, lp: &LoopState) {
        let rbuf = self.session.recv_buffer();
        if rbuf.is_empty() && lp.read_size <= MIN_READ_SIZE {
            self.session.release_idle_memory();
        }
    }

    /// Make room for one read of `read_size` bytes in the session's input buffer.
    fn reserve_read(&mut self, read_size: usize) {
        let rbuf = self.session.recv_buffer();
        if rbuf.capacity() - rbuf.len() < read_size {
            rbuf.reserve(read_size);
        }
    }

    /// Handle `n` bytes just read into the session's input buffer.
    fn after_read(&mut self, n: usize, lp: &mut LoopState) -> AfterRead {
        lp.last_rx = Instant::now();
        let res = self.session.handle_received(n);
        if n >= lp.read_size && lp.read_size < 64 * 1024 {
            lp.read_size *= 2;
        }
        if let Err(e) = res {
            self.drain_session_events();
            return AfterRead::FlushClose(CloseReason::Protocol(e.to_string()));
        }
        let closing = self.drain_session_events();
        lp.unwatched = self.is_unwatched_publisher();
        if closing.is_some() || lp.unwatched {
            // Nobody to batch for when no player watches: hand frames on at once (no timer).
            self.flush_batches();
            lp.batch_deadline = None;
        } else {
            lp.batch_deadline = self.flush_due(tokio::time::Instant::now(), lp.batch_window);
        }
        match closing {
            Some(r) => AfterRead::Close(r),
            None => AfterRead::Go,
        }
    }

    /// Once a second: handshake and idle timeouts, pings to idle peers.
    fn on_tick(&mut self, lp: &mut LoopState) -> Option<CloseReason> {
        let now = Instant::now();
        if !self.session.is_connected() && now - lp.started > lp.handshake_timeout {
            self.ctx.metrics.handshake_failed("timeout");
            return Some(CloseReason::HandshakeTimeout);
        }
        self.store_counters();
        if now - lp.last_rx > lp.idle_timeout {
            return Some(CloseReason::IdleTimeout);
        }
        if !lp.ping_interval.is_zero()
            && self.session.is_connected()
            && now - lp.last_rx >= lp.ping_interval
            && now - lp.last_ping >= lp.ping_interval
        {
            lp.last_ping = now;
            let ms = now.duration_since(lp.started).as_millis() as u32;
            self.session.send_ping(ms);
        }
        None
    }

    /// This connection publishes and none of its streams has a player (it plays nothing
    /// itself either): its data can wait (see `unwatched_read_ms`).
    fn is_unwatched_publisher(&self) -> bool {
        !self.publishers.is_empty()
            && self.players.is_empty()
            && self
                .publishers
                .values()
                .all(|p| p.publisher.player_count() == 0)
    }

    /// Hand the byte counters to the registry (the API and metrics read them).
    fn store_counters(&self) {
        self.client
            .store_bytes(self.session.bytes_received(), self.bytes_out);
        for slot in self.publishers.values() {
            slot.entry
                .bytes_in
                .store(slot.bytes, std::sync::atomic::Ordering::Relaxed);
            slot.entry.players.store(
                slot.publisher.player_count() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
    }

    /// What the registry shows this connection doing.
    fn update_role(&self) {
        if let Some(slot) = self.publishers.values().next() {
            self.client
                .set_state(&self.app, &slot.name, Role::Publisher);
        } else if let Some(p) = self.players.first() {
            self.client.set_state(&self.app, &p.name, Role::Player);
        } else if let Some(name) = self.vod.first_name() {
            self.client.set_state(&self.app, name, Role::Player);
        } else {
            self.client.set_state(&self.app, "", Role::Idle);
        }
    }

    /// Hand to the hub every batch due by `now` (`audio_window`: `fanout_batch_ms`); the
    /// deadline of the earliest batch left.
    fn flush_due(
        &mut self,
        now: tokio::time::Instant,
        audio_window: Duration,
    ) -> Option<tokio::time::Instant> {
        let mut next = None;
        for slot in self.publishers.values_mut() {
            match slot.batch.deadline(audio_window) {
                Some(at) if at <= now => slot.flush(),
                Some(at) => next = Some(next.map_or(at, |n: tokio::time::Instant| n.min(at))),
                None => {}
            }
        }
        next
    }

    /// Hand every batched frame to the hub: one wake-up per player per batch.
    fn flush_batches(&mut self) {
        for slot in self.publishers.values_mut() {
            slot.flush();
        }
    }

    fn drain_session_events(&mut self) -> Option<CloseReason> {
        while let Some(ev) = self.session.poll_event() {
            if let Some(r) = self.on_session_event(ev) {
                return Some(r);
            }
        }
        None
    }

    fn on_shutdown(&mut self) {
        for p in &self.players {
            if p.live {
                self.session.notify_unpublish(p.stream_id, &p.name);
            }
        }
    }

    fn log_unpublish(&self, slot: &PublishSlot, what: &str) {
        info!(
            conn = self.id,
            peer = %self.peer,
            app = %self.app,
            stream = %slot.name,
            bytes = slot.bytes,
            frames = slot.frames,
            secs = slot.started.elapsed().as_secs_f32(),
            "{what}"
        );
    }

    fn send_shared_object(&mut self, msg: &SharedObjectMessage, amf3: bool) {
        if let Err(e) = self.session.send_shared_object(msg, amf3) {
            warn!(conn = self.id, name = %msg.name, error = %e, "shared object message not sent");
        }
    }

    fn finish(&mut self, reason: &CloseReason) {
        self.store_counters();
        self.ctx.metrics.connection_closed(self.client.transport());
        if matches!(reason, CloseReason::Protocol(_)) && !self.session.is_connected() {
            self.ctx.metrics.handshake_failed("protocol");
        }
        if self.so_tx.take().is_some() {
            self.ctx.shared_objects.release_connection(self.id);
        }
        for (_, mut slot) in std::mem::take(&mut self.publishers) {
            // Whatever the publisher sent before the connection ended still reaches players.
            slot.flush();
            self.log_unpublish(&slot, "unpublish (connection closed)");
            self.notify_end(crate::app::Action::Publish, &slot.name);
        }
        for p in std::mem::take(&mut self.players) {
            self.notify_end(crate::app::Action::Play, &p.name);
        }
        let level_warn = matches!(
            reason,
            CloseReason::Protocol(_)
                | CloseReason::HandshakeTimeout
                | CloseReason::WriteStalled
                | CloseReason::TooSlow
        );
        if level_warn && self.ctx.log_throttle.allow(reason.kind()) {
            warn!(conn = self.id, peer = %self.peer, app = %self.app, bytes_in = self.session.bytes_received(), bytes_out = self.bytes_out, reason = %reason, "close");
        } else if !level_warn {
            info!(conn = self.id, peer = %self.peer, app = %self.app, bytes_in = self.session.bytes_received(), bytes_out = self.bytes_out, reason = %reason, "close");
        }
    }
}

/// Wait until one of the players has events; returns its index. Pending forever with no players.
async fn recv_players(players: &mut [PlaySlot]) -> Result<usize, crate::hub::SubscriberClosed> {
    match players.len() {
        0 => std::future::pending().await,
        1 => {
            let p = &mut players[0];
            p.subscriber.recv_batch(&mut p.pending).await?;
            Ok(0)
        }
        _ => {
            // Rare: several plays on one connection. Poll each; recv_batch is cancel-safe.
            let futs = players
                .iter_mut()
                .map(|p| Box::pin(async move { p.subscriber.recv_batch(&mut p.pending).await }));
            let (res, index, _) = futures_select_all(futs).await;
            res?;
            Ok(index)
        }
    }
}

async fn futures_select_all<F, T>(
    futs: impl Iterator<Item = std::pin::Pin<Box<F>>>,
) -> (T, usize, ())
where
    F: std::future::Future<Output = T>,
{
    let mut futs: Vec<_> = futs.collect();
    std::future::poll_fn(move |cx| {
        for (i, f) in futs.iter_mut().enumerate() {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
                return std::task::Poll::Ready((v, i, ()));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Write every buffer, in order, with as few vectored writes as the socket allows.
pub async fn write_all_vectored<S>(io: &mut S, bufs: &mut [Bytes]) -> std::io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let mut start = 0;
    while start < bufs.len() {
        let end = (start + MAX_IOVECS).min(bufs.len());
        let mut n = if end - start <= SMALL_IOVECS {
            let mut arr = [IoSlice::new(&[]); SMALL_IOVECS];
            for (slot, b) in arr.iter_mut().zip(&bufs[start..end]) {
                *slot = IoSlice::new(b);
            }
            io.write_vectored(&arr[..end - start]).await?
        } else {
            let slices: Vec<IoSlice<'_>> =
                bufs[start..end].iter().map(|b| IoSlice::new(b)).collect();
            io.write_vectored(&slices).await?
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 && start < bufs.len() {
            let len = bufs[start].len();
            if n >= len {
                n -= len;
                start += 1;
            } else {
                bufs[start].advance(n);
                n = 0;
            }
        }
    }
    io.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_query_and_app_key() {
        assert_eq!(split_query("cam?token=1"), ("cam", "token=1"));
        assert_eq!(split_query("cam"), ("cam", ""));
        assert_eq!(app_key("/live/?x=1"), "live");
    }
}
