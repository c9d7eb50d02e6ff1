//! Publishing (RTMP 1.0 §7.3.1 publish message flow): after `NetStream.Publish.Start`, a
//! [`Publisher`] sends metadata (`@setDataFrame` data messages, FLV v10.1 E.4.4) and audio /
//! video messages whose bodies are FLV tag bodies (legacy or Enhanced RTMP), then
//! `FCUnpublish` / `closeStream` / `deleteStream` on [`Publisher::finish`].
//!
//! The server's traffic to a publisher (acknowledgements, pings, onStatus) is read between
//! sends without blocking, and while [`Publisher::sleep_until`] paces the stream, so a
//! publisher that waits between frames still answers pings.

use crate::connection::Connection;
use crate::error::{ClientError, Stage};
use crate::transport::rtmpt::unwrap_io_error;
use bytes::Bytes;
use sluice_amf::Amf0Object;
use sluice_rtmp::session::{client::set_data_frame_body, ClientEvent};
use sluice_rtmp::Timestamp;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

/// A publishing stream on a [`Connection`].
#[derive(Debug)]
pub struct Publisher<S> {
    conn: Connection<S>,
    stream_id: u32,
    name: String,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Publisher<S> {
    pub(crate) fn new(conn: Connection<S>, stream_id: u32, name: String) -> Self {
        Publisher {
            conn,
            stream_id,
            name,
        }
    }

    /// The message stream id media goes out on.
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// The published stream name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The underlying connection (info, byte counters).
    pub fn connection(&self) -> &Connection<S> {
        &self.conn
    }

    /// Send stream metadata as `@setDataFrame("onMetaData", properties)` at timestamp 0.
    pub async fn send_metadata(&mut self, properties: Amf0Object) -> Result<(), ClientError> {
        self.send_data(Timestamp::ZERO, set_data_frame_body(properties))
            .await
    }

    /// Send a data message with an AMF0 body as given (e.g. an `onCuePoint`, or an already
    /// encoded `@setDataFrame` body).
    pub async fn send_data(
        &mut self,
        timestamp: Timestamp,
        body: Bytes,
    ) -> Result<(), ClientError> {
        self.conn.session.send_data(self.stream_id, timestamp, body);
        self.flush().await
    }

    /// Send an audio message (an FLV audio tag body).
    pub async fn send_audio(
        &mut self,
        timestamp: Timestamp,
        payload: Bytes,
    ) -> Result<(), ClientError> {
        self.queue_audio(timestamp, payload);
        self.flush().await
    }

    /// Send a video message (an FLV video tag body).
    pub async fn send_video(
        &mut self,
        timestamp: Timestamp,
        payload: Bytes,
    ) -> Result<(), ClientError> {
        self.queue_video(timestamp, payload);
        self.flush().await
    }

    /// Queue an audio message without writing it yet (see [`Publisher::flush`]).
    pub fn queue_audio(&mut self, timestamp: Timestamp, payload: Bytes) {
        self.conn
            .session
            .send_audio(self.stream_id, timestamp, payload);
    }

    /// Queue a video message without writing it yet (see [`Publisher::flush`]).
    pub fn queue_video(&mut self, timestamp: Timestamp, payload: Bytes) {
        self.conn
            .session
            .send_video(self.stream_id, timestamp, payload);
    }

    /// Handle what the server sent meanwhile (without waiting), then write everything queued.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        while self.conn.read_ready(Stage::Streaming).await? {}
        self.check_events()?;
        self.conn.flush_in(Stage::Streaming).await
    }

    /// Wait until `deadline`, answering the server (pings, acknowledgements) meanwhile.
    pub async fn sleep_until(&mut self, deadline: tokio::time::Instant) -> Result<(), ClientError> {
        loop {
            self.check_events()?;
            self.conn.flush_in(Stage::Streaming).await?;
            let conn = &mut self.conn;
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return Ok(()),
                r = conn.io.read(&mut conn.rbuf) => {
                    let n = r.map_err(|e| unwrap_io_error(Stage::Streaming, e))?;
                    conn.feed(n, Stage::Streaming)?;
                }
            }
        }
    }

    /// Stop publishing: `FCUnpublish`, `closeStream`, `deleteStream`, then close the
    /// connection once the server has read everything.
    pub async fn finish(mut self) -> Result<(), ClientError> {
        self.conn.session.close_stream(self.stream_id, &self.name);
        self.conn.shutdown().await
    }

    fn check_events(&mut self) -> Result<(), ClientError> {
        while let Some(ev) = self.conn.session.poll_event() {
            match ev {
                ClientEvent::Status { stream_id, info }
                    if stream_id == self.stream_id && info.is_error() =>
                {
                    return Err(ClientError::StreamError(info));
                }
                ClientEvent::StreamFailed { info, .. } => {
                    return Err(ClientError::StreamError(info));
                }
                _ => {}
            }
        }
        Ok(())
    }
}
