//! The RTMPT client transport: RTMP tunnelled through HTTP POST requests (`rtmpt://`,
//! `rtmpte://`, and `rtmpts://` over TLS), as a byte stream ([`RtmptStream`]: `AsyncRead +
//! AsyncWrite`) so that [`crate::Connection::establish`] runs over it unchanged. Request layout
//! as in `PROTOCOL_NOTES.md`, "RTMPT", and ffmpeg's and librtmp's clients:
//!
//! 1. `POST /open/1` (body one zero byte) → the session id, then `\n`;
//! 2. what the RTMP connection writes goes out as `POST /send/<sid>/<seq>` bodies; everything
//!    written while a request was in flight is batched into the next one (at most
//!    [`RtmptOptions::max_send_bytes`]); one request is in flight at a time;
//! 3. when there is nothing to send, `POST /idle/<sid>/<seq>` (body one zero byte) asks for
//!    what the server has queued;
//! 4. replies to send and idle are one polling-delay byte, then server→client RTMP bytes, which
//!    are what reads of the stream return;
//! 5. shutting the stream down (or dropping it) sends `POST /close/<sid>/<seq>`.
//!
//! `<seq>` starts at 1 and grows by one per request. Every request is `Content-Type:
//! application/x-fcs` on one HTTP/1.1 keep-alive connection, re-opened when the server closes it.
//!
//! The polling-delay byte: Flash Player waits accordingly before its next idle poll; ffmpeg
//! (`rtmphttp.c`) and librtmp read it and ignore the value. This client does what ffmpeg does:
//! after a reply that carried data it polls again at once; after an empty reply it waits
//! [`RtmptOptions::idle_poll_interval`] (default 50 ms, ffmpeg's pause) unless the connection
//! has something to send first. The last byte seen is kept ([`RtmptStream::poll_delay`]).
//!
//! The HTTP exchange runs in a spawned task connected to the stream by an in-memory pipe
//! ([`tokio::io::duplex`], [`RtmptOptions::pipe_capacity`] bytes each way), so the RTMP driver's
//! reads and writes stay plain byte-stream calls. A tunnel failure (HTTP error, a session the
//! server does not know) ends the stream and is returned by the next read or write as the
//! [`crate::ClientError`] it was; a `404` once the session has carried data is the server
//! ending the session, which reads see as end of stream, like a TCP close.

use super::http::{read_response, request_head, write_request, Response};
use super::{dial, ClientStream};
use crate::error::{ClientError, Stage};
use crate::options::ClientOptions;
use crate::url::Url;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

/// Limits and timings of the RTMPT transport. Every size the server controls is bounded here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmptOptions {
    /// Largest response head (status line and headers). Default 16 KiB.
    pub max_header_bytes: usize,
    /// Largest response body. Default 4 MiB (Sluice answers at most 32 KiB per reply).
    pub max_reply_bytes: usize,
    /// Longest session id accepted from `/open`. Default 256 bytes.
    pub max_session_id_len: usize,
    /// Most RTMP bytes sent in one `/send` body. Default 256 KiB (Sluice accepts up to 1 MiB).
    pub max_send_bytes: usize,
    /// Bytes buffered each way between the RTMP connection and the HTTP task. Default 1 MiB.
    pub pipe_capacity: usize,
    /// Pause before an idle poll that follows an empty reply. Default 50 ms.
    pub idle_poll_interval: Duration,
    /// Limit for one HTTP request (connecting if needed, sending, the whole reply).
    /// Default 15 s.
    pub request_timeout: Duration,
}

impl Default for RtmptOptions {
    fn default() -> Self {
        RtmptOptions {
            max_header_bytes: 16 * 1024,
            max_reply_bytes: 4 * 1024 * 1024,
            max_session_id_len: 256,
            max_send_bytes: 256 * 1024,
            pipe_capacity: 1024 * 1024,
            idle_poll_interval: Duration::from_millis(50),
            request_timeout: Duration::from_secs(15),
        }
    }
}

