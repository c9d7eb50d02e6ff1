//! The client's commands (RTMP 1.0 §7.2): `createStream`, `deleteStream`, `closeStream`,
//! `publish`, `play`/`play2`, `pause`, `seek`, receiveAudio/receiveVideo, FMLE's
//! releaseStream/FCPublish/FCUnpublish, `getStreamLength`, `_checkbw` and other calls: what the
//! session answers itself, and the requests it raises for the application.

use super::{
    unreachable_connect, ConnState, MsgStream, Pending, ServerEvent, ServerSession, SessionError,
    StreamState,
};
use crate::command::{codes, Command, CommandMessage, PlayArgs, PublishMode, StatusInfo};
use crate::session::csid;
use crate::types::MessageType;
use sluice_amf::Amf0Value;

impl ServerSession {
    pub(super) fn on_command(
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
}
