//! The two ways a live player's bytes leave ([`super::live`] prepares them): an HTTP response
//! body polled by hyper (one data frame per piece, zero-copy), or WebSocket messages (a batch
//! queued and flushed once; byte-stream formats in messages of at most `WS_STREAM_MESSAGE`
//! bytes, framed ones one message per [`Piece::Boundary`]).

use super::direct::DirectPlayer;
use super::live::{CloseLog, End, LiveOutput, Piece, Pump, Start, WS_MAX_CLIENT_MESSAGE};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use hyper::body::Frame;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

/// How a media route's player is delivered.
pub(crate) enum Delivery {
    /// An HTTP response body polled by hyper.
    Body,
    /// WebSocket messages through axum's upgrade.
    Ws(WebSocketUpgrade),
    /// Written by [`super::direct`] (the request carried a [`super::direct::DirectOffer`]):
    /// an HTTP body, or WebSocket messages after the handshake it checked.
    Direct,
    DirectWs,
}

impl Delivery {
    pub(crate) fn is_websocket(&self) -> bool {
        matches!(self, Delivery::Ws(_) | Delivery::DirectWs)
    }
}

/// The response that starts `start`'s delivery (`content_type` is an HTTP body's).
pub(crate) fn respond<M: LiveOutput>(
    start: Start<M>,
    delivery: Delivery,
    content_type: &str,
) -> Response {
    match delivery {
        Delivery::Body => http_response(start, content_type, false),
        Delivery::Direct => http_response(start, content_type, true),
        Delivery::Ws(ws) => ws_response(ws, start),
        Delivery::DirectWs => {
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = axum::http::StatusCode::SWITCHING_PROTOCOLS;
            r.extensions_mut().insert(DirectPlayer::new(start));
            r
        }
    }
}

/// A `200` response streaming `start` as its body, with `content_type` and `no-cache`. When
/// `direct`, the player goes in a [`DirectPlayer`] extension instead, for [`super::direct`] to
/// write.
fn http_response<M: LiveOutput>(start: Start<M>, content_type: &str, direct: bool) -> Response {
    let mut r = if direct {
        let mut r = Response::new(axum::body::Body::empty());
        r.extensions_mut().insert(DirectPlayer::new(start));
        r
    } else {
        Response::new(axum::body::Body::new(MediaBody::new(start)))
    };
    let h = r.headers_mut();
    let ct = HeaderValue::from_str(content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, ct);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The upgrade response of a WebSocket player (the socket is served by [`serve_ws`]).
///
/// A player sends almost nothing, so its read buffer is small ([`WS_READ_BUFFER`] instead of
/// tungstenite's 128 KiB, which is 125 MiB for 1000 players); writes are flushed by
/// [`send_pieces`] once per batch, so no write buffering threshold is needed.
fn ws_response<M: LiveOutput>(ws: WebSocketUpgrade, start: Start<M>) -> Response {
    ws.max_message_size(WS_MAX_CLIENT_MESSAGE)
        .max_frame_size(WS_MAX_CLIENT_MESSAGE)
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| serve_ws(socket, start))
}

/// Read buffer of a WebSocket player's connection.
const WS_READ_BUFFER: usize = 4096;

type Step<M> = Pin<Box<dyn Future<Output = (Pump<M>, Result<Vec<Piece>, End>)> + Send>>;

/// The body of an HTTP media response: the pump's data pieces as data frames.
struct MediaBody<M> {
    pieces: VecDeque<Bytes>,
    step: Option<Step<M>>,
    log: CloseLog,
}

impl<M: LiveOutput> MediaBody<M> {
    fn new(start: Start<M>) -> Self {
        let mut body = MediaBody {
            pieces: VecDeque::new(),
            step: Some(Box::pin(start.pump.step())),
            log: start.log,
        };
        body.extend(start.pending);
        body
    }

    fn extend(&mut self, pieces: Vec<Piece>) {
        self.pieces
            .extend(pieces.into_iter().filter_map(Piece::into_data));
    }
}

