//! Typed commands (RTMP 1.0 §7.2.1 NetConnection commands, §7.2.2 NetStream commands) and their
//! responses. Interpretation is lenient where real clients differ from the spec (optional
//! arguments, missing transaction ids) and strict where a value is needed to act.

use super::{
    bool_of, number_of, string_of, CommandError, CommandMessage, ConnectCommand, StatusInfo,
};
use sluice_amf::{Amf0Object, Amf0Value};

/// The `publish` type argument (§7.2.2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishMode {
    /// `live`: not recorded.
    Live,
    /// `record`: recorded, replacing any existing recording.
    Record,
    /// `append`: recorded, appended to an existing recording.
    Append,
    /// Any other value, kept as sent.
    Other(String),
}

impl PublishMode {
    /// Parse the wire string; an absent value means `live`.
    pub fn parse(s: Option<&str>) -> PublishMode {
        match s {
            None | Some("live") | Some("") => PublishMode::Live,
            Some("record") => PublishMode::Record,
            Some("append") => PublishMode::Append,
            Some(o) => PublishMode::Other(o.to_owned()),
        }
    }

    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            PublishMode::Live => "live",
            PublishMode::Record => "record",
            PublishMode::Append => "append",
            PublishMode::Other(s) => s,
        }
    }
}

/// Arguments of `play` (§7.2.2.1).
#[derive(Debug, Clone, PartialEq)]
pub struct PlayArgs {
    /// Stream name, possibly with a query string.
    pub name: String,
    /// `start`: -2 (live, else recorded; the default), -1 (live only), or a position in seconds.
    pub start: f64,
    /// `duration`: -1 (until the end; the default), 0 (a single frame), or seconds.
    pub duration: f64,
    /// `reset`: whether to flush any previous playlist (default true).
    pub reset: bool,
}

/// A command, interpreted.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `connect` (§7.2.1.1).
    Connect(ConnectCommand),
    /// `close` (NetConnection.close).
    Close,
    /// `createStream` (§7.2.1.3).
    CreateStream {
        /// Transaction id.
        transaction_id: f64,
    },
    /// `deleteStream` (§7.2.2.3).
    DeleteStream {
        /// The message stream id to delete.
        stream_id: u32,
    },
    /// `closeStream`: stop playing/publishing on the message stream it arrives on.
    CloseStream,
    /// `releaseStream` (FMLE): release a stream name before publishing.
    ReleaseStream {
        /// Transaction id.
        transaction_id: f64,
        /// Stream name.
        name: String,
    },
    /// `FCPublish` (FMLE).
    FcPublish {
        /// Transaction id.
        transaction_id: f64,
        /// Stream name.
        name: String,
    },
    /// `FCUnpublish` (FMLE).
    FcUnpublish {
        /// Transaction id.
        transaction_id: f64,
        /// Stream name.
        name: String,
    },
    /// `publish` (§7.2.2.6).
    Publish {
        /// Transaction id (0 per spec).
        transaction_id: f64,
        /// Stream name, possibly with a query string.
        name: String,
        /// Publishing type.
        mode: PublishMode,
    },
    /// `play` (§7.2.2.1).
    Play(PlayArgs),
    /// `play2` (§7.2.2.2): the parameters object (`streamName`, `oldStreamName`, `start`, `len`,
    /// `offset`, `transition`).
    Play2 {
        /// The NetStreamPlayOptions object.
        params: Amf0Object,
    },
    /// `seek` (§7.2.2.7).
    Seek {
        /// Position in milliseconds.
        position_ms: f64,
    },
    /// `pause` (§7.2.2.8).
    Pause {
        /// true to pause, false to resume.
        pause: bool,
        /// Position in milliseconds.
        position_ms: f64,
    },
    /// `receiveAudio` (§7.2.2.4).
    ReceiveAudio(bool),
    /// `receiveVideo` (§7.2.2.5).
    ReceiveVideo(bool),
    /// `getStreamLength`.
    GetStreamLength {
        /// Transaction id.
        transaction_id: f64,
        /// Stream name.
        name: String,
    },
    /// `_checkbw`: a bandwidth-check request (answered with `_result`).
    CheckBw {
        /// Transaction id.
        transaction_id: f64,
    },
    /// `onBWDone`: the server's bandwidth-check notification.
    OnBwDone,
    /// `onStatus` (§7.2.2, NetStream status).
    OnStatus(StatusInfo),
    /// `_result`.
    Result {
        /// Transaction id being answered.
        transaction_id: f64,
        /// The command (properties) object.
        object: Amf0Value,
        /// Further values.
        args: Vec<Amf0Value>,
    },
    /// `_error`.
    Error {
        /// Transaction id being answered.
        transaction_id: f64,
        /// The command object.
        object: Amf0Value,
        /// Further values (usually a status object).
        args: Vec<Amf0Value>,
    },
    /// Any other command: a remote procedure call (`call`, §7.2.1.2) by name, or a notification
    /// such as `onFCPublish`.
    Call(CommandMessage),
}

