//! AMF0: values, decoder and encoder ("AMF0 File Format Specification", Adobe, 2007).
//!
//! Every value starts with a one-byte type marker (spec section 2.1); [`Amf0Marker`] names
//! them all, `0x00` number to `0x11` AVM+ switch. Complex values (object, ECMA array, strict
//! array, typed object) enter a reference table in order of appearance, and `0x07` followed by
//! a 16-bit index refers back into it (section 2.9). The table lives as long as one
//! [`Amf0Decoder`], i.e. one RTMP message.
//!
//! Choices the spec leaves open, all documented where they apply:
//! * references are resolved into copies, charged against [`AmfLimits`](crate::AmfLimits);
//!   a reference to an object still being decoded is [`AmfError::CircularReference`](crate::AmfError::CircularReference);
//! * an empty property name followed by anything other than the object-end marker is taken
//!   as a property named `""` (some encoders emit one);
//! * an ECMA array may run to the end of the buffer without its end marker when
//!   [`AmfLimits::allow_unterminated_ecma_array`](crate::AmfLimits::allow_unterminated_ecma_array) is set;
//! * each AVM+ value (`0x11`) is decoded with fresh AMF3 reference tables: AMF3 references
//!   never reach across two AVM+ switches, and the encoder relies on the same rule;
//! * the encoder never writes references (`0x07`): it writes every value in full.

mod decode;
mod encode;
mod value;

#[cfg(test)]
mod tests;

pub use decode::{amf0_decode_all, Amf0Decoder};
pub(crate) use encode::truncate_utf8;
pub use encode::{amf0_encode, amf0_encode_all};
pub use value::{Amf0Object, Amf0Value};

/// An AMF0 type marker (spec section 2.1). Unknown values are kept as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Amf0Marker(pub u8);

impl Amf0Marker {
    /// `0x00` number (IEEE-754 double).
    pub const NUMBER: Self = Self(0x00);
    /// `0x01` boolean.
    pub const BOOLEAN: Self = Self(0x01);
    /// `0x02` string, 16-bit length.
    pub const STRING: Self = Self(0x02);
    /// `0x03` anonymous object.
    pub const OBJECT: Self = Self(0x03);
    /// `0x04` movieclip: reserved, not supported.
    pub const MOVIECLIP: Self = Self(0x04);
    /// `0x05` null.
    pub const NULL: Self = Self(0x05);
    /// `0x06` undefined.
    pub const UNDEFINED: Self = Self(0x06);
    /// `0x07` reference to an earlier complex value.
    pub const REFERENCE: Self = Self(0x07);
    /// `0x08` ECMA (associative) array.
    pub const ECMA_ARRAY: Self = Self(0x08);
    /// `0x09` object end, after an empty property name.
    pub const OBJECT_END: Self = Self(0x09);
    /// `0x0A` strict (dense) array.
    pub const STRICT_ARRAY: Self = Self(0x0A);
    /// `0x0B` date.
    pub const DATE: Self = Self(0x0B);
    /// `0x0C` long string, 32-bit length.
    pub const LONG_STRING: Self = Self(0x0C);
    /// `0x0D` unsupported.
    pub const UNSUPPORTED: Self = Self(0x0D);
    /// `0x0E` recordset: reserved, not supported.
    pub const RECORDSET: Self = Self(0x0E);
    /// `0x0F` XML document.
    pub const XML_DOCUMENT: Self = Self(0x0F);
    /// `0x10` typed object.
    pub const TYPED_OBJECT: Self = Self(0x10);
    /// `0x11` switch to AMF3 for one value.
    pub const AVMPLUS: Self = Self(0x11);

    /// The spec's name for a known marker.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 0x12] = [
            "number",
            "boolean",
            "string",
            "object",
            "movieclip",
            "null",
            "undefined",
            "reference",
            "ecma-array",
            "object-end",
            "strict-array",
            "date",
            "long-string",
            "unsupported",
            "recordset",
            "xml-document",
            "typed-object",
            "avmplus-object",
        ];
        NAMES.get(usize::from(self.0)).copied()
    }
}
