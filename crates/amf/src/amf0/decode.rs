//! AMF0 decoding (AMF0 spec sections 2.2 to 2.17, reference table of section 2.9).
//!
//! References are resolved by decoding the referenced value again from its recorded offset
//! with the table frozen, which yields exactly the copy the spec's object graph implies
//! without keeping a second copy of every complex value around. Every value produced this
//! way is charged to the same [`AmfLimits`] budget, which bounds "billion laughs" inputs.

use bytes::Bytes;

use super::{Amf0Marker, Amf0Object, Amf0Value};
use crate::amf3::Amf3Decoder;
use crate::limits::Budget;
use crate::reader::Reader;
use crate::{AmfError, AmfLimits};

/// Upper bound on capacity reserved up front for a strict array, whatever its count says.
const PREALLOC_MAX: usize = 1024;

/// Decodes the AMF0 values of one message.
///
/// The reference table is shared by every [`decode`](Self::decode) call on the same decoder,
/// as the spec shares it across one message. After an error the decoder's position is
/// unspecified; drop it.
#[derive(Debug)]
pub struct Amf0Decoder<'a> {
    reader: Reader<'a>,
    budget: Budget,
    /// Offset of the marker of each complex value met, in order (section 2.9); `None` while
    /// that value is still being decoded.
    refs: Vec<Option<usize>>,
    /// Non-zero while re-reading a referenced value: the table is frozen then.
    replaying: usize,
}