impl Command {
    /// Interpret a generic command.
    pub fn parse(msg: CommandMessage) -> Result<Command, CommandError> {
        let name = msg.name.as_str();
        let tid = msg.transaction_id;
        Ok(match name {
            "connect" => Command::Connect(ConnectCommand::from_message(msg)?),
            "close" => Command::Close,
            "createStream" => Command::CreateStream {
                transaction_id: tid,
            },
            "deleteStream" => Command::DeleteStream {
                stream_id: required_number(&msg, 0, "stream id")? as u32,
            },
            "closeStream" => Command::CloseStream,
            "releaseStream" => Command::ReleaseStream {
                transaction_id: tid,
                name: optional_string(&msg, 0),
            },
            "FCPublish" => Command::FcPublish {
                transaction_id: tid,
                name: optional_string(&msg, 0),
            },
            "FCUnpublish" => Command::FcUnpublish {
                transaction_id: tid,
                name: optional_string(&msg, 0),
            },
            "publish" => Command::Publish {
                transaction_id: tid,
                name: required_string(&msg, 0, "publishing name")?,
                mode: PublishMode::parse(msg.arg(1).and_then(string_of)),
            },
            "play" => Command::Play(PlayArgs {
                name: required_string(&msg, 0, "stream name")?,
                start: msg.arg(1).and_then(number_of).unwrap_or(-2.0),
                duration: msg.arg(2).and_then(number_of).unwrap_or(-1.0),
                reset: msg.arg(3).and_then(bool_of).unwrap_or(true),
            }),
            "play2" => Command::Play2 {
                params: msg
                    .arg(0)
                    .and_then(|v| v.as_object())
                    .cloned()
                    .ok_or_else(|| bad(&msg, 0, "NetStreamPlayOptions object"))?,
            },
            "seek" => Command::Seek {
                position_ms: required_number(&msg, 0, "milliseconds")?,
            },
            "pause" => Command::Pause {
                pause: msg
                    .arg(0)
                    .and_then(bool_of)
                    .ok_or_else(|| bad(&msg, 0, "pause flag"))?,
                position_ms: msg.arg(1).and_then(number_of).unwrap_or(0.0),
            },
            "receiveAudio" => Command::ReceiveAudio(
                msg.arg(0)
                    .and_then(bool_of)
                    .ok_or_else(|| bad(&msg, 0, "bool flag"))?,
            ),
            "receiveVideo" => Command::ReceiveVideo(
                msg.arg(0)
                    .and_then(bool_of)
                    .ok_or_else(|| bad(&msg, 0, "bool flag"))?,
            ),
            "getStreamLength" => Command::GetStreamLength {
                transaction_id: tid,
                name: optional_string(&msg, 0),
            },
            "_checkbw" | "checkBandwidth" => Command::CheckBw {
                transaction_id: tid,
            },
            "onBWDone" => Command::OnBwDone,
            "onStatus" => {
                let info = msg
                    .args
                    .first()
                    .and_then(StatusInfo::from_value)
                    .or_else(|| StatusInfo::from_value(&msg.command_object))
                    .ok_or_else(|| bad(&msg, 0, "status info object"))?;
                Command::OnStatus(info)
            }
            "_result" => Command::Result {
                transaction_id: tid,
                object: msg.command_object,
                args: msg.args,
            },
            "_error" => Command::Error {
                transaction_id: tid,
                object: msg.command_object,
                args: msg.args,
            },
            _ => Command::Call(msg),
        })
    }

