//! What the application sends a client over the session (RTMP 1.0 §7.1 message types): audio,
//! video and data on a playing stream (paused streams and receiveAudio/receiveVideo honoured),
//! user control events and pings, stream start/end notices, shared object messages, commands;
//! and closing the session.

use super::{MsgStream, ServerSession, SessionError, StreamState};
use crate::command::{codes, CommandMessage, ConnectCommand, StatusInfo};
use crate::message::{SharedObjectMessage, UserControlEvent};
use crate::session::csid;
use crate::types::Timestamp;
use bytes::Bytes;
use sluice_amf::{Amf0Object, Amf0Value};

impl ServerSession {
    pub(super) fn playing(&mut self, stream_id: u32) -> Option<&mut MsgStream> {
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
        self.conn.send_av(false, stream_id, timestamp, payload);
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
        self.conn.send_av(true, stream_id, timestamp, payload);
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
        self.conn.send_shared_object(message, amf3)
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
