//! Direct media players: a plain-TCP HTTP/1.x `GET /{app}/{stream}.flv` (or `.mp4`), or the
//! same request upgraded to a WebSocket, is answered outside hyper so that its bytes are
//! written from the publisher's task, the way RTMP players are
//! ([`crate::driver::serve_tcp_connection`]): one non-blocking `writev` of the hub's shared
//! payloads per batch for every caught-up player, no task wake-up per player and batch, no
//! chunk framing (WebSocket players get a frame header per message before the same payloads,
//! [`super::direct_ws`]). `http.direct_write` (default true) turns it off.
//!
//! **Taking the request.** The accept loop peeks at the first bytes of each plain connection
//! ([`super::direct_head::sniff`]). Only a complete request head (RFC 9112 §2-3, parsed with `httparse`) that is a
//! `GET` of a two-segment path ending in `.flv` or `.mp4` is taken, either without `Upgrade` or
//! as a complete WebSocket opening handshake (RFC 6455 §4.2.1: HTTP/1.1, `Upgrade: websocket`,
//! `Connection: Upgrade`, version 13, a 16-byte key); anything else (a partial head, other
//! paths or methods, other upgrades, HTTP/2) goes to hyper untouched, since peeking consumed
//! nothing. Extensions and subprotocols a WebSocket client offers are not accepted (none is
//! named in the answer), as on the hyper path. A taken request still goes through the one router
//! (CORS, the decision chain, hooks, the registry): the media route finds a [`DirectOffer`] in
//! its extensions and puts the started player into a [`DirectPlayer`] extension of its response
//! instead of a body.
//!
//! **The response.** Its head is written here with `Connection: close` and no length: the body
//! ends with the connection (RFC 9112 §6.3, rule 8), which is how every FLV player reads a live
//! stream anyway; a WebSocket player gets `101 Switching Protocols` instead. Any other response
//! (403, 404, a refused codec) is written whole with its `Content-Length` (at most
//! [`MAX_PLAIN_BODY`] bytes) and the connection closed.
//!
//! **The body.** The connection's state (the player's pump and the bytes not yet written) sits
//! behind a mutex shared with the [`DirectSink`] attached to its subscriber. After each append
//! the publisher's task `try_lock`s it and, when nothing is pending, drains the subscriber and
//! writes at once. When the socket is full, the state is busy or the player ended, the sink wakes
//! the connection's task, which waits for room (closing after `http.write_stall_timeout_secs`
//! without progress), reads and discards what the client sends (a WebSocket client's pings are
//! answered, its close ends the player), ends on the client's close, a kick, shutdown or the
//! publisher staying away (a WebSocket player then gets a close frame with the reason), and
//! runs the output's timers. The hub's bound on
//! a slow player applies unchanged: while bytes wait, the task drains the subscriber only up to
//! [`PENDING_DRAIN_MAX`] bytes held here.

use super::direct_head::{response_head, Taken, MAX_PLAIN_BODY};
use super::direct_ws::{self, ClientFrame, WsFramer, WsReader};
use super::live::{End, LiveOutput, Piece, Start, OUT_KEEP};
use crate::driver::try_write_out;
use crate::hub::DirectSink;
use axum::extract::ws::CloseFrame;
use axum::extract::ConnectInfo;
use axum::http::Response;
use axum::Router;
use bytes::Bytes;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tower_service::Service;
use tracing::debug;

/// A player whose socket is full still drains its subscriber (so that the hub sees its
/// backlog, drops video to the next keyframe and, after `slow_player_timeout_secs`, closes it,
/// and so that an unpublish starts the wait for the publisher) while fewer than this many bytes
/// wait here; beyond it the hub holds the backlog and `write_stall_timeout_secs` applies.
const PENDING_DRAIN_MAX: usize = 256 * 1024;
/// Bytes read (and discarded) per read of what a direct player's client sends.
const DISCARD_READ: usize = 1024;

/// Request extension: the media route may answer with a [`DirectPlayer`] (the request is a
/// WebSocket opening handshake that [`super::direct_head::sniff`] checked when `websocket`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DirectOffer {
    pub(crate) websocket: bool,
}

