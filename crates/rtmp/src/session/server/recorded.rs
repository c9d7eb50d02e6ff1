//! Playing a recorded stream (RTMP 1.0 §7.2.2.1 `play` with a start time and duration, §7.2.2.7
//! `seek`, §7.2.2.8 `pause`, §7.1.7 user control StreamIsRecorded, §7.1.6 aggregate messages).
//!
//! The message sequence follows what FMS-era players and their clients (Flash, ffmpeg, librtmp)
//! were written against:
//!
//! * start ([`ServerSession::accept_play_recorded`]): StreamBegin, `NetStream.Play.Reset`,
//!   `NetStream.Play.Start`, StreamIsRecorded, `|RtmpSampleAccess`; the application then sends
//!   `onMetaData` (with the duration) and media;
//! * seek: the session raises [`ServerEvent::Seek`](super::ServerEvent::Seek) without answering;
//!   the application finds the keyframe at or before the time and calls
//!   [`ServerSession::notify_seek`] (StreamEOF, `NetStream.Seek.Notify`, StreamBegin,
//!   `NetStream.Play.Start`) or [`ServerSession::notify_seek_failed`];
//! * pause / unpause are answered by the session (`Pause.Notify` / `Unpause.Notify`); on a
//!   recorded stream unpausing does not wait for a keyframe, since the application resumes
//!   exactly where it stopped;
//! * end ([`ServerSession::finish_recorded`]): StreamEOF, `onPlayStatus`
//!   `NetStream.Play.Complete`, `NetStream.Play.Stop`.

use super::{ServerSession, SessionError, StreamState};
use crate::command::{codes, StatusInfo};
use crate::message::{build_aggregate, UserControlEvent};
use crate::session::csid;
use crate::types::{MessageType, RawMessage, Timestamp};
use sluice_amf::{amf0_encode_all, Amf0Value};

impl ServerSession {
    /// Accept a play of a recorded stream (see the module docs); gives its message stream id.
    pub fn accept_play_recorded(&mut self, request: super::RequestId) -> Result<u32, SessionError> {
        self.accept_play_as(request, true)
    }

    /// Whether `stream_id` plays a recorded stream and is paused.
    pub fn is_paused(&self, stream_id: u32) -> bool {
        self.streams.get(&stream_id).is_some_and(|s| s.paused)
    }

    /// Answer a seek of a recorded stream: playback goes on from `position_ms` (the keyframe
    /// found), announced with StreamEOF, `NetStream.Seek.Notify`, StreamBegin and
    /// `NetStream.Play.Start`.
    pub fn notify_seek(&mut self, stream_id: u32, position_ms: u32) -> Result<(), SessionError> {
        self.recorded_stream(stream_id)?;
        self.conn
            .send_user_control(&UserControlEvent::StreamEof(stream_id));
        self.send_status(
            stream_id,
            StatusInfo::status(codes::SEEK_NOTIFY, format!("Seeking {position_ms} ms."))
                .with("details", f64::from(position_ms)),
        );
        self.conn
            .send_user_control(&UserControlEvent::StreamBegin(stream_id));
        self.send_status(
            stream_id,
            StatusInfo::status(codes::PLAY_START, "Started playing."),
        );
        Ok(())
    }

    /// Refuse a seek of a recorded stream with `NetStream.Seek.Failed`; playback goes on.
    pub fn notify_seek_failed(
        &mut self,
        stream_id: u32,
        description: &str,
    ) -> Result<(), SessionError> {
        self.recorded_stream(stream_id)?;
        self.send_status(
            stream_id,
            StatusInfo::error(codes::SEEK_FAILED, description),
        );
        Ok(())
    }