impl<'a> Amf0Decoder<'a> {
    /// A decoder over `buf` with [`AmfLimits::default`].
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_limits(buf, AmfLimits::default())
    }

    /// A decoder over `buf` with the given limits.
    pub fn with_limits(buf: &'a [u8], limits: AmfLimits) -> Self {
        Self::from_reader(Reader::new(buf), limits)
    }

    /// A decoder over a shared buffer: AMF3 byte arrays behind AVM+ switches are then
    /// sliced out of `buf` instead of copied.
    pub fn from_bytes(buf: &'a Bytes, limits: AmfLimits) -> Self {
        Self::from_reader(Reader::shared(buf), limits)
    }

    fn from_reader(reader: Reader<'a>, limits: AmfLimits) -> Self {
        Amf0Decoder {
            reader,
            budget: Budget::new(limits),
            refs: Vec::new(),
            replaying: 0,
        }
    }

    /// Decodes the next value.
    pub fn decode(&mut self) -> Result<Amf0Value, AmfError> {
        self.value(0)
    }

    /// True when every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.reader.is_empty()
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.reader.position()
    }

    /// The bytes not consumed yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.reader.remaining()
    }

    /// Decodes values until the buffer is used up.
    pub fn decode_all(mut self) -> Result<Vec<Amf0Value>, AmfError> {
        let mut out = Vec::new();
        while !self.is_empty() {
            out.push(self.decode()?);
        }
        Ok(out)
    }

    /// Decodes one value while `depth` containers are open around it.
    fn value(&mut self, depth: usize) -> Result<Amf0Value, AmfError> {
        let start = self.reader.position();
        let marker = Amf0Marker(self.reader.u8()?);
        if marker != Amf0Marker::REFERENCE && marker != Amf0Marker::AVMPLUS {
            // A reference is charged as the value it copies, an AVM+ switch as its AMF3 value.
            self.budget.element()?;
        }
        Ok(match marker {
            Amf0Marker::NUMBER => Amf0Value::Number(self.reader.f64()?),
            Amf0Marker::BOOLEAN => Amf0Value::Boolean(self.reader.u8()? != 0),
            Amf0Marker::STRING => {
                let len = usize::from(self.reader.u16()?);
                Amf0Value::String(self.string(len)?)
            }
            Amf0Marker::OBJECT => {
                let inner = self.budget.enter(depth)?;
                let slot = self.open();
                let props = self.properties(inner, false)?;
                self.close(slot, start);
                Amf0Value::Object(props)
            }
            Amf0Marker::MOVIECLIP | Amf0Marker::RECORDSET => {
                return Err(AmfError::ReservedMarker(marker.0))
            }
            Amf0Marker::NULL => Amf0Value::Null,
            Amf0Marker::UNDEFINED => Amf0Value::Undefined,
            Amf0Marker::REFERENCE => {
                let index = usize::from(self.reader.u16()?);
                return self.reference(index, depth);
            }
            Amf0Marker::ECMA_ARRAY => {
                // The count is only a hint (encoders disagree on it); the end marker rules.
                let _count_hint = self.reader.u32()?;
                let inner = self.budget.enter(depth)?;
                let slot = self.open();
                let props = self.properties(inner, true)?;
                self.close(slot, start);
                Amf0Value::EcmaArray(props)
            }
            Amf0Marker::OBJECT_END => return Err(AmfError::UnexpectedObjectEnd),
            Amf0Marker::STRICT_ARRAY => {
                let count = usize::try_from(self.reader.u32()?).unwrap_or(usize::MAX);
                let inner = self.budget.enter(depth)?;
                // Every item takes at least one byte and produces at least one value.
                self.reader.require(count)?;
                self.budget.check_elements(count)?;
                let slot = self.open();
                let mut items = Vec::with_capacity(count.min(PREALLOC_MAX));
                for _ in 0..count {
                    items.push(self.value(inner)?);
                }
                self.close(slot, start);
                Amf0Value::StrictArray(items)
            }
            Amf0Marker::DATE => {
                let millis = self.reader.f64()?;
                let timezone = self.reader.i16()?;
                Amf0Value::Date { millis, timezone }
            }
            Amf0Marker::LONG_STRING => {
                let len = self.long_len()?;
                Amf0Value::String(self.string(len)?)
            }
            Amf0Marker::UNSUPPORTED => Amf0Value::Unsupported,
            Amf0Marker::XML_DOCUMENT => {
                let len = self.long_len()?;
                Amf0Value::XmlDocument(self.string(len)?)
            }
            Amf0Marker::TYPED_OBJECT => {
                let inner = self.budget.enter(depth)?;
                let slot = self.open();
                let len = usize::from(self.reader.u16()?);
                let class_name = self.string(len)?;
                let properties = self.properties(inner, false)?;
                self.close(slot, start);
                Amf0Value::TypedObject {
                    class_name,
                    properties,
                }
            }
            Amf0Marker::AVMPLUS => Amf0Value::Avmplus(self.avmplus(depth)?),
            Amf0Marker(other) => return Err(AmfError::UnknownMarker(other)),
        })
    }

    fn long_len(&mut self) -> Result<usize, AmfError> {
        Ok(usize::try_from(self.reader.u32()?).unwrap_or(usize::MAX))
    }

    /// Reads `len` bytes of UTF-8 text, charging them to the budget.
    fn string(&mut self, len: usize) -> Result<String, AmfError> {
        self.budget.string_len(len)?;
        let s = self.reader.utf8(len)?;
        self.budget.own(s)
    }

    /// Reads name/value pairs up to the object end (`00 00 09`), section 2.5.
    fn properties(&mut self, depth: usize, ecma: bool) -> Result<Amf0Object, AmfError> {
        let lenient = ecma && self.budget.limits.allow_unterminated_ecma_array;
        let mut props = Amf0Object::new();
        loop {
            if lenient && self.reader.is_empty() {
                break;
            }
            let name_len = usize::from(self.reader.u16()?);
            if name_len == 0 {
                match self.reader.peek_u8() {
                    Some(m) if m == Amf0Marker::OBJECT_END.0 => {
                        self.reader.u8()?;
                        break;
                    }
                    None if lenient => break,
                    // An empty name before a real value: a property named "".
                    _ => {}
                }
            }
            let name = self.string(name_len)?;
            let value = self.value(depth)?;
            props.push(name, value);
        }
        Ok(props)
    }

    /// Adds a complex value to the table as pending, unless the table is frozen.
    fn open(&mut self) -> Option<usize> {
        if self.replaying > 0 {
            return None;
        }
        self.refs.push(None);
        Some(self.refs.len() - 1)
    }

    /// Marks the value of `slot` complete, so references to it become valid.
    fn close(&mut self, slot: Option<usize>, start: usize) {
        if let Some(entry) = slot.and_then(|i| self.refs.get_mut(i)) {
            *entry = Some(start);
        }
    }

    /// Resolves reference `index` by decoding the referenced value again.
    fn reference(&mut self, index: usize, depth: usize) -> Result<Amf0Value, AmfError> {
        let offset = match self.refs.get(index) {
            None => return Err(AmfError::InvalidReference { index }),
            Some(None) => return Err(AmfError::CircularReference),
            Some(Some(offset)) => *offset,
        };
        let resume = self.reader.position();
        self.reader.seek(offset);
        self.replaying += 1;
        let result = self.value(depth);
        self.replaying -= 1;
        self.reader.seek(resume);
        result
    }

    /// Decodes the AMF3 value after an AVM+ marker with fresh AMF3 tables and this
    /// decoder's budget and depth.
    fn avmplus(&mut self, depth: usize) -> Result<crate::Amf3Value, AmfError> {
        let mut sub = Amf3Decoder::nested(self.reader, self.budget.clone());
        let result = sub.decode_nested(depth);
        let (reader, budget) = sub.into_parts();
        self.reader = reader;
        self.budget = budget;
        result
    }
}

/// Decodes every AMF0 value in `buf` with [`AmfLimits::default`].
pub fn amf0_decode_all(buf: &[u8]) -> Result<Vec<Amf0Value>, AmfError> {
    Amf0Decoder::new(buf).decode_all()
}
