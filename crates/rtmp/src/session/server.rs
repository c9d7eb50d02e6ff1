//! The server end of an RTMP connection (RTMP 1.0 §7.2 and §7.3 message exchange examples):
//! handshake, `connect`, `createStream`, then publish or play on message streams.
//!
//! Decisions that belong to the application — whether a connect, publish or play is allowed —
//! are raised as events carrying a [`RequestId`] and answered with `accept_*` / `reject_*`.
//! Everything else (protocol control, pings, `_checkbw`, FMLE's releaseStream/FCPublish
//! courtesies, pause notifications) is answered by the session itself.

use super::conn::{Conn, Hs, Input};
use super::{csid, SessionError};
use crate::command::{
    codes, Command, CommandMessage, ConnectCommand, ConnectResponse, PlayArgs, PublishMode,
    StatusInfo,
};
use crate::handshake::{HandshakeKind, ServerHandshake};
use crate::message::{
    split_aggregate, LimitType, ProtocolControl, SharedObjectMessage, UserControlEvent,
};
use crate::types::{MessageType, RawMessage, Timestamp};
use bytes::Bytes;
use rand::{RngCore, SeedableRng};
use sluice_amf::{amf0_encode_all, Amf0Object, Amf0Value};
use std::collections::{HashMap, VecDeque};

pub use super::server_api::{RequestId, ServerConfig, ServerEvent};

mod recorded;

#[derive(Debug, Clone, PartialEq)]
enum StreamState {
    Idle,
    PublishPending,
    Publishing,
    PlayPending,
    Playing,
}

#[derive(Debug)]
struct MsgStream {
    state: StreamState,
    receive_audio: bool,
    receive_video: bool,
    paused: bool,
    /// Video is held back until a keyframe (after a pause or receiveVideo(true)).
    wait_keyframe: bool,
    /// Plays a recorded stream (see [`recorded`]): seek and unpause are the application's.
    recorded: bool,
    /// Media and data sent while the publish awaits its decision, in order.
    held: Vec<ServerEvent>,
    held_bytes: usize,
}

impl MsgStream {
    fn new() -> Self {
        MsgStream {
            state: StreamState::Idle,
            receive_audio: true,
            receive_video: true,
            paused: false,
            wait_keyframe: false,
            recorded: false,
            held: Vec::new(),
            held_bytes: 0,
        }
    }
}

#[derive(Debug)]
enum Pending {
    Connect {
        transaction_id: f64,
        amf3: bool,
    },
    Publish {
        stream_id: u32,
        name: String,
    },
    Play {
        stream_id: u32,
        reset: bool,
        name: String,
    },
    StreamLength {
        transaction_id: f64,
        amf3: bool,
    },
    Call {
        transaction_id: f64,
        stream_id: u32,
        amf3: bool,
    },
}

#[derive(Debug, PartialEq)]
enum ConnState {
    Handshake,
    AwaitConnect,
    ConnectPending,
    Connected,
}

/// The server end of one RTMP connection.
#[derive(Debug)]
pub struct ServerSession {
    /// Shared by the connections of a server (an `Arc`: 8 bytes per connection, not 120).
    config: std::sync::Arc<ServerConfig>,
    conn: Conn,
    state: ConnState,
    events: VecDeque<ServerEvent>,
    streams: crate::vecmap::VecMap<MsgStream>,
    pending: HashMap<u64, Pending>,
    next_request: u64,
    /// The client connected with objectEncoding 3.
    amf3_client: bool,
    app: String,
}

impl ServerSession {
    /// A session awaiting the client's C0+C1.
    ///
    /// `config` may be a [`ServerConfig`] or an `Arc` of one shared by many sessions.
    pub fn new(config: impl Into<std::sync::Arc<ServerConfig>>, rng: &mut impl RngCore) -> Self {
        let config = config.into();
        let mut seeded = rand::rngs::StdRng::from_rng(&mut *rng)
            .unwrap_or_else(|_| rand::rngs::StdRng::seed_from_u64(rng.next_u64()));
        let hs = ServerHandshake::new(&mut seeded);
        let conn = Conn::new(
            Hs::Server(Box::new((hs, seeded))),
            config.chunk.clone(),
            config.copy_small_messages,
        );
        ServerSession {
            config,
            conn,
            state: ConnState::Handshake,
            events: VecDeque::new(),
            streams: crate::vecmap::VecMap::new(),
            pending: HashMap::new(),
            next_request: 1,
            amf3_client: false,
            app: String::new(),
        }
    }