/// Errors of the RTMPT tunnel (HTTP layer and tunnel rules).
#[derive(Debug, thiserror::Error)]
pub enum RtmptError {
    /// The server answered a request with an error status.
    #[error("HTTP {status} {reason} for POST {path}")]
    Status {
        /// The request path.
        path: String,
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// `404` to a send/idle request before the session carried any data: the server does not
    /// know the session id.
    #[error("the server does not know RTMPT session {sid} (HTTP 404 for POST {path})")]
    UnknownSession {
        /// The session id.
        sid: String,
        /// The request path.
        path: String,
    },
    /// The `/open` reply is not a session id (printable ASCII without `/`, up to
    /// [`RtmptOptions::max_session_id_len`] bytes, then optional whitespace).
    #[error("the reply to POST /open/1 is not an RTMPT session id")]
    BadSessionId,
    /// A send/idle reply has no polling-delay byte.
    #[error("the reply to POST {path} has no RTMPT polling-delay byte")]
    MissingPollByte {
        /// The request path.
        path: String,
    },
    /// The response is not HTTP/1.x as RFC 9112 describes it.
    #[error("malformed HTTP response: {0}")]
    BadResponse(String),
    /// The response head is longer than [`RtmptOptions::max_header_bytes`].
    #[error("HTTP response head longer than {limit} bytes")]
    HeadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The response head has more header lines than [`super::http::MAX_HEADERS`].
    #[error("HTTP response with more than {limit} headers")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// The body is larger than [`RtmptOptions::max_reply_bytes`].
    #[error("HTTP response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The server closed the HTTP connection before the response was complete.
    #[error("the server closed the HTTP connection {} POST {path}", if *.before_response { "without answering" } else { "in the middle of the answer to" })]
    Closed {
        /// The request path.
        path: String,
        /// Nothing at all of the response had arrived.
        before_response: bool,
    },
    /// A request did not complete within [`RtmptOptions::request_timeout`].
    #[error("no answer to POST {path} within {after:?}")]
    Timeout {
        /// The request path.
        path: String,
        /// The limit.
        after: Duration,
    },
    /// Reading or writing the HTTP connection failed.
    #[error("HTTP I/O error on POST {path}: {error}")]
    Io {
        /// The request path.
        path: String,
        /// The OS error.
        error: io::Error,
    },
}

/// One HTTP connection's worth of state: where to (re)connect, the keep-alive stream, leftover
/// bytes, and the request counter.
#[derive(Debug)]
struct HttpSession {
    url: Url,
    options: ClientOptions,
    host: String,
    conn: Option<ClientStream>,
    buf: BytesMut,
}

impl HttpSession {
    /// `POST path` with `body`, reconnecting if the keep-alive connection is gone. A reused
    /// connection that the server had already closed (end of stream before any response byte)
    /// is retried once on a new one, as HTTP clients do for stale keep-alive connections.
    async fn post(&mut self, path: &str, body: &[u8]) -> Result<Response, ClientError> {
        let limit = self.options.rtmpt.request_timeout;
        let attempt = async {
            let reused = self.conn.is_some();
            match self.exchange(path, body).await {
                Err(ClientError::Rtmpt(RtmptError::Closed {
                    before_response: true,
                    ..
                })) if reused => self.exchange(path, body).await,
                r => r,
            }
        };
        match tokio::time::timeout(limit, attempt).await {
            Ok(r) => r,
            Err(_) => {
                self.conn = None;
                Err(RtmptError::Timeout {
                    path: path.to_owned(),
                    after: limit,
                }
                .into())
            }
        }
    }

    async fn exchange(&mut self, path: &str, body: &[u8]) -> Result<Response, ClientError> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => {
                self.buf.clear();
                dial(&self.url, &self.options).await?
            }
        };
        let head = request_head(path, &self.host, body.len());
        write_request(&mut conn, &head, body)
            .await
            .map_err(|error| RtmptError::Io {
                path: path.to_owned(),
                error,
            })?;
        let resp = read_response(&mut conn, &mut self.buf, &self.options.rtmpt, path).await?;
        if resp.keep_alive {
            self.conn = Some(conn);
        } else {
            self.buf.clear();
        }
        Ok(resp)
    }
}

