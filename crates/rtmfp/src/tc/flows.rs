//! What the server and client sides of a TC connection share (RFC 7425 §5.1.3, §5.2): a
//! NetStream's three sending flows (data and commands, audio, video) with their priorities, Flow
//! Sync across them, media with abandonment deadlines, and command encoding on flows.

use std::time::{Duration, Instant};

use sluice_amf::AmfLimits;
use sluice_rtmp::command::{Command, CommandMessage};
use sluice_rtmp::{MessageType, RawMessage};

use super::message::{TcMessage, TcUserControl};
use super::metadata::TcMetadata;
use super::server_api::{TcError, PRIORITY_IMMEDIATE, PRIORITY_VIDEO};
use crate::endpoint::Endpoint;
use crate::error::ApiError;
use crate::event::{RecvFlowId, SendFlowId, SessionHandle};
use crate::flow::Reliability;

/// A NetStream's sending flows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamFlows {
    data: SendFlowId,
    audio: SendFlowId,
    video: SendFlowId,
}

impl StreamFlows {
    /// Open the three flows of `stream_id`, as return flows of the far end's `assoc` flow.
    pub(crate) fn open(
        ep: &mut Endpoint,
        session: SessionHandle,
        stream_id: u32,
        assoc: Option<RecvFlowId>,
    ) -> Result<StreamFlows, ApiError> {
        let md = TcMetadata::stream(stream_id).encode();
        let mut open = |p| ep.open_flow(session, md.clone(), assoc, p);
        Ok(StreamFlows {
            data: open(PRIORITY_IMMEDIATE)?,
            audio: open(PRIORITY_IMMEDIATE)?,
            video: open(PRIORITY_VIDEO)?,
        })
    }

    /// The flows, data first.
    pub(crate) fn all(&self) -> [SendFlowId; 3] {
        [self.data, self.audio, self.video]
    }

    /// Flow Sync `sync_id` on all three flows (count 3).
    pub(crate) fn sync(
        &self,
        ep: &mut Endpoint,
        now: Instant,
        session: SessionHandle,
        sync_id: u32,
    ) -> Result<(), ApiError> {
        let sync = TcUserControl::FlowSync { sync_id, count: 3 }
            .to_message()
            .encode();
        for f in self.all() {
            ep.send(now, session, f, sync.clone(), Reliability::Reliable)?;
        }
        Ok(())
    }

    /// A reliable message on the data flow.
    pub(crate) fn send_data(
        &self,
        ep: &mut Endpoint,
        now: Instant,
        session: SessionHandle,
        msg: &TcMessage,
    ) -> Result<(), ApiError> {
        ep.send(now, session, self.data, msg.encode(), Reliability::Reliable)
    }

    /// Audio or video with its lifetime as deadline, anything else reliably on the data flow.
    /// `Ok(false)` when the flow's send queue is full and the message was dropped.
    pub(crate) fn send_media(
        &self,
        ep: &mut Endpoint,
        now: Instant,
        session: SessionHandle,
        msg: &RawMessage,
        lifetimes: (Duration, Duration),
    ) -> Result<bool, TcError> {
        let (flow, reliability) = match msg.type_id {
            MessageType::AUDIO => (self.audio, Reliability::Until(now + lifetimes.0)),
            MessageType::VIDEO => (self.video, Reliability::Until(now + lifetimes.1)),
            _ => (self.data, Reliability::Reliable),
        };
        let tc = TcMessage::from_raw(msg)?;
        match ep.send(now, session, flow, tc.encode(), reliability) {
            Ok(()) => Ok(true),
            Err(ApiError::SendQueueFull { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// A command as an AMF0 command message on a flow.
pub(crate) fn command_message(cmd: &Command) -> TcMessage {
    let payload = cmd.to_message().encode(false);
    TcMessage {
        type_id: MessageType::COMMAND_AMF0,
        timestamp: sluice_rtmp::Timestamp::ZERO,
        payload,
    }
}

/// The command in a flow message, if it is one (AMF0 type 20 or AMF3 "ext" type 17).
pub(crate) fn decode_command(msg: &TcMessage, amf: &AmfLimits) -> Result<Option<Command>, TcError> {
    let amf3 = match msg.type_id {
        MessageType::COMMAND_AMF0 => false,
        MessageType::COMMAND_AMF3 => true,
        _ => return Ok(None),
    };
    let cmd = CommandMessage::decode(&msg.payload, amf3, amf)?;
    Ok(Some(Command::parse(cmd)?))
}
