//! The I/O half of an RTMFP client: one UDP socket connected to the server, the sans-IO
//! [`Endpoint`] (RFC 7016 sessions and flows) and the [`TcClient`] NetConnection (RFC 7425 §5.3)
//! of its one session. A turn waits for a datagram or the core's next timer, feeds it in,
//! and sends everything the core queued.
//!
//! The socket is connected (`connect(2)`), so an ICMP port unreachable from a host where
//! nothing listens on the UDP port surfaces as [`ClientError::Refused`] instead of a timeout.

use crate::error::{ClientError, Stage};
use rand::rngs::StdRng;
use rand::SeedableRng;
use sluice_rtmfp::tc::{TcClient, TcClientConfig, TcClientEvent};
use sluice_rtmfp::{Endpoint, EndpointConfig, Epd, Event, SessionHandle};
use sluice_rtmp::command::ConnectCommand;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tracing::debug;

/// Largest datagram read (the core drops anything longer than its 8192-byte limit).
const RECV_BUFFER: usize = 8192 + 1;

/// Receive buffer asked of the kernel (capped at `net.core.rmem_max`): a server answers
/// `play` with its GOP cache at once, hundreds of KiB at a few Mbps, which the default
/// ~208 KiB UDP buffer drops in part (then retransmitted, late).
const SOCKET_RECV_BUFFER: usize = 1024 * 1024;

/// Longest a turn sleeps when neither the core nor the caller has a deadline.
const IDLE_TURN: Duration = Duration::from_secs(1);

/// One RTMFP session to a server and its NetConnection.
pub(crate) struct Link {
    socket: UdpSocket,
    server: SocketAddr,
    pub(crate) ep: Endpoint,
    session: SessionHandle,
    /// Created when the session opens; `connect` goes out then.
    pub(crate) tc: Option<TcClient>,
    connect: Option<ConnectCommand>,
    events: VecDeque<TcClientEvent>,
    /// Why the session ended, once it has.
    closed: Option<String>,
    buf: Box<[u8]>,
    pub(crate) bytes_read: u64,
    pub(crate) bytes_written: u64,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("server", &self.server)
            .field("session", &self.session)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Bind a socket, connect it to `server` and start a session whose EPD names `uri`;
    /// `connect` is sent as soon as the session is open.
    pub async fn open(
        server: SocketAddr,
        uri: &str,
        connect: ConnectCommand,
    ) -> Result<Link, ClientError> {
        let local: SocketAddr = if server.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let io = |error| ClientError::Connect {
            addr: server.to_string(),
            error,
        };
        let socket = UdpSocket::bind(local).await.map_err(io)?;
        socket.connect(server).await.map_err(io)?;
        if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(SOCKET_RECV_BUFFER) {
            debug!(error = %e, "RTMFP socket receive buffer left at the default");
        }
        let now = Instant::now();
        let mut ep = Endpoint::new(
            EndpointConfig::default(),
            now,
            Box::new(StdRng::from_entropy()),
        );
        let session = ep
            .connect(now, server, Epd::for_uri(uri))
            .map_err(|e| ClientError::Rtmfp(e.to_string()))?;
        Ok(Link {
            socket,
            server,
            ep,
            session,
            tc: None,
            connect: Some(connect),
            events: VecDeque::new(),
            closed: None,
            buf: vec![0u8; RECV_BUFFER].into_boxed_slice(),
            bytes_read: 0,
            bytes_written: 0,
        })
    }

    /// The server's address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// The next queued NetConnection event, without waiting.
    pub fn pop_event(&mut self) -> Option<TcClientEvent> {
        self.events.pop_front()
    }

    /// Send what the core has queued.
    pub async fn flush(&mut self, stage: Stage) -> Result<(), ClientError> {
        while let Some((_, d)) = self.ep.poll_transmit() {
            match self.socket.send(&d).await {
                Ok(n) => self.bytes_written += n as u64,
                Err(e) => return Err(self.io_error(stage, e)),
            }
        }
        Ok(())
    }

    fn io_error(&self, stage: Stage, error: std::io::Error) -> ClientError {
        if error.kind() == std::io::ErrorKind::ConnectionRefused {
            ClientError::Refused {
                addr: self.server.to_string(),
            }
        } else {
            ClientError::Io { stage, error }
        }
    }

    /// One turn: wait for a datagram, the core's next timer or `deadline`, then run the
    /// core and send its output. True when `deadline` has passed.
    pub async fn turn(
        &mut self,
        stage: Stage,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<bool, ClientError> {
        self.flush(stage).await?;
        let idle = tokio::time::Instant::now() + IDLE_TURN;
        let core = self.ep.poll_timeout().map(tokio::time::Instant::from_std);
        let wake = [Some(idle), core, deadline].into_iter().flatten().min();
        let wake = wake.unwrap_or(idle);
        tokio::select! {
            r = self.socket.recv(&mut self.buf) => match r {
                Ok(n) => {
                    self.bytes_read += n as u64;
                    if let Err(e) = self.ep.handle_datagram(Instant::now(), self.server, &self.buf[..n]) {
                        debug!(error = %e, "RTMFP datagram dropped");
                    }
                }
                Err(e) => return Err(self.io_error(stage, e)),
            },
            () = tokio::time::sleep_until(wake) => {}
        }
        let now = Instant::now();
        self.ep.handle_timeout(now);
        self.drain(now)?;
        self.flush(stage).await?;
        Ok(deadline.is_some_and(|d| tokio::time::Instant::now() >= d))
    }

    /// Hand the endpoint's events to the NetConnection; queue its events.
    fn drain(&mut self, now: Instant) -> Result<(), ClientError> {
        while let Some(event) = self.ep.poll_event() {
            match &event {
                Event::SessionOpened { session, .. } if *session == self.session => {
                    let mut tc = TcClient::new(self.session, TcClientConfig::default());
                    if let Some(c) = self.connect.take() {
                        tc.connect(&mut self.ep, now, c)
                            .map_err(|e| ClientError::Rtmfp(e.to_string()))?;
                    }
                    self.tc = Some(tc);
                    continue;
                }
                Event::SessionClosed { reason, .. } => {
                    self.closed = Some(format!("{reason:?}"));
                }
                _ => {}
            }
            if let Some(tc) = self.tc.as_mut() {
                tc.handle_event(&mut self.ep, now, &event)
                    .map_err(|e| ClientError::Rtmfp(e.to_string()))?;
                self.events.extend(std::iter::from_fn(|| tc.poll_event()));
            }
        }
        Ok(())
    }

    /// The next NetConnection event. `Ok(None)` when `deadline` passed first;
    /// [`ClientError::Closed`] when the session ended (or [`ClientError::Rtmfp`] if it never
    /// opened).
    pub async fn next_event(
        &mut self,
        stage: Stage,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Option<TcClientEvent>, ClientError> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            if let Some(why) = &self.closed {
                if self.tc.is_none() {
                    return Err(ClientError::Rtmfp(format!("session not opened: {why}")));
                }
                return Err(ClientError::Closed(stage));
            }
            if self.turn(stage, deadline).await? {
                return Ok(None);
            }
        }
    }

    /// Close the session and wait (at most `limit`) for the close to be acknowledged.
    pub async fn close(&mut self, limit: Duration) {
        let _ = self.ep.close(Instant::now(), self.session);
        let deadline = tokio::time::Instant::now() + limit;
        while !self.is_closed() {
            match self.turn(Stage::Streaming, Some(deadline)).await {
                Ok(false) => {}
                Ok(true) | Err(_) => break,
            }
        }
    }
}