    /// Feed bytes received from the client. `Err` means the client broke the protocol (or a
    /// limit): log the error and close the connection.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), SessionError> {
        self.conn.append_input(data)?;
        self.process_input()
    }

    /// The session's input buffer, so that a driver can read from the socket straight into it
    /// (no copy): append the bytes (e.g. `read_buf`), then call [`Self::handle_received`] with
    /// the number appended. Equivalent to [`Self::handle_input`].
    pub fn recv_buffer(&mut self) -> &mut bytes::BytesMut {
        self.conn.recv_buffer()
    }

    /// Free the memory of queues that are empty now (input buffer, event queue, pending requests,
    /// output queue), for a driver holding many connections that are mostly idle (players of a
    /// live stream send only acknowledgements). Buffers are allocated again when next needed;
    /// nothing queued is touched.
    pub fn release_idle_memory(&mut self) {
        self.conn.release_idle_memory();
        if self.events.is_empty() && self.events.capacity() > 0 {
            self.events = VecDeque::new();
        }
        if self.pending.is_empty() && self.pending.capacity() > 0 {
            self.pending = HashMap::new();
        }
    }

    /// Process `n` bytes just appended to [`Self::recv_buffer`]. Errors as [`Self::handle_input`].
    pub fn handle_received(&mut self, n: usize) -> Result<(), SessionError> {
        self.conn.commit_received(n)?;
        self.process_input()
    }

    fn process_input(&mut self) -> Result<(), SessionError> {
        while let Some(input) = self.conn.next_input()? {
            match input {
                Input::HandshakeDone(kind) => {
                    self.state = ConnState::AwaitConnect;
                    self.events.push_back(ServerEvent::HandshakeComplete(kind));
                }
                Input::Message(msg) => self.on_message(msg)?,
            }
        }
        Ok(())
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// The next buffer to write to the client, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.conn.poll_transmit()
    }

    /// Move every pending output buffer into `out` (for one vectored write).
    pub fn drain_transmit(&mut self, out: &mut Vec<Bytes>) {
        self.conn.drain_transmit(out);
    }

    /// Whether output is waiting.
    pub fn has_transmit(&self) -> bool {
        self.conn.has_transmit()
    }

    /// The application name from connect (empty before connect).
    pub fn app(&self) -> &str {
        &self.app
    }

    /// Bytes received from the client after the handshake.
    pub fn bytes_received(&self) -> u64 {
        self.conn.bytes_received()
    }

    /// The handshake form the client used, once complete.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.conn.handshake_kind()
    }

    /// Whether connect has been accepted.
    pub fn is_connected(&self) -> bool {
        self.state == ConnState::Connected
    }

    /// Current chunk sizes (ours, the client's).
    pub fn chunk_sizes(&self) -> (u32, u32) {
        (self.conn.out_chunk_size(), self.conn.in_chunk_size())
    }

    fn new_request(&mut self, p: Pending) -> RequestId {
        let id = self.next_request;
        self.next_request += 1;
        self.pending.insert(id, p);
        RequestId(id)
    }

    /// Remove and return pending request `request` if it is of the kind `is_kind` accepts; a
    /// request answered with the wrong kind of call stays pending.
    fn take_request(
        &mut self,
        request: RequestId,
        is_kind: fn(&Pending) -> bool,
    ) -> Result<Pending, SessionError> {
        match self.pending.remove(&request.0) {
            Some(p) if is_kind(&p) => Ok(p),
            Some(p) => {
                self.pending.insert(request.0, p);
                Err(SessionError::UnknownRequest(request.0))
            }
            None => Err(SessionError::UnknownRequest(request.0)),
        }
    }

    fn on_message(&mut self, msg: RawMessage) -> Result<(), SessionError> {
        match msg.type_id {
            t if t.is_protocol_control() => {
                let pc = ProtocolControl::decode(t, &msg.payload)?;
                self.conn.on_protocol_control(&pc);
                if let ProtocolControl::Acknowledgement { sequence } = pc {
                    self.events
                        .push_back(ServerEvent::Acknowledgement(sequence));
                }
            }
            MessageType::USER_CONTROL => {
                let ev = UserControlEvent::decode(&msg.payload)?;
                self.on_user_control(ev);
            }
            MessageType::COMMAND_AMF0 | MessageType::COMMAND_AMF3 => {
                let amf3 = msg.type_id == MessageType::COMMAND_AMF3;
                let cmd = CommandMessage::decode(&msg.payload, amf3, &self.config.amf)?;
                self.on_command(msg.stream_id, cmd, amf3)?;
            }
            MessageType::AUDIO | MessageType::VIDEO => self.on_media(msg)?,
            MessageType::DATA_AMF0 | MessageType::DATA_AMF3 => self.on_data(msg)?,
            MessageType::SHARED_OBJECT_AMF0 | MessageType::SHARED_OBJECT_AMF3 => {
                let amf3 = msg.type_id == MessageType::SHARED_OBJECT_AMF3;
                if self.state != ConnState::Connected {
                    return Err(SessionError::Protocol(
                        "shared object message before connect",
                    ));
                }
                let message = SharedObjectMessage::decode(&msg.payload, amf3)?;
                self.events
                    .push_back(ServerEvent::SharedObject { message, amf3 });
            }
            MessageType::AGGREGATE => {
                for sub in split_aggregate(&msg, &self.config.aggregate)? {
                    match sub.type_id {
                        MessageType::AUDIO | MessageType::VIDEO => self.on_media(sub)?,
                        MessageType::DATA_AMF0 | MessageType::DATA_AMF3 => self.on_data(sub)?,
                        other => self.events.push_back(ServerEvent::Ignored {
                            type_id: other,
                            reason: "aggregate sub-message that is not audio, video or data",
                        }),
                    }
                }
            }
            other => self.events.push_back(ServerEvent::Ignored {
                type_id: other,
                reason: "unknown message type",
            }),
        }
        Ok(())
    }

    fn on_user_control(&mut self, ev: UserControlEvent) {
        match ev {
            UserControlEvent::PingRequest(ts) => {
                self.conn
                    .send_user_control(&UserControlEvent::PingResponse(ts));
            }
            UserControlEvent::PingResponse(ts) => {
                self.events.push_back(ServerEvent::PingResponse(ts));
            }
            UserControlEvent::SetBufferLength {
                stream_id,
                buffer_ms,
            } => self.events.push_back(ServerEvent::SetBufferLength {
                stream_id,
                buffer_ms,
            }),
            // Other events are server-to-client; a client sending them is harmless.
            _ => {}
        }
    }

    fn is_publishing(&self, stream_id: u32) -> bool {
        self.streams
            .get(&stream_id)
            .is_some_and(|s| s.state == StreamState::Publishing)
    }

    /// Whether the stream's publish awaits the application's decision.
    fn is_publish_pending(&self, stream_id: u32) -> bool {
        self.streams
            .get(&stream_id)
            .is_some_and(|s| s.state == StreamState::PublishPending)
    }

    /// Keep `ev` (of `len` payload bytes) until the pending publish of `stream_id` is decided.
    fn hold(&mut self, stream_id: u32, len: usize, ev: ServerEvent) -> Result<(), SessionError> {
        let limit = self.config.max_held_publish_bytes;
        let Some(s) = self.streams.get_mut(&stream_id) else {
            return Ok(());
        };
        s.held_bytes += len;
        if s.held_bytes > limit {
            return Err(SessionError::HeldMediaLimit { stream_id, limit });
        }
        s.held.push(ev);
        Ok(())
    }

    fn on_media(&mut self, msg: RawMessage) -> Result<(), SessionError> {
        let pending = self.is_publish_pending(msg.stream_id);
        if !pending && !self.is_publishing(msg.stream_id) {
            self.events.push_back(ServerEvent::Ignored {
                type_id: msg.type_id,
                reason: "media on a message stream that is not publishing",
            });
            return Ok(());
        }
        let len = msg.payload.len();
        let stream_id = msg.stream_id;
        let ev = if msg.type_id == MessageType::AUDIO {
            ServerEvent::Audio {
                stream_id: msg.stream_id,
                timestamp: msg.timestamp,
                payload: msg.payload,
            }
        } else {
            ServerEvent::Video {
                stream_id: msg.stream_id,
                timestamp: msg.timestamp,
                payload: msg.payload,
            }
        };
        if pending {
            return self.hold(stream_id, len, ev);
        }
        self.events.push_back(ev);
        Ok(())
    }

    fn on_data(&mut self, msg: RawMessage) -> Result<(), SessionError> {
        let mut payload = msg.payload;
        if msg.type_id == MessageType::DATA_AMF3 && !payload.is_empty() {
            // AMF3 data messages carry the same leading format byte as AMF3 commands.
            payload = payload.slice(1..);
        }
        let pending = self.is_publish_pending(msg.stream_id);
        if !pending && !self.is_publishing(msg.stream_id) {
            self.events.push_back(ServerEvent::Ignored {
                type_id: msg.type_id,
                reason: "data message on a message stream that is not publishing",
            });
            return Ok(());
        }
        let name = sluice_amf::Amf0Decoder::with_limits(&payload, self.config.amf.clone())
            .decode()
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let len = payload.len();
        let ev = ServerEvent::Data {
            stream_id: msg.stream_id,
            timestamp: msg.timestamp,
            name,
            payload,
        };
        if pending {
            return self.hold(msg.stream_id, len, ev);
        }
        self.events.push_back(ev);
        Ok(())
    }

    fn reply(&mut self, stream_id: u32, cmd: &Command, amf3: bool) {
        let chunk_stream = if stream_id == 0 {
            csid::COMMAND
        } else {
            csid::STREAM
        };
        self.conn
            .send_command(chunk_stream, stream_id, &cmd.to_message(), amf3);
    }

    /// Send an onStatus on `stream_id`.
    pub fn send_status(&mut self, stream_id: u32, info: StatusInfo) {
        let amf3 = self.amf3_client;
        self.reply(stream_id, &Command::OnStatus(info), amf3);
    }

    fn on_command(
        &mut self,
        stream_id: u32,
        msg: CommandMessage,
        amf3: bool,
    ) -> Result<(), SessionError> {
        let tid = msg.transaction_id;
        // GStreamer's rtmp2 elements end with `deleteStream(0, null, "<stream name>")`: a string
        // where §7.2.2.3 puts the stream id. Closing the connection over a stream the client is
        // tearing down anyway turns its clean stop into an error, so delete the message stream
        // the command arrived on (if any) and go on.
        if msg.name == "deleteStream" && !matches!(msg.args.first(), Some(Amf0Value::Number(_))) {
            if stream_id != 0 {
                self.delete_stream(stream_id);
            } else {
                self.events.push_back(ServerEvent::Ignored {
                    type_id: MessageType::COMMAND_AMF0,
                    reason: "deleteStream without a numeric stream id",
                });
            }
            return Ok(());
        }
        let cmd = Command::parse(msg)?;
        if let Command::Connect(c) = cmd {
            if self.state != ConnState::AwaitConnect {
                return Err(SessionError::Protocol("connect sent twice"));
            }
            self.state = ConnState::ConnectPending;
            self.amf3_client = c.wants_amf3();
            self.app = c.app.clone();
            let request = self.new_request(Pending::Connect {
                transaction_id: c.transaction_id,
                amf3,
            });
            self.events.push_back(ServerEvent::ConnectRequest {
                request,
                command: Box::new(c),
            });
            return Ok(());
        }
        if self.state != ConnState::Connected {
            if matches!(cmd, Command::Close) {
                self.events.push_back(ServerEvent::CloseRequested);
                return Ok(());
            }
            // Commands before connect was accepted: answer with an error rather than act.
            if tid != 0.0 {
                let err =
                    Command::error(tid, StatusInfo::error(codes::CALL_FAILED, "not connected"));
                self.reply(0, &err, amf3);
            }
            self.events.push_back(ServerEvent::Ignored {
                type_id: MessageType::COMMAND_AMF0,
                reason: "command before connect was accepted",
            });
            return Ok(());
        }
        match cmd {
            Command::Connect(_) => unreachable_connect(),
            Command::Close => self.events.push_back(ServerEvent::CloseRequested),
            Command::CreateStream { transaction_id } => {
                self.create_stream(transaction_id, amf3);
            }
            Command::DeleteStream { stream_id: sid } => self.delete_stream(sid),
            Command::CloseStream => self.stop_stream(stream_id),
            Command::ReleaseStream {
                transaction_id,
                name,
            } => self.on_fmle("releaseStream", transaction_id, name, None, amf3),
            Command::FcPublish {
                transaction_id,
                name,
            } => self.on_fmle(
                "FCPublish",
                transaction_id,
                name,
                Some(("onFCPublish", codes::PUBLISH_START)),
                amf3,
            ),
            Command::FcUnpublish {
                transaction_id,
                name,
            } => {
                self.on_fmle(
                    "FCUnpublish",
                    transaction_id,
                    name,
                    Some(("onFCUnpublish", codes::UNPUBLISH_SUCCESS)),
                    amf3,
                );
                // FMLE sends FCUnpublish before closeStream; stop publishing here already so the
                // stream is released as early as the client intends.
                let publishing: Vec<u32> = self
                    .streams
                    .iter()
                    .filter(|(_, s)| s.state == StreamState::Publishing)
                    .map(|(id, _)| *id)
                    .collect();
                if publishing.len() == 1 {
                    self.stop_stream(publishing[0]);
                }
            }
            Command::Publish {
                transaction_id,
                name,
                mode,
            } => self.on_publish(stream_id, transaction_id, name, mode, amf3),
            Command::Play(args) => self.on_play(stream_id, args, false, amf3),
            Command::Play2 { params } => {
                let args = PlayArgs {
                    name: params.get_str("streamName").unwrap_or_default().to_owned(),
                    start: params.get_number("start").unwrap_or(-2.0),
                    duration: params.get_number("len").unwrap_or(-1.0),
                    reset: params.get_str("transition") != Some("append"),
                };
                self.on_play(stream_id, args, true, amf3);
            }
            Command::Seek { position_ms } => {
                // A recorded stream's seek is answered by the application (`notify_seek`,
                // once it found the keyframe); a live one's at once.
                let recorded = self.streams.get(&stream_id).map(|s| s.recorded);
                if recorded == Some(false) {
                    self.send_status(
                        stream_id,
                        StatusInfo::status(codes::SEEK_NOTIFY, "Seeking.")
                            .with("details", position_ms),
                    );
                }
                if recorded.is_some() {
                    self.events.push_back(ServerEvent::Seek {
                        stream_id,
                        position_ms,
                    });
                }
            }
            Command::Pause { pause, position_ms } => {
                if let Some(s) = self.streams.get_mut(&stream_id) {
                    s.paused = pause;
                    if !pause && !s.recorded {
                        s.wait_keyframe = true;
                    }
                    let info = if pause {
                        StatusInfo::status(codes::PAUSE_NOTIFY, "Paused.")
                    } else {
                        StatusInfo::status(codes::UNPAUSE_NOTIFY, "Unpaused.")
                    };
                    self.send_status(stream_id, info);
                    self.events.push_back(ServerEvent::Pause {
                        stream_id,
                        paused: pause,
                        position_ms,
                    });
                }
            }
            Command::ReceiveAudio(on) | Command::ReceiveVideo(on) => {
                let is_audio = matches!(cmd, Command::ReceiveAudio(_));
                if let Some(s) = self.streams.get_mut(&stream_id) {
                    if is_audio {
                        s.receive_audio = on;
                    } else {
                        if on && !s.receive_video {
                            s.wait_keyframe = true;
                        }
                        s.receive_video = on;
                    }
                    let (audio, video) = (s.receive_audio, s.receive_video);
                    self.events.push_back(ServerEvent::ReceiveChanged {
                        stream_id,
                        audio,
                        video,
                    });
                }
            }
            Command::GetStreamLength {
                transaction_id,
                name,
            } => {
                let request = self.new_request(Pending::StreamLength {
                    transaction_id,
                    amf3,
                });
                self.events
                    .push_back(ServerEvent::StreamLengthRequest { request, name });
            }
            Command::CheckBw { transaction_id } => {
                self.reply(0, &Command::result(transaction_id, vec![]), amf3);
            }
            // Client-side notifications and responses a client has no reason to send; harmless.
            Command::OnBwDone
            | Command::OnStatus(_)
            | Command::Result { .. }
            | Command::Error { .. } => {}
            Command::Call(command) => {
                let request = self.new_request(Pending::Call {
                    transaction_id: command.transaction_id,
                    stream_id,
                    amf3,
                });
                self.events.push_back(ServerEvent::Call {
                    request,
                    stream_id,
                    command,
                });
            }
        }
        Ok(())
    }

    /// FMLE's releaseStream / FCPublish / FCUnpublish: `_result` when a transaction id is
    /// given, the matching `onFC*` notification (name, status code) if any, and an event.
    fn on_fmle(
        &mut self,
        command: &'static str,
        transaction_id: f64,
        name: String,
        notify: Option<(&str, &str)>,
        amf3: bool,
    ) {
        if transaction_id != 0.0 {
            let result = Command::result(transaction_id, vec![Amf0Value::Undefined]);
            self.reply(0, &result, amf3);
        }
        if let Some((handler, code)) = notify {
            let info = StatusInfo::status(code, name.clone());
            let cmd =
                CommandMessage::new(handler, 0.0).with_arg(Amf0Value::Object(info.to_object()));
            self.conn.send_command(csid::COMMAND, 0, &cmd, amf3);
        }
        self.events
            .push_back(ServerEvent::FmleCommand { command, name });
    }

    fn create_stream(&mut self, transaction_id: f64, amf3: bool) {
        if self.streams.len() as u32 >= self.config.max_streams {
            let err = Command::error(
                transaction_id,
                StatusInfo::error(codes::CALL_FAILED, "too many streams on this connection"),
            );
            self.reply(0, &err, amf3);
            return;
        }
        let mut id = 1u32;
        while self.streams.contains_key(&id) {
            id += 1;
        }
        self.streams.insert(id, MsgStream::new());
        self.reply(
            0,
            &Command::result(transaction_id, vec![Amf0Value::Number(f64::from(id))]),
            amf3,
        );
        self.events
            .push_back(ServerEvent::StreamCreated { stream_id: id });
    }

    fn stop_stream(&mut self, stream_id: u32) {
        let Some(s) = self.streams.get_mut(&stream_id) else {
            return;
        };
        let old = std::mem::replace(&mut s.state, StreamState::Idle);
        s.held = Vec::new();
        s.held_bytes = 0;
        match old {
            StreamState::Publishing | StreamState::PublishPending => {
                if old == StreamState::Publishing {
                    self.send_status(
                        stream_id,
                        StatusInfo::status(codes::UNPUBLISH_SUCCESS, "Stopped publishing."),
                    );
                }
                self.pending.retain(
                    |_, p| !matches!(p, Pending::Publish { stream_id: s, .. } if *s == stream_id),
                );
                self.events
                    .push_back(ServerEvent::PublishStopped { stream_id });
            }
            StreamState::Playing | StreamState::PlayPending => {
                self.pending.retain(
                    |_, p| !matches!(p, Pending::Play { stream_id: s, .. } if *s == stream_id),
                );
                self.events
                    .push_back(ServerEvent::PlayStopped { stream_id });
            }
            StreamState::Idle => {}
        }
    }

    fn delete_stream(&mut self, stream_id: u32) {
        if self.streams.contains_key(&stream_id) {
            self.stop_stream(stream_id);
            self.streams.remove(&stream_id);
            self.events
                .push_back(ServerEvent::StreamDeleted { stream_id });
        }
    }

    fn on_publish(
        &mut self,
        stream_id: u32,
        _transaction_id: f64,
        name: String,
        mode: PublishMode,
        _amf3: bool,
    ) {
        let Some(s) = self.streams.get_mut(&stream_id) else {
            self.send_status(
                stream_id,
                StatusInfo::error(
                    codes::STREAM_FAILED,
                    "publish on a stream that was not created",
                ),
            );
            return;
        };
        if s.state != StreamState::Idle {
            self.send_status(
                stream_id,
                StatusInfo::error(codes::PUBLISH_BAD_NAME, "stream is already in use"),
            );
            return;
        }
        s.state = StreamState::PublishPending;
        let request = self.new_request(Pending::Publish {
            stream_id,
            name: name.clone(),
        });
        self.events.push_back(ServerEvent::PublishRequest {
            request,
            stream_id,
            name,
            mode,
        });
    }

    fn on_play(&mut self, stream_id: u32, args: PlayArgs, play2: bool, _amf3: bool) {
        let Some(s) = self.streams.get_mut(&stream_id) else {
            self.send_status(
                stream_id,
                StatusInfo::error(codes::PLAY_FAILED, "play on a stream that was not created"),
            );
            return;
        };
        if matches!(
            s.state,
            StreamState::Publishing | StreamState::PublishPending
        ) {
            self.send_status(
                stream_id,
                StatusInfo::error(codes::PLAY_FAILED, "stream is publishing"),
            );
            return;
        }
        if s.state == StreamState::Playing && !play2 {
            // A new play on a playing stream replaces it (reset semantics).
            self.events
                .push_back(ServerEvent::PlayStopped { stream_id });
        }
        s.state = StreamState::PlayPending;
        let request = self.new_request(Pending::Play {
            stream_id,
            reset: args.reset,
            name: args.name.clone(),
        });
        self.events.push_back(ServerEvent::PlayRequest {
            request,
            stream_id,
            args,
            play2,
        });
    }

    /// Accept a connect: sends Window Acknowledgement Size, Set Peer Bandwidth, Set Chunk Size,
    /// the `_result` (echoing the client's objectEncoding) and onBWDone.
    pub fn accept_connect(
        &mut self,
        request: RequestId,
        mut response: ConnectResponse,
    ) -> Result<(), SessionError> {
        let Pending::Connect {
            transaction_id,
            amf3,
        } = self.take_request(request, |p| matches!(p, Pending::Connect { .. }))?
        else {
            return Err(SessionError::UnknownRequest(request.0));
        };
        self.conn.our_window = self.config.window_ack_size;
        self.conn
            .send_control(&ProtocolControl::WindowAckSize(self.config.window_ack_size));
        self.conn.send_control(&ProtocolControl::SetPeerBandwidth {
            size: self.config.peer_bandwidth,
            limit: LimitType::DYNAMIC,
        });
        self.conn
            .send_control(&ProtocolControl::SetChunkSize(self.config.chunk_size));
        response.object_encoding = if self.amf3_client { 3.0 } else { 0.0 };
        self.conn
            .send_command(csid::COMMAND, 0, &response.to_message(transaction_id), amf3);
        if self.config.send_bw_done {
            self.conn
                .send_command(csid::COMMAND, 0, &Command::OnBwDone.to_message(), amf3);
        }
        self.state = ConnState::Connected;
        Ok(())
    }

    /// Reject a connect with `NetConnection.Connect.Rejected`; the driver should then close.
    pub fn reject_connect(
        &mut self,
        request: RequestId,
        description: &str,
    ) -> Result<(), SessionError> {
        let Pending::Connect {
            transaction_id,
            amf3,
        } = self.take_request(request, |p| matches!(p, Pending::Connect { .. }))?
        else {
            return Err(SessionError::UnknownRequest(request.0));
        };
        let err = Command::error(
            transaction_id,
            StatusInfo::error(codes::CONNECT_REJECTED, description),
        );
        self.reply(0, &err, amf3);
        self.conn.close();
        Ok(())
    }

    /// Accept a publish: StreamBegin and `NetStream.Publish.Start`.
    pub fn accept_publish(&mut self, request: RequestId) -> Result<(), SessionError> {
        let Pending::Publish {
            stream_id, name, ..
        } = self.take_request(request, |p| matches!(p, Pending::Publish { .. }))?
        else {
            return Err(SessionError::UnknownRequest(request.0));
        };
        let mut held = Vec::new();
        if let Some(s) = self.streams.get_mut(&stream_id) {
            s.state = StreamState::Publishing;
            held = std::mem::take(&mut s.held);
            s.held_bytes = 0;
        }
        self.conn
            .send_user_control(&UserControlEvent::StreamBegin(stream_id));
        self.send_status(
            stream_id,
            StatusInfo::status(codes::PUBLISH_START, format!("{name} is now published."))
                .with("details", name.as_str()),
        );
        // What the client sent while the decision was pending comes next, in order.
        self.events.extend(held);
        Ok(())
    }

    /// A publish or play was refused: the stream goes back to idle and the client is told why.
    fn refuse_stream(&mut self, stream_id: u32, code: &str, description: &str) {
        if let Some(s) = self.streams.get_mut(&stream_id) {
            s.state = StreamState::Idle;
            s.held = Vec::new();
            s.held_bytes = 0;
        }
        self.send_status(stream_id, StatusInfo::error(code, description));
    }

    /// Reject a publish with the given status code (e.g. [`codes::PUBLISH_BAD_NAME`]).
    pub fn reject_publish(
        &mut self,
        request: RequestId,
        code: &str,
        description: &str,
    ) -> Result<(), SessionError> {
        let Pending::Publish { stream_id, .. } =
            self.take_request(request, |p| matches!(p, Pending::Publish { .. }))?
        else {
            return Err(SessionError::UnknownRequest(request.0));
        };
        self.refuse_stream(stream_id, code, description);
        Ok(())
    }

    /// Accept a play: StreamBegin, `NetStream.Play.Reset` (if requested), `NetStream.Play.Start`
    /// and `|RtmpSampleAccess`. The application then sends metadata, sequence headers and media.
    pub fn accept_play(&mut self, request: RequestId) -> Result<(), SessionError> {
        self.accept_play_as(request, false).map(|_| ())
    }

    /// [`Self::accept_play`], for a live (`recorded` false) or recorded stream (StreamIsRecorded
    /// before `|RtmpSampleAccess`). Gives the message stream id.
    fn accept_play_as(&mut self, request: RequestId, recorded: bool) -> Result<u32, SessionError> {
        let Pending::Play {
            stream_id,
            reset,
            name,
        } = self.take_request(request, |p| matches!(p, Pending::Play { .. }))?
        else {
            return Err(SessionError::UnknownRequest(request.0));
        };
        if let Some(s) = self.streams.get_mut(&stream_id) {
            s.state = StreamState::Playing;
            s.paused = false;
            s.wait_keyframe = false;
            s.recorded = recorded;
        }
        self.conn
            .send_user_control(&UserControlEvent::StreamBegin(stream_id));
        if reset {
            self.send_status(
                stream_id,
                StatusInfo::status(codes::PLAY_RESET, format!("Playing and resetting {name}."))
                    .with("details", name.as_str()),
            );
        }
        self.send_status(
            stream_id,
            StatusInfo::status(codes::PLAY_START, format!("Started playing {name}."))
                .with("details", name.as_str()),
        );
        if recorded {
            self.conn
                .send_user_control(&UserControlEvent::StreamIsRecorded(stream_id));
        }
        let access = amf0_encode_all(&[
            Amf0Value::String("|RtmpSampleAccess".into()),
            Amf0Value::Boolean(true),
            Amf0Value::Boolean(true),
        ]);
        self.conn.send_data(stream_id, Timestamp::ZERO, access);
        Ok(stream_id)
    }

    /// Reject a play (e.g. [`codes::PLAY_STREAM_NOT_FOUND`]).
    pub fn reject_play(
        &mut self,
        request: RequestId,
        code: &str,
        description: &str,
    ) -> Result<(), SessionError> {
        let Pending::Play { stream_id, .. } =
            self.take_request(request, |p| matches!(p, Pending::Play { .. }))?
        else {
            return Err(SessionError::UnknownRequest(request.0));
        };
        self.refuse_stream(stream_id, code, description);
        Ok(())
    }

    /// Answer a `getStreamLength` (seconds; 0 for live streams).
    pub fn respond_stream_length(
        &mut self,
        request: RequestId,
        seconds: f64,
    ) -> Result<(), SessionError> {
        let Pending::StreamLength {
            transaction_id,
            amf3,
        } = self.take_request(request, |p| matches!(p, Pending::StreamLength { .. }))?
        else {
            return Err(SessionError::UnknownRequest(request.0));
        };
        self.reply(
            0,
            &Command::result(transaction_id, vec![Amf0Value::Number(seconds)]),
            amf3,
        );
        Ok(())
    }

    /// Answer a call with `_result` and the given values (nothing is sent for transaction 0).
    pub fn respond_call(
        &mut self,
        request: RequestId,
        values: Vec<Amf0Value>,
    ) -> Result<(), SessionError> {
        let Pending::Call {
            transaction_id,
            stream_id,
            amf3,
        } = self.take_request(request, |p| matches!(p, Pending::Call { .. }))?
        else {
            return Err(SessionError::UnknownRequest(request.0));
        };
        if transaction_id != 0.0 {
            self.reply(stream_id, &Command::result(transaction_id, values), amf3);
        }
        Ok(())
    }

    /// Answer a call with `_error` (nothing is sent for transaction 0).
    pub fn respond_call_error(
        &mut self,
        request: RequestId,
        description: &str,
    ) -> Result<(), SessionError> {
        let Pending::Call {
            transaction_id,
            stream_id,
            amf3,
        } = self.take_request(request, |p| matches!(p, Pending::Call { .. }))?
        else {
            return Err(SessionError::UnknownRequest(request.0));
        };
        if transaction_id != 0.0 {
            let err = Command::error(
                transaction_id,
                StatusInfo::error(codes::CALL_FAILED, description),
            );
            self.reply(stream_id, &err, amf3);
        }
        Ok(())
    }

    fn playing(&mut self, stream_id: u32) -> Option<&mut MsgStream> {
        self.streams
            .get_mut(&stream_id)
            .filter(|s| s.state == StreamState::Playing && !s.paused)
    }

    /// Send audio to a player. Returns false (and sends nothing) when the stream is not playing,
    /// is paused, or the player turned audio off.
    pub fn send_audio(&mut self, stream_id: u32, timestamp: Timestamp, payload: Bytes) -> bool {
        match self.playing(stream_id) {
            Some(s) if s.receive_audio => {}
            _ => return false,
        }
        self.conn.send_media(&RawMessage {
            csid: csid::AUDIO,
            timestamp,
            type_id: MessageType::AUDIO,
            stream_id,
            payload,
        });
        true
    }

    /// Send video to a player. Returns false when not sent (not playing, paused, video off, or
    /// waiting for a keyframe after resuming).
    pub fn send_video(&mut self, stream_id: u32, timestamp: Timestamp, payload: Bytes) -> bool {
        let Some(s) = self.playing(stream_id) else {
            return false;
        };
        if !s.receive_video {
            return false;
        }
        if s.wait_keyframe {
            let info = sluice_flv::classify_video(&payload);
            if info.is_keyframe || info.is_sequence_header {
                s.wait_keyframe = false;
            } else {
                return false;
            }
        }
        self.conn.send_media(&RawMessage {
            csid: csid::VIDEO,
            timestamp,
            type_id: MessageType::VIDEO,
            stream_id,
            payload,
        });
        true
    }

    /// Send a data message (e.g. onMetaData) to a player. `payload` is an AMF0 body.
    pub fn send_data(&mut self, stream_id: u32, timestamp: Timestamp, payload: Bytes) -> bool {
        if self.playing(stream_id).is_none() {
            return false;
        }
        self.conn.send_data(stream_id, timestamp, payload);
        true
    }

    /// Send a user control event (e.g. StreamEOF, StreamBegin, StreamIsRecorded).
    pub fn send_user_control(&mut self, event: UserControlEvent) {
        self.conn.send_user_control(&event);
    }

    /// Send a Ping Request carrying `timestamp` (the driver's clock, ms); the client's answer
    /// arrives as [`ServerEvent::PingResponse`].
    pub fn send_ping(&mut self, timestamp: u32) {
        self.conn
            .send_user_control(&UserControlEvent::PingRequest(timestamp));
    }

    /// Tell a player its live stream stopped: `NetStream.Play.UnpublishNotify` and StreamEOF.
    /// The stream stays in the playing state, so a later [`Self::notify_publish`] resumes it.
    pub fn notify_unpublish(&mut self, stream_id: u32, name: &str) {
        if !self.streams.contains_key(&stream_id) {
            return;
        }
        self.send_status(
            stream_id,
            StatusInfo::status(
                codes::PLAY_UNPUBLISH_NOTIFY,
                format!("{name} is now unpublished."),
            )
            .with("details", name),
        );
        self.conn
            .send_user_control(&UserControlEvent::StreamEof(stream_id));
    }

    /// Tell a waiting player its live stream (re)started: StreamBegin and
    /// `NetStream.Play.PublishNotify`.
    pub fn notify_publish(&mut self, stream_id: u32, name: &str) {
        if !self.streams.contains_key(&stream_id) {
            return;
        }
        self.conn
            .send_user_control(&UserControlEvent::StreamBegin(stream_id));
        self.send_status(
            stream_id,
            StatusInfo::status(
                codes::PLAY_PUBLISH_NOTIFY,
                format!("{name} is now published."),
            )
            .with("details", name),
        );
    }

    /// Send a shared object message to the client.
    pub fn send_shared_object(
        &mut self,
        message: &SharedObjectMessage,
        amf3: bool,
    ) -> Result<(), SessionError> {
        let msg = RawMessage {
            csid: csid::COMMAND,
            timestamp: Timestamp::ZERO,
            type_id: if amf3 {
                MessageType::SHARED_OBJECT_AMF3
            } else {
                MessageType::SHARED_OBJECT_AMF0
            },
            stream_id: 0,
            payload: message.encode(amf3)?,
        };
        self.conn.send_small(&msg);
        Ok(())
    }

    /// Send an arbitrary command to the client (e.g. a server-initiated call).
    pub fn send_command(&mut self, stream_id: u32, command: &CommandMessage) {
        let amf3 = self.amf3_client;
        let chunk_stream = if stream_id == 0 {
            csid::COMMAND
        } else {
            csid::STREAM
        };
        self.conn
            .send_command(chunk_stream, stream_id, command, amf3);
    }

    /// Close the session: no further input is processed.
    pub fn close(&mut self) {
        self.conn.close();
    }

    /// Whether the session is closed (after `close` or a rejected connect).
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// Properties for the connect `_result` that advertise Enhanced RTMP support (the codecs we
    /// pass through), for [`ConnectResponse::extra_properties`].
    pub fn enhanced_rtmp_properties(client: &ConnectCommand) -> Amf0Object {
        let mut o = Amf0Object::new();
        if !client.fourcc_list.is_empty() {
            o.insert(
                "fourCcList",
                Amf0Value::StrictArray(
                    client
                        .fourcc_list
                        .iter()
                        .map(|s| Amf0Value::String(s.clone()))
                        .collect(),
                ),
            );
        }
        o
    }
}

