//! The endpoint: one UDP socket's worth of sessions, shaped like quinn-proto's `Endpoint`.
//!
//! Call order for a driver:
//!
//! 1. a datagram arrives → [`Endpoint::handle_datagram`];
//! 2. the instant from [`Endpoint::poll_timeout`] passes → [`Endpoint::handle_timeout`];
//! 3. after either, and after any application call, drain [`Endpoint::poll_event`] and
//!    [`Endpoint::poll_transmit`] (send each datagram to its address).
//!
//! Demultiplexing (RFC 7016 §2.2.2): session ID 0 is startup, handled in [`startup`]; any
//! other ID is an open session, or an initiator's startup in progress waiting for RIKeying or
//! a Cookie Change (those are sent to the initiator's session ID under the default key).

mod introduce;
mod startup;

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::Bytes;
use rand::RngCore;

use crate::chunk::Chunk;
use crate::config::EndpointConfig;
use crate::cookie::CookieJar;
use crate::crypto::{self, PacketCrypto};
use crate::error::{ApiError, PacketError, PeerError};
use crate::event::{CloseReason, Event, RecvFlowId, SendFlowId, SessionHandle};
use crate::flash::{self, Epd};
use crate::flow::Reliability;
use crate::packet;
use crate::session::{Role, Session, State};

pub use introduce::MAX_PEER_ADDRESSES;
pub use startup::Opening;

/// An RTMFP endpoint.
pub struct Endpoint {
    cfg: EndpointConfig,
    rng: Box<dyn RngCore + Send>,
    epoch: Instant,
    cookies: CookieJar,
    server_cert: Vec<u8>,
    ephemeral_cert: Vec<u8>,
    // Ordered maps, not `HashMap`: timers, flushes and startup retransmissions walk these, and
    // the order of what comes out must depend only on (seed, times, inputs) so that a transcript
    // replays byte for byte (`tests/replay.rs`); `HashMap`'s per-process random hasher would
    // reorder datagrams of different sessions.
    sessions: BTreeMap<u32, Session>,
    openings: BTreeMap<u32, Opening>,
    per_ip: BTreeMap<IpAddr, usize>,
    transmits: VecDeque<(SocketAddr, Bytes)>,
    /// Set while a datagram is dispatched when it changed sessions other than its own.
    touched_others: bool,
    events: VecDeque<Event>,
    startup_crypto: PacketCrypto,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("sessions", &self.sessions.len())
            .field("openings", &self.openings.len())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A new endpoint; `now` is its clock's epoch, `rng` its source of randomness (keys,
    /// session IDs, tags, cookie secret).
    pub fn new(cfg: EndpointConfig, now: Instant, mut rng: Box<dyn RngCore + Send>) -> Endpoint {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let mut r1 = [0u8; 64];
        rng.fill_bytes(&mut r1);
        let mut r2 = [0u8; 64];
        rng.fill_bytes(&mut r2);
        let groups: Vec<_> = cfg
            .groups
            .iter()
            .copied()
            .filter(|g| g.is_supported())
            .collect();
        Endpoint {
            server_cert: flash::server_certificate(&r1, &groups),
            ephemeral_cert: flash::ephemeral_certificate(&r2, &groups),
            cfg,
            rng,
            epoch: now,
            cookies: CookieJar::new(secret),
            sessions: BTreeMap::new(),
            openings: BTreeMap::new(),
            per_ip: BTreeMap::new(),
            transmits: VecDeque::new(),
            touched_others: false,
            events: VecDeque::new(),
            startup_crypto: PacketCrypto::startup(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// This endpoint's peer ID as a responder (SHA-256 of its certificate).
    pub fn peer_id(&self) -> [u8; 32] {
        flash::fingerprint(&self.server_cert)
    }

    /// This endpoint's peer ID for P2P: the SHA-256 of the certificate it opens sessions with
    /// in [`InitiatorStyle::Ephemeral`](crate::InitiatorStyle::Ephemeral), so the ID a server
    /// sees and introduces; an accepting endpoint answers IHellos (and Forwarded IHellos) for it
    /// with that certificate.
    pub fn p2p_peer_id(&self) -> [u8; 32] {
        flash::fingerprint(&self.ephemeral_cert)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Bytes)> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let s = self
            .sessions
            .values()
            .filter_map(|s| s.poll_timeout())
            .min();
        let o = self.openings.values().map(|o| o.next_send).min();
        s.into_iter().chain(o).min()
    }

    /// Timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.startup_timeouts(now);
        for s in self.sessions.values_mut() {
            s.handle_timeout(now, &self.cfg, &mut self.events);
        }
        self.flush(now);
    }

    /// A datagram from `from`. An error means it was dropped (and, for a
    /// [`PeerError::Protocol`], that its session was closed); the endpoint stays usable.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), PeerError> {
        // A datagram of an open session changes that session only (unless it forwarded an
        // IHello): flushing just it keeps a datagram's cost independent of the session count.
        let target = crypto::session_id(datagram)
            .filter(|id| *id != 0 && !self.openings.contains_key(id))
            .filter(|id| self.sessions.contains_key(id));
        self.touched_others = false;
        let result = self.dispatch(now, from, datagram);
        match target {
            Some(id) if !self.touched_others => self.flush_session(now, id),
            _ => self.flush(now),
        }
        result
    }