/// An RTMPT session as a byte stream. See the [module docs](self).
#[derive(Debug)]
pub struct RtmptStream {
    pipe: DuplexStream,
    failure: Arc<Mutex<Option<ClientError>>>,
    poll_delay: Arc<AtomicU8>,
    session_id: String,
}

impl RtmptStream {
    /// Open a session at `url` (`POST /open/1`) and start the tunnel task. `url`'s scheme says
    /// whether the HTTP connection is TLS (`rtmpts`) or not.
    pub async fn open(url: &Url, options: &ClientOptions) -> Result<RtmptStream, ClientError> {
        let mut http = HttpSession {
            url: url.clone(),
            options: options.clone(),
            host: url.authority(),
            conn: None,
            buf: BytesMut::new(),
        };
        let path = "/open/1";
        let resp = http.post(path, &[0]).await?;
        if resp.status != 200 {
            return Err(RtmptError::Status {
                path: path.into(),
                status: resp.status,
                reason: resp.reason,
            }
            .into());
        }
        let sid = parse_session_id(&resp.body, options.rtmpt.max_session_id_len)?;
        let (ours, theirs) = tokio::io::duplex(options.rtmpt.pipe_capacity.max(1));
        let failure = Arc::new(Mutex::new(None));
        let poll_delay = Arc::new(AtomicU8::new(0));
        let tunnel = Tunnel {
            http,
            sid: sid.clone(),
            seq: 0,
            received_any: false,
            poll_delay: poll_delay.clone(),
        };
        tokio::spawn(run_tunnel(tunnel, theirs, failure.clone()));
        Ok(RtmptStream {
            pipe: ours,
            failure,
            poll_delay,
            session_id: sid,
        })
    }

    /// The session id the server gave.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The last polling-delay byte the server sent (0 before the first reply).
    pub fn poll_delay(&self) -> u8 {
        self.poll_delay.load(Ordering::Relaxed)
    }

    fn take_failure(&self) -> Option<ClientError> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// The session id in an `/open` reply body.
pub(crate) fn parse_session_id(body: &[u8], max_len: usize) -> Result<String, RtmptError> {
    let end = body
        .iter()
        .rposition(|b| !b.is_ascii_whitespace() && *b != 0)
        .map_or(0, |i| i + 1);
    let sid = body.get(..end).unwrap_or(&[]);
    if sid.is_empty()
        || sid.len() > max_len
        || !sid.iter().all(|b| b.is_ascii_graphic() && *b != b'/')
    {
        return Err(RtmptError::BadSessionId);
    }
    Ok(String::from_utf8_lossy(sid).into_owned())
}

impl AsyncRead for RtmptStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.pipe).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => {
                // End of the pipe: the tunnel task is over; say why if it failed.
                match self.take_failure() {
                    Some(e) => Poll::Ready(Err(io::Error::other(e))),
                    None => Poll::Ready(Ok(())),
                }
            }
            other => other,
        }
    }
}

impl AsyncWrite for RtmptStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.pipe).poll_write(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(match self.take_failure() {
                Some(f) => io::Error::other(f),
                None => e,
            })),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.pipe).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.pipe).poll_shutdown(cx)
    }
}

/// The HTTP side of one session.
#[derive(Debug)]
struct Tunnel {
    http: HttpSession,
    sid: String,
    seq: u64,
    received_any: bool,
    poll_delay: Arc<AtomicU8>,
}

/// What a send/idle reply meant.
enum Reply {
    /// RTMP bytes from the server (maybe none).
    Data(Bytes),
    /// The server ended the session.
    Ended,
}

impl Tunnel {
    fn next_path(&mut self, cmd: &str) -> String {
        self.seq += 1;
        format!("/{cmd}/{}/{}", self.sid, self.seq)
    }