#[inline]
fn unreachable_connect() {
    // Connect is handled before the state check; this arm exists only for exhaustiveness.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{ClientConfig, ClientSession};
    use rand::rngs::StdRng;

    /// Moves bytes both ways until both sides are quiet; returns the server's events.
    fn pump(client: &mut ClientSession, server: &mut ServerSession) -> Vec<ServerEvent> {
        let mut events = Vec::new();
        loop {
            let mut moved = false;
            while let Some(b) = client.poll_transmit() {
                moved = true;
                server.handle_input(&b).expect("server input");
            }
            while let Some(b) = server.poll_transmit() {
                moved = true;
                client.handle_input(&b).expect("client input");
            }
            while let Some(e) = server.poll_event() {
                if let ServerEvent::ConnectRequest { request, .. } = &e {
                    server
                        .accept_connect(*request, ConnectResponse::default())
                        .expect("accept connect");
                    moved = true;
                }
                events.push(e);
            }
            while client.poll_event().is_some() {}
            if !moved {
                return events;
            }
        }
    }

    #[test]
    fn delete_stream_with_a_name_instead_of_an_id_is_tolerated() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut client = ClientSession::new(ClientConfig::new("live", "rtmp://h/live"), &mut rng);
        let mut server = ServerSession::new(ServerConfig::default(), &mut rng);
        pump(&mut client, &mut server);
        assert!(client.is_connected());
        // What GStreamer's rtmp2sink sends when it stops: deleteStream(0, null, "name").
        client.call(
            CommandMessage::new("deleteStream", 0.0).with_arg("name"),
            false,
        );
        let events = pump(&mut client, &mut server);
        assert!(
            events.iter().any(|e| matches!(
                e,
                ServerEvent::Ignored {
                    reason: "deleteStream without a numeric stream id",
                    ..
                }
            )),
            "{events:?}"
        );
        // The connection goes on: createStream still works.
        client.create_stream();
        let events = pump(&mut client, &mut server);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ServerEvent::StreamCreated { .. })),
            "{events:?}"
        );
        assert!(!server.is_closed());
    }
}
