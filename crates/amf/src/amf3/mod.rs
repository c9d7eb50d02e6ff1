//! AMF3: values, decoder and encoder ("AMF 3 Specification", Adobe, January 2013).
//!
//! Integers and lengths are U29 variable-length integers (spec 1.3.1). Three reference tables
//! cut repetition (spec 2.2): strings (never the empty string), objects (every value of the
//! types array, object, date, XML, XML document, byte array, vectors and dictionary), and
//! object traits. The tables live as long as one [`Amf3Decoder`] or [`Amf3Encoder`], i.e. one
//! message, or one AVM+ value inside an AMF0 message (see [`crate::amf0`]).
//!
//! Choices the spec leaves open:
//! * references are resolved into copies charged against [`AmfLimits`](crate::AmfLimits);
//!   a reference to an object still being decoded (a cycle) is
//!   [`AmfError::CircularReference`](crate::AmfError::CircularReference) and a reference whose
//!   target has another type than its marker is
//!   [`AmfError::ReferenceTypeMismatch`](crate::AmfError::ReferenceTypeMismatch);
//! * externalizable objects carry a class-specific body with no length, so they are
//!   [`AmfError::Externalizable`](crate::AmfError::Externalizable) naming the class;
//! * the encoder writes a reference for every complex value that is bit-for-bit equal to one
//!   it already wrote completely in the same [`Amf3Encoder::encode`] or
//!   [`Amf3Encoder::encode_slice`] call, and reuses strings and traits for the encoder's
//!   whole life.

mod decode;
mod encode;
mod value;

#[cfg(test)]
mod tests;

pub use decode::{amf3_decode_all, Amf3Decoder};
pub use encode::{amf3_encode_all, Amf3Encoder};
pub use value::{Amf3Array, Amf3Object, Amf3Value};

/// An AMF3 type marker (spec section 3.1). Unknown values are kept as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Amf3Marker(pub u8);

impl Amf3Marker {
    /// `0x00` undefined.
    pub const UNDEFINED: Self = Self(0x00);
    /// `0x01` null.
    pub const NULL: Self = Self(0x01);
    /// `0x02` false.
    pub const FALSE: Self = Self(0x02);
    /// `0x03` true.
    pub const TRUE: Self = Self(0x03);
    /// `0x04` 29-bit signed integer.
    pub const INTEGER: Self = Self(0x04);
    /// `0x05` IEEE-754 double.
    pub const DOUBLE: Self = Self(0x05);
    /// `0x06` string.
    pub const STRING: Self = Self(0x06);
    /// `0x07` legacy XML document.
    pub const XML_DOCUMENT: Self = Self(0x07);
    /// `0x08` date.
    pub const DATE: Self = Self(0x08);
    /// `0x09` array.
    pub const ARRAY: Self = Self(0x09);
    /// `0x0A` object.
    pub const OBJECT: Self = Self(0x0A);
    /// `0x0B` E4X XML.
    pub const XML: Self = Self(0x0B);
    /// `0x0C` byte array.
    pub const BYTE_ARRAY: Self = Self(0x0C);
    /// `0x0D` vector of int.
    pub const VECTOR_INT: Self = Self(0x0D);
    /// `0x0E` vector of uint.
    pub const VECTOR_UINT: Self = Self(0x0E);
    /// `0x0F` vector of double.
    pub const VECTOR_DOUBLE: Self = Self(0x0F);
    /// `0x10` vector of objects.
    pub const VECTOR_OBJECT: Self = Self(0x10);
    /// `0x11` dictionary.
    pub const DICTIONARY: Self = Self(0x11);

    /// The spec's name for a known marker.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 0x12] = [
            "undefined",
            "null",
            "false",
            "true",
            "integer",
            "double",
            "string",
            "xml-doc",
            "date",
            "array",
            "object",
            "xml",
            "byte-array",
            "vector-int",
            "vector-uint",
            "vector-double",
            "vector-object",
            "dictionary",
        ];
        NAMES.get(usize::from(self.0)).copied()
    }
}

/// Largest value a U29 holds.
pub(crate) const U29_MAX: u32 = 0x1FFF_FFFF;

/// Writes `v` (masked to 29 bits) as a U29 (spec 1.3.1).
pub(crate) fn put_u29(out: &mut impl bytes::BufMut, v: u32) {
    let v = v & U29_MAX;
    if v < 0x80 {
        out.put_u8(v as u8);
    } else if v < 0x4000 {
        out.put_u8(((v >> 7) | 0x80) as u8);
        out.put_u8((v & 0x7F) as u8);
    } else if v < 0x20_0000 {
        out.put_u8(((v >> 14) | 0x80) as u8);
        out.put_u8((((v >> 7) & 0x7F) | 0x80) as u8);
        out.put_u8((v & 0x7F) as u8);
    } else {
        out.put_u8(((v >> 22) | 0x80) as u8);
        out.put_u8((((v >> 15) & 0x7F) | 0x80) as u8);
        out.put_u8((((v >> 8) & 0x7F) | 0x80) as u8);
        out.put_u8((v & 0xFF) as u8);
    }
}

/// The signed value of a 29-bit two's complement integer (spec 3.6).
pub(crate) fn sign_extend_u29(v: u32) -> i32 {
    ((v << 3) as i32) >> 3
}
