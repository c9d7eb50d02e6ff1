//! The client end of an RTMP connection (RTMP 1.0 §7.3.1 publish and §7.3.2 play message
//! flows): handshake, `connect`, `createStream`, then `publish` or `play`.
//!
//! The session sends `connect` as soon as the handshake completes. [`ClientSession::publish`] and
//! [`ClientSession::play`] run the whole stream set-up (FMLE-style `releaseStream`/`FCPublish`,
//! `createStream`, `publish`; or `createStream`, Set Buffer Length, `play`) and report the outcome
//! as events. Pings, acknowledgements and Set Peer Bandwidth are answered automatically.

use super::conn::{Conn, Hs, Input};
use super::{csid, SessionError};
use crate::chunk::ChunkLimits;
use crate::command::{
    codes, Command, CommandMessage, ConnectCommand, ConnectResponse, PlayArgs, PublishMode,
    StatusInfo,
};
use crate::handshake::{ClientHandshake, ClientHandshakeMode, HandshakeKind};
use crate::message::{
    split_aggregate, AggregateLimits, ProtocolControl, SharedObjectMessage, UserControlEvent,
};
use crate::types::{MessageType, RawMessage, Timestamp};
use bytes::Bytes;
use rand::{RngCore, SeedableRng};
use sluice_amf::{Amf0Value, AmfLimits};
use std::collections::{HashMap, VecDeque};

/// Client session settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The connect request (app, tcUrl, flashVer, objectEncoding, fourCcList, ...).
    pub connect: ConnectCommand,
    /// Handshake form. Default: digest (complex), as Flash Player and librtmp send.
    /// [`ClientHandshakeMode::Rtmpe`] makes the connection RTMPE (`rtmpe://`): a Diffie-Hellman
    /// handshake, then RC4 both ways, handled inside the session (the driver sees plain
    /// `handle_input`/`poll_transmit` bytes as always). RTMPE is obfuscation, not security.
    pub handshake: ClientHandshakeMode,
    /// Chunk size for what we send, announced before connect. Default 4096.
    pub chunk_size: u32,
    /// Buffer length announced before play (ms). Default 1000.
    pub buffer_ms: u32,
    /// Chunk stream limits for what the server sends.
    pub chunk: ChunkLimits,
    /// AMF decoding limits.
    pub amf: AmfLimits,
    /// Aggregate message limits.
    pub aggregate: AggregateLimits,
}

impl ClientConfig {
    /// Settings for connecting to `app` at `tc_url` (e.g. `rtmp://host/live`).
    pub fn new(app: impl Into<String>, tc_url: impl Into<String>) -> Self {
        let mut connect = ConnectCommand::new(app, tc_url);
        connect.flash_ver = Some("FMLE/3.0 (compatible; Sluice)".into());
        connect.connection_type = Some("nonprivate".into());
        ClientConfig {
            connect,
            handshake: ClientHandshakeMode::Digest,
            chunk_size: 4096,
            buffer_ms: 1000,
            chunk: ChunkLimits::default(),
            amf: AmfLimits::default(),
            aggregate: AggregateLimits::default(),
        }
    }
}

