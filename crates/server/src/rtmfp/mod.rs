//! The RTMFP server driver: RTMP over RTMFP (RFC 7016 sessions and flows, RFC 7425 §5 "TC"
//! NetConnections) feeding the same decision chain and hub as RTMP.
//!
//! One tokio task per UDP socket owns a sans-IO [`Endpoint`] and one [`TcServer`] per session
//! (`conn.rs`): datagrams go to [`Endpoint::handle_datagram`], the core's next deadline
//! ([`Endpoint::poll_timeout`]) drives [`Endpoint::handle_timeout`], and every datagram the core
//! queues is sent. `connect`, `publish` and `play` are asked of [`crate::app::App::check`] like
//! RTMP's (refusals are `NetConnection.Connect.Rejected`, `NetStream.Publish.Denied` /
//! `BadName`, `NetStream.Play.Failed` / `StreamNotFound`); a decision that waits for a hook or a
//! pull relay comes back to the loop through a channel, so the socket keeps being served.
//!
//! Publishers feed the hub like RTMP publishers (sequence headers and keyframes classified,
//! `@setDataFrame` cached as metadata, recording and push relays started). Players are hub
//! subscribers (`play.rs`): a small task per player moves the hub's batches to the loop, which
//! hands them to the player's flows. The hub's slow-consumer policy applies as for any sink;
//! on top of it a full RTMFP send queue drops the media message (never a command or status),
//! and audio and video carry their `[rtmfp]` lifetimes so late media are abandoned, not
//! retransmitted (RFC 7016 §3.6.2.3.2).
//!
//! Clients appear in the connection registry (`/api/v1/clients`, transport `rtmfp`) and in
//! the connection metrics. Settings: `[rtmfp]` ([`RtmfpSection`]).

mod config;
mod conn;
mod play;

pub use config::{ListenAddr, RtmfpSection, SAME_AS_RTMP};

use crate::server::ServerError;
use crate::Context;
use conn::{Asked, Conn, Decided, Shared};
use play::PlayerBatch;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sluice_rtmfp::{Endpoint, Event, SessionHandle};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// Largest datagram read (the core drops anything past `Limits::max_datagram_len`, 8192).
const RECV_BUFFER: usize = 8192 + 1;

/// Receive and send buffer asked of the kernel for each RTMFP socket (Linux caps it at
/// `net.core.rmem_max` / `wmem_max`, 4 MiB here): one socket carries every session, and while
/// the loop sends a video frame to every player the players' acknowledgements and handshakes
/// must wait in the kernel rather than be dropped (with the default ~208 KiB, 200 players
/// overflowed it and their handshakes waited for retransmission).
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// How often sessions are checked for a pending close or an API kick.
const HOUSEKEEPING: Duration = Duration::from_millis(250);

/// Player batches and decisions waiting for the loop (the hub's policy takes over past this).
const CHANNEL_DEPTH: usize = 256;

/// Bind every `[rtmfp] listen` address. A defaulted address (`"server.listen"`) that fails is
/// a warning; an explicit one is [`ServerError::Bind`].
pub async fn bind(
    section: &RtmfpSection,
    rtmp_listen: &[String],
) -> Result<Vec<UdpSocket>, ServerError> {
    let mut out = Vec::new();
    for a in section.addresses(rtmp_listen) {
        match UdpSocket::bind(&a.addr).await {
            Ok(s) => {
                let sock = socket2::SockRef::from(&s);
                if let Err(e) = sock
                    .set_recv_buffer_size(SOCKET_BUFFER)
                    .and_then(|()| sock.set_send_buffer_size(SOCKET_BUFFER))
                {
                    debug!(addr = %a.addr, error = %e, "RTMFP socket buffers left at the default");
                }
                out.push(s)
            }
            Err(e) if a.defaulted => {
                warn!(addr = %a.addr, error = %e, "RTMFP not listening on this address (UDP bind failed; set [rtmfp] listen)")
            }
            Err(source) => {
                return Err(ServerError::Bind {
                    what: "RTMFP",
                    addr: a.addr,
                    source,
                })
            }
        }
    }
    Ok(out)
}

