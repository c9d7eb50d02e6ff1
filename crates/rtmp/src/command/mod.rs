//! Command messages (RTMP 1.0 §7.1.1, §7.2): the generic AMF-encoded form and the typed
//! NetConnection / NetStream commands built on it.
//!
//! A command message body is a sequence of AMF values: the command name (string), a transaction
//! id (number), a command object (object or null) and optional further arguments. Type 20 carries
//! AMF0; type 17 carries the same layout after one leading format byte (0x00), with individual
//! values possibly switched to AMF3 by the AVM+ marker.
//!
//! [`CommandMessage`] is the untyped form; [`Command`] interprets the well-known commands
//! (connect, createStream, publish, play, ...) and their responses (`_result`, `_error`,
//! `onStatus`), keeping anything else as [`Command::Call`].

mod connect;
mod status;
mod typed;

pub use connect::{ConnectCommand, ConnectResponse};
pub use status::{codes, StatusInfo, StatusLevel};
pub use typed::{Command, PlayArgs, PublishMode};

use bytes::{BufMut, Bytes, BytesMut};
use sluice_amf::{amf0_encode, Amf0Decoder, Amf0Value, AmfError, AmfLimits};

/// Errors interpreting a command message.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The body is not valid AMF (RTMP 1.0 §7.1.1 requires AMF-encoded values).
    #[error("command body is not valid AMF: {0}")]
    Amf(#[from] AmfError),
    /// An AMF3 command (type 17) had an empty body: it must start with a format byte.
    #[error("AMF3 command message is empty (missing the leading format byte)")]
    MissingFormatByte,
    /// The first value of a command must be its name, a string (§7.1.1).
    #[error("command name missing or not a string")]
    MissingName,
    /// A command lacks a required argument or has one of the wrong type (§7.2).
    #[error("command `{command}`: argument {position} ({what}) is missing or has the wrong type")]
    BadArgument {
        /// The command's name.
        command: String,
        /// 1-based position in the body (name = 0, transaction id = 1, command object = 2, ...).
        position: usize,
        /// What was expected there.
        what: &'static str,
    },
}

/// An untyped command: name, transaction id, command object and the remaining arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandMessage {
    /// Command name, e.g. `connect`, `play`, `_result`.
    pub name: String,
    /// Transaction id (0 when none is expected back). Absent on some data-like commands.
    pub transaction_id: f64,
    /// The command object (an object, or null when the command has none).
    pub command_object: Amf0Value,
    /// Further arguments, in order.
    pub args: Vec<Amf0Value>,
}

impl CommandMessage {
    /// A command with the given name and transaction id, a null command object and no arguments.
    pub fn new(name: impl Into<String>, transaction_id: f64) -> Self {
        CommandMessage {
            name: name.into(),
            transaction_id,
            command_object: Amf0Value::Null,
            args: Vec::new(),
        }
    }

    /// Builder: set the command object.
    #[must_use]
    pub fn with_object(mut self, object: impl Into<Amf0Value>) -> Self {
        self.command_object = object.into();
        self
    }

