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

use crate::hub::{DirectSink, FrameKind, MediaFrame, PeerInfo, PlayerEvent, Publisher, Subscriber};
use crate::shared_objects::{SoSender, QUEUE_PER_CONNECTION};
use crate::timestamps::{TimestampMapper, Track};
use crate::Context;
use bytes::{Buf, Bytes};
use sluice_amf::{Amf0Decoder, Amf0Value};
use sluice_rtmp::command::{codes, ConnectResponse};
use sluice_rtmp::message::SharedObjectMessage;
use sluice_rtmp::session::{ServerEvent, ServerSession};
use sluice_rtmp::Timestamp;
use std::collections::HashMap;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, Notify};
use tracing::{debug, info, warn};

/// Most buffers handed to one vectored write (Linux's IOV_MAX is 1024).
pub const MAX_IOVECS: usize = 1024;

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
        }
    }
}

struct PublishSlot {
    publisher: Publisher,
    /// Frames received but not yet handed to the hub (see `fanout_batch_ms`).
    batch: Vec<MediaFrame>,
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
        let settings = &ctx.settings.server;
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
            self.publisher.send_many(self.batch.drain(..));
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

/// Drive one plain-TCP connection whose players are written to from the publisher's task.
///
/// `prefix` holds bytes already read from the socket (by proxy detection); they are fed to the
/// session first. The connection's state lives behind a mutex shared with a [`DirectSink`] that
/// each of its subscribers attaches to its stream: after every append the publisher's task
/// `try_lock`s the state and, when nothing is pending for this socket, serialises the new
/// messages and writes them with one non-blocking vectored send. When the state is busy, the
/// socket is full or the subscriber was closed, the sink wakes this task instead, which then
/// works like the generic loop (waiting for the socket with the stall timeout). Bytes are written
/// only under the lock and, while some are pending, only by this task, so the order on the wire
/// is the order of the session's queue.
pub async fn serve_tcp_connection(
    tcp: tokio::net::TcpStream,
    prefix: Bytes,
    peer: SocketAddr,
    ctx: Arc<Context>,
) {
    let (rd, wr) = tcp.into_split();
    let conn = Connection::new(peer, ctx);
    let shared = Arc::new(Shared {
        conn: Mutex::new(conn),
        wake: Notify::new(),
        writer: wr,
    });
    let sink: Weak<dyn DirectSink> = Arc::downgrade(&shared) as Weak<dyn DirectSink>;
    shared.lock().direct = Some(sink);
    let reason = run_direct(&shared, &rd, prefix).await;
    let mut conn = shared.lock();
    conn.direct = None;
    conn.finish(&reason);
}

/// A direct connection's state, shared between its task and the publishers' sinks.
struct Shared {
    conn: Mutex<Connection>,
    /// Wakes the connection's task (a stored permit is never lost).
    wake: Notify,
    writer: OwnedWriteHalf,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The hub holds each direct connection's state weakly (the connection owns its subscribers).
impl DirectSink for Shared {
    fn on_append(&self) {
        let sh = self;
        let Ok(mut guard) = sh.conn.try_lock() else {
            // The task is busy with this connection (or it is this very task): it looks again.
            sh.wake.notify_one();
            return;
        };
        let conn = &mut *guard;
        if !conn.out.is_empty() || conn.write_error.is_some() {
            // The task is waiting for room in the socket: only it writes until that is sent.
            sh.wake.notify_one();
            return;
        }
        for i in 0..conn.players.len() {
            conn.deliver(i);
        }
        conn.session.drain_transmit(&mut conn.out);
        let written = try_write_out(&sh.writer, &mut conn.out);
        let closed = conn
            .players
            .iter()
            .any(|p| p.subscriber.closed_reason().is_some());
        let failed = match written {
            Ok(n) => {
                conn.bytes_out += n as u64;
                false
            }
            Err(e) => {
                // The task reports it on its next flush and closes.
                conn.out.clear();
                conn.write_error = Some(e);
                true
            }
        };
        if closed || failed || !conn.out.is_empty() {
            sh.wake.notify_one();
        }
    }
}

/// The direct connection's loop: like [`Connection::run`], with the state locked only between
/// awaits and players waiting on the connection's own wake-up instead of the hub's lists.
async fn run_direct(sh: &Shared, rd: &OwnedReadHalf, prefix: Bytes) -> CloseReason {
    let mut lp = LoopState::new(&sh.lock().ctx);
    let mut shutdown_rx = sh.lock().ctx.shutdown.subscribe();
    let shutdown_flag = shutdown_rx.clone();
    let mut shutdown = std::pin::pin!(async move {
        while !*shutdown_rx.borrow_and_update() {
            if shutdown_rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    });
    // One timer for the once-a-second checks, the batch deadline and the read gate, re-armed
    // to the earliest of them: one boxed `Sleep` per connection instead of an interval plus a
    // fresh timer per deadline and loop turn.
    let mut next_tick = tokio::time::Instant::now() + TICK;
    let mut timer = Box::pin(tokio::time::sleep_until(next_tick));
    let mut so_rx = None;
    if !prefix.is_empty() {
        let after = {
            let mut conn = sh.lock();
            conn.session.recv_buffer().extend_from_slice(&prefix);
            conn.after_read(prefix.len(), &mut lp)
        };
        // The proxy-detection buffer is not needed any more: free it now, not at the end.
        drop(prefix);
        match after {
            AfterRead::Go => {}
            AfterRead::Close(r) => return r,
            AfterRead::FlushClose(r) => {
                let _ = flush_direct(sh, Duration::from_secs(1)).await;
                return r;
            }
        }
    }

    loop {
        if let Err(r) = flush_direct(sh, lp.write_timeout).await {
            return r;
        }
        let shutting_down = {
            let mut conn = sh.lock();
            if conn.session.is_closed() {
                return CloseReason::ConnectRejected;
            }
            let down = *shutdown_flag.borrow();
            if down {
                conn.on_shutdown();
            }
            down
        };
        if shutting_down {
            let _ = flush_direct(sh, Duration::from_secs(2)).await;
            return CloseReason::Shutdown;
        }
        if so_rx.is_none() {
            so_rx = sh.lock().so_rx.take();
        }
        let wake_at = [lp.batch_deadline, lp.read_gate]
            .into_iter()
            .flatten()
            .fold(next_tick, std::cmp::min);
        if timer.deadline() != wake_at {
            timer.as_mut().reset(wake_at);
        }
        tokio::select! {
            biased;
            _ = shutdown.as_mut() => {
                continue;
            }
            Some(m) = recv_so(&mut so_rx) => {
                sh.lock().send_shared_object(&m, false);
            }
            _ = timer.as_mut() => {
                // Everything due by the deadline that fired is handled, so the timer is always
                // re-armed later than it was (never polled again while already elapsed).
                let now = tokio::time::Instant::now().max(timer.deadline());
                if lp.read_gate.is_some_and(|at| at <= now) {
                    // Time to read what came meanwhile: readable as soon as anything is there.
                    lp.read_gate = None;
                    set_low_watermark(rd, &mut lp, false);
                }
                if lp.batch_deadline.is_some_and(|at| at <= now) {
                    lp.batch_deadline = None;
                    sh.lock().flush_batches();
                }
                if next_tick <= now {
                    next_tick = now + TICK;
                    if let Some(r) = sh.lock().on_tick(&mut lp) {
                        return r;
                    }
                }
            }
            r = rd.readable(), if lp.read_gate.is_none() => {
                if let Err(e) = r {
                    return CloseReason::Io(e);
                }
                let after = {
                    let mut conn = sh.lock();
                    conn.reserve_read(lp.read_size);
                    let after = match rd.try_read_buf(conn.session.recv_buffer()) {
                        Ok(0) => return CloseReason::PeerClosed,
                        Ok(n) => {
                            let filled = n >= lp.read_size;
                            let after = conn.after_read(n, &mut lp);
                            // A publisher nobody watches is read in larger, rarer gulps,
                            // unless it sends faster than one buffer per gap.
                            if !filled
                                && !lp.unwatched_read.is_zero()
                                && lp.unwatched
                            {
                                lp.read_gate = Some(next_read_slot(lp.unwatched_read));
                                set_low_watermark(rd, &mut lp, true);
                                // Nothing to keep between gulps: 200 idle 64 KiB buffers
                                // would outweigh everything else an ingest server holds.
                                conn.session.release_idle_memory();
                            } else {
                                set_low_watermark(rd, &mut lp, false);
                            }
                            after
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => AfterRead::Go,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => AfterRead::Go,
                        Err(e) => return CloseReason::Io(e),
                    };
                    conn.release_idle_read_buffer(&lp);
                    after
                };
                match after {
                    AfterRead::Go => {}
                    AfterRead::Close(r) => return r,
                    AfterRead::FlushClose(r) => {
                        let _ = flush_direct(sh, Duration::from_secs(1)).await;
                        return r;
                    }
                }
            }
            _ = sh.wake.notified() => {
                let mut conn = sh.lock();
                for i in 0..conn.players.len() {
                    conn.deliver(i);
                }
                if let Some(closed) = conn.players.iter().find_map(|p| p.subscriber.closed_reason()) {
                    warn!(conn = conn.id, peer = %conn.peer, reason = %closed, "player closed by hub");
                    return CloseReason::TooSlow;
                }
            }
        }
    }
}

/// The receive low watermark of a publisher nobody watches, between its reads: below this
/// many buffered bytes its socket does not wake the reactor (see [`crate::sockopt`]), so the
/// timer of `unwatched_read_ms` is what wakes it. A faster publisher reaches it first and is read
/// at once. The kernel caps it at half the receive buffer.
const UNWATCHED_LOW_WATERMARK: u32 = 64 * 1024;

/// Raise (`high`) or restore the socket's receive low watermark, if not already so. A failure
/// (not expected on Linux TCP sockets) is logged once and the connection goes on without it.
fn set_low_watermark(rd: &OwnedReadHalf, lp: &mut LoopState, high: bool) {
    if lp.low_watermark == high || lp.no_low_watermark {
        return;
    }
    let tcp: &tokio::net::TcpStream = rd.as_ref();
    let bytes = if high { UNWATCHED_LOW_WATERMARK } else { 1 };
    match crate::sockopt::set_recv_low_watermark(tcp, bytes) {
        Ok(()) => lp.low_watermark = high,
        Err(e) => {
            debug!(error = %e, "SO_RCVLOWAT refused; unwatched reads wake on every segment");
            lp.no_low_watermark = true;
            lp.low_watermark = false;
        }
    }
}

/// When a publisher nobody watches reads next: at least half of `period` from now, on a grid of
/// `period` shared by every connection, so that their timers fire together (one reactor turn
/// for all of them) instead of spread over the period.
fn next_read_slot(period: Duration) -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
    grid_slot(epoch, tokio::time::Instant::now(), period)
}

/// The first multiple of `period` after `epoch` that is at least `period / 2` after `now`.
fn grid_slot(
    epoch: tokio::time::Instant,
    now: tokio::time::Instant,
    period: Duration,
) -> tokio::time::Instant {
    let p = u64::try_from(period.as_millis()).unwrap_or(u64::MAX).max(1);
    let earliest = (now + period / 2).saturating_duration_since(epoch);
    let earliest_ms = u64::try_from(earliest.as_millis()).unwrap_or(u64::MAX);
    let slots = earliest_ms / p + 1;
    epoch + Duration::from_millis(slots.saturating_mul(p))
}

/// Write everything the session has queued (and what a sink left), waiting for room in the
/// socket at most `timeout` in all.
///
/// Almost always the socket takes everything at once, so that is tried first without building a
/// future; the waiting part is boxed on its own (only while a player's socket is full), which
/// keeps every connection's long-lived task smaller.
async fn flush_direct(sh: &Shared, timeout: Duration) -> Result<(), CloseReason> {
    if try_flush_direct(sh)? {
        return Ok(());
    }
    Box::pin(wait_flush_direct(sh, timeout)).await
}

/// The waiting part of [`flush_direct`].
async fn wait_flush_direct(sh: &Shared, timeout: Duration) -> Result<(), CloseReason> {
    let at = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(at, sh.writer.writable()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(CloseReason::Io(e)),
            Err(_) => return Err(CloseReason::WriteStalled),
        }
        if try_flush_direct(sh)? {
            return Ok(());
        }
    }
}

/// One non-blocking attempt at [`flush_direct`]: `Ok(true)` once nothing is left to write.
fn try_flush_direct(sh: &Shared) -> Result<bool, CloseReason> {
    let mut guard = sh.lock();
    let conn = &mut *guard;
    if let Some(e) = conn.write_error.take() {
        return Err(CloseReason::Io(e));
    }
    conn.session.drain_transmit(&mut conn.out);
    match try_write_out(&sh.writer, &mut conn.out) {
        Ok(n) => conn.bytes_out += n as u64,
        Err(e) => {
            conn.out.clear();
            return Err(CloseReason::Io(e));
        }
    }
    Ok(conn.out.is_empty())
}

/// Write as much of `out` as the socket takes now, without waiting; drops what was written from
/// the front of `out` and returns the byte count.
fn try_write_out(w: &OwnedWriteHalf, out: &mut Vec<Bytes>) -> std::io::Result<usize> {
    let mut total = 0;
    while !out.is_empty() {
        let count = out.len().min(MAX_IOVECS);
        let want: usize = out[..count].iter().map(Bytes::len).sum();
        let res = if count <= SMALL_IOVECS {
            let mut arr = [IoSlice::new(&[]); SMALL_IOVECS];
            for (slot, b) in arr.iter_mut().zip(&out[..count]) {
                *slot = IoSlice::new(b);
            }
            send_now(w, &arr[..count])
        } else {
            let slices: Vec<IoSlice<'_>> = out[..count].iter().map(|b| IoSlice::new(b)).collect();
            send_now(w, &slices)
        };
        let mut n = match res {
            Ok(0) if want > 0 => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n;
        let full = n >= want;
        let mut done = 0;
        while done < out.len() {
            let len = out[done].len();
            if n >= len {
                n -= len;
                done += 1;
            } else {
                out[done].advance(n);
                break;
            }
        }
        out.drain(..done);
        if !full {
            // The socket took less than offered: it is full.
            break;
        }
    }
    if out.is_empty() {
        // Between writes a player holds no list: 1000 idle lists would cost more memory than
        // allocating one per write costs time.
        *out = Vec::new();
    }
    Ok(total)
}

/// Hub events a player's delivery list keeps across deliveries; more is released after a burst.
const PENDING_KEEP: usize = 4;

/// One non-blocking vectored send. It goes to the socket first, without tokio's readiness check
/// (one cache line less to load per player and write on the fan-out path); only when the socket
/// is full is the send repeated through tokio, which then clears its readiness so that
/// `writable()` waits for room instead of returning at once.
fn send_now(w: &OwnedWriteHalf, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
    let tcp: &tokio::net::TcpStream = w.as_ref();
    match socket2::SockRef::from(tcp).send_vectored(bufs) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => w.try_write_vectored(bufs),
        r => r,
    }
}

/// Drive one connection to completion.
pub async fn serve_connection<S>(io: S, peer: SocketAddr, ctx: Arc<Context>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut conn = Connection::new(peer, ctx);
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
}

impl Connection {
    /// A connection that has received nothing yet.
    fn new(peer: SocketAddr, ctx: Arc<Context>) -> Connection {
        Connection {
            id: ctx.next_connection_id(),
            peer,
            session: ServerSession::new(ctx.session_config.clone(), &mut rand::thread_rng()),
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
                    lp.batch_deadline = None;
                    self.flush_batches();
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
        if lp.batch_window.is_zero() || closing.is_some() || lp.unwatched {
            // Nobody to batch for when no player watches: hand frames on at once (no timer).
            self.flush_batches();
        } else if !self.has_batched() {
            lp.batch_deadline = None;
        } else if lp.batch_deadline.is_none() {
            lp.batch_deadline = Some(tokio::time::Instant::now() + lp.batch_window);
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
            return Some(CloseReason::HandshakeTimeout);
        }
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

    fn has_batched(&self) -> bool {
        self.publishers.values().any(|p| !p.batch.is_empty())
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

    fn on_session_event(&mut self, ev: ServerEvent) -> Option<CloseReason> {
        match ev {
            ServerEvent::HandshakeComplete(kind) => {
                debug!(conn = self.id, peer = %self.peer, ?kind, "handshake complete");
            }
            ServerEvent::ConnectRequest { request, command } => {
                self.app = app_key(&command.app);
                info!(
                    conn = self.id,
                    peer = %self.peer,
                    app = %self.app,
                    tc_url = command.tc_url.as_deref().unwrap_or(""),
                    flash_ver = command.flash_ver.as_deref().unwrap_or(""),
                    object_encoding = command.object_encoding,
                    "connect"
                );
                if self.app.is_empty() {
                    let _ = self
                        .session
                        .reject_connect(request, "an application name is required");
                    return Some(CloseReason::ConnectRejected);
                }
                let mut resp = ConnectResponse {
                    extra_properties: ServerSession::enhanced_rtmp_properties(&command),
                    ..ConnectResponse::default()
                };
                resp.extra_information.insert(
                    "data",
                    sluice_amf::Amf0Object::new().with("version", "3,5,7,7009"),
                );
                if let Err(e) = self.session.accept_connect(request, resp) {
                    return Some(CloseReason::Protocol(e.to_string()));
                }
            }
            ServerEvent::StreamCreated { stream_id } => {
                debug!(conn = self.id, stream_id, "createStream");
            }
            ServerEvent::FmleCommand { command, name } => {
                debug!(conn = self.id, command, name = %name, "FMLE command");
            }
            ServerEvent::PublishRequest {
                request,
                stream_id,
                name,
                mode,
            } => {
                let (key, _query) = split_query(&name);
                let key = key.to_owned();
                let info = PeerInfo::new(self.peer.to_string()).with_connection_id(self.id);
                match self.ctx.hub.publish(&self.app, &key, info) {
                    Ok(publisher) => {
                        let _ = self.session.accept_publish(request);
                        info!(conn = self.id, peer = %self.peer, app = %self.app, stream = %key, mode = mode.as_str(), "publish");
                        self.publishers.insert(
                            stream_id,
                            PublishSlot {
                                publisher,
                                batch: Vec::with_capacity(64),
                                name: key,
                                started: Instant::now(),
                                bytes: 0,
                                frames: 0,
                                logged_video: false,
                                logged_audio: false,
                            },
                        );
                    }
                    Err(e) => {
                        warn!(conn = self.id, peer = %self.peer, app = %self.app, stream = %key, error = %e, "publish refused");
                        let code = match e {
                            crate::hub::PublishError::AlreadyPublishing => codes::PUBLISH_BAD_NAME,
                            crate::hub::PublishError::ShutDown => codes::PUBLISH_DENIED,
                        };
                        let _ = self.session.reject_publish(request, code, &e.to_string());
                    }
                }
            }
            ServerEvent::PlayRequest {
                request,
                stream_id,
                args,
                play2,
            } => {
                let (key, _) = split_query(&args.name);
                let key = key.to_owned();
                self.players.retain(|p| p.stream_id != stream_id);
                let live = self.ctx.hub.is_live(&self.app, &key);
                let info = PeerInfo::new(self.peer.to_string()).with_connection_id(self.id);
                let mut subscriber = self.ctx.hub.subscribe(&self.app, &key, info);
                if let Some(sink) = &self.direct {
                    subscriber.attach_direct(Weak::clone(sink));
                }
                let _ = self.session.accept_play(request);
                info!(conn = self.id, peer = %self.peer, app = %self.app, stream = %key, live, play2, "play");
                // Almost every connection plays one stream: no spare slots.
                self.players.reserve_exact(1);
                self.players.push(PlaySlot {
                    stream_id,
                    subscriber,
                    name: key,
                    live: false,
                    started: false,
                    ts: TimestampMapper::new(),
                    frames: 0,
                    dropped: 0,
                    pending: Vec::new(),
                });
                if self.direct.is_some() {
                    // Nobody wakes a direct player for what it joins with (caches, `Publish`).
                    self.deliver(self.players.len() - 1);
                }
            }
            ServerEvent::Audio {
                stream_id,
                timestamp,
                payload,
            } => self.on_publisher_media(stream_id, FrameKind::Audio, timestamp, payload),
            ServerEvent::Video {
                stream_id,
                timestamp,
                payload,
            } => self.on_publisher_media(stream_id, FrameKind::Video, timestamp, payload),
            ServerEvent::Data {
                stream_id,
                timestamp,
                name,
                payload,
            } => self.on_publisher_data(stream_id, timestamp, &name, payload),
            ServerEvent::PublishStopped { stream_id } => {
                if let Some(mut slot) = self.publishers.remove(&stream_id) {
                    slot.flush();
                    self.log_unpublish(&slot, "unpublish");
                }
            }
            ServerEvent::PlayStopped { stream_id } | ServerEvent::StreamDeleted { stream_id } => {
                if let Some(pos) = self.players.iter().position(|p| p.stream_id == stream_id) {
                    let p = self.players.remove(pos);
                    info!(conn = self.id, peer = %self.peer, app = %self.app, stream = %p.name, frames = p.frames, dropped = p.dropped, "stop playing");
                }
            }
            ServerEvent::Pause {
                stream_id, paused, ..
            } => {
                debug!(conn = self.id, stream_id, paused, "pause");
            }
            ServerEvent::Seek { stream_id, .. } => {
                debug!(conn = self.id, stream_id, "seek on a live stream (ignored)");
            }
            ServerEvent::ReceiveChanged {
                stream_id,
                audio,
                video,
            } => debug!(conn = self.id, stream_id, audio, video, "receive flags"),
            ServerEvent::SetBufferLength {
                stream_id,
                buffer_ms,
            } => debug!(conn = self.id, stream_id, buffer_ms, "set buffer length"),
            ServerEvent::StreamLengthRequest { request, .. } => {
                // Live streams have no length.
                let _ = self.session.respond_stream_length(request, 0.0);
            }
            ServerEvent::Call {
                request, command, ..
            } => {
                debug!(conn = self.id, procedure = %command.name, "unhandled call");
                let _ = self
                    .session
                    .respond_call_error(request, &format!("no such procedure: {}", command.name));
            }
            ServerEvent::SharedObject { message, amf3 } => {
                debug!(conn = self.id, name = %message.name, events = message.events.len(), "shared object");
                let so_rx = &mut self.so_rx;
                let tx = self
                    .so_tx
                    .get_or_insert_with(|| {
                        let (tx, rx) = mpsc::channel(QUEUE_PER_CONNECTION);
                        *so_rx = Some(rx);
                        tx
                    })
                    .clone();
                let replies = self
                    .ctx
                    .shared_objects
                    .handle(&self.app, self.id, &tx, message);
                for r in replies {
                    self.send_shared_object(&r, amf3);
                }
            }
            ServerEvent::Acknowledgement(_) | ServerEvent::PingResponse(_) => {}
            ServerEvent::CloseRequested => return Some(CloseReason::CloseCommand),
            ServerEvent::Ignored { type_id, reason } => {
                if !self.warned_ignored {
                    self.warned_ignored = true;
                    warn!(conn = self.id, peer = %self.peer, ?type_id, reason, "message ignored (further ones are logged at debug)");
                } else {
                    debug!(conn = self.id, ?type_id, reason, "message ignored");
                }
            }
        }
        None
    }

    fn on_publisher_media(
        &mut self,
        stream_id: u32,
        kind: FrameKind,
        timestamp: Timestamp,
        payload: Bytes,
    ) {
        let Some(slot) = self.publishers.get_mut(&stream_id) else {
            return;
        };
        slot.bytes += payload.len() as u64;
        slot.frames += 1;
        let frame = match kind {
            FrameKind::Video => {
                let info = sluice_flv::classify_video(&payload);
                if info.is_sequence_header && !slot.logged_video {
                    slot.logged_video = true;
                    log_codec(self.id, &slot.name, true, &payload);
                }
                MediaFrame {
                    kind,
                    timestamp: timestamp.value(),
                    keyframe: info.is_keyframe,
                    sequence_header: info.is_sequence_header,
                    payload,
                }
            }
            _ => {
                let info = sluice_flv::classify_audio(&payload);
                if info.is_sequence_header && !slot.logged_audio {
                    slot.logged_audio = true;
                    log_codec(self.id, &slot.name, false, &payload);
                }
                MediaFrame {
                    kind,
                    timestamp: timestamp.value(),
                    keyframe: false,
                    sequence_header: info.is_sequence_header,
                    payload,
                }
            }
        };
        // A batch ends with a video frame: players get each picture at once, with the audio
        // that came before it, in one write. Audio alone waits for the batch window.
        let ends_batch = frame.kind == FrameKind::Video && !frame.sequence_header;
        slot.batch.push(frame);
        if ends_batch {
            slot.flush();
        }
    }

    fn on_publisher_data(
        &mut self,
        stream_id: u32,
        timestamp: Timestamp,
        name: &str,
        payload: Bytes,
    ) {
        let Some(slot) = self.publishers.get_mut(&stream_id) else {
            return;
        };
        match name {
            "@setDataFrame" => {
                // Strip the first value: the rest is `onMetaData, {...}` for players.
                let mut dec = Amf0Decoder::new(&payload);
                if dec.decode().is_ok() {
                    let pos = dec.position();
                    let rest = payload.slice(pos..);
                    if is_on_metadata(&rest) {
                        slot.flush();
                        slot.publisher.set_metadata(rest);
                    } else {
                        slot.batch.push(MediaFrame::data(timestamp.value(), rest));
                    }
                }
            }
            "onMetaData" => {
                slot.flush();
                slot.publisher.set_metadata(payload);
            }
            "@clearDataFrame" => {}
            _ => slot
                .batch
                .push(MediaFrame::data(timestamp.value(), payload)),
        }
    }

    /// Turn what the hub has for player `index` into messages.
    fn deliver(&mut self, index: usize) {
        if index >= self.players.len() {
            return;
        }
        let player = &mut self.players[index];
        if player.pending.is_empty() {
            player.subscriber.try_recv_batch(&mut player.pending);
        }
        let mut events = std::mem::take(&mut player.pending);
        let sid = player.stream_id;
        for ev in events.drain(..) {
            match ev {
                PlayerEvent::Publish => {
                    if player.started && !player.live {
                        player.ts.restart();
                        self.session.notify_publish(sid, &player.name);
                    }
                    player.started = true;
                    player.live = true;
                }
                PlayerEvent::Unpublish => {
                    if player.live {
                        self.session.notify_unpublish(sid, &player.name);
                    }
                    player.live = false;
                }
                PlayerEvent::Metadata(body) => {
                    let ts = player.ts.map(Track::Data, 0, false);
                    self.session.send_data(sid, Timestamp(ts), body);
                }
                PlayerEvent::Frame(f) => {
                    player.frames += 1;
                    match f.kind {
                        FrameKind::Audio => {
                            let ts = player.ts.map(Track::Audio, f.timestamp, !f.sequence_header);
                            self.session.send_audio(sid, Timestamp(ts), f.payload);
                        }
                        FrameKind::Video => {
                            let ts = player.ts.map(Track::Video, f.timestamp, !f.sequence_header);
                            self.session.send_video(sid, Timestamp(ts), f.payload);
                        }
                        FrameKind::Data => {
                            let ts = player.ts.map(Track::Data, f.timestamp, true);
                            self.session.send_data(sid, Timestamp(ts), f.payload);
                        }
                    }
                }
                PlayerEvent::Dropped { frames } => {
                    player.dropped += frames;
                    debug!(conn = self.id, stream = %player.name, frames, "dropped frames for a slow player");
                }
            }
        }
        if events.capacity() <= PENDING_KEEP {
            player.pending = events;
        }
        // else: a burst (the GOP at join) grew it; the next delivery starts a small one.
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
        if self.so_tx.take().is_some() {
            self.ctx.shared_objects.release_connection(self.id);
        }
        for (_, mut slot) in std::mem::take(&mut self.publishers) {
            // Whatever the publisher sent before the connection ended still reaches players.
            slot.flush();
            self.log_unpublish(&slot, "unpublish (connection closed)");
        }
        self.players.clear();
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

fn is_on_metadata(body: &[u8]) -> bool {
    matches!(Amf0Decoder::new(body).decode(), Ok(Amf0Value::String(s)) if s == "onMetaData")
}

fn log_codec(conn: u64, stream: &str, video: bool, payload: &[u8]) {
    let described = if video {
        sluice_flv::describe_video_sequence_header(payload)
    } else {
        sluice_flv::describe_audio_sequence_header(payload)
    };
    match described {
        Ok(c) => info!(
            conn,
            stream,
            kind = if video { "video" } else { "audio" },
            codec = %c.codec,
            profile = c.profile.as_deref().unwrap_or(""),
            level = c.level.as_deref().unwrap_or(""),
            width = c.width.unwrap_or(0),
            height = c.height.unwrap_or(0),
            sample_rate = c.sample_rate.unwrap_or(0),
            channels = c.channels.unwrap_or(0),
            "codec"
        ),
        Err(e) => debug!(conn, stream, error = %e, "sequence header not described"),
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
    use tokio::io::AsyncReadExt;

    #[test]
    fn read_slots_are_shared_and_at_least_half_a_period_away() {
        let epoch = tokio::time::Instant::now();
        let ms = Duration::from_millis;
        let p = ms(100);
        // From 0-49 ms after a slot the next one is taken; from 50 ms on, the one after.
        assert_eq!(grid_slot(epoch, epoch, p), epoch + ms(100));
        assert_eq!(grid_slot(epoch, epoch + ms(49), p), epoch + ms(100));
        assert_eq!(grid_slot(epoch, epoch + ms(50), p), epoch + ms(200));
        assert_eq!(grid_slot(epoch, epoch + ms(120), p), epoch + ms(200));
        assert_eq!(grid_slot(epoch, epoch + ms(151), p), epoch + ms(300));
        // Two connections reading at different times in the same half-period share the slot.
        assert_eq!(
            grid_slot(epoch, epoch + ms(1_010), p),
            grid_slot(epoch, epoch + ms(1_040), p)
        );
        // A period under 1 ms is treated as 1 ms.
        assert_eq!(grid_slot(epoch, epoch, Duration::ZERO), epoch + ms(1));
    }

    #[test]
    fn split_query_and_app_key() {
        assert_eq!(split_query("cam?token=1"), ("cam", "token=1"));
        assert_eq!(split_query("cam"), ("cam", ""));
        assert_eq!(app_key("/live/?x=1"), "live");
    }

    /// A socket whose peer does not read fills up: `try_write_out` writes what fits, keeps the
    /// rest in order and never blocks; once the peer reads, the rest follows byte for byte.
    #[tokio::test]
    async fn try_write_out_keeps_unsent_bytes_in_order() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let (_rd, wr) = client.into_split();

        // 40 buffers (more than SMALL_IOVECS) of 256 KiB, each filled with its own index.
        let mut out: Vec<Bytes> = (0..40u8)
            .map(|i| Bytes::from(vec![i; 256 * 1024]))
            .collect();
        let total: usize = out.iter().map(Bytes::len).sum();
        let first = try_write_out(&wr, &mut out).unwrap();
        assert!(first > 0 && first < total, "the socket takes part: {first}");
        assert_eq!(first + out.iter().map(Bytes::len).sum::<usize>(), total);

        let reader = tokio::spawn(async move {
            let mut got = Vec::with_capacity(total);
            while got.len() < total {
                let mut buf = vec![0u8; 64 * 1024];
                let n = server.read(&mut buf).await.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        let mut sent = first;
        while !out.is_empty() {
            wr.writable().await.unwrap();
            sent += try_write_out(&wr, &mut out).unwrap();
        }
        assert_eq!(sent, total);
        let got = reader.await.unwrap();
        for (i, chunk) in got.chunks(256 * 1024).enumerate() {
            assert!(
                chunk.iter().all(|&b| b as usize == i),
                "buffer {i} in order"
            );
        }
    }

    #[tokio::test]
    async fn try_write_out_reports_a_closed_peer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        // Closed with nothing read: the first write draws a reset, later ones fail.
        drop(server);
        let (_rd, wr) = client.into_split();
        let mut res = Ok(0);
        for _ in 0..100 {
            let mut out = vec![Bytes::from_static(b"hello")];
            res = try_write_out(&wr, &mut out);
            if res.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(res.is_err(), "a write to a reset connection fails");
    }
}
