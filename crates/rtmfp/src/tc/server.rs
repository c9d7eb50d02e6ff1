//! A server's NetConnection over one RTMFP session (RFC 7425 §5.3–5.4), sans-IO.
//!
//! The client opens the control flow (TC metadata, stream 0) and sends `connect`; the server
//! answers on a return flow associated with it. `createStream` allocates a stream ID; the client
//! then opens that stream's flows (TC metadata with the stream ID, as return flows of the
//! server's control flow) and sends `publish` or `play` on them. The server answers on its own
//! per-stream flows, return flows of the client's control flow with the stream's TC metadata: one for data and
//! status (priority 5), one for audio (5) and one for video (4), each starting with Flow Sync so
//! the client can keep their order. Decisions (accept or reject connect, publish, play) go back
//! through methods, as in the RTMP core's server session; [`TcServer`] drives the
//! [`Endpoint`](crate::Endpoint) directly (both are sans-IO).
//!
//! Partial reliability (RFC 7425 §5.1.3): audio and video sent with
//! [`TcServer::send_media`] carry a deadline ([`TcServerConfig::audio_lifetime`],
//! [`TcServerConfig::video_lifetime`]) after which RTMFP abandons what is not yet delivered;
//! commands, status and data messages are reliable.
//!
//! Limits on what the client controls: streams per connection, commands queued before `connect`
//! is decided, bytes held behind a Flow Sync barrier, `setPeerInfo` addresses, AMF limits.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use sluice_amf::Amf0Value;
use sluice_rtmp::command::{codes, Command, ConnectResponse, StatusInfo};
use sluice_rtmp::message::UserControlEvent;
use sluice_rtmp::{MessageType, RawMessage};

use super::flows::{command_message, decode_command, StreamFlows};
use super::message::{TcMessage, TcUserControl};
use super::metadata::TcMetadata;
pub use super::server_api::{
    TcError, TcServerConfig, TcServerEvent, EXCEPTION_REFUSED, PRIORITY_IMMEDIATE, PRIORITY_VIDEO,
};
use super::sync::FlowSync;
use crate::endpoint::Endpoint;
use crate::error::ApiError;
use crate::event::{Event, FlowRef, RecvFlowId, SendFlowId, SessionHandle};
use crate::flow::Reliability;

#[derive(Debug, Default)]
struct Stream {
    out: Option<StreamFlows>,
    publishing: bool,
    playing: bool,
}

#[derive(Debug)]
enum ConnState {
    /// No connect yet.
    Idle,
    /// Connect asked, waiting for the application.
    Deciding {
        transaction_id: f64,
    },
    Connected,
}

/// The NetConnection of one RTMFP session, server side.
#[derive(Debug)]
pub struct TcServer {
    session: SessionHandle,
    cfg: TcServerConfig,
    state: ConnState,
    control_in: Option<RecvFlowId>,
    control_out: Option<SendFlowId>,
    pending: VecDeque<(RecvFlowId, TcMessage)>,
    streams: BTreeMap<u32, Stream>,
    next_stream_id: u32,
    flow_streams: HashMap<RecvFlowId, u32>,
    sync: FlowSync,
    next_sync_id: u32,
    events: VecDeque<TcServerEvent>,
}

impl TcServer {
    /// The NetConnection of `session` (created when [`Event::SessionOpened`] arrives).
    pub fn new(session: SessionHandle, cfg: TcServerConfig) -> TcServer {
        let sync = FlowSync::new(cfg.max_sync_held_bytes);
        TcServer {
            session,
            cfg,
            state: ConnState::Idle,
            control_in: None,
            control_out: None,
            pending: VecDeque::new(),
            streams: BTreeMap::new(),
            next_stream_id: 1,
            flow_streams: HashMap::new(),
            sync,
            next_sync_id: 1,
            events: VecDeque::new(),
        }
    }

    /// The session.
    pub fn session(&self) -> SessionHandle {
        self.session
    }

    /// Next event for the application.
    pub fn poll_event(&mut self) -> Option<TcServerEvent> {
        self.events.pop_front()
    }

