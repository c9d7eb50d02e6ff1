//! The `connect` command and its `_result` (RTMP 1.0 §7.2.1.1), including the Enhanced RTMP
//! capability fields (`fourCcList`, `videoFourCcInfoMap`, `audioFourCcInfoMap`, `capsEx`; Enhanced
//! RTMP v2, "Enhancing NetConnection connect Command").

use super::{number_of, string_of, CommandError, CommandMessage};
use sluice_amf::{Amf0Object, Amf0Value};

/// A client's `connect` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectCommand {
    /// Transaction id (1 in practice).
    pub transaction_id: f64,
    /// `app`: the application name, possibly with an instance (`live/instance`) and query.
    pub app: String,
    /// `tcUrl`: the URL the client connected to.
    pub tc_url: Option<String>,
    /// `flashVer`: the client's version string (e.g. `FMLE/3.0 (compatible; FMSc/1.0)`).
    pub flash_ver: Option<String>,
    /// `swfUrl`.
    pub swf_url: Option<String>,
    /// `pageUrl`.
    pub page_url: Option<String>,
    /// `type` (e.g. `nonprivate`).
    pub connection_type: Option<String>,
    /// `objectEncoding`: 0 for AMF0, 3 for AMF3.
    pub object_encoding: f64,
    /// Enhanced RTMP `fourCcList`, if sent.
    pub fourcc_list: Vec<String>,
    /// The whole command object as received, in order (for anything not broken out above).
    pub properties: Amf0Object,
    /// Optional user arguments after the command object.
    pub args: Vec<Amf0Value>,
}

impl ConnectCommand {
    /// A connect request for `app` with the given `tcUrl`, and the other fields empty.
    pub fn new(app: impl Into<String>, tc_url: impl Into<String>) -> Self {
        ConnectCommand {
            transaction_id: 1.0,
            app: app.into(),
            tc_url: Some(tc_url.into()),
            flash_ver: None,
            swf_url: None,
            page_url: None,
            connection_type: None,
            object_encoding: 0.0,
            fourcc_list: Vec::new(),
            properties: Amf0Object::new(),
            args: Vec::new(),
        }
    }

    /// Interpret a generic command named `connect`.
    pub fn from_message(msg: CommandMessage) -> Result<Self, CommandError> {
        let props = match msg.command_object {
            Amf0Value::Object(o) | Amf0Value::EcmaArray(o) => o,
            Amf0Value::TypedObject { properties, .. } => properties,
            _ => {
                return Err(CommandError::BadArgument {
                    command: "connect".into(),
                    position: 2,
                    what: "command object",
                })
            }
        };
        let get = |k: &str| props.get(k).and_then(string_of).map(str::to_owned);
        let app = get("app").unwrap_or_default();
        let fourcc_list = match props.get("fourCcList") {
            Some(Amf0Value::StrictArray(items)) => items
                .iter()
                .filter_map(string_of)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        Ok(ConnectCommand {
            transaction_id: msg.transaction_id,
            app,
            tc_url: get("tcUrl").or_else(|| get("tcurl")),
            flash_ver: get("flashVer").or_else(|| get("flashver")),
            swf_url: get("swfUrl").or_else(|| get("swfurl")),
            page_url: get("pageUrl"),
            connection_type: get("type"),
            object_encoding: props
                .get("objectEncoding")
                .and_then(number_of)
                .unwrap_or(0.0),
            fourcc_list,
            args: msg.args,
            properties: props,
        })
    }

    /// The generic command form; fields set on the struct override same-named `properties`.
    pub fn to_message(&self) -> CommandMessage {
        let mut o = self.properties.clone();
        o.insert("app", self.app.as_str());
        if let Some(v) = &self.flash_ver {
            o.insert("flashVer", v.as_str());
        }
        if let Some(v) = &self.swf_url {
            o.insert("swfUrl", v.as_str());
        }
        if let Some(v) = &self.tc_url {
            o.insert("tcUrl", v.as_str());
        }
        if let Some(v) = &self.connection_type {
            o.insert("type", v.as_str());
        }
        if let Some(v) = &self.page_url {
            o.insert("pageUrl", v.as_str());
        }
        if !self.fourcc_list.is_empty() {
            o.insert(
                "fourCcList",
                Amf0Value::StrictArray(
                    self.fourcc_list
                        .iter()
                        .map(|s| Amf0Value::String(s.clone()))
                        .collect(),
                ),
            );
        }
        if self.object_encoding != 0.0 || self.properties.get("objectEncoding").is_some() {
            o.insert("objectEncoding", self.object_encoding);
        }
        CommandMessage {
            name: "connect".into(),
            transaction_id: self.transaction_id,
            command_object: Amf0Value::Object(o),
            args: self.args.clone(),
        }
    }

    /// Whether the client asked for AMF3 (`objectEncoding` 3).
    pub fn wants_amf3(&self) -> bool {
        self.object_encoding == 3.0
    }
}

/// What the server answers to an accepted connect: the `properties` and `information` objects of
/// the `_result`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectResponse {
    /// `fmsVer`, the server's version string.
    pub fms_ver: String,
    /// `capabilities` bit field.
    pub capabilities: f64,
    /// `mode`.
    pub mode: f64,
    /// `objectEncoding` echoed from the request.
    pub object_encoding: f64,
    /// Extra properties for the properties object (e.g. Enhanced RTMP `fourCcList`, `capsEx`).
    pub extra_properties: Amf0Object,
    /// Extra fields for the information object (e.g. `data` with the server version).
    pub extra_information: Amf0Object,
    /// `description` of the information object.
    pub description: String,
}