    /// Builder: append an argument.
    #[must_use]
    pub fn with_arg(mut self, arg: impl Into<Amf0Value>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Decode a command body. `amf3` is true for message type 17 (leading format byte).
    pub fn decode(payload: &[u8], amf3: bool, limits: &AmfLimits) -> Result<Self, CommandError> {
        let body = if amf3 {
            // The format byte is 0 in every known implementation; any value is tolerated, the
            // values that follow are AMF0 (with AVM+ switches) either way.
            match payload.split_first() {
                Some((_, rest)) => rest,
                None => return Err(CommandError::MissingFormatByte),
            }
        } else {
            payload
        };
        let mut dec = Amf0Decoder::with_limits(body, limits.clone());
        let name = match dec.decode()? {
            Amf0Value::String(s) => s,
            Amf0Value::Avmplus(sluice_amf::Amf3Value::String(s)) => s,
            _ => return Err(CommandError::MissingName),
        };
        let mut transaction_id = 0.0;
        let mut command_object = Amf0Value::Null;
        let mut args = Vec::new();
        if !dec.is_empty() {
            let v = dec.decode()?;
            match number_of(&v) {
                Some(n) => transaction_id = n,
                // Some encoders omit the transaction id on notifications (e.g. onStatus sent as a
                // data-like call): keep the value as the command object instead of failing.
                None => command_object = v,
            }
        }
        if !dec.is_empty() && matches!(command_object, Amf0Value::Null) {
            command_object = dec.decode()?;
        }
        while !dec.is_empty() {
            args.push(dec.decode()?);
        }
        Ok(CommandMessage {
            name,
            transaction_id,
            command_object,
            args,
        })
    }

    /// Encode the body (type 20 when `amf3` is false; type 17 with its format byte otherwise).
    pub fn encode(&self, amf3: bool) -> Bytes {
        let mut out = BytesMut::with_capacity(128);
        if amf3 {
            out.put_u8(0);
        }
        amf0_encode(&Amf0Value::String(self.name.clone()), &mut out);
        amf0_encode(&Amf0Value::Number(self.transaction_id), &mut out);
        amf0_encode(&self.command_object, &mut out);
        for a in &self.args {
            amf0_encode(a, &mut out);
        }
        out.freeze()
    }

    /// The argument at `index` (0-based, after the command object), if present.
    pub fn arg(&self, index: usize) -> Option<&Amf0Value> {
        self.args.get(index)
    }
}

/// A number, looking through an AVM+ switch (AMF3 integers and doubles).
pub(crate) fn number_of(v: &Amf0Value) -> Option<f64> {
    match v {
        Amf0Value::Number(n) => Some(*n),
        Amf0Value::Avmplus(sluice_amf::Amf3Value::Integer(i)) => Some(f64::from(*i)),
        Amf0Value::Avmplus(sluice_amf::Amf3Value::Double(d)) => Some(*d),
        _ => None,
    }
}

/// A string, looking through an AVM+ switch.
pub(crate) fn string_of(v: &Amf0Value) -> Option<&str> {
    match v {
        Amf0Value::String(s) => Some(s),
        Amf0Value::Avmplus(sluice_amf::Amf3Value::String(s)) => Some(s),
        _ => None,
    }
}

/// A boolean, looking through an AVM+ switch; numbers count as true when non-zero.
pub(crate) fn bool_of(v: &Amf0Value) -> Option<bool> {
    match v {
        Amf0Value::Boolean(b) => Some(*b),
        Amf0Value::Number(n) => Some(*n != 0.0),
        Amf0Value::Avmplus(sluice_amf::Amf3Value::Boolean(b)) => Some(*b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_create_stream_body() {
        // Seed 002: the body of the createStream chunk example.
        let body = hex::decode("02000C63726561746553747265616D00400000000000000005").unwrap();
        let cmd = CommandMessage::decode(&body, false, &AmfLimits::default()).unwrap();
        assert_eq!(cmd.name, "createStream");
        assert_eq!(cmd.transaction_id, 2.0);
        assert_eq!(cmd.command_object, Amf0Value::Null);
        assert!(cmd.args.is_empty());
        assert_eq!(&cmd.encode(false)[..], &body[..]);
    }

    #[test]
    fn amf3_prefix_round_trip() {
        let cmd = CommandMessage::new("play", 4.0).with_arg("live/abc?token=x");
        let enc = cmd.encode(true);
        assert_eq!(enc[0], 0);
        let back = CommandMessage::decode(&enc, true, &AmfLimits::default()).unwrap();
        assert_eq!(back, cmd);
        assert!(matches!(
            CommandMessage::decode(&[], true, &AmfLimits::default()),
            Err(CommandError::MissingFormatByte)
        ));
    }

    #[test]
    fn name_must_be_string() {
        let body = hex::decode("003FF0000000000000").unwrap();
        assert!(matches!(
            CommandMessage::decode(&body, false, &AmfLimits::default()),
            Err(CommandError::MissingName)
        ));
    }
}