    fn dispatch(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), PeerError> {
        let max = self.cfg.limits.max_datagram_len;
        if datagram.len() > max {
            return Err(PacketError::TooLong {
                len: datagram.len(),
                max,
            }
            .into());
        }
        let session_id = crypto::session_id(datagram).ok_or(PacketError::TooShort {
            len: datagram.len(),
        })?;
        if session_id == 0 || self.openings.contains_key(&session_id) {
            let plain = self.startup_crypto.open(datagram)?;
            let packet = packet::decode(Bytes::from(plain))?;
            return self.handle_startup(now, from, session_id, packet);
        }
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return Err(PacketError::UnknownSession { session_id }.into());
        };
        let plain = session.crypto.open(datagram)?;
        let packet = packet::decode(Bytes::from(plain))?;
        let result = match session.handle_packet(now, packet, &self.cfg, &mut self.events) {
            Err(PeerError::Protocol(e)) => {
                session.abort(now, e.clone(), &mut self.events);
                Err(e.into())
            }
            r => r,
        };
        let forwarded = std::mem::take(&mut session.forwarded);
        self.touched_others = !forwarded.is_empty();
        if self.cfg.accept {
            // A Forwarded IHello is answered like an IHello from its reply address: the RHello
            // goes straight to the initiator, which opens the NAT on our side (RFC 7016
            // §3.5.1.5). One that is not for us is dropped, as such an IHello would be.
            for (epd, reply, tag) in forwarded {
                let _ = self.on_ihello(now, reply, &epd, tag);
            }
        }
        result
    }

    fn flush(&mut self, now: Instant) {
        for s in self.sessions.values_mut() {
            s.flush(now, &self.cfg, &mut self.transmits);
        }
        let closed: Vec<u32> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.state == State::Closed)
            .map(|(&id, _)| id)
            .collect();
        for id in closed {
            if let Some(s) = self.sessions.remove(&id) {
                self.release_address(s.addr);
            }
        }
    }

    /// [`flush`](Self::flush) for one session, after a change that concerns it alone.
    fn flush_session(&mut self, now: Instant, id: u32) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.flush(now, &self.cfg, &mut self.transmits);
        if s.state == State::Closed {
            if let Some(s) = self.sessions.remove(&id) {
                self.release_address(s.addr);
            }
        }
    }

    fn release_address(&mut self, addr: SocketAddr) {
        if let Some(n) = self.per_ip.get_mut(&addr.ip()) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&addr.ip());
            }
        }
    }

    fn new_session_id(&mut self) -> u32 {
        loop {
            let id = self.rng.next_u32();
            if id != 0 && !self.sessions.contains_key(&id) && !self.openings.contains_key(&id) {
                return id;
            }
        }
    }

    /// Open a session to `addr` for `epd` (use [`Epd::for_uri`] for a server, [`Epd::for_peer`]
    /// for a peer). [`Event::SessionOpened`] or [`Event::SessionClosed`] follows.
    pub fn connect(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        epd: Epd,
    ) -> Result<SessionHandle, ApiError> {
        let max = self.cfg.limits.max_startups_in_progress;
        if self.openings.len() >= max {
            return Err(ApiError::TooManyStartups { max });
        }
        let epd = epd.encode();
        if epd.len() > 1024 {
            return Err(ApiError::TooLarge {
                what: "endpoint discriminator",
            });
        }
        let id = self.new_session_id();
        let mut tag = [0u8; 16];
        self.rng.fill_bytes(&mut tag);
        let opening = Opening::new(id, addr, epd, tag, now);
        self.openings.insert(id, opening);
        self.send_ihello(now, id);
        Ok(SessionHandle(id))
    }

    fn open_session(&self, session: SessionHandle) -> Result<&Session, ApiError> {
        let s = self
            .sessions
            .get(&session.0)
            .ok_or(ApiError::UnknownSession)?;
        if !s.is_open() {
            return Err(ApiError::SessionNotOpen);
        }
        Ok(s)
    }

    fn open_session_mut(&mut self, session: SessionHandle) -> Result<&mut Session, ApiError> {
        let s = self
            .sessions
            .get_mut(&session.0)
            .ok_or(ApiError::UnknownSession)?;
        if !s.is_open() {
            return Err(ApiError::SessionNotOpen);
        }
        Ok(s)
    }

    /// The far end's peer ID and address.
    pub fn session_peer(&self, session: SessionHandle) -> Result<([u8; 32], SocketAddr), ApiError> {
        let s = self.open_session(session)?;
        Ok((s.peer_id, s.addr))
    }

    /// The session nonces (near, far), as NetConnection.nearNonce / farNonce.
    pub fn session_nonces(&self, session: SessionHandle) -> Result<([u8; 32], [u8; 32]), ApiError> {
        Ok(self.open_session(session)?.nonces)
    }

    /// The smoothed round-trip time.
    pub fn session_rtt(
        &self,
        session: SessionHandle,
    ) -> Result<Option<std::time::Duration>, ApiError> {
        Ok(self.open_session(session)?.rtt())
    }

    /// Which role this end has in a session.
    pub fn session_role(&self, session: SessionHandle) -> Result<Role, ApiError> {
        Ok(self.open_session(session)?.role)
    }

    /// Open a sending flow with `metadata` (RFC 7425: `TC` metadata), optionally as the return
    /// flow of the far end's flow `return_flow`. Priority 0–7; ≥ 4 is time critical.
    pub fn open_flow(
        &mut self,
        session: SessionHandle,
        metadata: Bytes,
        return_flow: Option<RecvFlowId>,
        priority: u8,
    ) -> Result<SendFlowId, ApiError> {
        let max = self.cfg.max_send_flows;
        if metadata.len() > 512 {
            return Err(ApiError::TooLarge {
                what: "flow metadata",
            });
        }
        let s = self.open_session_mut(session)?;
        if s.send_flow_count() >= max {
            return Err(ApiError::TooManyFlows { max });
        }
        Ok(s.open_flow(metadata, return_flow.map(|f| f.0), priority.min(7)))
    }

    /// Queue a message on a flow.
    pub fn send(
        &mut self,
        now: Instant,
        session: SessionHandle,
        flow: SendFlowId,
        message: Bytes,
        reliability: Reliability,
    ) -> Result<(), ApiError> {
        let max_queue = self.cfg.max_send_queue;
        let frag = self.cfg.max_fragment_len;
        let f = self
            .open_session_mut(session)?
            .send_flow_mut(flow)
            .ok_or(ApiError::UnknownFlow)?;
        if f.is_closing() || f.exception.is_some() {
            return Err(ApiError::FlowClosed);
        }
        if f.queued_bytes() + message.len() > max_queue {
            return Err(ApiError::SendQueueFull { max: max_queue });
        }
        f.send(message, reliability, frag);
        self.flush_session(now, session.0);
        Ok(())
    }

    /// Close a sending flow after what is queued; [`Event::FlowClosed`] follows when the far end
    /// has acknowledged everything.
    pub fn close_flow(
        &mut self,
        now: Instant,
        session: SessionHandle,
        flow: SendFlowId,
    ) -> Result<(), ApiError> {
        self.open_session_mut(session)?
            .send_flow_mut(flow)
            .ok_or(ApiError::UnknownFlow)?
            .close();
        self.flush_session(now, session.0);
        Ok(())
    }

    /// Refuse a receiving flow with an application exception code (Flow Exception Report).
    pub fn reject_flow(
        &mut self,
        now: Instant,
        session: SessionHandle,
        flow: RecvFlowId,
        code: u64,
    ) -> Result<(), ApiError> {
        let s = self.open_session_mut(session)?;
        s.recv_flow_mut(flow).ok_or(ApiError::UnknownFlow)?.rejected = Some(code);
        s.queue_control(Chunk::FlowException {
            flow_id: flow.0,
            code,
        });
        self.flush_session(now, session.0);
        Ok(())
    }

    /// Send a ping now (keepalive pings are automatic).
    pub fn ping(&mut self, now: Instant, session: SessionHandle) -> Result<(), ApiError> {
        self.open_session_mut(session)?
            .queue_control(Chunk::Ping(Bytes::new()));
        self.flush_session(now, session.0);
        Ok(())
    }

    /// Close a session (or abandon an open in progress). [`Event::SessionClosed`] follows.
    pub fn close(&mut self, now: Instant, session: SessionHandle) -> Result<(), ApiError> {
        if self.openings.remove(&session.0).is_some() {
            self.events.push_back(Event::SessionClosed {
                session,
                reason: CloseReason::Local,
            });
            return Ok(());
        }
        self.open_session_mut(session)?.close(now);
        self.flush_session(now, session.0);
        Ok(())
    }

    /// Whether a flow may still be sent on (not closed or rejected).
    pub fn send_flow_open(&self, session: SessionHandle, flow: SendFlowId) -> bool {
        self.sessions
            .get(&session.0)
            .and_then(|s| s.send_flows_get(flow))
            .is_some()
    }

    /// Sessions, open or closing.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub(crate) fn send_startup(
        &mut self,
        now: Instant,
        to: SocketAddr,
        session_id: u32,
        chunk: &Chunk,
    ) {
        let header = packet::Header {
            mode: packet::Mode::Startup,
            time_critical: false,
            time_critical_reverse: false,
            timestamp: Some(crate::time::timestamp(self.epoch, now)),
            timestamp_echo: None,
        };
        let Ok(plain) = packet::encode(&header, std::slice::from_ref(chunk)) else {
            return;
        };
        let d = self.startup_crypto.seal(session_id, &plain);
        self.transmits.push_back((to, Bytes::from(d)));
    }
}
