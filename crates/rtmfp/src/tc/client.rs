//! A client's NetConnection over one RTMFP session (RFC 7425 §5.3), sans-IO: the mirror of
//! [`TcServer`](super::TcServer).
//!
//! [`TcClient::connect`] opens the control flow (TC metadata, stream 0, priority 5) and sends
//! `connect`; the server answers on a return flow. Commands issued before the `connect` result
//! are held (AMS refuses `createStream` before `connect` completes; rtmfp-cpp's tcconn waits as
//! well). A NetStream's flows (data and commands, audio, video) are return flows of the server's
//! control flow with the stream's TC metadata; `publish` and `play` go on its data flow, a
//! publisher's media with abandonment deadlines. Flows the server opens are routed by their
//! metadata's stream ID, and each stream's flows pass through the Flow Sync barrier.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use sluice_amf::{Amf0Value, AmfLimits};
use sluice_rtmp::command::{
    Command, ConnectCommand, ConnectResponse, PlayArgs, PublishMode, StatusInfo,
};
use sluice_rtmp::{MessageType, RawMessage};

use super::flows::{command_message, decode_command, StreamFlows};
use super::message::{TcMessage, TcUserControl};
use super::metadata::TcMetadata;
use super::server_api::{TcError, PRIORITY_IMMEDIATE};
use super::sync::{FlowSync, DEFAULT_MAX_HELD_BYTES};
use crate::endpoint::Endpoint;
use crate::event::{Event, FlowRef, RecvFlowId, SendFlowId, SessionHandle};
use crate::flow::Reliability;

/// Settings of a [`TcClient`].
#[derive(Debug, Clone)]
pub struct TcClientConfig {
    /// AMF decoding limits for what the server sends.
    pub amf: AmfLimits,
    /// Bytes held behind one stream's Flow Sync barrier (default 1 MiB).
    pub max_sync_held_bytes: usize,
    /// Commands held until `connect` succeeds (default 16).
    pub max_pending_commands: usize,
    /// Audio lifetime when publishing (default 1.5 s).
    pub audio_lifetime: Duration,
    /// Video lifetime when publishing (default 1 s).
    pub video_lifetime: Duration,
}

impl Default for TcClientConfig {
    fn default() -> Self {
        TcClientConfig {
            amf: AmfLimits::default(),
            max_sync_held_bytes: DEFAULT_MAX_HELD_BYTES,
            max_pending_commands: 16,
            audio_lifetime: Duration::from_millis(1_500),
            video_lifetime: Duration::from_millis(1_000),
        }
    }
}

/// What the server told the client.
#[derive(Debug, Clone, PartialEq)]
pub enum TcClientEvent {
    /// `connect` succeeded.
    Connected(ConnectResponse),
    /// `connect` was refused (`_error`; the status object when there was one).
    ConnectRefused(Option<StatusInfo>),
    /// `createStream` answered.
    StreamCreated {
        /// The `createStream`'s transaction ID (from [`TcClient::create_stream`]).
        transaction_id: f64,
        /// The new stream.
        stream_id: u32,
    },
    /// `onStatus` (stream 0 for NetConnection status).
    Status {
        /// The stream.
        stream_id: u32,
        /// The status.
        info: StatusInfo,
    },
    /// Audio, video or data of a played stream.
    Media(RawMessage),
    /// Set Keepalive Timers, clamped to at least 5 s (RFC 7425 §5.3.4).
    KeepaliveTimers {
        /// Server keepalive (ms).
        server_ms: u32,
        /// Peer keepalive (ms).
        peer_ms: u32,
    },
    /// The server closed the NetConnection or the session ended.
    Disconnected,
}

#[derive(Debug)]
enum Held {
    CreateStream(f64),
    Stream(u32, Box<Command>),
}

/// The NetConnection of one RTMFP session, client side.
#[derive(Debug)]
pub struct TcClient {
    session: SessionHandle,
    cfg: TcClientConfig,
    control_out: Option<SendFlowId>,
    control_in: Option<RecvFlowId>,
    connected: bool,
    next_tid: f64,
    creating: Vec<f64>,
    held: VecDeque<Held>,
    streams: BTreeMap<u32, StreamFlows>,
    flow_streams: HashMap<RecvFlowId, u32>,
    sync: FlowSync,
    next_sync_id: u32,
    events: VecDeque<TcClientEvent>,
}