impl Default for ConnectResponse {
    fn default() -> Self {
        ConnectResponse {
            fms_ver: "FMS/3,5,7,7009".into(),
            capabilities: 31.0,
            mode: 1.0,
            object_encoding: 0.0,
            extra_properties: Amf0Object::new(),
            extra_information: Amf0Object::new(),
            description: "Connection succeeded.".into(),
        }
    }
}

impl ConnectResponse {
    /// The `_result` command for transaction `transaction_id`.
    pub fn to_message(&self, transaction_id: f64) -> CommandMessage {
        let mut props = Amf0Object::with_capacity(3 + self.extra_properties.len());
        props.insert("fmsVer", self.fms_ver.as_str());
        props.insert("capabilities", self.capabilities);
        props.insert("mode", self.mode);
        for (k, v) in self.extra_properties.iter() {
            props.insert(k, v.clone());
        }
        let mut info = Amf0Object::with_capacity(4 + self.extra_information.len());
        info.insert("level", "status");
        info.insert("code", super::codes::CONNECT_SUCCESS);
        info.insert("description", self.description.as_str());
        info.insert("objectEncoding", self.object_encoding);
        for (k, v) in self.extra_information.iter() {
            info.insert(k, v.clone());
        }
        CommandMessage::new("_result", transaction_id)
            .with_object(Amf0Value::Object(props))
            .with_arg(Amf0Value::Object(info))
    }

    /// Read a connect `_result` (as a client).
    pub fn from_message(msg: &CommandMessage) -> ConnectResponse {
        let props = msg.command_object.as_object().cloned().unwrap_or_default();
        let info = msg
            .args
            .first()
            .and_then(|v| v.as_object())
            .cloned()
            .unwrap_or_default();
        let mut extra_properties = Amf0Object::new();
        for (k, v) in props.iter() {
            if !matches!(k, "fmsVer" | "capabilities" | "mode") {
                extra_properties.insert(k, v.clone());
            }
        }
        let mut extra_information = Amf0Object::new();
        for (k, v) in info.iter() {
            if !matches!(k, "level" | "code" | "description" | "objectEncoding") {
                extra_information.insert(k, v.clone());
            }
        }
        ConnectResponse {
            fms_ver: props.get_str("fmsVer").unwrap_or_default().to_owned(),
            capabilities: props.get_number("capabilities").unwrap_or(0.0),
            mode: props.get_number("mode").unwrap_or(0.0),
            object_encoding: info.get_number("objectEncoding").unwrap_or(0.0),
            extra_properties,
            extra_information,
            description: info.get_str("description").unwrap_or_default().to_owned(),
        }
    }
}
