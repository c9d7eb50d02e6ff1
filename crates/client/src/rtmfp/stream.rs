//! A played or published NetStream over RTMFP (RFC 7425 §5.3.3–5.3.5): the same events and
//! end rules as the RTMP [`crate::Player`] and [`crate::Publisher`].

use super::{RtmfpConnection, CLOSE_WAIT};
use crate::error::{ClientError, Stage};
use crate::play::{data_event, play_status, EndReason, PlayEvent};
use bytes::Bytes;
use sluice_amf::{Amf0Decoder, Amf0Value};
use sluice_rtmfp::tc::TcClientEvent;
use sluice_rtmp::{MessageType, RawMessage, Timestamp};
use std::collections::VecDeque;
use std::time::Instant;

/// A playing stream on an RTMFP session.
#[derive(Debug)]
pub struct RtmfpPlayer {
    conn: RtmfpConnection,
    stream_id: u32,
    name: String,
    early: VecDeque<TcClientEvent>,
    ended: Option<EndReason>,
}

impl RtmfpPlayer {
    pub(super) fn new(
        conn: RtmfpConnection,
        stream_id: u32,
        name: String,
        early: Vec<TcClientEvent>,
    ) -> Self {
        RtmfpPlayer {
            conn,
            stream_id,
            name,
            early: early.into(),
            ended: None,
        }
    }

    /// The played stream name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The session (URL, byte counters).
    pub fn connection(&self) -> &RtmfpConnection {
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
                None => match self.conn.link.next_event(Stage::Streaming, None).await {
                    Ok(Some(ev)) => ev,
                    Ok(None) => continue,
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

    fn translate(&mut self, ev: TcClientEvent) -> Result<Option<PlayEvent>, ClientError> {
        Ok(Some(match ev {
            TcClientEvent::Media(m) if m.stream_id == self.stream_id => match media_event(m) {
                Some(e) => e,
                None => return Ok(None),
            },
            TcClientEvent::Status { stream_id, info } if stream_id == self.stream_id => {
                match play_status(info, self.conn.options.end_on_unpublish)? {
                    Ok(ev) => ev,
                    Err(end) => {
                        self.ended = Some(end);
                        return Ok(None);
                    }
                }
            }
            TcClientEvent::Disconnected => {
                self.ended = Some(EndReason::Closed);
                return Ok(None);
            }
            _ => return Ok(None),
        }))
    }

    /// Stop playing (`deleteStream`) and close the session.
    pub async fn stop(mut self) -> Result<(), ClientError> {
        let link = &mut self.conn.link;
        if let Some(tc) = link.tc.as_mut() {
            let _ = tc.delete_stream(&mut link.ep, Instant::now(), self.stream_id);
        }
        link.close(CLOSE_WAIT).await;
        Ok(())
    }
}

/// An audio, video or data message as a [`PlayEvent`].
fn media_event(m: RawMessage) -> Option<PlayEvent> {
    let (timestamp, payload) = (m.timestamp, m.payload);
    match m.type_id {
        MessageType::AUDIO => Some(PlayEvent::Audio { timestamp, payload }),
        MessageType::VIDEO => Some(PlayEvent::Video { timestamp, payload }),
        MessageType::DATA_AMF0 => {
            let name = match Amf0Decoder::new(&payload).decode() {
                Ok(Amf0Value::String(s)) => s,
                _ => String::new(),
            };
            Some(data_event(timestamp, name, payload))
        }
        _ => None,
    }
}

/// A publishing stream on an RTMFP session.
#[derive(Debug)]
pub struct RtmfpPublisher {
    conn: RtmfpConnection,
    stream_id: u32,
    name: String,
    dropped: u64,
}

impl RtmfpPublisher {
    pub(super) fn new(conn: RtmfpConnection, stream_id: u32, name: String) -> Self {
        RtmfpPublisher {
            conn,
            stream_id,
            name,
            dropped: 0,
        }
    }

    /// The published stream name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The session (URL, byte counters).
    pub fn connection(&self) -> &RtmfpConnection {
        &self.conn
    }

    /// Messages dropped because the session's send queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn send(
        &mut self,
        type_id: MessageType,
        timestamp: Timestamp,
        payload: Bytes,
    ) -> Result<(), ClientError> {
        let link = &mut self.conn.link;
        let Some(tc) = link.tc.as_mut() else {
            return Err(ClientError::Closed(Stage::Streaming));
        };
        let msg = RawMessage {
            csid: 4,
            timestamp,
            type_id,
            stream_id: self.stream_id,
            payload,
        };
        match tc.send_media(&mut link.ep, Instant::now(), self.stream_id, &msg) {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.dropped += 1;
                Ok(())
            }
            Err(e) => Err(ClientError::Rtmfp(e.to_string())),
        }
    }

    /// Send a data message with an AMF0 body as given (an `@setDataFrame` body, `onCuePoint`).
    pub async fn send_data(
        &mut self,
        timestamp: Timestamp,
        body: Bytes,
    ) -> Result<(), ClientError> {
        self.send(MessageType::DATA_AMF0, timestamp, body)?;
        self.flush().await
    }

    /// Send an audio message (an FLV audio tag body).
    pub async fn send_audio(
        &mut self,
        timestamp: Timestamp,
        payload: Bytes,
    ) -> Result<(), ClientError> {
        self.send(MessageType::AUDIO, timestamp, payload)?;
        self.flush().await
    }

    /// Send a video message (an FLV video tag body).
    pub async fn send_video(
        &mut self,
        timestamp: Timestamp,
        payload: Bytes,
    ) -> Result<(), ClientError> {
        self.send(MessageType::VIDEO, timestamp, payload)?;
        self.flush().await
    }

    /// Send what the core has queued and check for an error status.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        self.conn.link.flush(Stage::Streaming).await?;
        self.check_events()
    }

    /// Wait until `deadline`, serving the session (acknowledgements, retransmissions).
    pub async fn sleep_until(&mut self, deadline: tokio::time::Instant) -> Result<(), ClientError> {
        loop {
            self.check_events()?;
            if self.conn.link.is_closed() {
                return Err(ClientError::Closed(Stage::Streaming));
            }
            if self
                .conn
                .link
                .turn(Stage::Streaming, Some(deadline))
                .await?
            {
                return self.check_events();
            }
        }
    }

    fn check_events(&mut self) -> Result<(), ClientError> {
        loop {
            match self.conn.link.pop_event() {
                None => return Ok(()),
                Some(TcClientEvent::Status { stream_id, info })
                    if stream_id == self.stream_id && info.is_error() =>
                {
                    return Err(ClientError::StreamError(info))
                }
                Some(TcClientEvent::Disconnected) => {
                    return Err(ClientError::Closed(Stage::Streaming))
                }
                Some(_) => {}
            }
        }
    }

    /// Stop publishing: let the session deliver what is queued (at most
    /// [`crate::ClientOptions::finish_timeout`], bounded by the media lifetimes), `deleteStream`,
    /// then close the session.
    pub async fn finish(mut self) -> Result<(), ClientError> {
        let linger = self.conn.options.finish_timeout.min(CLOSE_WAIT);
        let deadline = tokio::time::Instant::now() + linger;
        while !self
            .conn
            .link
            .turn(Stage::Streaming, Some(deadline))
            .await?
        {}
        let link = &mut self.conn.link;
        if let Some(tc) = link.tc.as_mut() {
            let _ = tc.delete_stream(&mut link.ep, Instant::now(), self.stream_id);
        }
        link.close(CLOSE_WAIT).await;
        Ok(())
    }
}