    /// End the play of a recorded stream: StreamEOF, `onPlayStatus NetStream.Play.Complete`
    /// (with the duration in seconds and the bytes sent) and `NetStream.Play.Stop`. The stream
    /// goes back to idle: nothing more is sent on it.
    pub fn finish_recorded(
        &mut self,
        stream_id: u32,
        duration_secs: f64,
        bytes: u64,
        name: &str,
    ) -> Result<(), SessionError> {
        self.recorded_stream(stream_id)?;
        self.conn
            .send_user_control(&UserControlEvent::StreamEof(stream_id));
        let complete = StatusInfo::status(codes::PLAY_COMPLETE, "Playback complete.")
            .with("duration", duration_secs)
            .with("bytes", bytes as f64);
        let body = amf0_encode_all(&[
            Amf0Value::String("onPlayStatus".into()),
            Amf0Value::Object(complete.to_object()),
        ]);
        self.conn.send_data(stream_id, Timestamp::ZERO, body);
        self.send_status(
            stream_id,
            StatusInfo::status(codes::PLAY_STOP, format!("Stopped playing {name}."))
                .with("details", name),
        );
        if let Some(s) = self.streams.get_mut(&stream_id) {
            s.state = StreamState::Idle;
            s.recorded = false;
            s.paused = false;
        }
        Ok(())
    }

    /// Send a run of audio, video and data messages of a recorded stream as one aggregate
    /// message (type 22; a single message goes as itself). Messages of a kind the player turned
    /// off are left out. Returns false (nothing sent) when the stream is not playing or paused.
    /// The caller bounds the run (an aggregate's body is at most 16 MiB - 1, RTMP's 24-bit
    /// message length); a run too large for one is sent as separate messages.
    pub fn send_aggregate(&mut self, stream_id: u32, messages: &[RawMessage]) -> bool {
        let Some(s) = self.playing(stream_id) else {
            return false;
        };
        let (audio, video) = (s.receive_audio, s.receive_video);
        let kept: Vec<RawMessage> = messages
            .iter()
            .filter(|m| match m.type_id {
                MessageType::AUDIO => audio,
                MessageType::VIDEO => video,
                _ => true,
            })
            .map(|m| RawMessage {
                stream_id,
                ..m.clone()
            })
            .collect();
        let aggregate = (kept.len() > 1)
            .then(|| build_aggregate(&kept, csid::VIDEO).ok())
            .flatten();
        match aggregate {
            Some(a) => self.conn.send_media(&a),
            None => {
                for m in &kept {
                    let csid = match m.type_id {
                        MessageType::AUDIO => csid::AUDIO,
                        MessageType::VIDEO => csid::VIDEO,
                        _ => csid::STREAM,
                    };
                    self.conn.send_media(&RawMessage { csid, ..m.clone() });
                }
            }
        }
        true
    }

