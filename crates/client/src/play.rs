//! Playing (RTMP 1.0 §7.3.2 play message flow): after `NetStream.Play.Start`, a [`Player`]
//! yields the stream as [`PlayEvent`]s: metadata (`onMetaData`, FLV v10.1 E.5, unwrapped from
//! `@setDataFrame` when a server forwards it as sent), audio and video messages (FLV tag bodies,
//! legacy or Enhanced RTMP), other data messages, status changes and the end of the stream.
//!
//! The stream ends ([`PlayEvent::Eof`]) when the server closes the connection, on
//! `NetStream.Play.Stop` / `NetStream.Play.Complete`, and on `NetStream.Play.UnpublishNotify`
//! unless [`crate::ClientOptions::end_on_unpublish`] is off — the rules ffmpeg and librtmp
//! follow. An error-level onStatus on the stream is [`ClientError::StreamError`].

use crate::connection::Connection;
use crate::error::{ClientError, Stage};
use bytes::Bytes;
use sluice_amf::Amf0Object;
use sluice_flv::script::{ON_META_DATA, SET_DATA_FRAME};
use sluice_rtmp::command::{codes, Command, StatusInfo};
use sluice_rtmp::message::UserControlEvent;
use sluice_rtmp::session::ClientEvent;
use sluice_rtmp::Timestamp;
use std::collections::VecDeque;
use tokio::io::{AsyncRead, AsyncWrite};

/// Why a played stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The server closed the connection.
    Closed,
    /// The server sent this status code (`NetStream.Play.Stop`, `...Complete`,
    /// `...UnpublishNotify`).
    Status(String),
}

/// Something that arrived on a played stream.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayEvent {
    /// Stream metadata.
    Metadata {
        /// Timestamp of the data message.
        timestamp: Timestamp,
        /// The metadata properties (width, height, framerate, codec ids, ...).
        properties: Amf0Object,
        /// The script body as stored in an FLV file: `"onMetaData"` then the properties.
        body: Bytes,
    },
    /// An audio message (FLV audio tag body).
    Audio {
        /// Timestamp (ms).
        timestamp: Timestamp,
        /// Tag body.
        payload: Bytes,
    },
    /// A video message (FLV video tag body).
    Video {
        /// Timestamp (ms).
        timestamp: Timestamp,
        /// Tag body.
        payload: Bytes,
    },
    /// Any other data message (`|RtmpSampleAccess`, `onCuePoint`, `onTextData`...).
    Data {
        /// Timestamp (ms).
        timestamp: Timestamp,
        /// Handler name (first AMF0 string of the body).
        name: String,
        /// AMF0 body, name included.
        payload: Bytes,
    },
    /// An onStatus on the stream that is not an error and does not end it (Play.Reset,
    /// PublishNotify, ...).
    Status(StatusInfo),
    /// A user control event about the stream (StreamBegin, StreamEOF, StreamDry...).
    Control(UserControlEvent),
    /// The stream ended. Further calls return the same event.
    Eof(EndReason),
}

