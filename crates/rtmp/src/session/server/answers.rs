//! The application's answers to what the session raised (RTMP 1.0 §7.2.1.1 `connect`, §7.2.2.6
//! `publish`, §7.2.2.1 `play`): accept or reject each request, `getStreamLength`, and the
//! results of the client's own calls.

use super::{ConnState, Pending, RequestId, ServerSession, SessionError, StreamState};
use crate::command::{codes, Command, ConnectResponse, StatusInfo};
use crate::message::{LimitType, ProtocolControl, UserControlEvent};
use crate::session::csid;
use crate::types::Timestamp;
use sluice_amf::{amf0_encode_all, Amf0Value};

impl ServerSession {
    /// Accept a connect: sends Window Acknowledgement Size, Set Peer Bandwidth, Set Chunk Size,
    /// the `_result` (echoing the client's objectEncoding) and onBWDone.
    pub fn accept_connect(
        &mut self,
        request: RequestId,
        mut response: ConnectResponse,
    ) -> Result<(), SessionError> {
        let (transaction_id, amf3) = self.take_connect(request)?;
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

    /// The pending connect `request`: its transaction id and encoding.
    fn take_connect(&mut self, request: RequestId) -> Result<(f64, bool), SessionError> {
        match self.take_request(request, |p| matches!(p, Pending::Connect { .. }))? {
            Pending::Connect {
                transaction_id,
                amf3,
            } => Ok((transaction_id, amf3)),
            _ => Err(SessionError::UnknownRequest(request.0)),
        }
    }

    /// Reject a connect with `NetConnection.Connect.Rejected`; the driver should then close.
    pub fn reject_connect(
        &mut self,
        request: RequestId,
        description: &str,
    ) -> Result<(), SessionError> {
        let (transaction_id, amf3) = self.take_connect(request)?;
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
    pub(super) fn refuse_stream(&mut self, stream_id: u32, code: &str, description: &str) {
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
        self.refuse_request(request, true, code, description)
    }

    /// Accept a play: StreamBegin, `NetStream.Play.Reset` (if requested), `NetStream.Play.Start`
    /// and `|RtmpSampleAccess`. The application then sends metadata, sequence headers and media.
    pub fn accept_play(&mut self, request: RequestId) -> Result<(), SessionError> {
        self.accept_play_as(request, false).map(|_| ())
    }

    /// [`Self::accept_play`], for a live (`recorded` false) or recorded stream (StreamIsRecorded
    /// before `|RtmpSampleAccess`). Gives the message stream id.
    pub(super) fn accept_play_as(
        &mut self,
        request: RequestId,
        recorded: bool,
    ) -> Result<u32, SessionError> {
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
        self.refuse_request(request, false, code, description)
    }

    /// Answer a pending publish (`publish`) or play request with an error status.
    fn refuse_request(
        &mut self,
        request: RequestId,
        publish: bool,
        code: &str,
        description: &str,
    ) -> Result<(), SessionError> {
        let wanted: fn(&Pending) -> bool = if publish {
            |p| matches!(p, Pending::Publish { .. })
        } else {
            |p| matches!(p, Pending::Play { .. })
        };
        let (Pending::Publish { stream_id, .. } | Pending::Play { stream_id, .. }) =
            self.take_request(request, wanted)?
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
        let (transaction_id, stream_id, amf3) = self.take_call(request)?;
        if transaction_id != 0.0 {
            self.reply(stream_id, &Command::result(transaction_id, values), amf3);
        }
        Ok(())
    }

    /// The pending call `request`: its transaction id, message stream and encoding.
    fn take_call(&mut self, request: RequestId) -> Result<(f64, u32, bool), SessionError> {
        match self.take_request(request, |p| matches!(p, Pending::Call { .. }))? {
            Pending::Call {
                transaction_id,
                stream_id,
                amf3,
            } => Ok((transaction_id, stream_id, amf3)),
            _ => Err(SessionError::UnknownRequest(request.0)),
        }
    }

    /// Answer a call with `_error` (nothing is sent for transaction 0).
    pub fn respond_call_error(
        &mut self,
        request: RequestId,
        description: &str,
    ) -> Result<(), SessionError> {
        let (transaction_id, stream_id, amf3) = self.take_call(request)?;
        if transaction_id != 0.0 {
            let err = Command::error(
                transaction_id,
                StatusInfo::error(codes::CALL_FAILED, description),
            );
            self.reply(stream_id, &err, amf3);
        }
        Ok(())
    }
}