/// Serve RTMFP on `socket` until the server shuts down.
pub async fn run(ctx: Arc<Context>, socket: UdpSocket) {
    if let Ok(a) = socket.local_addr() {
        info!(addr = %a, "RTMFP listening");
    }
    let section = ctx.settings.rtmfp.clone();
    let ep = Endpoint::new(
        section.endpoint_config(),
        Instant::now(),
        Box::new(StdRng::from_entropy()),
    );
    let (decided_tx, decided_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (media_tx, media_rx) = mpsc::channel(CHANNEL_DEPTH);
    let mut driver = Driver {
        shared: Shared {
            ctx,
            tc: section.tc_config(),
            decided: decided_tx,
            media: media_tx,
        },
        socket,
        ep,
        conns: HashMap::new(),
        decided_rx,
        media_rx,
    };
    driver.serve().await;
}

struct Driver {
    shared: Shared,
    socket: UdpSocket,
    ep: Endpoint,
    conns: HashMap<SessionHandle, Conn>,
    decided_rx: mpsc::Receiver<Decided>,
    media_rx: mpsc::Receiver<PlayerBatch>,
}

/// What woke the loop.
enum Wake {
    Datagram(usize, SocketAddr),
    RecvError(std::io::Error),
    Timer,
    Decided(Decided),
    Media(PlayerBatch),
    Shutdown,
}

impl Driver {
    async fn serve(&mut self) {
        let mut shutdown = self.shared.ctx.shutdown.subscribe();
        let mut buf = vec![0u8; RECV_BUFFER];
        let mut last_housekeeping = Instant::now();
        loop {
            let now = Instant::now();
            let wake_at = self
                .ep
                .poll_timeout()
                .unwrap_or(now + HOUSEKEEPING)
                .min(now + HOUSEKEEPING);
            let wake = tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => Wake::Datagram(n, from),
                    Err(e) => Wake::RecvError(e),
                },
                _ = tokio::time::sleep_until(wake_at.into()) => Wake::Timer,
                Some(d) = self.decided_rx.recv() => Wake::Decided(d),
                Some(b) = self.media_rx.recv() => Wake::Media(b),
                _ = shutdown.wait_for(|s| *s) => Wake::Shutdown,
            };
            let now = Instant::now();
            match wake {
                Wake::Datagram(n, from) => {
                    if let Err(e) = self.ep.handle_datagram(now, from, &buf[..n]) {
                        debug!(peer = %from, error = %e, "RTMFP datagram dropped");
                    }
                }
                // ICMP errors surface here on some systems: nothing to do but go on.
                Wake::RecvError(e) => debug!(error = %e, "RTMFP socket receive error"),
                Wake::Timer => {}
                Wake::Decided(d) => self.on_decided(now, d),
                Wake::Media(b) => {
                    self.on_media(now, b);
                    // Take what else is ready in the same turn: one flush for all of it.
                    while let Ok(b) = self.media_rx.try_recv() {
                        self.on_media(now, b);
                    }
                }
                Wake::Shutdown => {
                    self.shut_down().await;
                    return;
                }
            }
            // Timers only when one is due: every API call and datagram already flushed what
            // it changed, and a pass over every session per datagram would make the cost of
            // a datagram grow with the number of sessions.
            if now >= wake_at {
                self.ep.handle_timeout(now);
            }
            self.drain(now);
            if now.duration_since(last_housekeeping) >= HOUSEKEEPING {
                last_housekeeping = now;
                self.housekeeping(now);
                self.drain(now);
            }
            self.flush().await;
        }
    }

    /// Hand every endpoint event to its session's [`TcServer`] and act on what it decodes.
    fn drain(&mut self, now: Instant) {
        while let Some(event) = self.ep.poll_event() {
            let session = match &event {
                Event::SessionOpened {
                    session,
                    addr,
                    peer_id,
                } => {
                    let conn = Conn::new(&self.shared, *session, *addr, peer_id);
                    self.conns.insert(*session, conn);
                    *session
                }
                Event::FlowOpened { session, .. }
                | Event::Message { session, .. }
                | Event::FlowClosed { session, .. }
                | Event::SessionClosed { session, .. } => *session,
            };
            let Some(conn) = self.conns.get_mut(&session) else {
                continue;
            };
            conn.handle_event(&mut self.ep, &self.shared, now, &event);
            if let Event::SessionClosed { reason, .. } = &event {
                if let Some(conn) = self.conns.remove(&session) {
                    conn.finish(&self.shared, &format!("{reason:?}"));
                }
            }
        }
    }

    fn on_decided(&mut self, now: Instant, d: Decided) {
        if let Some(conn) = self.conns.get_mut(&d.session) {
            conn.on_decided(&mut self.ep, &self.shared, now, d.ask, d.asked, d.decision);
        }
    }

    fn on_media(&mut self, now: Instant, b: PlayerBatch) {
        if let Some(conn) = self.conns.get_mut(&b.session) {
            conn.on_player_batch(&mut self.ep, now, b);
        }
    }

    /// Close sessions whose refusal has had time to arrive, kicked clients and players the
    /// hub dropped; store byte counters for the API.
    fn housekeeping(&mut self, now: Instant) {
        for (s, conn) in &mut self.conns {
            if conn.wants_close(now) {
                let _ = self.ep.close(now, *s);
            }
        }
    }

    /// Send what the core queued. A send error loses that datagram only (RTMFP retransmits).
    async fn flush(&mut self) {
        while let Some((to, d)) = self.ep.poll_transmit() {
            if let Err(e) = self.socket.send_to(&d, to).await {
                debug!(peer = %to, error = %e, "RTMFP send failed");
            }
        }
    }

    /// Server shutdown: players are told the stream ended, every session is closed and the
    /// close goes out (briefly retransmitted while the far ends answer).
    async fn shut_down(&mut self) {
        let now = Instant::now();
        let sessions: Vec<SessionHandle> = self.conns.keys().copied().collect();
        for s in sessions {
            if let Some(conn) = self.conns.get_mut(&s) {
                conn.shut_down(&mut self.ep, now);
            }
            let _ = self.ep.close(now, s);
        }
        self.drain(now);
        self.flush().await;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        let mut buf = vec![0u8; RECV_BUFFER];
        while !self.conns.is_empty() {
            let wake_at = self.ep.poll_timeout().map_or(deadline, |t| {
                tokio::time::Instant::from_std(t).min(deadline)
            });
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => if let Ok((n, from)) = r {
                    let _ = self.ep.handle_datagram(Instant::now(), from, &buf[..n]);
                },
                _ = tokio::time::sleep_until(wake_at) => {}
            }
            let now = Instant::now();
            self.ep.handle_timeout(now);
            self.drain(now);
            self.flush().await;
            if tokio::time::Instant::now() >= deadline {
                break;
            }
        }
        for (_, conn) in self.conns.drain() {
            conn.finish(&self.shared, "server shutting down");
        }
    }
}

