//! An open session (RFC 7016 §3.5.3–3.5.5): packets in, chunks dispatched to flows; flows,
//! acknowledgements and control chunks out under congestion control; keepalive pings, idle
//! timeout, and the close handshake (Close Request every 5 s until acknowledged or 90 s pass; a
//! received close is acknowledged and the session lingers 19 s answering repeats).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::chunk::{Chunk, UserData};
use crate::config::EndpointConfig;
use crate::crypto::PacketCrypto;
use crate::error::{PacketError, PeerError, ProtocolError};
use crate::event::{CloseReason, Event, FlowRef, RecvFlowId, SendFlowId, SessionHandle};
use crate::flow::congestion::Congestion;
use crate::flow::{RecvFlow, SendFlow};
use crate::packet::{Header, Mode, Packet, PacketBuilder};
use crate::time::{timestamp, Echo, Rtt};

/// Close Request retransmission interval.
pub const CLOSE_INTERVAL: Duration = Duration::from_secs(5);
/// Give up waiting for a Close Acknowledgement after this long.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(90);
/// Linger after a received close, answering repeats.
pub const CLOSE_LINGER: Duration = Duration::from_secs(19);
/// Forwarded IHellos taken from one packet; more are ignored.
pub const MAX_FORWARDED_PER_PACKET: usize = 4;

/// Which end started the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sent IHello.
    Initiator,
    /// Answered it.
    Responder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Open,
    Closing { since: Instant, next_close: Instant },
    Lingering { until: Instant },
    Closed,
}