impl TcClient {
    /// The NetConnection of an open client `session`.
    pub fn new(session: SessionHandle, cfg: TcClientConfig) -> TcClient {
        let sync = FlowSync::new(cfg.max_sync_held_bytes);
        TcClient {
            session,
            cfg,
            control_out: None,
            control_in: None,
            connected: false,
            next_tid: 2.0,
            creating: Vec::new(),
            held: VecDeque::new(),
            streams: BTreeMap::new(),
            flow_streams: HashMap::new(),
            sync,
            next_sync_id: 1,
            events: VecDeque::new(),
        }
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<TcClientEvent> {
        self.events.pop_front()
    }

    /// Open the control flow and send `connect` (transaction 1).
    pub fn connect(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        mut cmd: ConnectCommand,
    ) -> Result<(), TcError> {
        if self.control_out.is_some() {
            return Err(TcError::RepeatedConnect);
        }
        cmd.transaction_id = 1.0;
        let flow = ep.open_flow(
            self.session,
            TcMetadata::CONTROL.encode(),
            None,
            PRIORITY_IMMEDIATE,
        )?;
        self.control_out = Some(flow);
        let msg = command_message(&Command::Connect(cmd));
        ep.send(now, self.session, flow, msg.encode(), Reliability::Reliable)?;
        Ok(())
    }

    fn hold(&mut self, h: Held) -> Result<(), TcError> {
        if self.held.len() >= self.cfg.max_pending_commands {
            return Err(TcError::TooManyPending(self.cfg.max_pending_commands));
        }
        self.held.push_back(h);
        Ok(())
    }

    /// `createStream`; the answer is [`TcClientEvent::StreamCreated`] with the returned
    /// transaction ID.
    pub fn create_stream(&mut self, ep: &mut Endpoint, now: Instant) -> Result<f64, TcError> {
        let tid = self.next_tid;
        self.next_tid += 1.0;
        if !self.connected {
            self.hold(Held::CreateStream(tid))?;
            return Ok(tid);
        }
        self.send_create(ep, now, tid)?;
        Ok(tid)
    }

    fn send_create(&mut self, ep: &mut Endpoint, now: Instant, tid: f64) -> Result<(), TcError> {
        let flow = self
            .control_out
            .ok_or(TcError::NotConnected("createStream".into()))?;
        let msg = command_message(&Command::CreateStream {
            transaction_id: tid,
        });
        ep.send(now, self.session, flow, msg.encode(), Reliability::Reliable)?;
        self.creating.push(tid);
        Ok(())
    }

    fn stream_command(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        stream_id: u32,
        cmd: Command,
    ) -> Result<(), TcError> {
        if !self.connected || !self.streams.contains_key(&stream_id) && self.control_in.is_none() {
            return self.hold(Held::Stream(stream_id, Box::new(cmd)));
        }
        let flows = match self.streams.get(&stream_id) {
            Some(f) => *f,
            None => {
                let f = StreamFlows::open(ep, self.session, stream_id, self.control_in)?;
                self.streams.insert(stream_id, f);
                f
            }
        };
        if matches!(cmd, Command::Publish { .. } | Command::Play(_)) {
            flows.sync(ep, now, self.session, self.next_sync_id)?;
            self.next_sync_id = self.next_sync_id.wrapping_add(1);
        }
        flows.send_data(ep, now, self.session, &command_message(&cmd))?;
        Ok(())
    }

    /// `play` on `stream_id`.
    pub fn play(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        stream_id: u32,
        args: PlayArgs,
    ) -> Result<(), TcError> {
        self.stream_command(ep, now, stream_id, Command::Play(args))
    }

    /// `publish` on `stream_id`.
    pub fn publish(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        stream_id: u32,
        name: &str,
        mode: PublishMode,
    ) -> Result<(), TcError> {
        let cmd = Command::Publish {
            transaction_id: 0.0,
            name: name.into(),
            mode,
        };
        self.stream_command(ep, now, stream_id, cmd)
    }

    /// `deleteStream` on the control flow; the stream's flows close.
    pub fn delete_stream(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        stream_id: u32,
    ) -> Result<(), TcError> {
        if let Some(f) = self.streams.remove(&stream_id) {
            for flow in f.all() {
                ep.close_flow(now, self.session, flow)?;
            }
        }
        let flow = self
            .control_out
            .ok_or(TcError::NotConnected("deleteStream".into()))?;
        let msg = command_message(&Command::DeleteStream { stream_id });
        ep.send(now, self.session, flow, msg.encode(), Reliability::Reliable)?;
        Ok(())
    }

    /// Publish audio, video or data on `stream_id` (after `publish`). `Ok(false)` when the send
    /// queue is full and the message was dropped.
    pub fn send_media(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        stream_id: u32,
        msg: &RawMessage,
    ) -> Result<bool, TcError> {
        let Some(flows) = self.streams.get(&stream_id).copied() else {
            return Ok(false);
        };
        flows.send_media(
            ep,
            now,
            self.session,
            msg,
            (self.cfg.audio_lifetime, self.cfg.video_lifetime),
        )
    }

    /// Handle an endpoint event of this session; an error means the server broke the protocol.
    pub fn handle_event(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        event: &Event,
    ) -> Result<(), TcError> {
        match event {
            Event::FlowOpened {
                flow,
                metadata,
                return_flow,
                ..
            } => {
                match TcMetadata::decode(metadata) {
                    Ok(md)
                        if md.stream_id == 0
                            && self.control_in.is_none()
                            && *return_flow == self.control_out =>
                    {
                        self.control_in = Some(*flow);
                    }
                    Ok(md) if md.stream_id != 0 => {
                        self.flow_streams.insert(*flow, md.stream_id);
                    }
                    _ => ep.reject_flow(
                        now,
                        self.session,
                        *flow,
                        super::server_api::EXCEPTION_REFUSED,
                    )?,
                }
                Ok(())
            }
            Event::Message { flow, bytes, .. } => {
                let msg = TcMessage::decode(bytes)?;
                if Some(*flow) == self.control_in {
                    return self.control_message(ep, now, msg);
                }
                let Some(&stream_id) = self.flow_streams.get(flow) else {
                    return Ok(());
                };
                let released = match TcUserControl::decode(&msg.payload) {
                    Ok(TcUserControl::FlowSync { sync_id, count })
                        if msg.type_id == MessageType::USER_CONTROL =>
                    {
                        self.sync.sync(stream_id, *flow, sync_id, count)
                    }
                    _ => self.sync.message(stream_id, *flow, msg),
                };
                for (_, m) in released {
                    self.stream_message(stream_id, m)?;
                }
                Ok(())
            }
            Event::FlowClosed {
                flow: FlowRef::Recv(flow),
                ..
            } => {
                if Some(*flow) == self.control_in {
                    self.events.push_back(TcClientEvent::Disconnected);
                }
                self.flow_streams.remove(flow);
                Ok(())
            }
            Event::SessionClosed { .. } => {
                self.events.push_back(TcClientEvent::Disconnected);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn control_message(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        msg: TcMessage,
    ) -> Result<(), TcError> {
        if msg.type_id == MessageType::USER_CONTROL {
            if let TcUserControl::SetKeepaliveTimers {
                server_keepalive_ms,
                peer_keepalive_ms,
            } = TcUserControl::decode(&msg.payload)?
            {
                self.events.push_back(TcClientEvent::KeepaliveTimers {
                    server_ms: server_keepalive_ms.max(super::message::MIN_KEEPALIVE_MS),
                    peer_ms: peer_keepalive_ms.max(super::message::MIN_KEEPALIVE_MS),
                });
            }
            return Ok(());
        }
        match decode_command(&msg, &self.cfg.amf)? {
            Some(Command::Result {
                transaction_id,
                object,
                args,
            }) => {
                if transaction_id == 1.0 && !self.connected {
                    let cm = Command::Result {
                        transaction_id,
                        object,
                        args,
                    }
                    .to_message();
                    self.connected = true;
                    self.events
                        .push_back(TcClientEvent::Connected(ConnectResponse::from_message(&cm)));
                    while let Some(h) = self.held.pop_front() {
                        match h {
                            Held::CreateStream(tid) => self.send_create(ep, now, tid)?,
                            Held::Stream(id, cmd) => self.stream_command(ep, now, id, *cmd)?,
                        }
                    }
                } else if let Some(i) = self.creating.iter().position(|t| *t == transaction_id) {
                    self.creating.remove(i);
                    if let Some(Amf0Value::Number(n)) = args.first() {
                        if *n >= 1.0 && *n <= f64::from(u32::MAX) {
                            self.events.push_back(TcClientEvent::StreamCreated {
                                transaction_id,
                                stream_id: *n as u32,
                            });
                        }
                    }
                }
            }
            Some(Command::Error {
                transaction_id,
                args,
                ..
            }) if transaction_id == 1.0 && !self.connected => {
                let info = args.first().and_then(StatusInfo::from_value);
                self.events.push_back(TcClientEvent::ConnectRefused(info));
            }
            Some(Command::OnStatus(info)) => self
                .events
                .push_back(TcClientEvent::Status { stream_id: 0, info }),
            _ => {}
        }
        Ok(())
    }

    fn stream_message(&mut self, stream_id: u32, msg: TcMessage) -> Result<(), TcError> {
        match msg.type_id {
            MessageType::AUDIO
            | MessageType::VIDEO
            | MessageType::DATA_AMF0
            | MessageType::DATA_AMF3 => {
                self.events
                    .push_back(TcClientEvent::Media(msg.into_raw(stream_id)));
            }
            _ => {
                if let Some(Command::OnStatus(info)) = decode_command(&msg, &self.cfg.amf)? {
                    self.events
                        .push_back(TcClientEvent::Status { stream_id, info });
                }
            }
        }
        Ok(())
    }
}