    /// The generic form of this command.
    pub fn to_message(&self) -> CommandMessage {
        match self {
            Command::Connect(c) => c.to_message(),
            Command::Close => CommandMessage::new("close", 0.0),
            Command::CreateStream { transaction_id } => {
                CommandMessage::new("createStream", *transaction_id)
            }
            Command::DeleteStream { stream_id } => {
                CommandMessage::new("deleteStream", 0.0).with_arg(f64::from(*stream_id))
            }
            Command::CloseStream => CommandMessage::new("closeStream", 0.0),
            Command::ReleaseStream {
                transaction_id,
                name,
            } => CommandMessage::new("releaseStream", *transaction_id).with_arg(name.as_str()),
            Command::FcPublish {
                transaction_id,
                name,
            } => CommandMessage::new("FCPublish", *transaction_id).with_arg(name.as_str()),
            Command::FcUnpublish {
                transaction_id,
                name,
            } => CommandMessage::new("FCUnpublish", *transaction_id).with_arg(name.as_str()),
            Command::Publish {
                transaction_id,
                name,
                mode,
            } => CommandMessage::new("publish", *transaction_id)
                .with_arg(name.as_str())
                .with_arg(mode.as_str()),
            Command::Play(p) => CommandMessage::new("play", 0.0)
                .with_arg(p.name.as_str())
                .with_arg(p.start)
                .with_arg(p.duration)
                .with_arg(p.reset),
            Command::Play2 { params } => {
                CommandMessage::new("play2", 0.0).with_arg(Amf0Value::Object(params.clone()))
            }
            Command::Seek { position_ms } => {
                CommandMessage::new("seek", 0.0).with_arg(*position_ms)
            }
            Command::Pause { pause, position_ms } => CommandMessage::new("pause", 0.0)
                .with_arg(*pause)
                .with_arg(*position_ms),
            Command::ReceiveAudio(b) => CommandMessage::new("receiveAudio", 0.0).with_arg(*b),
            Command::ReceiveVideo(b) => CommandMessage::new("receiveVideo", 0.0).with_arg(*b),
            Command::GetStreamLength {
                transaction_id,
                name,
            } => CommandMessage::new("getStreamLength", *transaction_id).with_arg(name.as_str()),
            Command::CheckBw { transaction_id } => CommandMessage::new("_checkbw", *transaction_id),
            Command::OnBwDone => CommandMessage::new("onBWDone", 0.0),
            Command::OnStatus(info) => {
                CommandMessage::new("onStatus", 0.0).with_arg(Amf0Value::Object(info.to_object()))
            }
            Command::Result {
                transaction_id,
                object,
                args,
            } => CommandMessage {
                name: "_result".into(),
                transaction_id: *transaction_id,
                command_object: object.clone(),
                args: args.clone(),
            },
            Command::Error {
                transaction_id,
                object,
                args,
            } => CommandMessage {
                name: "_error".into(),
                transaction_id: *transaction_id,
                command_object: object.clone(),
                args: args.clone(),
            },
            Command::Call(m) => m.clone(),
        }
    }

    /// A `_result` answering `transaction_id` with a null object and the given values.
    pub fn result(transaction_id: f64, args: Vec<Amf0Value>) -> Command {
        Command::Result {
            transaction_id,
            object: Amf0Value::Null,
            args,
        }
    }