/// Session state.
#[derive(Debug)]
pub struct Session {
    pub(crate) handle: SessionHandle,
    pub(crate) role: Role,
    pub(crate) addr: SocketAddr,
    pub(crate) far_session_id: u32,
    pub(crate) crypto: PacketCrypto,
    pub(crate) peer_id: [u8; 32],
    pub(crate) nonces: ([u8; 32], [u8; 32]),
    pub(crate) state: State,
    /// A packet under the session keys has arrived (a responder session before that is a
    /// startup in progress).
    pub(crate) confirmed: bool,
    /// Responder: the initiator's session ID and SKIC, and the RIKeying packet, to answer a
    /// repeated IIKeying.
    pub(crate) rikeying: Option<(Bytes, Vec<u8>)>,
    epoch: Instant,
    echo: Echo,
    rtt: Rtt,
    cc: Congestion,
    last_recv: Instant,
    last_ping: Option<Instant>,
    control: VecDeque<Chunk>,
    /// Other addresses the far end says it has (`setPeerInfo`), for P2P introduction; `None`
    /// until it said (only such far ends are introduced, as tcserver does).
    pub(crate) peer_addrs: Option<Vec<SocketAddr>>,
    /// Forwarded IHellos of the last packet (EPD, reply address, tag), for the endpoint.
    pub(crate) forwarded: Vec<(Bytes, SocketAddr, Bytes)>,
    send_flows: BTreeMap<u64, SendFlow>,
    next_flow_id: u64,
    recv_flows: BTreeMap<u64, RecvFlow>,
    buffered: usize,
    ack_due: Option<Instant>,
    /// [`Self::poll_timeout`] as of the last flush: every change to a session (a datagram, an
    /// API call, a timer) ends with a flush, and the endpoint asks for the earliest timer of
    /// all its sessions on every turn, so it is kept rather than recomputed from every flow.
    next_timeout: Option<Instant>,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        handle: SessionHandle,
        role: Role,
        addr: SocketAddr,
        far_session_id: u32,
        crypto: PacketCrypto,
        peer_id: [u8; 32],
        nonces: ([u8; 32], [u8; 32]),
        epoch: Instant,
        now: Instant,
        cfg: &EndpointConfig,
    ) -> Session {
        Session {
            handle,
            role,
            addr,
            far_session_id,
            crypto,
            peer_id,
            nonces,
            state: State::Open,
            confirmed: role == Role::Initiator,
            rikeying: None,
            epoch,
            echo: Echo::default(),
            rtt: Rtt::default(),
            cc: Congestion::new(cfg.max_packet_len),
            last_recv: now,
            last_ping: None,
            control: VecDeque::new(),
            peer_addrs: None,
            forwarded: Vec::new(),
            send_flows: BTreeMap::new(),
            next_flow_id: 1,
            recv_flows: BTreeMap::new(),
            buffered: 0,
            ack_due: None,
            next_timeout: Some(now),
        }
    }

    /// The smoothed round-trip time, once measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    pub(crate) fn is_open(&self) -> bool {
        self.state == State::Open
    }

    pub(crate) fn send_flow_mut(&mut self, id: SendFlowId) -> Option<&mut SendFlow> {
        self.send_flows.get_mut(&id.0)
    }

    pub(crate) fn recv_flow_mut(&mut self, id: RecvFlowId) -> Option<&mut RecvFlow> {
        self.recv_flows.get_mut(&id.0)
    }

    pub(crate) fn send_flows_get(&self, id: SendFlowId) -> Option<&SendFlow> {
        self.send_flows.get(&id.0)
    }

    pub(crate) fn send_flow_count(&self) -> usize {
        self.send_flows.len()
    }

    pub(crate) fn open_flow(
        &mut self,
        metadata: Bytes,
        return_flow: Option<u64>,
        priority: u8,
    ) -> SendFlowId {
        let id = self.next_flow_id;
        self.next_flow_id += 1;
        self.send_flows
            .insert(id, SendFlow::new(id, metadata, return_flow, priority));
        SendFlowId(id)
    }

    pub(crate) fn queue_control(&mut self, chunk: Chunk) {
        self.control.push_back(chunk);
    }

    /// Start closing locally.
    pub(crate) fn close(&mut self, now: Instant) {
        if self.state == State::Open {
            self.state = State::Closing {
                since: now,
                next_close: now,
            };
        }
    }

    /// Close because the far end broke a rule; reports it now.
    pub(crate) fn abort(
        &mut self,
        now: Instant,
        error: ProtocolError,
        events: &mut VecDeque<Event>,
    ) {
        if self.state == State::Open {
            events.push_back(Event::SessionClosed {
                session: self.handle,
                reason: CloseReason::ProtocolViolation(error),
            });
            // Tell the far end once; no further retransmission.
            self.control.push_back(Chunk::Close);
            self.state = State::Lingering {
                until: now + CLOSE_LINGER,
            };
        }
    }

    /// A decrypted packet for this session.
    pub(crate) fn handle_packet(
        &mut self,
        now: Instant,
        packet: Packet,
        cfg: &EndpointConfig,
        events: &mut VecDeque<Event>,
    ) -> Result<(), PeerError> {
        let expected = match self.role {
            Role::Initiator => Mode::Responder,
            Role::Responder => Mode::Initiator,
        };
        if packet.header.mode != expected {
            return Err(PacketError::BadMode {
                mode: packet.header.flags() & 3,
            }
            .into());
        }
        if self.state == State::Closed {
            return Ok(());
        }
        self.last_recv = now;
        self.confirmed = true;
        if let Some(ts) = packet.header.timestamp {
            self.echo.on_timestamp(ts, now);
        }
        if let Some(e) = packet.header.timestamp_echo {
            if let Some(sample) = self.echo.on_echo(e, timestamp(self.epoch, now)) {
                self.rtt.sample(sample);
            }
        }
        let mut last: Option<UserData> = None;
        let mut data_flows: Vec<u64> = Vec::new();
        for chunk in packet.chunks {
            match chunk {
                Chunk::Ping(body) => self.control.push_back(Chunk::PingReply(body)),
                Chunk::PingReply(_) => {}
                Chunk::UserData(d) => {
                    self.on_user_data(&d, cfg, events, &mut data_flows)?;
                    last = Some(d);
                }
                Chunk::NextUserData(mut d) => {
                    let prev = last.as_ref().ok_or(ProtocolError::OrphanNextUserData)?;
                    d.flow_id = prev.flow_id;
                    d.seq = prev.seq + 1;
                    d.fsn_offset = prev.fsn_offset + 1;
                    self.on_user_data(&d, cfg, events, &mut data_flows)?;
                    last = Some(d);
                }
                Chunk::AckBitmap(a) | Chunk::AckRanges(a) => {
                    let Some(flow) = self.send_flows.get_mut(&a.flow_id) else {
                        continue;
                    };
                    let o = flow.on_ack(&a)?;
                    self.cc.on_acked(o.acked);
                    if o.acked > 0 {
                        self.rtt.reset_backoff();
                    }
                    if o.lost > 0 {
                        let rtt = self.rtt.srtt().unwrap_or(self.rtt.erto());
                        self.cc.on_lost(o.lost, now, rtt);
                    }
                    if flow.is_finished() {
                        self.send_flows.remove(&a.flow_id);
                        events.push_back(Event::FlowClosed {
                            session: self.handle,
                            flow: FlowRef::Send {
                                flow: SendFlowId(a.flow_id),
                                exception: None,
                            },
                        });
                    }
                }
                Chunk::BufferProbe { flow_id } => {
                    if let Some(f) = self.recv_flows.get_mut(&flow_id) {
                        f.ack_wanted = true;
                        f.ack_now = true;
                    }
                }
                Chunk::FlowException { flow_id, code } => {
                    if let Some(mut f) = self.send_flows.remove(&flow_id) {
                        let left = f.on_exception(code);
                        self.cc.on_removed(left);
                        events.push_back(Event::FlowClosed {
                            session: self.handle,
                            flow: FlowRef::Send {
                                flow: SendFlowId(flow_id),
                                exception: Some(code),
                            },
                        });
                    }
                }
                Chunk::Close => {
                    self.control.push_back(Chunk::CloseAck);
                    match self.state {
                        State::Open => {
                            events.push_back(Event::SessionClosed {
                                session: self.handle,
                                reason: CloseReason::Peer,
                            });
                            self.state = State::Lingering {
                                until: now + CLOSE_LINGER,
                            };
                        }
                        State::Closing { .. } => {
                            events.push_back(Event::SessionClosed {
                                session: self.handle,
                                reason: CloseReason::Local,
                            });
                            self.state = State::Lingering {
                                until: now + CLOSE_LINGER,
                            };
                        }
                        _ => {}
                    }
                }
                Chunk::CloseAck => match self.state {
                    State::Closing { .. } => {
                        events.push_back(Event::SessionClosed {
                            session: self.handle,
                            reason: CloseReason::Local,
                        });
                        self.state = State::Closed;
                    }
                    // The far end closed abruptly (RFC 7016 §3.5.5.2): it sends a Close
                    // Acknowledgement and forgets the session, as rtmfp-cpp does when its
                    // application shuts down. Answer in kind and close at once.
                    State::Open => {
                        self.control.push_back(Chunk::CloseAck);
                        events.push_back(Event::SessionClosed {
                            session: self.handle,
                            reason: CloseReason::Peer,
                        });
                        self.state = State::Lingering {
                            until: now + CLOSE_LINGER,
                        };
                    }
                    _ => {}
                },
                // The target's side of a P2P introduction (RFC 7016 §3.5.1.5): the endpoint
                // answers it like an IHello from the reply address. At most a few per packet;
                // the rest are ignored below.
                Chunk::ForwardedIHello {
                    epd,
                    reply_address,
                    tag,
                } if self.forwarded.len() < MAX_FORWARDED_PER_PACKET => {
                    self.forwarded.push((epd, reply_address.addr, tag));
                }
                c if c.kind().is_startup() => {
                    return Err(ProtocolError::StartupChunkInSession { chunk: c.kind().0 }.into())
                }
                // Forwarded IHello (P2P introduction) is not implemented yet; unknown chunks
                // are ignored (RFC 7016 §2.3).
                _ => {}
            }
        }
        for id in data_flows {
            if let Some(f) = self.recv_flows.get_mut(&id) {
                f.packets_since_ack += 1;
                if f.ack_now || f.packets_since_ack >= 2 {
                    self.ack_due = Some(now);
                } else if self.ack_due.is_none() {
                    self.ack_due = Some(now + cfg.ack_delay);
                }
            }
        }
        Ok(())
    }

    fn on_user_data(
        &mut self,
        d: &UserData,
        cfg: &EndpointConfig,
        events: &mut VecDeque<Event>,
        data_flows: &mut Vec<u64>,
    ) -> Result<(), ProtocolError> {
        if self.state != State::Open {
            return Ok(());
        }
        let limits = &cfg.limits;
        if !self.recv_flows.contains_key(&d.flow_id) {
            let Some(metadata) = d.metadata.clone() else {
                // A fragment of a flow we never saw opening (or already forgot): nothing to
                // attach it to.
                return Ok(());
            };
            if self.recv_flows.len() >= limits.max_flows_per_session {
                return Err(ProtocolError::TooManyFlows {
                    max: limits.max_flows_per_session,
                });
            }
            let return_flow = d.return_flow.filter(|f| self.send_flows.contains_key(f));
            self.recv_flows.insert(
                d.flow_id,
                RecvFlow::new(d.flow_id, metadata.clone(), return_flow),
            );
            events.push_back(Event::FlowOpened {
                session: self.handle,
                flow: RecvFlowId(d.flow_id),
                metadata,
                return_flow: return_flow.map(SendFlowId),
            });
        }
        let flow = self.recv_flows.get_mut(&d.flow_id).expect("inserted above");
        if !data_flows.contains(&d.flow_id) {
            data_flows.push(d.flow_id);
        }
        if let Some(code) = flow.rejected {
            self.control.push_back(Chunk::FlowException {
                flow_id: d.flow_id,
                code,
            });
            return Ok(());
        }
        let mut messages = Vec::new();
        let result = flow.on_fragment(d, limits, &mut self.buffered, &mut messages);
        for bytes in messages {
            events.push_back(Event::Message {
                session: self.handle,
                flow: RecvFlowId(d.flow_id),
                bytes,
            });
        }
        result?;
        if flow.fin_reached() && !flow.finished {
            flow.finished = true;
            flow.ack_now = true;
            events.push_back(Event::FlowClosed {
                session: self.handle,
                flow: FlowRef::Recv(RecvFlowId(d.flow_id)),
            });
        }
        Ok(())
    }

    fn retransmit_due(&self) -> Option<Instant> {
        self.send_flows
            .values()
            .filter_map(|f| f.oldest_in_flight())
            .min()
            .map(|t| t + self.rtt.erto())
    }

    fn keepalive_due(&self, cfg: &EndpointConfig) -> Instant {
        self.last_ping.unwrap_or(self.last_recv).max(self.last_recv) + cfg.keepalive
    }

    /// The next instant `handle_timeout` has work (as of the last flush).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout
    }

    fn compute_timeout(&self, cfg: &EndpointConfig) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            State::Lingering { until } => Some(until),
            State::Closing { since, next_close } => Some(next_close.min(since + CLOSE_TIMEOUT)),
            State::Open => [
                self.ack_due,
                self.retransmit_due(),
                Some(self.keepalive_due(cfg)),
                Some(self.last_recv + cfg.idle_timeout),
            ]
            .into_iter()
            .flatten()
            .min(),
        }
    }

    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        cfg: &EndpointConfig,
        events: &mut VecDeque<Event>,
    ) {
        match self.state {
            State::Closed => {}
            State::Lingering { until } => {
                if now >= until {
                    self.state = State::Closed;
                }
            }
            State::Closing { since, next_close } => {
                if now >= since + CLOSE_TIMEOUT {
                    self.state = State::Closed;
                    events.push_back(Event::SessionClosed {
                        session: self.handle,
                        reason: CloseReason::Local,
                    });
                } else if now >= next_close {
                    self.control.push_back(Chunk::Close);
                    self.state = State::Closing {
                        since,
                        next_close: now + CLOSE_INTERVAL,
                    };
                }
            }
            State::Open => {
                if now >= self.last_recv + cfg.idle_timeout {
                    self.state = State::Closed;
                    events.push_back(Event::SessionClosed {
                        session: self.handle,
                        reason: CloseReason::IdleTimeout,
                    });
                    return;
                }
                if now >= self.keepalive_due(cfg) {
                    self.last_ping = Some(now);
                    self.control.push_back(Chunk::Ping(Bytes::new()));
                }
                if self.retransmit_due().is_some_and(|t| now >= t) {
                    for f in self.send_flows.values_mut() {
                        f.on_timeout();
                    }
                    self.cc.on_timeout();
                    self.rtt.back_off();
                }
            }
        }
    }

    /// Build and seal every packet there is to send now.
    pub(crate) fn flush(
        &mut self,
        now: Instant,
        cfg: &EndpointConfig,
        out: &mut VecDeque<(SocketAddr, Bytes)>,
    ) {
        self.flush_packets(now, cfg, out);
        self.next_timeout = self.compute_timeout(cfg);
    }

    fn flush_packets(
        &mut self,
        now: Instant,
        cfg: &EndpointConfig,
        out: &mut VecDeque<(SocketAddr, Bytes)>,
    ) {
        if self.state == State::Closed {
            return;
        }
        for f in self.send_flows.values_mut() {
            let left = f.abandon_expired(now);
            self.cc.on_removed(left);
        }
        let acks_due =
            self.ack_due.is_some_and(|t| now >= t) || self.recv_flows.values().any(|f| f.ack_now);
        let mut acks: VecDeque<Chunk> = VecDeque::new();
        if acks_due {
            self.ack_due = None;
            for f in self.recv_flows.values_mut() {
                if f.ack_wanted || f.ack_now {
                    acks.push_back(Chunk::AckRanges(f.make_ack(&cfg.limits)));
                }
            }
        }
        let mut order: Vec<(u8, u64)> = self
            .send_flows
            .values()
            .map(|f| (f.priority, f.id))
            .collect();
        order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let sending_data = self.state == State::Open;
        loop {
            let time_critical = sending_data
                && self
                    .send_flows
                    .values()
                    .any(|f| f.priority >= 4 && f.has_ready());
            let header = Header {
                mode: match self.role {
                    Role::Initiator => Mode::Initiator,
                    Role::Responder => Mode::Responder,
                },
                time_critical,
                time_critical_reverse: false,
                timestamp: Some(timestamp(self.epoch, now)),
                timestamp_echo: self.echo.echo(now),
            };
            let mut b = PacketBuilder::new(header, cfg.max_packet_len);
            while let Some(c) = self.control.front() {
                if !b.push(c).unwrap_or(false) {
                    break;
                }
                self.control.pop_front();
            }
            while let Some(c) = acks.front() {
                if !b.push(c).unwrap_or(false) {
                    break;
                }
                acks.pop_front();
            }
            if sending_data {
                'flows: for &(_, id) in &order {
                    let Some(flow) = self.send_flows.get_mut(&id) else {
                        continue;
                    };
                    while self.cc.can_send(1) {
                        let room = b.remaining();
                        let Some((ud, len)) = flow.next_chunk(room, now) else {
                            break;
                        };
                        if !b.push(&Chunk::UserData(ud)).unwrap_or(false) {
                            break 'flows;
                        }
                        self.cc.on_sent(len);
                    }
                }
            }
            if b.chunk_count() == 0 {
                break;
            }
            let plain = b.finish();
            let datagram = self.crypto.seal(self.far_session_id, &plain);
            out.push_back((self.addr, Bytes::from(datagram)));
        }
    }
}
