//! SCRIPTDATA tag bodies (FLV specification v10.1 E.4.4: `SCRIPTDATA` = name, value; RTMP data
//! message type 18 uses the same AMF0 layout): a string name such as `onMetaData` followed by
//! AMF0 values, and the `@setDataFrame` wrapper publishers use to set stream metadata
//! (`@setDataFrame`, `onMetaData`, object). Enhanced RTMP video `Metadata` bodies
//! (`colorInfo`, object) have the same shape.
//!
//! AMF decoding limits (nesting depth, element count, string size) are those of
//! [`sluice_amf::AmfLimits`].

use sluice_amf::{Amf0Decoder, Amf0Object, Amf0Value, AmfLimits};

use crate::FlvError;

/// The name used by publishers to set metadata on the server.
pub const SET_DATA_FRAME: &str = "@setDataFrame";
/// The name of the metadata message sent to players and stored in FLV files.
pub const ON_META_DATA: &str = "onMetaData";

/// A decoded script data body.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptData {
    /// The handler name (first AMF0 value, a string).
    pub name: String,
    /// The values after the name.
    pub values: Vec<Amf0Value>,
}

/// Decodes a script data body with default AMF limits.
pub fn parse_script(data: &[u8]) -> Result<ScriptData, FlvError> {
    parse_script_with(data, AmfLimits::default())
}

/// Decodes a script data body with the given AMF limits.
pub fn parse_script_with(data: &[u8], limits: AmfLimits) -> Result<ScriptData, FlvError> {
    let mut values = Amf0Decoder::with_limits(data, limits).decode_all()?;
    if values.is_empty() {
        return Err(FlvError::ScriptNameNotString);
    }
    match values.remove(0) {
        Amf0Value::String(name) => Ok(ScriptData { name, values }),
        _ => Err(FlvError::ScriptNameNotString),
    }
}

impl ScriptData {
    /// Whether the name is `@setDataFrame`.
    pub fn is_set_data_frame(&self) -> bool {
        self.name == SET_DATA_FRAME
    }

    /// Removes an `@setDataFrame` wrapper: `@setDataFrame, "onMetaData", {..}` becomes
    /// `onMetaData, {..}`. Anything else (including a wrapper without a string name after it)
    /// is returned unchanged.
    pub fn unwrap_set_data_frame(mut self) -> ScriptData {
        if self.is_set_data_frame() {
            if let Some(Amf0Value::String(name)) = self.values.first_mut() {
                self.name = std::mem::take(name);
                self.values.remove(0);
            }
        }
        self
    }

    /// Unwraps `@setDataFrame` and returns the (name, first value) pair.
    pub fn into_name_value(self) -> (String, Option<Amf0Value>) {
        let s = self.unwrap_set_data_frame();
        (s.name, s.values.into_iter().next())
    }

    /// The first Object or ECMA array among the values (the metadata of `onMetaData`).
    pub fn metadata(&self) -> Option<&Amf0Object> {
        self.values.iter().find_map(|v| match v {
            Amf0Value::Object(o) | Amf0Value::EcmaArray(o) => Some(o),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hx;
    use sluice_amf::amf0_encode_all;

    #[test]
    fn ffmpeg_on_meta_data() {
        // Start of the onMetaData tag ffmpeg writes: "onMetaData", ECMA array of 8 with
        // duration 1.08 and width 1280 ... (truncated here to two properties + end marker).
        let body = hx("02000a6f6e4d65746144617461 08 00000002 \
                       0008 6475726174696f6e 00 3ff147ae147ae148 \
                       0005 7769647468 00 4094000000000000 000009");
        let s = parse_script(&body).unwrap();
        assert_eq!(s.name, ON_META_DATA);
        let md = s.metadata().unwrap();
        assert_eq!(md.get_number("width"), Some(1280.0));
        assert_eq!(md.get_number("duration"), Some(1.08));
    }

    #[test]
    fn set_data_frame_unwrapped() {
        let obj = Amf0Object::new().with("width", 640.0);
        let body = amf0_encode_all(&[
            Amf0Value::String(SET_DATA_FRAME.into()),
            Amf0Value::String(ON_META_DATA.into()),
            Amf0Value::EcmaArray(obj.clone()),
        ]);
        let s = parse_script(&body).unwrap();
        assert!(s.is_set_data_frame());
        let (name, value) = s.into_name_value();
        assert_eq!(name, ON_META_DATA);
        assert_eq!(value, Some(Amf0Value::EcmaArray(obj)));
        // Not wrapped: unchanged.
        let body = amf0_encode_all(&[Amf0Value::String("onCuePoint".into()), Amf0Value::Null]);
        let s = parse_script(&body).unwrap().unwrap_set_data_frame();
        assert_eq!(s.name, "onCuePoint");
        assert_eq!(s.values, vec![Amf0Value::Null]);
        // Wrapper without a name: unchanged.
        let body = amf0_encode_all(&[Amf0Value::String(SET_DATA_FRAME.into()), Amf0Value::Null]);
        assert!(parse_script(&body)
            .unwrap()
            .unwrap_set_data_frame()
            .is_set_data_frame());
    }

    #[test]
    fn errors() {
        assert!(matches!(
            parse_script(&[]),
            Err(FlvError::ScriptNameNotString)
        ));
        let body = amf0_encode_all(&[Amf0Value::Number(1.0)]);
        assert!(matches!(
            parse_script(&body),
            Err(FlvError::ScriptNameNotString)
        ));
        assert!(matches!(
            parse_script(&hx("0200ff61")),
            Err(FlvError::Amf(_))
        ));
    }
}