impl Asked {
    /// The stream a request is about (0 for connect).
    fn stream_id(&self) -> u32 {
        match self {
            Asked::Connect(_) => 0,
            Asked::Publish { stream_id, .. }
            | Asked::PublishClaimed { stream_id, .. }
            | Asked::Play { stream_id }
            | Asked::PlayPulled { stream_id } => *stream_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_defaulted_address_that_is_taken_is_a_warning_an_explicit_one_an_error() {
        let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let rtmp = vec![addr.clone()];
        let defaulted = bind(&RtmfpSection::default(), &rtmp).await.unwrap();
        assert!(defaulted.is_empty());
        let explicit = RtmfpSection {
            listen: vec![addr.clone()],
            ..Default::default()
        };
        match bind(&explicit, &rtmp).await {
            Err(ServerError::Bind { what, addr: a, .. }) => {
                assert_eq!((what, a.as_str()), ("RTMFP", addr.as_str()))
            }
            other => panic!("{other:?}"),
        }
        let off = RtmfpSection {
            listen: vec![],
            ..Default::default()
        };
        assert!(bind(&off, &rtmp).await.unwrap().is_empty());
        let free = RtmfpSection {
            listen: vec!["127.0.0.1:0".into()],
            ..Default::default()
        };
        assert_eq!(bind(&free, &rtmp).await.unwrap().len(), 1);
    }
}