    /// Handle an endpoint event of this session. An error means the client broke the protocol:
    /// log it and close the session.
    pub fn handle_event(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        event: &Event,
    ) -> Result<(), TcError> {
        match event {
            Event::FlowOpened { flow, metadata, .. } => self.flow_opened(ep, now, *flow, metadata),
            Event::Message { flow, bytes, .. } => {
                let msg = TcMessage::decode(bytes)?;
                self.message(ep, now, *flow, msg)
            }
            Event::FlowClosed {
                flow: FlowRef::Recv(flow),
                ..
            } => {
                if self.control_in == Some(*flow) {
                    self.events.push_back(TcServerEvent::Disconnected);
                } else if let Some(id) = self.flow_streams.remove(flow) {
                    let still_open = self.flow_streams.values().any(|s| *s == id);
                    if !still_open {
                        self.close_stream(ep, now, id, false);
                    }
                }
                Ok(())
            }
            Event::SessionClosed { .. } => {
                self.events.push_back(TcServerEvent::Disconnected);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn flow_opened(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        flow: RecvFlowId,
        metadata: &Bytes,
    ) -> Result<(), TcError> {
        let md = match TcMetadata::decode(metadata) {
            Ok(md) => md,
            Err(_) => {
                ep.reject_flow(now, self.session, flow, EXCEPTION_REFUSED)?;
                return Ok(());
            }
        };
        if md.stream_id == 0 {
            if self.control_in.is_some() {
                ep.reject_flow(now, self.session, flow, EXCEPTION_REFUSED)?;
            } else {
                self.control_in = Some(flow);
            }
        } else if self.streams.contains_key(&md.stream_id) {
            self.flow_streams.insert(flow, md.stream_id);
        } else {
            ep.reject_flow(now, self.session, flow, EXCEPTION_REFUSED)?;
        }
        Ok(())
    }

    fn message(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        flow: RecvFlowId,
        msg: TcMessage,
    ) -> Result<(), TcError> {
        if !matches!(self.state, ConnState::Connected) && msg.type_id != MessageType::USER_CONTROL {
            let is_connect = Some(flow) == self.control_in && matches!(self.state, ConnState::Idle);
            if !is_connect {
                if self.pending.len() >= self.cfg.max_pending_commands {
                    return Err(TcError::TooManyPending(self.cfg.max_pending_commands));
                }
                self.pending.push_back((flow, msg));
                return Ok(());
            }
        }
        if Some(flow) == self.control_in {
            return self.control_message(ep, now, flow, msg);
        }
        let Some(&stream_id) = self.flow_streams.get(&flow) else {
            return Ok(());
        };
        if msg.type_id == MessageType::USER_CONTROL {
            if let TcUserControl::FlowSync { sync_id, count } = TcUserControl::decode(&msg.payload)?
            {
                for (_, m) in self.sync.sync(stream_id, flow, sync_id, count) {
                    self.stream_message(ep, now, stream_id, m)?;
                }
            }
            return Ok(());
        }
        for (_, m) in self.sync.message(stream_id, flow, msg) {
            self.stream_message(ep, now, stream_id, m)?;
        }
        Ok(())
    }

    fn command(&self, msg: &TcMessage) -> Result<Option<Command>, TcError> {
        decode_command(msg, &self.cfg.amf)
    }

    fn control_message(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        _flow: RecvFlowId,
        msg: TcMessage,
    ) -> Result<(), TcError> {
        let Some(cmd) = self.command(&msg)? else {
            return Ok(());
        };
        match cmd {
            Command::Connect(c) => {
                if !matches!(self.state, ConnState::Idle) {
                    return Err(TcError::RepeatedConnect);
                }
                self.state = ConnState::Deciding {
                    transaction_id: c.transaction_id,
                };
                self.events.push_back(TcServerEvent::Connect(c));
            }
            Command::CreateStream { transaction_id } => {
                if self.streams.len() >= self.cfg.max_streams {
                    let info = StatusInfo::error(codes::CALL_FAILED, "too many streams");
                    self.send_control(ep, now, Command::error(transaction_id, info))?;
                } else {
                    let id = self.next_stream_id;
                    self.next_stream_id = self.next_stream_id.wrapping_add(1).max(1);
                    self.streams.insert(id, Stream::default());
                    let reply =
                        Command::result(transaction_id, vec![Amf0Value::Number(f64::from(id))]);
                    self.send_control(ep, now, reply)?;
                }
            }
            Command::DeleteStream { stream_id } => self.close_stream(ep, now, stream_id, true),
            Command::Call(m) if m.name == "setPeerInfo" => {
                let addrs = m
                    .args
                    .iter()
                    .filter_map(|v| match v {
                        Amf0Value::String(s) if s.len() <= 64 => Some(s.clone()),
                        _ => None,
                    })
                    .take(self.cfg.max_peer_addresses)
                    .collect();
                self.events.push_back(TcServerEvent::PeerInfo(addrs));
            }
            Command::ReleaseStream { transaction_id, .. }
            | Command::FcPublish { transaction_id, .. }
            | Command::CheckBw { transaction_id }
            | Command::GetStreamLength { transaction_id, .. }
                if transaction_id != 0.0 =>
            {
                let reply = Command::result(transaction_id, vec![Amf0Value::Undefined]);
                self.send_control(ep, now, reply)?;
            }
            Command::FcUnpublish { .. } | Command::Close => {}
            Command::Call(m) if m.transaction_id != 0.0 => {
                let info = StatusInfo::error(codes::CALL_FAILED, format!("no method {}", m.name));
                self.send_control(ep, now, Command::error(m.transaction_id, info))?;
            }
            _ => {}
        }
        Ok(())
    }

    fn stream_message(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        stream_id: u32,
        msg: TcMessage,
    ) -> Result<(), TcError> {
        match msg.type_id {
            MessageType::AUDIO
            | MessageType::VIDEO
            | MessageType::DATA_AMF0
            | MessageType::DATA_AMF3 => {
                if self.streams.get(&stream_id).is_some_and(|s| s.publishing) {
                    self.events
                        .push_back(TcServerEvent::Media(msg.into_raw(stream_id)));
                }
                return Ok(());
            }
            _ => {}
        }
        let Some(cmd) = self.command(&msg)? else {
            return Ok(());
        };
        if !self.streams.contains_key(&stream_id) {
            return Ok(());
        }
        match cmd {
            Command::Publish { name, mode, .. } => {
                self.events.push_back(TcServerEvent::Publish {
                    stream_id,
                    name,
                    mode,
                });
            }
            Command::Play(args) => {
                self.events
                    .push_back(TcServerEvent::Play { stream_id, args });
            }
            Command::CloseStream => self.close_stream(ep, now, stream_id, false),
            Command::DeleteStream { stream_id } => self.close_stream(ep, now, stream_id, true),
            _ => {}
        }
        Ok(())
    }

    fn close_stream(&mut self, ep: &mut Endpoint, now: Instant, stream_id: u32, delete: bool) {
        let active = self
            .streams
            .get_mut(&stream_id)
            .map(|s| std::mem::take(&mut s.publishing) | std::mem::take(&mut s.playing))
            .unwrap_or(false);
        if delete {
            if let Some(s) = self.streams.remove(&stream_id) {
                for f in s.out.iter().flat_map(StreamFlows::all) {
                    // The session may already be gone; nothing more to close then.
                    let _ = ep.close_flow(now, self.session, f);
                }
            }
            self.flow_streams.retain(|_, s| *s != stream_id);
        }
        // Held messages of a stream that stopped are of no use.
        drop(self.sync.remove(stream_id));
        if active {
            self.events
                .push_back(TcServerEvent::StreamClosed { stream_id });
        }
    }

    fn send_control(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        cmd: Command,
    ) -> Result<(), TcError> {
        let flow = match self.control_out {
            Some(f) => f,
            None => {
                let f = ep.open_flow(
                    self.session,
                    TcMetadata::CONTROL.encode(),
                    self.control_in,
                    PRIORITY_IMMEDIATE,
                )?;
                self.control_out = Some(f);
                f
            }
        };
        let msg = command_message(&cmd);
        ep.send(now, self.session, flow, msg.encode(), Reliability::Reliable)?;
        Ok(())
    }

    /// Accept `connect`: `_result` on the control return flow, Set Keepalive Timers, then the
    /// commands that arrived meanwhile.
    pub fn accept_connect(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        response: &ConnectResponse,
    ) -> Result<(), TcError> {
        let ConnState::Deciding { transaction_id } = self.state else {
            return Err(TcError::NotConnected("accept_connect".into()));
        };
        self.state = ConnState::Connected;
        let msg = response.to_message(transaction_id);
        self.send_control(ep, now, Command::Call(msg))?;
        if let Some((server, peer)) = self.cfg.keepalive_ms {
            let ka = TcUserControl::SetKeepaliveTimers {
                server_keepalive_ms: server,
                peer_keepalive_ms: peer,
            };
            let flow = self
                .control_out
                .ok_or(TcError::NotConnected("keepalive".into()))?;
            ep.send(
                now,
                self.session,
                flow,
                ka.to_message().encode(),
                Reliability::Reliable,
            )?;
        }
        while let Some((flow, msg)) = self.pending.pop_front() {
            self.message(ep, now, flow, msg)?;
        }
        Ok(())
    }

    /// Refuse `connect` with `_error`; the caller closes the session after flushing.
    pub fn reject_connect(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        info: StatusInfo,
    ) -> Result<(), TcError> {
        let ConnState::Deciding { transaction_id } = self.state else {
            return Err(TcError::NotConnected("reject_connect".into()));
        };
        self.state = ConnState::Idle;
        self.pending.clear();
        self.send_control(ep, now, Command::error(transaction_id, info))
    }

    fn stream_flows(&mut self, ep: &mut Endpoint, stream_id: u32) -> Result<StreamFlows, TcError> {
        let stream = self
            .streams
            .get_mut(&stream_id)
            .ok_or(ApiError::UnknownFlow)?;
        if let Some(out) = stream.out {
            return Ok(out);
        }
        // rtmfp-cpp (TCConnection::acceptFlow) takes every server flow as a return flow of its
        // control flow and routes it by the metadata's stream ID; RFC 7425 §5.3.2 says the same.
        let out = StreamFlows::open(ep, self.session, stream_id, self.control_in)?;
        stream.out = Some(out);
        Ok(out)
    }

    /// Send `onStatus` on a stream's data flow.
    pub fn send_status(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        stream_id: u32,
        info: StatusInfo,
    ) -> Result<(), TcError> {
        let out = self.stream_flows(ep, stream_id)?;
        out.send_data(
            ep,
            now,
            self.session,
            &command_message(&Command::OnStatus(info)),
        )?;
        Ok(())
    }

    fn sync_all(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        out: StreamFlows,
    ) -> Result<(), TcError> {
        out.sync(ep, now, self.session, self.next_sync_id)?;
        self.next_sync_id = self.next_sync_id.wrapping_add(1);
        Ok(())
    }

    /// Accept `publish`: `NetStream.Publish.Start`; media on the stream become
    /// [`TcServerEvent::Media`].
    pub fn accept_publish(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        stream_id: u32,
        name: &str,
    ) -> Result<(), TcError> {
        if let Some(s) = self.streams.get_mut(&stream_id) {
            s.publishing = true;
        }
        let info = StatusInfo::status(codes::PUBLISH_START, format!("{name} is now published"));
        self.send_status(ep, now, stream_id, info)
    }

    /// Accept `play`: Flow Sync on the stream's three flows, Stream Begin, `NetStream.Play.Reset`
    /// and `NetStream.Play.Start`; then [`TcServer::send_media`] delivers the stream.
    pub fn accept_play(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        stream_id: u32,
        name: &str,
    ) -> Result<(), TcError> {
        if let Some(s) = self.streams.get_mut(&stream_id) {
            s.playing = true;
        }
        let out = self.stream_flows(ep, stream_id)?;
        self.sync_all(ep, now, out)?;
        let begin = TcUserControl::Rtmp(UserControlEvent::StreamBegin(stream_id)).to_message();
        out.send_data(ep, now, self.session, &begin)?;
        let reset = StatusInfo::status(codes::PLAY_RESET, format!("Playing and resetting {name}"));
        self.send_status(ep, now, stream_id, reset)?;
        let start = StatusInfo::status(codes::PLAY_START, format!("Started playing {name}"));
        self.send_status(ep, now, stream_id, start)
    }

    /// Refuse `publish` or `play` with an error status.
    pub fn reject_stream(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        stream_id: u32,
        info: StatusInfo,
    ) -> Result<(), TcError> {
        self.send_status(ep, now, stream_id, info)
    }

    /// Send an audio, video or data message to a player of `stream_id`. Audio and video carry
    /// their lifetime as an abandonment deadline. Returns false when the message was dropped
    /// because the flow's send queue is full (a slow player loses media, not the session).
    pub fn send_media(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        stream_id: u32,
        msg: &RawMessage,
    ) -> Result<bool, TcError> {
        if !self.streams.get(&stream_id).is_some_and(|s| s.playing) {
            return Ok(false);
        }
        let out = self.stream_flows(ep, stream_id)?;
        let lifetimes = (self.cfg.audio_lifetime, self.cfg.video_lifetime);
        out.send_media(ep, now, self.session, msg, lifetimes)
    }

    /// Whether `stream_id` is playing (accepted `play`).
    pub fn is_playing(&self, stream_id: u32) -> bool {
        self.streams.get(&stream_id).is_some_and(|s| s.playing)
    }
}
