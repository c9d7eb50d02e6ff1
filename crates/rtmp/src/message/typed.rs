//! One typed view of any RTMP message (RTMP 1.0 §5.4, §6.2, §7.1): what the message type id says
//! the body is, decoded. Unknown type ids are kept as [`Message::Unknown`] with their body,
//! never guessed at.

use super::{MessageError, ProtocolControl, SharedObjectMessage, UserControlEvent};
use crate::command::{CommandError, CommandMessage};
use crate::types::{MessageType, RawMessage};
use bytes::Bytes;
use sluice_amf::AmfLimits;

/// A decoded message body.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Types 1, 2, 3, 5, 6.
    Control(ProtocolControl),
    /// Type 4.
    UserControl(UserControlEvent),
    /// Types 20 (AMF0) and 17 (AMF3, format byte removed).
    Command {
        /// Whether it came as type 17.
        amf3: bool,
        /// The command.
        command: CommandMessage,
    },
    /// Types 18 (AMF0) and 15 (AMF3; the body keeps its format byte).
    Data {
        /// Whether it came as type 15.
        amf3: bool,
        /// The AMF body.
        body: Bytes,
    },
    /// Types 19 and 16.
    SharedObject {
        /// Whether it came as type 16.
        amf3: bool,
        /// The message.
        message: SharedObjectMessage,
    },
    /// Type 8: an FLV audio tag body.
    Audio(Bytes),
    /// Type 9: an FLV video tag body.
    Video(Bytes),
    /// Type 22: split with [`super::split_aggregate`].
    Aggregate(Bytes),
    /// Any other type id, reported as received.
    Unknown {
        /// The type id.
        type_id: MessageType,
        /// The body.
        body: Bytes,
    },
}

/// Why a message body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A control, user control or shared object body is malformed.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// A command body is malformed.
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl Message {
    /// Decode `raw`'s body according to its type id.
    pub fn decode(raw: &RawMessage, amf: &AmfLimits) -> Result<Message, DecodeError> {
        let t = raw.type_id;
        Ok(match t {
            _ if t.is_protocol_control() => {
                Message::Control(ProtocolControl::decode(t, &raw.payload)?)
            }
            MessageType::USER_CONTROL => {
                Message::UserControl(UserControlEvent::decode(&raw.payload)?)
            }
            MessageType::COMMAND_AMF0 | MessageType::COMMAND_AMF3 => {
                let amf3 = t == MessageType::COMMAND_AMF3;
                Message::Command {
                    amf3,
                    command: CommandMessage::decode(&raw.payload, amf3, amf)?,
                }
            }
            MessageType::DATA_AMF0 | MessageType::DATA_AMF3 => Message::Data {
                amf3: t == MessageType::DATA_AMF3,
                body: raw.payload.clone(),
            },
            MessageType::SHARED_OBJECT_AMF0 | MessageType::SHARED_OBJECT_AMF3 => {
                let amf3 = t == MessageType::SHARED_OBJECT_AMF3;
                Message::SharedObject {
                    amf3,
                    message: SharedObjectMessage::decode(&raw.payload, amf3)?,
                }
            }
            MessageType::AUDIO => Message::Audio(raw.payload.clone()),
            MessageType::VIDEO => Message::Video(raw.payload.clone()),
            MessageType::AGGREGATE => Message::Aggregate(raw.payload.clone()),
            other => Message::Unknown {
                type_id: other,
                body: raw.payload.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Timestamp;

    fn raw(type_id: u8, payload: &[u8]) -> RawMessage {
        RawMessage {
            csid: 3,
            timestamp: Timestamp(0),
            type_id: MessageType(type_id),
            stream_id: 0,
            payload: Bytes::copy_from_slice(payload),
        }
    }

    #[test]
    fn seed_create_stream_and_unknown_types() {
        let body = hex::decode("02000C63726561746553747265616D00400000000000000005").unwrap();
        match Message::decode(&raw(20, &body), &AmfLimits::default()).unwrap() {
            Message::Command {
                amf3: false,
                command,
            } => {
                assert_eq!(command.name, "createStream");
                assert_eq!(command.transaction_id, 2.0);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Message::decode(&raw(7, &[1, 2]), &AmfLimits::default()).unwrap(),
            Message::Unknown {
                type_id: MessageType(7),
                ..
            }
        ));
        assert!(matches!(
            Message::decode(&raw(1, &[0, 0, 0x10, 0]), &AmfLimits::default()).unwrap(),
            Message::Control(ProtocolControl::SetChunkSize(4096))
        ));
        assert!(Message::decode(&raw(4, &[0]), &AmfLimits::default()).is_err());
    }
}
