//! AMF0 encoding (AMF0 spec sections 2.2 to 2.17).
//!
//! Encoding is infallible. Where a value does not fit the wire format the encoder degrades
//! in a documented way instead of failing: text longer than a length field can say is cut at
//! the last UTF-8 character boundary that fits (16 bits for property and class names, 32 bits
//! for long strings and XML), and a strict array with more than 2^32 - 1 items is cut to
//! that many. No real value comes near these bounds.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Amf0Marker, Amf0Object, Amf0Value};
use crate::amf3::Amf3Encoder;

/// Writes one AMF0 value.
///
/// Strings of at most 65 535 UTF-8 bytes use marker `0x02`, longer ones `0x0C`. ECMA arrays
/// carry their property count as the count hint. No references (`0x07`) are written. An
/// [`Amf0Value::Avmplus`] value gets a fresh [`Amf3Encoder`], matching the decoder's fresh
/// AMF3 tables per AVM+ value.
pub fn amf0_encode(value: &Amf0Value, out: &mut impl BufMut) {
    match value {
        Amf0Value::Number(n) => {
            out.put_u8(Amf0Marker::NUMBER.0);
            out.put_f64(*n);
        }
        Amf0Value::Boolean(b) => {
            out.put_u8(Amf0Marker::BOOLEAN.0);
            out.put_u8(u8::from(*b));
        }
        Amf0Value::String(s) => {
            if s.len() <= usize::from(u16::MAX) {
                out.put_u8(Amf0Marker::STRING.0);
                put_short_text(s, out);
            } else {
                out.put_u8(Amf0Marker::LONG_STRING.0);
                put_long_text(s, out);
            }
        }
        Amf0Value::Object(props) => {
            out.put_u8(Amf0Marker::OBJECT.0);
            put_properties(props, out);
        }
        Amf0Value::Null => out.put_u8(Amf0Marker::NULL.0),
        Amf0Value::Undefined => out.put_u8(Amf0Marker::UNDEFINED.0),
        Amf0Value::EcmaArray(props) => {
            out.put_u8(Amf0Marker::ECMA_ARRAY.0);
            out.put_u32(u32::try_from(props.len()).unwrap_or(u32::MAX));
            put_properties(props, out);
        }
        Amf0Value::StrictArray(items) => {
            let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
            out.put_u8(Amf0Marker::STRICT_ARRAY.0);
            out.put_u32(count);
            for item in items.iter().take(count as usize) {
                amf0_encode(item, out);
            }
        }
        Amf0Value::Date { millis, timezone } => {
            out.put_u8(Amf0Marker::DATE.0);
            out.put_f64(*millis);
            out.put_i16(*timezone);
        }
        Amf0Value::Unsupported => out.put_u8(Amf0Marker::UNSUPPORTED.0),
        Amf0Value::XmlDocument(s) => {
            out.put_u8(Amf0Marker::XML_DOCUMENT.0);
            put_long_text(s, out);
        }
        Amf0Value::TypedObject {
            class_name,
            properties,
        } => {
            out.put_u8(Amf0Marker::TYPED_OBJECT.0);
            put_short_text(class_name, out);
            put_properties(properties, out);
        }
        Amf0Value::Avmplus(v) => {
            out.put_u8(Amf0Marker::AVMPLUS.0);
            Amf3Encoder::new().encode(v, out);
        }
    }
}

/// Encodes `values` one after the other into a new buffer.
pub fn amf0_encode_all(values: &[Amf0Value]) -> Bytes {
    let mut out = BytesMut::new();
    for v in values {
        amf0_encode(v, &mut out);
    }
    out.freeze()
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a character boundary.
pub(crate) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// UTF-8 with a 16-bit length (property names, class names, short strings).
fn put_short_text(s: &str, out: &mut impl BufMut) {
    let s = truncate_utf8(s, usize::from(u16::MAX));
    out.put_u16(s.len() as u16);
    out.put_slice(s.as_bytes());
}

/// UTF-8 with a 32-bit length (long strings, XML documents).
fn put_long_text(s: &str, out: &mut impl BufMut) {
    let max = usize::try_from(u32::MAX).unwrap_or(usize::MAX);
    let s = truncate_utf8(s, max);
    out.put_u32(s.len() as u32);
    out.put_slice(s.as_bytes());
}

/// Name/value pairs followed by the object end `00 00 09`.
fn put_properties(props: &Amf0Object, out: &mut impl BufMut) {
    for (name, value) in props.iter() {
        put_short_text(name, out);
        amf0_encode(value, out);
    }
    out.put_u16(0);
    out.put_u8(Amf0Marker::OBJECT_END.0);
}