/// Something that happened on a client connection.
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// The handshake finished.
    HandshakeComplete(Option<HandshakeKind>),
    /// connect succeeded.
    Connected(ConnectResponse),
    /// connect failed (`_error`): the status object the server sent.
    ConnectFailed(StatusInfo),
    /// A message stream was created by [`ClientSession::create_stream`].
    StreamCreated {
        /// Transaction id returned by `create_stream`.
        transaction_id: f64,
        /// The new message stream id.
        stream_id: u32,
    },
    /// `NetStream.Publish.Start` arrived for a publish started with [`ClientSession::publish`].
    PublishStarted {
        /// Message stream id to send media on.
        stream_id: u32,
    },
    /// `NetStream.Play.Start` arrived for a play started with [`ClientSession::play`].
    PlayStarted {
        /// Message stream id media arrives on.
        stream_id: u32,
    },
    /// The publish or play request failed (error-level onStatus or `_error`).
    StreamFailed {
        /// Message stream id (0 if the stream could not be created).
        stream_id: u32,
        /// The status the server sent.
        info: StatusInfo,
    },
    /// Any onStatus (including the ones that also raised the events above).
    Status {
        /// Message stream id.
        stream_id: u32,
        /// Status.
        info: StatusInfo,
    },
    /// Audio from the server.
    Audio {
        /// Message stream id.
        stream_id: u32,
        /// Timestamp.
        timestamp: Timestamp,
        /// The audio tag body.
        payload: Bytes,
    },
    /// Video from the server.
    Video {
        /// Message stream id.
        stream_id: u32,
        /// Timestamp.
        timestamp: Timestamp,
        /// The video tag body.
        payload: Bytes,
    },
    /// A data message (onMetaData, |RtmpSampleAccess, ...).
    Data {
        /// Message stream id.
        stream_id: u32,
        /// Timestamp.
        timestamp: Timestamp,
        /// First string of the body (handler name).
        name: String,
        /// AMF0 body.
        payload: Bytes,
    },
    /// A user control event from the server (StreamBegin, StreamEOF, ...). Ping requests are
    /// answered automatically and not reported.
    UserControl(UserControlEvent),
    /// `_result` / `_error` for a [`ClientSession::call`].
    CallResult {
        /// Transaction id of the call.
        transaction_id: f64,
        /// true for `_result`, false for `_error`.
        ok: bool,
        /// The response.
        response: CommandMessage,
    },
    /// A command from the server that is not a response (e.g. onBWDone, onFCPublish, or an
    /// application call).
    ServerCommand {
        /// Message stream id.
        stream_id: u32,
        /// The command.
        command: CommandMessage,
    },
    /// A shared object message.
    SharedObject {
        /// The message.
        message: SharedObjectMessage,
        /// Whether it was type 16.
        amf3: bool,
    },
    /// The server acknowledged bytes.
    Acknowledgement(u32),
    /// A message of an unknown type was skipped.
    Ignored {
        /// Its type.
        type_id: MessageType,
    },
}

#[derive(Debug)]
enum Txn {
    Connect,
    CreateStream { then: After },
    Call,
}

#[derive(Debug, Clone)]
enum After {
    Nothing,
    Publish { name: String, mode: PublishMode },
    Play(PlayArgs),
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum StreamRole {
    Idle,
    PublishPending,
    Publishing,
    PlayPending,
    Playing,
}

/// The client end of one RTMP connection.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    conn: Conn,
    events: VecDeque<ClientEvent>,
    txns: HashMap<u64, Txn>,
    next_txn: f64,
    connected: bool,
    streams: HashMap<u32, StreamRole>,
}

impl ClientSession {
    /// Start a connection: C0+C1 are queued at once.
    pub fn new(config: ClientConfig, rng: &mut impl RngCore) -> Self {
        let mut seeded = rand::rngs::StdRng::from_rng(&mut *rng)
            .unwrap_or_else(|_| rand::rngs::StdRng::seed_from_u64(rng.next_u64()));
        let hs = ClientHandshake::new(config.handshake, &mut seeded);
        let mut conn = Conn::new(Hs::Client(Box::new((hs, seeded))), config.chunk.clone(), 0);
        conn.flush_handshake();
        ClientSession {
            config,
            conn,
            events: VecDeque::new(),
            txns: HashMap::new(),
            next_txn: 2.0,
            connected: false,
            streams: HashMap::new(),
        }
    }