/// Response extension: the started player, for [`serve`] to write directly.
#[derive(Clone)]
pub(crate) struct DirectPlayer(Arc<Mutex<Option<Box<dyn RunDirect>>>>);

impl DirectPlayer {
    pub(crate) fn new<M: LiveOutput>(start: Start<M>) -> Self {
        DirectPlayer(Arc::new(Mutex::new(Some(Box::new(start)))))
    }

    fn take(&self) -> Option<Box<dyn RunDirect>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// A started player that can be served on a socket (erases the output type).
trait RunDirect: Send {
    fn run(
        self: Box<Self>,
        sock: TcpStream,
        websocket: bool,
        stall: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

impl<M: LiveOutput> RunDirect for Start<M> {
    fn run(
        self: Box<Self>,
        sock: TcpStream,
        websocket: bool,
        stall: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(run(sock, *self, websocket, stall, shutdown))
    }
}

/// Serve a request [`super::direct_head::sniff`] took: consume its head, route it, and write the answer (a direct
/// body, or a whole small response), then close.
pub(super) async fn serve(
    mut sock: TcpStream,
    taken: Taken,
    peer: SocketAddr,
    mut app: Router,
    stall: Duration,
    shutdown: watch::Receiver<bool>,
) {
    // The head was peeked, so it is all in the socket's buffer.
    let mut head = vec![0u8; taken.head_len];
    if sock.read_exact(&mut head).await.is_err() {
        return;
    }
    drop(head);
    let mut req = *taken.req;
    let websocket = taken.ws_key.is_some();
    req.extensions_mut().insert(ConnectInfo(peer));
    req.extensions_mut().insert(DirectOffer { websocket });
    let version = req.version();
    let res = match app.call(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let (parts, body) = res.into_parts();
    let player = parts
        .extensions
        .get::<DirectPlayer>()
        .and_then(DirectPlayer::take);
    let res = Response::from_parts(parts, ());
    let Some(player) = player else {
        // A small answer (an error, a CORS preflight): whole, with its length.
        let body = axum::body::to_bytes(body, MAX_PLAIN_BODY)
            .await
            .unwrap_or_default();
        let mut bytes = response_head(&res, version, Some(body.len()));
        bytes.extend_from_slice(&body);
        let _ = tokio::time::timeout(stall, async {
            let _ = sock.write_all(&bytes).await;
            let _ = sock.shutdown().await;
        })
        .await;
        return;
    };
    let head = match &taken.ws_key {
        Some(key) => direct_ws::switching_head(key),
        None => response_head(&res, version, None),
    };
    match tokio::time::timeout(stall, sock.write_all(&head)).await {
        Ok(Ok(())) => player.run(sock, websocket, stall, shutdown).await,
        _ => debug!(peer = %peer, "direct media response head not written"),
    }
}

/// A direct player's state, shared between its task and the publisher's sink.
struct Shared<M> {
    state: Mutex<State<M>>,
    /// Wakes the connection's task (a stored permit is never lost).
    wake: Notify,
    writer: OwnedWriteHalf,
}

struct State<M> {
    start: Start<M>,
    /// Bytes taken from the output and not yet written, in order.
    out: Vec<Bytes>,
    /// A WebSocket player's framing of its output.
    ws: Option<WsFramer>,
    /// Why the player ends, once it does (written out first).
    end: Option<Finish>,
    /// The output's deadline the task waits for: the sink wakes the task when it moves (the
    /// publisher left, say, which starts the wait for its return).
    armed: Option<Instant>,
}

impl<M> Shared<M> {
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<M: LiveOutput> State<M> {
    /// Drain the subscriber (when nothing waits, or less than [`PENDING_DRAIN_MAX`] when
    /// `behind`), and write what there is without blocking. Returns whether bytes were
    /// written; a write error ends the player.
    fn pump_and_write(&mut self, w: &OwnedWriteHalf, behind: bool) -> bool {
        let room = self.out.is_empty()
            || (behind && self.out.iter().map(Bytes::len).sum::<usize>() < PENDING_DRAIN_MAX);
        if room && self.end.is_none() {
            if let Err(end) = self.drain() {
                self.end = Some(Finish::from_end(&end));
            }
        }
        if self.out.is_empty() {
            return false;
        }
        match try_write_out(w, &mut self.out) {
            Ok(n) => {
                self.start.log.add(n);
                if self.out.is_empty() {
                    // A burst (the join's GOP) may have grown the list: keep a small one.
                    self.out.shrink_to(OUT_KEEP);
                }
                n > 0
            }
            Err(_) => {
                self.out.clear();
                self.end = Some(Finish::quiet("write failed"));
                false
            }
        }
    }

    /// Take what the subscriber holds into `out`, framed for a WebSocket player.
    fn drain(&mut self) -> Result<(), End> {
        let pump = &mut self.start.pump;
        match &mut self.ws {
            None => pump.drain_now(&mut self.out),
            Some(ws) if M::BYTE_STREAM => {
                let from = self.out.len();
                let r = pump.drain_now(&mut self.out);
                ws.frame_tail(&mut self.out, from);
                r
            }
            Some(ws) => ws.frame_pieces(&mut self.out, |p| pump.drain_pieces_now(p)),
        }
    }
}

/// How and why a direct player ends.
struct Finish {
    reason: &'static str,
    /// The close frame a WebSocket player gets.
    close: Option<CloseFrame>,
}

impl Finish {
    fn from_end(end: &End) -> Self {
        Finish {
            reason: end.reason(),
            close: Some(end.close_frame()),
        }
    }

    /// An end with no close frame (the connection is unusable, or the client is gone).
    fn quiet(reason: &'static str) -> Self {
        Finish {
            reason,
            close: None,
        }
    }

    fn closing(reason: &'static str, close: CloseFrame) -> Self {
        Finish {
            reason,
            close: Some(close),
        }
    }
}

impl<M: LiveOutput> DirectSink for Shared<M> {
    fn on_append(&self) {
        let Ok(mut st) = self.state.try_lock() else {
            // The task is busy with this player: it looks again.
            self.wake.notify_one();
            return;
        };
        if st.out.is_empty() && st.end.is_none() {
            st.pump_and_write(&self.writer, false);
        }
        if !st.out.is_empty() || st.end.is_some() || st.start.pump.deadline() != st.armed {
            // Waiting for room (only the task writes until that is sent), ended, or a timer
            // for the task to arm.
            self.wake.notify_one();
        }
    }
}

/// Serve a started player's body on `sock` until it ends.
async fn run<M: LiveOutput>(
    sock: TcpStream,
    start: Start<M>,
    websocket: bool,
    stall: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let (rd, wr) = sock.into_split();
    let mut start = start;
    let pending = std::mem::take(&mut start.pending);
    let mut out = Vec::new();
    let mut ws = websocket.then(WsFramer::new);
    match &mut ws {
        None => out.extend(pending.into_iter().filter_map(Piece::into_data)),
        Some(ws) => ws.frame_taken(&mut out, pending),
    }
    let client = start.pump.client().clone();
    let sh = Arc::new(Shared {
        state: Mutex::new(State {
            start,
            out,
            ws,
            end: None,
            armed: None,
        }),
        wake: Notify::new(),
        writer: wr,
    });
    let sink: Weak<dyn DirectSink> = Arc::downgrade(&sh) as Weak<dyn DirectSink>;
    sh.lock().start.pump.attach_direct(sink);
    let reader = websocket.then(WsReader::default);
    let finish = drive(&sh, &rd, reader, &client, stall, shutdown).await;
    sh.lock().start.log.reason = finish.reason;
    if let Some(close) = finish.close.filter(|_| websocket) {
        send_close(&sh, &close, stall).await;
    }
}

/// Write a WebSocket player's close frame after what is pending (giving up after `stall`).
async fn send_close<M: LiveOutput>(sh: &Shared<M>, close: &CloseFrame, stall: Duration) {
    {
        let mut st = sh.lock();
        let st = &mut *st;
        if let Some(ws) = &mut st.ws {
            ws.close(&mut st.out, close);
        }
    }
    let _ = tokio::time::timeout(stall, async {
        loop {
            {
                let mut st = sh.lock();
                if try_write_out(&sh.writer, &mut st.out).is_err() || st.out.is_empty() {
                    return;
                }
            }
            if sh.writer.writable().await.is_err() {
                return;
            }
        }
    })
    .await;
}

/// The direct player's task: see the module docs. Returns why the player ended.
async fn drive<M: LiveOutput>(
    sh: &Shared<M>,
    rd: &OwnedReadHalf,
    mut reader: Option<WsReader>,
    client: &crate::control::ClientEntry,
    stall: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> Finish {
    let mut kicked = std::pin::pin!(client.notify.notified());
    kicked.as_mut().enable();
    let mut stuck_since: Option<Instant> = None;
    let mut scratch = [0u8; DISCARD_READ];
    let mut frames = Vec::new();
    let going_away = || {
        Finish::closing(
            "server shutdown",
            CloseFrame {
                code: 1001,
                reason: "server shutdown".into(),
            },
        )
    };
    loop {
        if client.is_kicked() {
            return Finish::from_end(&End::Kicked);
        }
        if *shutdown.borrow_and_update() {
            return going_away();
        }
        let (pending, deadline) = {
            let mut st = sh.lock();
            if st.pump_and_write(&sh.writer, true) {
                stuck_since = None;
            }
            if st.out.is_empty() {
                if let Some(end) = st.end.take() {
                    return end;
                }
            }
            st.armed = st.start.pump.deadline();
            (!st.out.is_empty(), st.armed)
        };
        let stall_at = pending.then(|| *stuck_since.get_or_insert_with(Instant::now) + stall);
        tokio::select! {
            biased;
            r = shutdown.changed() => {
                if r.is_err() {
                    return going_away();
                }
            }
            () = kicked.as_mut() => {
                kicked.set(client.notify.notified());
                kicked.as_mut().enable();
            }
            r = sh.writer.writable(), if pending => {
                if r.is_err() {
                    return Finish::quiet("write failed");
                }
            }
            () = sleep_until(stall_at) => return Finish::quiet("write stalled"),
            () = sleep_until(deadline) => {
                if let Err(end) = sh.lock().start.pump.on_timer() {
                    return Finish::from_end(&end);
                }
            }
            r = rd.readable() => {
                if r.is_err() {
                    return Finish::quiet("client closed");
                }
                let n = match rd.try_read(&mut scratch) {
                    Ok(0) => return Finish::quiet("client closed"),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
                    Err(_) => return Finish::quiet("client closed"),
                };
                if let Some(reader) = &mut reader {
                    if let Err(e) = reader.feed(&scratch[..n], &mut frames) {
                        debug!(error = %e, "WebSocket player broke the protocol");
                        return Finish::closing("protocol error", e.close_frame());
                    }
                    if let Some(end) = answer_client(sh, &mut frames) {
                        return end;
                    }
                }
            }
            () = sh.wake.notified() => {}
        }
    }
}

/// Answer a WebSocket client's frames: pongs are queued after what is pending; a close ends
/// the player (answered with its code).
fn answer_client<M: LiveOutput>(sh: &Shared<M>, frames: &mut Vec<ClientFrame>) -> Option<Finish> {
    let mut st = sh.lock();
    let st = &mut *st;
    let ws = st.ws.as_mut()?;
    for f in frames.drain(..) {
        match f {
            ClientFrame::Ping(payload) => ws.control(
                &mut st.out,
                tungstenite::protocol::frame::coding::Control::Pong,
                &payload,
            ),
            ClientFrame::Close(payload) => {
                return Some(Finish::closing(
                    "client closed",
                    direct_ws::echo_close(&payload),
                ));
            }
        }
    }
    None
}

/// Sleep until `at`, or for ever when `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