    async fn request(&mut self, cmd: &str, body: &[u8]) -> Result<Reply, ClientError> {
        let path = self.next_path(cmd);
        let resp = self.http.post(&path, body).await?;
        match resp.status {
            200 => {}
            404 if self.received_any => return Ok(Reply::Ended),
            404 => {
                return Err(RtmptError::UnknownSession {
                    sid: self.sid.clone(),
                    path,
                }
                .into())
            }
            status => {
                return Err(RtmptError::Status {
                    path,
                    status,
                    reason: resp.reason,
                }
                .into())
            }
        }
        let mut body = resp.body;
        if body.is_empty() {
            return Err(RtmptError::MissingPollByte { path }.into());
        }
        self.poll_delay.store(body.get_u8(), Ordering::Relaxed);
        if !body.is_empty() {
            self.received_any = true;
        }
        Ok(Reply::Data(body))
    }

    /// Move bytes both ways until the connection side closes (then `/close`) or the server
    /// ends the session.
    async fn run(&mut self, pipe: &mut DuplexStream) -> Result<(), ClientError> {
        let opts = self.http.options.rtmpt.clone();
        let max_send = opts.max_send_bytes.max(1);
        let mut out = BytesMut::new();
        let mut input_closed = false;
        // Wait briefly for the handshake's first bytes before the first idle poll.
        let mut last_empty = true;
        loop {
            if !input_closed {
                if out.is_empty() && last_empty {
                    let wait = async {
                        out.reserve(max_send.min(64 * 1024));
                        pipe.read_buf(&mut (&mut out).limit(max_send)).await
                    };
                    match tokio::time::timeout(opts.idle_poll_interval, wait).await {
                        Ok(Ok(0)) | Ok(Err(_)) => input_closed = true,
                        Ok(Ok(_)) | Err(_) => {}
                    }
                }
                if !input_closed {
                    input_closed = drain_ready(pipe, &mut out, max_send).await;
                }
            }
            if out.is_empty() && input_closed {
                let path = self.next_path("close");
                // The session is over for us either way; the server expires it if this fails.
                let _ = self.http.post(&path, &[0]).await;
                return Ok(());
            }
            let reply = if out.is_empty() {
                self.request("idle", &[0]).await?
            } else {
                let body = out.split().freeze();
                self.request("send", &body).await?
            };
            match reply {
                Reply::Ended => return Ok(()),
                Reply::Data(data) => {
                    last_empty = data.is_empty();
                    if !data.is_empty() && pipe.write_all(&data).await.is_err() {
                        // The connection side is gone: close the session.
                        input_closed = true;
                        out.clear();
                    }
                }
            }
        }
    }
}

/// Read what the connection has already written, without waiting, up to `max` bytes in `out`.
/// Returns whether its side of the pipe is closed.
async fn drain_ready(pipe: &mut DuplexStream, out: &mut BytesMut, max: usize) -> bool {
    while out.len() < max {
        out.reserve((max - out.len()).min(64 * 1024));
        let left = max - out.len();
        let mut room = (&mut *out).limit(left);
        // A duplex read that is not ready loses nothing, so polling it once is safe.
        let r = tokio::select! {
            biased;
            r = pipe.read_buf(&mut room) => r,
            () = std::future::ready(()) => return false,
        };
        match r {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
    }
    false
}

async fn run_tunnel(
    mut tunnel: Tunnel,
    mut pipe: DuplexStream,
    failure: Arc<Mutex<Option<ClientError>>>,
) {
    let result = tunnel.run(&mut pipe).await;
    if let Err(e) = result {
        tracing::debug!(sid = %tunnel.sid, error = %e, "RTMPT tunnel failed");
        // Record the failure before the pipe closes, so the reader that sees the end of the
        // pipe finds it.
        *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }
    let _ = pipe.shutdown().await;
    drop(pipe);
}

/// Map a stream error to a client error: failures of the RTMPT tunnel come back as the
/// [`ClientError`] they were; anything else is I/O during `stage`.
pub(crate) fn unwrap_io_error(stage: Stage, e: io::Error) -> ClientError {
    if e.get_ref().is_some_and(|i| i.is::<ClientError>()) {
        if let Some(inner) = e.into_inner() {
            return match inner.downcast::<ClientError>() {
                Ok(c) => *c,
                Err(other) => ClientError::Io {
                    stage,
                    error: io::Error::other(other),
                },
            };
        }
        return ClientError::Io {
            stage,
            error: io::ErrorKind::Other.into(),
        };
    }
    ClientError::Io { stage, error: e }
}