    /// Feed bytes from the server. `Err` means the server broke the protocol: close.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), SessionError> {
        self.conn.append_input(data)?;
        while let Some(input) = self.conn.next_input()? {
            match input {
                Input::HandshakeDone(kind) => {
                    self.events.push_back(ClientEvent::HandshakeComplete(kind));
                    self.send_connect();
                }
                Input::Message(msg) => self.on_message(msg)?,
            }
        }
        Ok(())
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Next buffer to write to the server.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.conn.poll_transmit()
    }

    /// Move every pending output buffer into `out`.
    pub fn drain_transmit(&mut self, out: &mut Vec<Bytes>) {
        self.conn.drain_transmit(out);
    }

    /// Whether output is waiting.
    pub fn has_transmit(&self) -> bool {
        self.conn.has_transmit()
    }

    /// Whether connect succeeded.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The handshake form used, once complete.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.conn.handshake_kind()
    }

    /// Bytes received after the handshake.
    pub fn bytes_received(&self) -> u64 {
        self.conn.bytes_received()
    }

    /// Commands after a connect with objectEncoding 3 go as AMF3 command messages (type 17), as
    /// Flash Player sends them; connect itself is always AMF0.
    fn amf3(&self) -> bool {
        self.connected && self.config.connect.wants_amf3()
    }

    fn send_connect(&mut self) {
        self.conn
            .send_control(&ProtocolControl::SetChunkSize(self.config.chunk_size));
        let mut msg = self.config.connect.to_message();
        msg.transaction_id = 1.0;
        self.txns.insert(1, Txn::Connect);
        let amf3 = self.amf3();
        self.conn.send_command(csid::COMMAND, 0, &msg, amf3);
    }

    fn txn(&mut self, t: Txn) -> f64 {
        let id = self.next_txn;
        self.next_txn += 1.0;
        self.txns.insert(id as u64, t);
        id
    }

    /// Send `createStream`; the id arrives as [`ClientEvent::StreamCreated`]. Returns the
    /// transaction id.
    pub fn create_stream(&mut self) -> f64 {
        self.create_stream_then(After::Nothing)
    }

    fn create_stream_then(&mut self, then: After) -> f64 {
        let id = self.txn(Txn::CreateStream { then });
        let amf3 = self.amf3();
        self.conn.send_command(
            csid::COMMAND,
            0,
            &Command::CreateStream { transaction_id: id }.to_message(),
            amf3,
        );
        id
    }

    /// Publish `name`: releaseStream, FCPublish, createStream, then publish on the new stream.
    /// Outcome: [`ClientEvent::PublishStarted`] or [`ClientEvent::StreamFailed`].
    pub fn publish(&mut self, name: &str, mode: PublishMode) -> Result<(), SessionError> {
        if !self.connected {
            return Err(SessionError::Protocol("publish before connect succeeded"));
        }
        let amf3 = self.amf3();
        let t = self.txn(Txn::Call);
        self.conn.send_command(
            csid::COMMAND,
            0,
            &Command::ReleaseStream {
                transaction_id: t,
                name: name.to_owned(),
            }
            .to_message(),
            amf3,
        );
        let t = self.txn(Txn::Call);
        self.conn.send_command(
            csid::COMMAND,
            0,
            &Command::FcPublish {
                transaction_id: t,
                name: name.to_owned(),
            }
            .to_message(),
            amf3,
        );
        self.create_stream_then(After::Publish {
            name: name.to_owned(),
            mode,
        });
        Ok(())
    }

    /// Play: createStream, Set Buffer Length, play. Outcome: [`ClientEvent::PlayStarted`] or
    /// [`ClientEvent::StreamFailed`]; media follows as Audio/Video/Data events.
    pub fn play(&mut self, args: PlayArgs) -> Result<(), SessionError> {
        if !self.connected {
            return Err(SessionError::Protocol("play before connect succeeded"));
        }
        self.create_stream_then(After::Play(args));
        Ok(())
    }

    /// Send an arbitrary call; a non-zero transaction id is allocated and returned, the answer
    /// arrives as [`ClientEvent::CallResult`].
    pub fn call(&mut self, mut command: CommandMessage, expect_result: bool) -> f64 {
        command.transaction_id = if expect_result {
            self.txn(Txn::Call)
        } else {
            0.0
        };
        let amf3 = self.amf3();
        self.conn.send_command(csid::COMMAND, 0, &command, amf3);
        command.transaction_id
    }

    /// Send a command on a message stream (e.g. pause, seek, receiveVideo).
    pub fn send_stream_command(&mut self, stream_id: u32, command: &Command) {
        let amf3 = self.amf3();
        self.conn
            .send_command(csid::STREAM, stream_id, &command.to_message(), amf3);
    }

    /// Stop publishing or playing and delete the stream (FCUnpublish for a publisher,
    /// closeStream, deleteStream).
    pub fn close_stream(&mut self, stream_id: u32, name: &str) {
        let amf3 = self.amf3();
        if self.streams.get(&stream_id) == Some(&StreamRole::Publishing) {
            self.conn.send_command(
                csid::COMMAND,
                0,
                &Command::FcUnpublish {
                    transaction_id: 0.0,
                    name: name.to_owned(),
                }
                .to_message(),
                amf3,
            );
        }
        self.conn.send_command(
            csid::STREAM,
            stream_id,
            &Command::CloseStream.to_message(),
            amf3,
        );
        self.conn.send_command(
            csid::COMMAND,
            0,
            &Command::DeleteStream { stream_id }.to_message(),
            amf3,
        );
        self.streams.remove(&stream_id);
    }

    /// Send audio on a publishing stream.
    pub fn send_audio(&mut self, stream_id: u32, timestamp: Timestamp, payload: Bytes) {
        self.conn.send_av(false, stream_id, timestamp, payload);
    }

    /// Send video on a publishing stream.
    pub fn send_video(&mut self, stream_id: u32, timestamp: Timestamp, payload: Bytes) {
        self.conn.send_av(true, stream_id, timestamp, payload);
    }

    /// Send a data message (AMF0 body, e.g. `@setDataFrame` + `onMetaData` + object).
    pub fn send_data(&mut self, stream_id: u32, timestamp: Timestamp, payload: Bytes) {
        self.conn.send_data(stream_id, timestamp, payload);
    }

    /// Send a shared object message.
    pub fn send_shared_object(
        &mut self,
        message: &SharedObjectMessage,
        amf3: bool,
    ) -> Result<(), SessionError> {
        self.conn.send_shared_object(message, amf3)
    }

    /// Send a Ping Request (the server should answer with a Ping Response).
    pub fn send_user_control(&mut self, event: UserControlEvent) {
        self.conn.send_user_control(&event);
    }

    /// Close: no further input is processed.
    pub fn close(&mut self) {
        self.conn.close();
    }

    fn on_message(&mut self, msg: RawMessage) -> Result<(), SessionError> {
        match msg.type_id {
            t if t.is_protocol_control() => {
                let pc = ProtocolControl::decode(t, &msg.payload)?;
                self.conn.on_protocol_control(&pc);
                if let ProtocolControl::Acknowledgement { sequence } = pc {
                    self.events
                        .push_back(ClientEvent::Acknowledgement(sequence));
                }
            }
            MessageType::USER_CONTROL => {
                let ev = UserControlEvent::decode(&msg.payload)?;
                match ev {
                    UserControlEvent::PingRequest(ts) => self
                        .conn
                        .send_user_control(&UserControlEvent::PingResponse(ts)),
                    other => self.events.push_back(ClientEvent::UserControl(other)),
                }
            }
            MessageType::COMMAND_AMF0 | MessageType::COMMAND_AMF3 => {
                let amf3 = msg.type_id == MessageType::COMMAND_AMF3;
                let cmd = CommandMessage::decode(&msg.payload, amf3, &self.config.amf)?;
                self.on_command(msg.stream_id, cmd);
            }
            MessageType::AUDIO
            | MessageType::VIDEO
            | MessageType::DATA_AMF0
            | MessageType::DATA_AMF3 => self.on_media(msg),
            MessageType::AGGREGATE => {
                for sub in split_aggregate(&msg, &self.config.aggregate)? {
                    self.on_media(sub);
                }
            }
            MessageType::SHARED_OBJECT_AMF0 | MessageType::SHARED_OBJECT_AMF3 => {
                let amf3 = msg.type_id == MessageType::SHARED_OBJECT_AMF3;
                let message = SharedObjectMessage::decode(&msg.payload, amf3)?;
                self.events
                    .push_back(ClientEvent::SharedObject { message, amf3 });
            }
            other => self
                .events
                .push_back(ClientEvent::Ignored { type_id: other }),
        }
        Ok(())
    }

    fn on_media(&mut self, msg: RawMessage) {
        let ev = match msg.type_id {
            MessageType::AUDIO => ClientEvent::Audio {
                stream_id: msg.stream_id,
                timestamp: msg.timestamp,
                payload: msg.payload,
            },
            MessageType::VIDEO => ClientEvent::Video {
                stream_id: msg.stream_id,
                timestamp: msg.timestamp,
                payload: msg.payload,
            },
            MessageType::DATA_AMF0 | MessageType::DATA_AMF3 => {
                let mut payload = msg.payload;
                if msg.type_id == MessageType::DATA_AMF3 && !payload.is_empty() {
                    payload = payload.slice(1..);
                }
                let name = sluice_amf::Amf0Decoder::with_limits(&payload, self.config.amf.clone())
                    .decode()
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                ClientEvent::Data {
                    stream_id: msg.stream_id,
                    timestamp: msg.timestamp,
                    name,
                    payload,
                }
            }
            other => ClientEvent::Ignored { type_id: other },
        };
        self.events.push_back(ev);
    }

    fn on_command(&mut self, stream_id: u32, msg: CommandMessage) {
        match msg.name.as_str() {
            "_result" | "_error" => {
                let ok = msg.name == "_result";
                let tid = msg.transaction_id;
                match self.txns.remove(&(tid as u64)) {
                    Some(Txn::Connect) => {
                        if ok {
                            self.connected = true;
                            self.events.push_back(ClientEvent::Connected(
                                ConnectResponse::from_message(&msg),
                            ));
                        } else {
                            let info = msg
                                .args
                                .first()
                                .and_then(StatusInfo::from_value)
                                .unwrap_or_else(|| {
                                    StatusInfo::error(codes::CONNECT_FAILED, "connect failed")
                                });
                            self.events.push_back(ClientEvent::ConnectFailed(info));
                        }
                    }
                    Some(Txn::CreateStream { then }) => {
                        let id = msg.args.first().and_then(crate::command::number_of);
                        match (ok, id) {
                            (true, Some(id)) if id >= 0.0 && id <= f64::from(u32::MAX) => {
                                let sid = id as u32;
                                self.streams.insert(sid, StreamRole::Idle);
                                self.events.push_back(ClientEvent::StreamCreated {
                                    transaction_id: tid,
                                    stream_id: sid,
                                });
                                self.after_create(sid, then);
                            }
                            _ => {
                                let info = msg
                                    .args
                                    .first()
                                    .and_then(StatusInfo::from_value)
                                    .unwrap_or_else(|| {
                                        StatusInfo::error(
                                            codes::STREAM_FAILED,
                                            "createStream failed",
                                        )
                                    });
                                if !matches!(then, After::Nothing) {
                                    self.events.push_back(ClientEvent::StreamFailed {
                                        stream_id: 0,
                                        info,
                                    });
                                }
                            }
                        }
                    }
                    Some(Txn::Call) | None => {
                        self.events.push_back(ClientEvent::CallResult {
                            transaction_id: tid,
                            ok,
                            response: msg,
                        });
                    }
                }
            }
            "onStatus" => {
                let info = msg
                    .args
                    .first()
                    .and_then(StatusInfo::from_value)
                    .or_else(|| StatusInfo::from_value(&msg.command_object));
                let Some(info) = info else {
                    self.events.push_back(ClientEvent::ServerCommand {
                        stream_id,
                        command: msg,
                    });
                    return;
                };
                let role = self.streams.get(&stream_id).copied();
                match (role, info.code.as_str()) {
                    (Some(StreamRole::PublishPending), codes::PUBLISH_START) => {
                        self.streams.insert(stream_id, StreamRole::Publishing);
                        self.events
                            .push_back(ClientEvent::PublishStarted { stream_id });
                    }
                    (Some(StreamRole::PlayPending), codes::PLAY_START) => {
                        self.streams.insert(stream_id, StreamRole::Playing);
                        self.events
                            .push_back(ClientEvent::PlayStarted { stream_id });
                    }
                    (Some(StreamRole::PublishPending | StreamRole::PlayPending), _)
                        if info.is_error() =>
                    {
                        self.streams.insert(stream_id, StreamRole::Idle);
                        self.events.push_back(ClientEvent::StreamFailed {
                            stream_id,
                            info: info.clone(),
                        });
                    }
                    _ => {}
                }
                self.events
                    .push_back(ClientEvent::Status { stream_id, info });
            }
            _ => self.events.push_back(ClientEvent::ServerCommand {
                stream_id,
                command: msg,
            }),
        }
    }

    fn after_create(&mut self, stream_id: u32, then: After) {
        let amf3 = self.amf3();
        match then {
            After::Nothing => {}
            After::Publish { name, mode } => {
                self.streams.insert(stream_id, StreamRole::PublishPending);
                self.conn.send_command(
                    csid::STREAM,
                    stream_id,
                    &Command::Publish {
                        transaction_id: 0.0,
                        name,
                        mode,
                    }
                    .to_message(),
                    amf3,
                );
            }
            After::Play(args) => {
                self.streams.insert(stream_id, StreamRole::PlayPending);
                self.conn
                    .send_user_control(&UserControlEvent::SetBufferLength {
                        stream_id,
                        buffer_ms: self.config.buffer_ms,
                    });
                self.conn.send_command(
                    csid::STREAM,
                    stream_id,
                    &Command::Play(args).to_message(),
                    amf3,
                );
            }
        }
    }
}

/// Build an onMetaData data message body from properties (for publishers):
/// `@setDataFrame`, `onMetaData`, ECMA array.
pub fn set_data_frame_body(properties: sluice_amf::Amf0Object) -> Bytes {
    sluice_amf::amf0_encode_all(&[
        Amf0Value::String("@setDataFrame".into()),
        Amf0Value::String("onMetaData".into()),
        Amf0Value::EcmaArray(properties),
    ])
}
