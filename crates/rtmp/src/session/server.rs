//! The server end of an RTMP connection (RTMP 1.0 §7.2 and §7.3 message exchange examples):
//! handshake, `connect`, `createStream`, then publish or play on message streams.
//!
//! Decisions that belong to the application — whether a connect, publish or play is allowed —
//! are raised as events carrying a [`RequestId`] and answered with `accept_*` / `reject_*`.
//! Everything else (protocol control, pings, `_checkbw`, FMLE's releaseStream/FCPublish
//! courtesies, pause notifications) is answered by the session itself.
//!
//! Here: the session's state, input and message dispatch. The client's commands are handled in
//! `server/commands.rs`, the application's answers in `server/answers.rs`, what it sends in
//! `server/send.rs`, recorded streams in `server/recorded.rs`.

use super::conn::{Conn, Hs, Input};
use super::{csid, SessionError};
use crate::command::{Command, CommandMessage, StatusInfo};
use crate::handshake::{HandshakeKind, ServerHandshake};
use crate::message::{split_aggregate, ProtocolControl, SharedObjectMessage, UserControlEvent};
use crate::types::{MessageType, RawMessage};
use bytes::Bytes;
use rand::{RngCore, SeedableRng};
use std::collections::{HashMap, VecDeque};

pub use super::server_api::{RequestId, ServerConfig, ServerEvent};

mod answers;
mod commands;
mod recorded;
mod send;

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
}

#[inline]
fn unreachable_connect() {
    // Connect is handled before the state check; this arm exists only for exhaustiveness.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::ConnectResponse;
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