/// The error that aborts the connection of a player the hub closed as too slow, a kicked one,
/// or one whose stream changed to a codec its format cannot carry.
#[derive(Debug, thiserror::Error)]
#[error("HTTP media player closed: {0}")]
struct PlayerClosed(&'static str);

impl<M: LiveOutput> hyper::body::Body for MediaBody<M> {
    type Data = Bytes;
    type Error = PlayerClosed;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, PlayerClosed>>> {
        let this = &mut *self;
        loop {
            if let Some(piece) = this.pieces.pop_front() {
                this.log.add(piece.len());
                return Poll::Ready(Some(Ok(Frame::data(piece))));
            }
            let Some(step) = this.step.as_mut() else {
                return Poll::Ready(None);
            };
            let (pump, result) = std::task::ready!(step.as_mut().poll(cx));
            match result {
                Ok(pieces) => {
                    this.extend(pieces);
                    this.step = Some(Box::pin(pump.step()));
                }
                Err(end) => {
                    this.step = None;
                    this.log.reason = end.reason();
                    if end.aborts() {
                        return Poll::Ready(Some(Err(PlayerClosed(end.reason()))));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pieces.is_empty() && self.step.is_none()
    }
}

/// Sends `pieces` as WebSocket messages (data up to each boundary is one binary message) and
/// flushes once: one write for the whole batch. Returns the bytes sent, or `None` if a write
/// failed.
async fn send_pieces(
    socket: &mut WebSocket,
    pieces: Vec<Piece>,
    byte_stream: bool,
) -> Option<usize> {
    use futures_util::SinkExt;
    if byte_stream {
        return send_byte_stream(socket, pieces).await;
    }
    let mut sent = 0;
    // Data of the message being built: one piece is sent as it is (no copy).
    let mut parts: Vec<Bytes> = Vec::new();
    for p in pieces.into_iter().chain([Piece::Boundary]) {
        let text = match p {
            Piece::Data(b) => {
                parts.push(b);
                continue;
            }
            Piece::Boundary => None,
            Piece::Text(t) => Some(t),
        };
        if !parts.is_empty() {
            let binary = if parts.len() == 1 {
                parts.pop().unwrap_or_default()
            } else {
                let mut msg = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
                for part in parts.drain(..) {
                    msg.extend_from_slice(&part);
                }
                msg.freeze()
            };
            sent += binary.len();
            socket.feed(Message::Binary(binary)).await.ok()?;
        }
        if let Some(t) = text {
            sent += t.len();
            socket.feed(Message::Text(t.into())).await.ok()?;
        }
    }
    socket.flush().await.ok()?;
    Some(sent)
}

/// The largest WebSocket message of a byte-stream output. tungstenite keeps its write buffer at
/// the largest frame it wrote, so capping messages caps that memory per player (a 500 KB GOP
/// sent at join would otherwise stay allocated for the player's life).
const WS_STREAM_MESSAGE: usize = 16 * 1024;

/// [`send_pieces`] for a byte stream: small pieces coalesced, large ones sliced (no copy), into
/// messages of at most [`WS_STREAM_MESSAGE`] bytes; one flush at the end.
async fn send_byte_stream(socket: &mut WebSocket, pieces: Vec<Piece>) -> Option<usize> {
    use futures_util::SinkExt;
    let mut sent = 0;
    let mut acc = BytesMut::new();
    for p in pieces {
        let b = match p {
            Piece::Data(b) => b,
            Piece::Boundary => continue,
            Piece::Text(t) => {
                feed_binary(socket, acc.split().freeze(), &mut sent).await?;
                sent += t.len();
                socket.feed(Message::Text(t.into())).await.ok()?;
                continue;
            }
        };
        if acc.len() + b.len() <= WS_STREAM_MESSAGE {
            acc.extend_from_slice(&b);
            continue;
        }
        feed_binary(socket, acc.split().freeze(), &mut sent).await?;
        let mut off = 0;
        while b.len() - off > WS_STREAM_MESSAGE {
            feed_binary(socket, b.slice(off..off + WS_STREAM_MESSAGE), &mut sent).await?;
            off += WS_STREAM_MESSAGE;
        }
        acc.extend_from_slice(&b[off..]);
    }
    feed_binary(socket, acc.freeze(), &mut sent).await?;
    socket.flush().await.ok()?;
    Some(sent)
}

/// Queue `data` (if any) as one binary message and count it in `sent`.
async fn feed_binary(socket: &mut WebSocket, data: Bytes, sent: &mut usize) -> Option<()> {
    use futures_util::SinkExt;
    if data.is_empty() {
        return Some(());
    }
    *sent += data.len();
    socket.feed(Message::Binary(data)).await.ok()
}

/// Serve one WebSocket player until the stream ends or the client goes away. Pings are
/// answered by the WebSocket layer, a close from the client ends the player; other client
/// messages are read and ignored (at most [`WS_MAX_CLIENT_MESSAGE`] bytes each).
async fn serve_ws<M: LiveOutput>(mut socket: WebSocket, start: Start<M>) {
    let Start {
        mut pump,
        mut log,
        pending,
    } = start;
    if !pending.is_empty() {
        match send_pieces(&mut socket, pending, M::BYTE_STREAM).await {
            Some(n) => log.add(n),
            None => {
                log.reason = "write failed";
                return;
            }
        }
    }
    loop {
        tokio::select! {
            r = pump.next_output() => match r {
                Ok(pieces) => match send_pieces(&mut socket, pieces, M::BYTE_STREAM).await {
                    Some(n) => log.add(n),
                    None => {
                        log.reason = "write failed";
                        return;
                    }
                },
                Err(end) => {
                    log.reason = end.reason();
                    let _ = socket.send(Message::Close(Some(end.close_frame()))).await;
                    return;
                }
            },
            m = socket.recv() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