    fn recorded_stream(&self, stream_id: u32) -> Result<(), SessionError> {
        match self.streams.get(&stream_id) {
            Some(s) if s.recorded && s.state == StreamState::Playing => Ok(()),
            _ => Err(SessionError::BadStream {
                stream_id,
                why: "not playing a recorded stream",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::command::{codes, Command, ConnectResponse, PlayArgs};
    use crate::session::{
        ClientConfig, ClientEvent, ClientSession, ServerConfig, ServerEvent, ServerSession,
    };
    use crate::types::{MessageType, RawMessage, Timestamp};
    use bytes::Bytes;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// Moves bytes both ways until both sides are quiet (connects are accepted); returns both
    /// sides' events.
    fn pump(c: &mut ClientSession, s: &mut ServerSession) -> (Vec<ServerEvent>, Vec<ClientEvent>) {
        let (mut se, mut ce) = (Vec::new(), Vec::new());
        loop {
            let mut moved = false;
            while let Some(b) = c.poll_transmit() {
                moved = true;
                s.handle_input(&b).expect("server input");
            }
            while let Some(b) = s.poll_transmit() {
                moved = true;
                c.handle_input(&b).expect("client input");
            }
            while let Some(e) = s.poll_event() {
                if let ServerEvent::ConnectRequest { request, .. } = &e {
                    s.accept_connect(*request, ConnectResponse::default())
                        .expect("accept connect");
                    moved = true;
                }
                se.push(e);
            }
            while let Some(e) = c.poll_event() {
                ce.push(e);
            }
            if !moved {
                return (se, ce);
            }
        }
    }

    fn statuses(events: &[ClientEvent]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Status { info, .. } => Some(info.code.clone()),
                _ => None,
            })
            .collect()
    }

    fn media(type_id: MessageType, ts: u32, body: &'static [u8]) -> RawMessage {
        RawMessage {
            csid: 0,
            timestamp: Timestamp(ts),
            type_id,
            stream_id: 0,
            payload: Bytes::from_static(body),
        }
    }

    #[test]
    fn recorded_play_seek_pause_and_end() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut c = ClientSession::new(ClientConfig::new("vod", "rtmp://h/vod"), &mut rng);
        let mut s = ServerSession::new(ServerConfig::default(), &mut rng);
        pump(&mut c, &mut s);
        c.play(PlayArgs {
            name: "movie".into(),
            start: 0.0,
            duration: -1.0,
            reset: true,
        })
        .unwrap();
        let (se, _) = pump(&mut c, &mut s);
        let (request, stream_id) = se
            .iter()
            .find_map(|e| match e {
                ServerEvent::PlayRequest {
                    request, stream_id, ..
                } => Some((*request, *stream_id)),
                _ => None,
            })
            .expect("play request");
        assert_eq!(s.accept_play_recorded(request).unwrap(), stream_id);
        let msgs = vec![
            media(MessageType::VIDEO, 0, &[0x17, 0, 0, 0, 0]),
            media(MessageType::AUDIO, 0, &[0xaf, 0, 0x12, 0x10]),
            media(MessageType::VIDEO, 40, &[0x27, 1, 0, 0, 0]),
        ];
        assert!(s.send_aggregate(stream_id, &msgs));
        let (_, ce) = pump(&mut c, &mut s);
        assert_eq!(statuses(&ce), [codes::PLAY_RESET, codes::PLAY_START]);
        // The aggregate arrives split into its three messages, timestamps kept.
        let got: Vec<(MessageType, u32)> = ce
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Audio { timestamp, .. } => {
                    Some((MessageType::AUDIO, timestamp.value()))
                }
                ClientEvent::Video { timestamp, .. } => {
                    Some((MessageType::VIDEO, timestamp.value()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            got,
            [
                (MessageType::VIDEO, 0),
                (MessageType::AUDIO, 0),
                (MessageType::VIDEO, 40)
            ]
        );
        // A seek is the application's to answer.
        c.send_stream_command(
            stream_id,
            &Command::Seek {
                position_ms: 5000.0,
            },
        );
        let (se, ce) = pump(&mut c, &mut s);
        assert!(se
            .iter()
            .any(|e| matches!(e, ServerEvent::Seek { position_ms, .. } if *position_ms == 5000.0)));
        assert!(statuses(&ce).is_empty());
        s.notify_seek(stream_id, 4000).unwrap();
        let mut seen = pump(&mut c, &mut s).1;
        // Pause is answered by the session; while paused nothing is sent.
        c.send_stream_command(
            stream_id,
            &Command::Pause {
                pause: true,
                position_ms: 4100.0,
            },
        );
        seen.extend(pump(&mut c, &mut s).1);
        assert!(s.is_paused(stream_id));
        assert!(!s.send_aggregate(stream_id, &msgs));
        c.send_stream_command(
            stream_id,
            &Command::Pause {
                pause: false,
                position_ms: 4100.0,
            },
        );
        seen.extend(pump(&mut c, &mut s).1);
        // Unpaused, a recorded stream goes on without waiting for a keyframe.
        assert!(s.send_aggregate(stream_id, &msgs[2..]));
        s.finish_recorded(stream_id, 10.0, 1234, "movie").unwrap();
        seen.extend(pump(&mut c, &mut s).1);
        let ce = seen;
        assert_eq!(
            statuses(&ce),
            [
                codes::SEEK_NOTIFY,
                codes::PLAY_START,
                codes::PAUSE_NOTIFY,
                codes::UNPAUSE_NOTIFY,
                codes::PLAY_STOP
            ]
        );
        assert!(ce
            .iter()
            .any(|e| matches!(e, ClientEvent::Video { timestamp, .. } if timestamp.value() == 40)));
        assert!(ce
            .iter()
            .any(|e| matches!(e, ClientEvent::Data { name, .. } if name == "onPlayStatus")));
        // Nothing more goes out on the finished stream.
        assert!(!s.send_aggregate(stream_id, &msgs));
        assert!(s.notify_seek(stream_id, 0).is_err());
    }
}
