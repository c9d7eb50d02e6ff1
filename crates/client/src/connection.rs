//! The async driver: one RTMP client connection over any `AsyncRead + AsyncWrite` byte stream,
//! moving bytes between the stream and the sans-IO [`ClientSession`] (RTMP 1.0 §5.2 handshake
//! and §7.2.1.1 `connect` here; publish and play in their own modules).
//!
//! The driver is a plain struct, not a task: each async method reads the socket, feeds
//! `handle_input`, drains events and writes what the session queued (acknowledgements, ping
//! responses, Window Acknowledgement Size, our commands and media) in vectored writes of up to
//! [`MAX_IOVECS`] buffers. That keeps a player to one future with no channels, which is what lets
//! one process run thousands of them. [`Client::connect`] opens the transport the URL names (a
//! [`ClientStream`]: TCP, TLS or an RTMPT session; RTMPE is inside the session); any other
//! byte stream goes to [`Connection::establish`]. (An RTMPT session does use a task of its own
//! for its HTTP requests.)
//!
//! Cancel safety: reads and writes only consume what was actually transferred, so a method
//! cancelled by a timeout or `select!` loses nothing that a later call would not send or read.

use crate::error::{ClientError, Stage};
use crate::options::ClientOptions;
use crate::play::Player;
use crate::publish::Publisher;
use crate::transport::rtmpt::unwrap_io_error;
use crate::transport::ClientStream;
use crate::url::Url;
use bytes::{Buf, Bytes};
use sluice_rtmp::command::{ConnectResponse, PlayArgs, PublishMode};
use sluice_rtmp::handshake::HandshakeKind;
use sluice_rtmp::session::{ClientEvent, ClientSession};
use std::io::IoSlice;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Most buffers handed to one vectored write (Linux's IOV_MAX is 1024).
pub const MAX_IOVECS: usize = 1024;

/// Smallest read buffer used whatever [`ClientOptions::read_buffer_size`] says.
const MIN_READ_BUFFER: usize = 512;

/// What the server said when the connection opened, and how long it took.
#[derive(Debug, Clone)]
pub struct ConnectInfo {
    /// The `_result` of `connect`: fmsVer, capabilities, extra properties and information.
    pub response: ConnectResponse,
    /// The handshake form the server answered with (`None` if it could not be told).
    pub handshake: Option<HandshakeKind>,
    /// Time to open the transport: resolve, TCP connect, TLS handshake or RTMPT `/open`
    /// (zero for [`Connection::establish`]).
    pub tcp_time: Duration,
    /// Time from the start of the connection to the `connect` answer (includes `tcp_time`).
    pub connect_time: Duration,
}

/// Entry points for opening connections.
#[derive(Debug, Clone, Copy, Default)]
pub struct Client;

impl Client {
    /// Open an RTMP connection to `url` over the transport its scheme names (see
    /// [`crate::transport`]): resolve, TCP connect, proxy header, TLS or the RTMPT session,
    /// handshake, `connect`, all within [`ClientOptions::connect_timeout`].
    pub async fn connect(
        url: &Url,
        options: &ClientOptions,
    ) -> Result<Connection<ClientStream>, ClientError> {
        let started = Instant::now();
        let limit = options.connect_timeout;
        let stream = tokio::time::timeout(limit, ClientStream::open(url, options))
            .await
            .map_err(|_| ClientError::Timeout {
                stage: Stage::Connect,
                after: limit,
            })??;
        let tcp_time = started.elapsed();
        let remaining = limit.saturating_sub(tcp_time);
        let mut conn = Connection::establish_within(stream, url, options, remaining).await?;
        conn.info.tcp_time = tcp_time;
        conn.info.connect_time = started.elapsed();
        Ok(conn)
    }

    /// Connect to `url` and publish its stream name (with the query).
    pub async fn publish(
        url: &Url,
        options: &ClientOptions,
    ) -> Result<Publisher<ClientStream>, ClientError> {
        let name = stream_name(url)?;
        Client::connect(url, options).await?.publish(&name).await
    }

    /// Connect to `url` and play its stream name (with the query).
    pub async fn play(
        url: &Url,
        options: &ClientOptions,
    ) -> Result<Player<ClientStream>, ClientError> {
        let name = stream_name(url)?;
        Client::connect(url, options).await?.play(&name).await
    }
}

/// The stream name (with query) of `url`, or [`ClientError::MissingStream`].
pub fn stream_name(url: &Url) -> Result<String, ClientError> {
    if url.stream().is_empty() {
        return Err(ClientError::MissingStream);
    }
    Ok(url.stream_with_query())
}

/// One open RTMP connection (handshake done, `connect` accepted), generic over the transport.
#[derive(Debug)]
pub struct Connection<S> {
    pub(crate) io: S,
    pub(crate) session: ClientSession,
    pub(crate) options: ClientOptions,
    url: Url,
    pub(crate) rbuf: Box<[u8]>,
    out: Vec<Bytes>,
    info: ConnectInfo,
    bytes_written: u64,
    bytes_read: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Run the handshake and `connect` for `url` over an already open byte stream, within
    /// [`ClientOptions::connect_timeout`].
    pub async fn establish(io: S, url: &Url, options: &ClientOptions) -> Result<Self, ClientError> {
        Self::establish_within(io, url, options, options.connect_timeout).await
    }

    async fn establish_within(
        io: S,
        url: &Url,
        options: &ClientOptions,
        limit: Duration,
    ) -> Result<Self, ClientError> {
        let started = Instant::now();
        let session = ClientSession::new(options.session_config(url), &mut rand::thread_rng());
        let mut conn = Connection {
            io,
            session,
            options: options.clone(),
            url: url.clone(),
            rbuf: vec![0; options.read_buffer_size.max(MIN_READ_BUFFER)].into_boxed_slice(),
            out: Vec::new(),
            info: ConnectInfo {
                response: ConnectResponse::default(),
                handshake: None,
                tcp_time: Duration::ZERO,
                connect_time: Duration::ZERO,
            },
            bytes_written: 0,
            bytes_read: 0,
        };
        let mut stage = Stage::Handshake;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let ev = match tokio::time::timeout_at(deadline, conn.next_event_in(stage)).await {
                Ok(ev) => ev?,
                Err(_) => {
                    return Err(ClientError::Timeout {
                        stage,
                        after: limit,
                    })
                }
            };
            match ev {
                ClientEvent::HandshakeComplete(kind) => {
                    conn.info.handshake = kind;
                    stage = Stage::ConnectCommand;
                }
                ClientEvent::Connected(response) => {
                    conn.info.response = response;
                    conn.info.connect_time = started.elapsed();
                    // Send whatever the session queued with the answer (Window Ack Size).
                    conn.flush_in(stage).await?;
                    return Ok(conn);
                }
                ClientEvent::ConnectFailed(info) => return Err(ClientError::ConnectRejected(info)),
                _ => {}
            }
        }
    }

    /// What the server answered to `connect`, and timings.
    pub fn info(&self) -> &ConnectInfo {
        &self.info
    }

    /// The URL this connection was opened for.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The options this connection was opened with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Bytes written to the transport so far (after the handshake's C0/C1, including it).
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Bytes read from the transport so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The sans-IO session, for requests this API does not wrap (calls, shared objects...).
    /// Queued output goes out with the next [`Connection::flush`] or event wait.
    pub fn session_mut(&mut self) -> &mut ClientSession {
        &mut self.session
    }

    /// The next raw session event, reading from the server as needed (low-level API).
    pub async fn next_event(&mut self) -> Result<ClientEvent, ClientError> {
        self.next_event_in(Stage::Streaming).await
    }

    /// Write everything the session has queued.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        self.flush_in(Stage::Streaming).await
    }

    /// Give the transport back.
    pub fn into_inner(self) -> S {
        self.io
    }

    /// Publish `name` (live). Waits for `NetStream.Publish.Start` within
    /// [`ClientOptions::command_timeout`].
    pub async fn publish(self, name: &str) -> Result<Publisher<S>, ClientError> {
        self.publish_with(name, PublishMode::Live).await
    }

    /// Publish `name` with the given mode (live, record, append).
    pub async fn publish_with(
        mut self,
        name: &str,
        mode: PublishMode,
    ) -> Result<Publisher<S>, ClientError> {
        self.session.publish(name, mode)?;
        let limit = self.options.command_timeout;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let ev =
                match tokio::time::timeout_at(deadline, self.next_event_in(Stage::Publish)).await {
                    Ok(ev) => ev?,
                    Err(_) => {
                        return Err(ClientError::Timeout {
                            stage: Stage::Publish,
                            after: limit,
                        })
                    }
                };
            match ev {
                ClientEvent::PublishStarted { stream_id } => {
                    self.flush_in(Stage::Publish).await?;
                    return Ok(Publisher::new(self, stream_id, name.to_owned()));
                }
                ClientEvent::StreamFailed { info, .. } => {
                    return Err(ClientError::PublishRejected(info))
                }
                _ => {}
            }
        }
    }

    /// Play `name` (live or recorded, from the start, until the end).
    pub async fn play(self, name: &str) -> Result<Player<S>, ClientError> {
        self.play_with(PlayArgs {
            name: name.to_owned(),
            start: -2.0,
            duration: -1.0,
            reset: true,
        })
        .await
    }

    /// Play with explicit `play` arguments. Waits for `NetStream.Play.Start` within
    /// [`ClientOptions::command_timeout`]; media the server sends before it is kept (up to
    /// [`ClientOptions::max_early_messages`]).
    pub async fn play_with(mut self, args: PlayArgs) -> Result<Player<S>, ClientError> {
        let name = args.name.clone();
        self.session.play(args)?;
        let limit = self.options.command_timeout;
        let deadline = tokio::time::Instant::now() + limit;
        let mut early = Vec::new();
        loop {
            let ev = match tokio::time::timeout_at(deadline, self.next_event_in(Stage::Play)).await
            {
                Ok(ev) => ev?,
                Err(_) => {
                    return Err(ClientError::Timeout {
                        stage: Stage::Play,
                        after: limit,
                    })
                }
            };
            match ev {
                ClientEvent::PlayStarted { stream_id } => {
                    self.flush_in(Stage::Play).await?;
                    return Ok(Player::new(self, stream_id, name, early));
                }
                ClientEvent::StreamFailed { info, .. } => {
                    return Err(ClientError::PlayRejected(info))
                }
                ev @ (ClientEvent::Audio { .. }
                | ClientEvent::Video { .. }
                | ClientEvent::Data { .. }) => {
                    if early.len() >= self.options.max_early_messages {
                        return Err(ClientError::LimitExceeded {
                            what: "messages before NetStream.Play.Start",
                            limit: self.options.max_early_messages,
                        });
                    }
                    early.push(ev);
                }
                _ => {}
            }
        }
    }

    /// Next session event; reads (and writes queued output) until there is one.
    pub(crate) async fn next_event_in(&mut self, stage: Stage) -> Result<ClientEvent, ClientError> {
        loop {
            if let Some(ev) = self.session.poll_event() {
                return Ok(ev);
            }
            self.flush_in(stage).await?;
            self.read_in(stage).await?;
        }
    }

    /// One read from the transport, fed to the session. End of stream is
    /// [`ClientError::Closed`].
    pub(crate) async fn read_in(&mut self, stage: Stage) -> Result<(), ClientError> {
        let n = self
            .io
            .read(&mut self.rbuf)
            .await
            .map_err(|e| unwrap_io_error(stage, e))?;
        self.feed(n, stage)
    }

    /// Feed `n` bytes just read into `rbuf` to the session (0 = end of stream).
    pub(crate) fn feed(&mut self, n: usize, stage: Stage) -> Result<(), ClientError> {
        if n == 0 {
            return Err(ClientError::Closed(stage));
        }
        self.bytes_read += n as u64;
        let data = self.rbuf.get(..n).unwrap_or(&[]);
        self.session.handle_input(data)?;
        Ok(())
    }

    /// Read whatever is available right now without waiting. Returns whether anything was read.
    pub(crate) async fn read_ready(&mut self, stage: Stage) -> Result<bool, ClientError> {
        let r = tokio::select! {
            biased;
            r = self.io.read(&mut self.rbuf) => Some(r),
            () = std::future::ready(()) => None,
        };
        match r {
            None => Ok(false),
            Some(r) => {
                let n = r.map_err(|e| unwrap_io_error(stage, e))?;
                self.feed(n, stage)?;
                Ok(true)
            }
        }
    }

    /// Write everything the session queued, in vectored writes.
    pub(crate) async fn flush_in(&mut self, stage: Stage) -> Result<(), ClientError> {
        self.session.drain_transmit(&mut self.out);
        if self.out.is_empty() {
            return Ok(());
        }
        while !self.out.is_empty() {
            let written = {
                let slices: Vec<IoSlice<'_>> = self
                    .out
                    .iter()
                    .take(MAX_IOVECS)
                    .map(|b| IoSlice::new(b))
                    .collect();
                self.io
                    .write_vectored(&slices)
                    .await
                    .map_err(|e| unwrap_io_error(stage, e))?
            };
            if written == 0 {
                return Err(ClientError::Io {
                    stage,
                    error: std::io::ErrorKind::WriteZero.into(),
                });
            }
            self.bytes_written += written as u64;
            let mut left = written;
            let mut done = 0;
            for b in self.out.iter_mut() {
                if left >= b.len() {
                    left -= b.len();
                    done += 1;
                } else {
                    b.advance(left);
                    break;
                }
            }
            self.out.drain(..done);
        }
        self.io.flush().await.map_err(|e| unwrap_io_error(stage, e))
    }

    /// Shut our sending side down and wait (up to [`ClientOptions::finish_timeout`]) for the
    /// server to close its side, discarding what it sends meanwhile.
    pub(crate) async fn shutdown(mut self) -> Result<(), ClientError> {
        self.flush_in(Stage::Streaming).await?;
        let _ = self.io.shutdown().await;
        let limit = self.options.finish_timeout;
        let _ = tokio::time::timeout(limit, async {
            loop {
                match self.io.read(&mut self.rbuf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        Ok(())
    }
}