/// A playing stream on a [`Connection`].
#[derive(Debug)]
pub struct Player<S> {
    conn: Connection<S>,
    stream_id: u32,
    name: String,
    early: VecDeque<ClientEvent>,
    ended: Option<EndReason>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Player<S> {
    pub(crate) fn new(
        conn: Connection<S>,
        stream_id: u32,
        name: String,
        early: Vec<ClientEvent>,
    ) -> Self {
        Player {
            conn,
            stream_id,
            name,
            early: early.into(),
            ended: None,
        }
    }

    /// The message stream id media arrives on.
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// The played stream name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The underlying connection (info, byte counters).
    pub fn connection(&self) -> &Connection<S> {
        &self.conn
    }

    /// The next event. Cancel-safe: dropping the future loses no event.
    pub async fn next_event(&mut self) -> Result<PlayEvent, ClientError> {
        loop {
            if let Some(reason) = &self.ended {
                return Ok(PlayEvent::Eof(reason.clone()));
            }
            let ev = match self.early.pop_front() {
                Some(ev) => ev,
                None => match self.conn.next_event_in(Stage::Streaming).await {
                    Ok(ev) => ev,
                    Err(ClientError::Closed(_)) => {
                        self.ended = Some(EndReason::Closed);
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            if let Some(out) = self.translate(ev)? {
                return Ok(out);
            }
        }
    }

    fn translate(&mut self, ev: ClientEvent) -> Result<Option<PlayEvent>, ClientError> {
        Ok(Some(match ev {
            ClientEvent::Audio {
                timestamp, payload, ..
            } => PlayEvent::Audio { timestamp, payload },
            ClientEvent::Video {
                timestamp, payload, ..
            } => PlayEvent::Video { timestamp, payload },
            ClientEvent::Data {
                timestamp,
                name,
                payload,
                ..
            } => data_event(timestamp, name, payload),
            ClientEvent::Status { stream_id, info } if stream_id == self.stream_id => {
                match play_status(info, self.conn.options.end_on_unpublish)? {
                    Ok(ev) => ev,
                    Err(end) => {
                        self.ended = Some(end);
                        return Ok(None);
                    }
                }
            }
            ClientEvent::UserControl(
                uc @ (UserControlEvent::StreamBegin(_)
                | UserControlEvent::StreamEof(_)
                | UserControlEvent::StreamDry(_)
                | UserControlEvent::StreamIsRecorded(_)),
            ) => PlayEvent::Control(uc),
            _ => return Ok(None),
        }))
    }

    /// Pause (`true`) or resume (`false`) a recorded stream (RTMP 1.0 §7.2.2.8); `position_ms` is
    /// where playback stands. The server answers with `NetStream.Pause.Notify` /
    /// `NetStream.Unpause.Notify` ([`PlayEvent::Status`]).
    pub async fn pause(&mut self, pause: bool, position_ms: f64) -> Result<(), ClientError> {
        let cmd = Command::Pause { pause, position_ms };
        self.conn.session.send_stream_command(self.stream_id, &cmd);
        self.conn.flush_in(Stage::Streaming).await
    }

    /// Seek a recorded stream to `position_ms` (RTMP 1.0 §7.2.2.7). The server answers with
    /// `NetStream.Seek.Notify` ([`PlayEvent::Status`]); media from the keyframe at or before
    /// the position follows.
    pub async fn seek(&mut self, position_ms: f64) -> Result<(), ClientError> {
        let cmd = Command::Seek { position_ms };
        self.conn.session.send_stream_command(self.stream_id, &cmd);
        self.conn.flush_in(Stage::Streaming).await
    }

    /// Stop playing (`closeStream`, `deleteStream`) and close the connection.
    pub async fn stop(mut self) -> Result<(), ClientError> {
        if self.ended != Some(EndReason::Closed) {
            self.conn.session.close_stream(self.stream_id, &self.name);
        }
        self.conn.shutdown().await
    }
}

/// What an onStatus on the played stream means: an error ([`ClientError::StreamError`]), the
/// end of the stream (`Err`: `Play.Stop`, `Play.Complete`, `Play.UnpublishNotify` when
/// `end_on_unpublish`), or a status to report (`Ok`).
pub(crate) fn play_status(
    info: StatusInfo,
    end_on_unpublish: bool,
) -> Result<Result<PlayEvent, EndReason>, ClientError> {
    if info.is_error() {
        return Err(ClientError::StreamError(info));
    }
    let ends = match info.code.as_str() {
        codes::PLAY_STOP | "NetStream.Play.Complete" => true,
        codes::PLAY_UNPUBLISH_NOTIFY => end_on_unpublish,
        _ => false,
    };
    Ok(if ends {
        Err(EndReason::Status(info.code))
    } else {
        Ok(PlayEvent::Status(info))
    })
}

/// Classify a data message: `onMetaData` (bare or inside `@setDataFrame`) becomes
/// [`PlayEvent::Metadata`] with an FLV-ready body, anything else [`PlayEvent::Data`].
pub fn data_event(timestamp: Timestamp, name: String, payload: Bytes) -> PlayEvent {
    let body = if name == SET_DATA_FRAME {
        // Skip the first AMF0 string: marker, u16 length, the 13 bytes of "@setDataFrame".
        payload.slice((3 + SET_DATA_FRAME.len()).min(payload.len())..)
    } else {
        payload.clone()
    };
    if let Ok(script) = sluice_flv::parse_script(&body) {
        if script.name == ON_META_DATA {
            if let Some(properties) = script.metadata() {
                return PlayEvent::Metadata {
                    timestamp,
                    properties: properties.clone(),
                    body,
                };
            }
        }
    }
    PlayEvent::Data {
        timestamp,
        name,
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_amf::{amf0_encode_all, Amf0Value};

    #[test]
    fn metadata_bare_and_wrapped() {
        let props = Amf0Object::new().with("width", 640.0);
        let bare = amf0_encode_all(&[
            Amf0Value::String(ON_META_DATA.into()),
            Amf0Value::EcmaArray(props.clone()),
        ]);
        let wrapped = sluice_rtmp::session::client::set_data_frame_body(props.clone());
        // "@setDataFrame" is 02 000d + 13 bytes: the rest is the bare body.
        assert_eq!(&wrapped[..3], &[0x02, 0x00, 0x0d]);
        for (name, payload) in [(ON_META_DATA, bare.clone()), (SET_DATA_FRAME, wrapped)] {
            match data_event(Timestamp(5), name.into(), payload) {
                PlayEvent::Metadata {
                    timestamp,
                    properties,
                    body,
                } => {
                    assert_eq!(timestamp, Timestamp(5));
                    assert_eq!(properties, props);
                    assert_eq!(body, bare);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn other_data_and_garbage() {
        let p = amf0_encode_all(&[
            Amf0Value::String("|RtmpSampleAccess".into()),
            Amf0Value::Boolean(false),
        ]);
        assert!(matches!(
            data_event(Timestamp(0), "|RtmpSampleAccess".into(), p),
            PlayEvent::Data { ref name, .. } if name == "|RtmpSampleAccess"
        ));
        // Truncated or empty bodies never panic.
        for junk in [&b""[..], &[0x02], &[0x02, 0x00, 0x0d, b'@'], &[0xff; 4]] {
            let e = data_event(
                Timestamp(0),
                SET_DATA_FRAME.into(),
                Bytes::copy_from_slice(junk),
            );
            assert!(matches!(e, PlayEvent::Data { .. }));
        }
        // onMetaData without an object is plain data.
        let p = amf0_encode_all(&[Amf0Value::String(ON_META_DATA.into()), Amf0Value::Null]);
        assert!(matches!(
            data_event(Timestamp(0), ON_META_DATA.into(), p),
            PlayEvent::Data { .. }
        ));
    }
}