    /// An `_error` answering `transaction_id` with a status object.
    pub fn error(transaction_id: f64, info: StatusInfo) -> Command {
        Command::Error {
            transaction_id,
            object: Amf0Value::Null,
            args: vec![Amf0Value::Object(info.to_object())],
        }
    }
}

fn bad(msg: &CommandMessage, index: usize, what: &'static str) -> CommandError {
    CommandError::BadArgument {
        command: msg.name.clone(),
        position: index + 3,
        what,
    }
}

fn required_string(
    msg: &CommandMessage,
    index: usize,
    what: &'static str,
) -> Result<String, CommandError> {
    msg.arg(index)
        .and_then(string_of)
        .map(str::to_owned)
        .ok_or_else(|| bad(msg, index, what))
}

fn optional_string(msg: &CommandMessage, index: usize) -> String {
    msg.arg(index)
        .and_then(string_of)
        .map(str::to_owned)
        .unwrap_or_default()
}

fn required_number(
    msg: &CommandMessage,
    index: usize,
    what: &'static str,
) -> Result<f64, CommandError> {
    msg.arg(index)
        .and_then(number_of)
        .ok_or_else(|| bad(msg, index, what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_amf::AmfLimits;

    fn round_trip(cmd: Command) {
        let enc = cmd.to_message().encode(false);
        let dec = CommandMessage::decode(&enc, false, &AmfLimits::default()).unwrap();
        assert_eq!(Command::parse(dec).unwrap(), cmd);
    }

    #[test]
    fn typed_round_trips() {
        round_trip(Command::Connect(ConnectCommand {
            object_encoding: 3.0,
            flash_ver: Some("FMLE/3.0 (compatible; FMSc/1.0)".into()),
            fourcc_list: vec!["hvc1".into(), "av01".into()],
            properties: {
                let mut o = Amf0Object::new();
                o.insert("app", "live");
                o.insert("flashVer", "FMLE/3.0 (compatible; FMSc/1.0)");
                o.insert("tcUrl", "rtmp://h/live");
                o.insert(
                    "fourCcList",
                    Amf0Value::StrictArray(vec!["hvc1".into(), "av01".into()]),
                );
                o.insert("objectEncoding", 3.0);
                o
            },
            ..ConnectCommand::new("live", "rtmp://h/live")
        }));
        round_trip(Command::CreateStream {
            transaction_id: 4.0,
        });
        round_trip(Command::DeleteStream { stream_id: 1 });
        round_trip(Command::ReleaseStream {
            transaction_id: 2.0,
            name: "abc".into(),
        });
        round_trip(Command::Publish {
            transaction_id: 5.0,
            name: "abc?token=x".into(),
            mode: PublishMode::Record,
        });
        round_trip(Command::Play(PlayArgs {
            name: "abc".into(),
            start: -2.0,
            duration: -1.0,
            reset: true,
        }));
        round_trip(Command::Pause {
            pause: true,
            position_ms: 1234.0,
        });
        round_trip(Command::ReceiveVideo(false));
        round_trip(Command::Seek {
            position_ms: 5000.0,
        });
        round_trip(Command::OnStatus(StatusInfo::status(
            super::super::codes::PLAY_START,
            "Started playing abc.",
        )));
    }

    #[test]
    fn play_defaults_and_bad_arguments() {
        let m = CommandMessage::new("play", 0.0).with_arg("s");
        match Command::parse(m).unwrap() {
            Command::Play(p) => {
                assert_eq!((p.start, p.duration, p.reset), (-2.0, -1.0, true));
            }
            other => panic!("unexpected {other:?}"),
        }
        let m = CommandMessage::new("publish", 0.0).with_arg(1.0);
        assert!(matches!(
            Command::parse(m),
            Err(CommandError::BadArgument { position: 3, .. })
        ));
        let m = CommandMessage::new("myProcedure", 7.0).with_arg(1.0);
        assert!(matches!(Command::parse(m), Ok(Command::Call(_))));
    }
}
