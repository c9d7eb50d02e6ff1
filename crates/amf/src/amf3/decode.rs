//! AMF3 decoding (AMF3 spec sections 1.3 and 3.1 to 3.14, reference tables of 2.2).
//!
//! Object references are resolved by decoding the referenced value again from its recorded
//! offset with all three tables frozen. Tables only grow and the referenced value decoded
//! once already, so the second pass sees the same strings and traits and yields the exact
//! copy; every value it produces is charged to the [`AmfLimits`] budget.

use bytes::Bytes;

use super::{sign_extend_u29, Amf3Array, Amf3Marker, Amf3Object, Amf3Value};
use crate::limits::Budget;
use crate::reader::Reader;
use crate::{AmfError, AmfLimits};

/// Upper bound on capacity reserved up front for a peer-declared count.
const PREALLOC_MAX: usize = 1024;

/// An entry of the object table.
#[derive(Debug, Clone, Copy)]
struct ObjectSlot {
    /// Offset of the value's marker.
    offset: usize,
    /// The value's marker, checked against the marker of each reference.
    marker: u8,
    /// False while the value is still being decoded.
    complete: bool,
}

/// An entry of the traits table (spec 3.12).
#[derive(Debug, Clone)]
struct Traits<'a> {
    class_name: &'a str,
    sealed: Vec<&'a str>,
    dynamic: bool,
}

/// Decodes the AMF3 values of one message, owning its string, object and traits tables.
///
/// After an error the decoder's position is unspecified; drop it.
#[derive(Debug)]
pub struct Amf3Decoder<'a> {
    reader: Reader<'a>,
    budget: Budget,
    strings: Vec<&'a str>,
    objects: Vec<ObjectSlot>,
    traits: Vec<Traits<'a>>,
    /// Non-zero while re-reading a referenced value: the tables are frozen then.
    replaying: usize,
}

impl<'a> Amf3Decoder<'a> {
    /// A decoder over `buf` with [`AmfLimits::default`].
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_limits(buf, AmfLimits::default())
    }

    /// A decoder over `buf` with the given limits.
    pub fn with_limits(buf: &'a [u8], limits: AmfLimits) -> Self {
        Self::nested(Reader::new(buf), Budget::new(limits))
    }

    /// A decoder over a shared buffer: byte arrays are then sliced out of `buf` instead of
    /// copied.
    pub fn from_bytes(buf: &'a Bytes, limits: AmfLimits) -> Self {
        Self::nested(Reader::shared(buf), Budget::new(limits))
    }

    /// A decoder with fresh tables continuing another decoder's reader and budget.
    pub(crate) fn nested(reader: Reader<'a>, budget: Budget) -> Self {
        Amf3Decoder {
            reader,
            budget,
            strings: Vec::new(),
            objects: Vec::new(),
            traits: Vec::new(),
            replaying: 0,
        }
    }

    /// Decodes one value while `depth` containers are open around it.
    pub(crate) fn decode_nested(&mut self, depth: usize) -> Result<Amf3Value, AmfError> {
        self.value(depth)
    }

    /// The reader and budget, to hand back to the decoder that lent them.
    pub(crate) fn into_parts(self) -> (Reader<'a>, Budget) {
        (self.reader, self.budget)
    }

    /// Decodes the next value.
    pub fn decode(&mut self) -> Result<Amf3Value, AmfError> {
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
    pub fn decode_all(mut self) -> Result<Vec<Amf3Value>, AmfError> {
        let mut out = Vec::new();
        while !self.is_empty() {
            out.push(self.decode()?);
        }
        Ok(out)
    }

    fn value(&mut self, depth: usize) -> Result<Amf3Value, AmfError> {
        self.budget.element()?;
        self.uncharged_value(depth)
    }

    /// Decodes a value without charging it (a reference was charged for it already).
    fn uncharged_value(&mut self, depth: usize) -> Result<Amf3Value, AmfError> {
        let start = self.reader.position();
        let marker = Amf3Marker(self.reader.u8()?);
        Ok(match marker {
            Amf3Marker::UNDEFINED => Amf3Value::Undefined,
            Amf3Marker::NULL => Amf3Value::Null,
            Amf3Marker::FALSE => Amf3Value::Boolean(false),
            Amf3Marker::TRUE => Amf3Value::Boolean(true),
            Amf3Marker::INTEGER => Amf3Value::Integer(sign_extend_u29(self.reader.u29()?)),
            Amf3Marker::DOUBLE => Amf3Value::Double(self.reader.f64()?),
            Amf3Marker::STRING => {
                let s = self.str_vr()?;
                Amf3Value::String(self.budget.own(s)?)
            }
            Amf3Marker::XML_DOCUMENT | Amf3Marker::XML => {
                let header = self.reader.u29()?;
                if header & 1 == 0 {
                    return self.reference(header, marker, depth);
                }
                self.register_leaf(start, marker);
                let len = (header >> 1) as usize;
                self.budget.string_len(len)?;
                let text = self.reader.utf8(len)?;
                let text = self.budget.own(text)?;
                if marker == Amf3Marker::XML {
                    Amf3Value::Xml(text)
                } else {
                    Amf3Value::XmlDocument(text)
                }
            }
            Amf3Marker::DATE => {
                let header = self.reader.u29()?;
                if header & 1 == 0 {
                    return self.reference(header, marker, depth);
                }
                self.register_leaf(start, marker);
                Amf3Value::Date(self.reader.f64()?)
            }
            Amf3Marker::ARRAY => return self.array(start, depth),
            Amf3Marker::OBJECT => return self.object(start, depth),
            Amf3Marker::BYTE_ARRAY => {
                let header = self.reader.u29()?;
                if header & 1 == 0 {
                    return self.reference(header, marker, depth);
                }
                self.register_leaf(start, marker);
                let len = (header >> 1) as usize;
                self.budget.string_len(len)?;
                let payload = self.reader.payload(len)?;
                self.budget.bytes(len)?;
                Amf3Value::ByteArray(payload)
            }
            Amf3Marker::VECTOR_INT | Amf3Marker::VECTOR_UINT | Amf3Marker::VECTOR_DOUBLE => {
                return self.number_vector(start, marker, depth)
            }
            Amf3Marker::VECTOR_OBJECT => return self.object_vector(start, depth),
            Amf3Marker::DICTIONARY => return self.dictionary(start, depth),
            Amf3Marker(other) => return Err(AmfError::UnknownMarker(other)),
        })
    }

    /// Reads a UTF-8-vr (spec 1.3.2): a string-table reference or an inline string, which
    /// enters the table unless empty.
    fn str_vr(&mut self) -> Result<&'a str, AmfError> {
        let header = self.reader.u29()?;
        if header & 1 == 0 {
            let index = (header >> 1) as usize;
            return self
                .strings
                .get(index)
                .copied()
                .ok_or(AmfError::InvalidStringReference { index });
        }
        let len = (header >> 1) as usize;
        self.budget.string_len(len)?;
        let s = self.reader.utf8(len)?;
        if !s.is_empty() && self.replaying == 0 {
            self.strings.push(s);
        }
        Ok(s)
    }

    /// Adds a value without children to the object table.
    fn register_leaf(&mut self, offset: usize, marker: Amf3Marker) {
        if self.replaying == 0 {
            self.objects.push(ObjectSlot {
                offset,
                marker: marker.0,
                complete: true,
            });
        }
    }

    /// Adds a container to the object table as pending; `close` completes it.
    fn open(&mut self, offset: usize, marker: Amf3Marker) -> Option<usize> {
        if self.replaying > 0 {
            return None;
        }
        self.objects.push(ObjectSlot {
            offset,
            marker: marker.0,
            complete: false,
        });
        Some(self.objects.len() - 1)
    }

    fn close(&mut self, slot: Option<usize>) {
        if let Some(entry) = slot.and_then(|i| self.objects.get_mut(i)) {
            entry.complete = true;
        }
    }

    /// Resolves the object reference in `header` (low bit 0) by decoding the target again.
    fn reference(
        &mut self,
        header: u32,
        marker: Amf3Marker,
        depth: usize,
    ) -> Result<Amf3Value, AmfError> {
        let index = (header >> 1) as usize;
        let slot = *self
            .objects
            .get(index)
            .ok_or(AmfError::InvalidReference { index })?;
        if !slot.complete {
            return Err(AmfError::CircularReference);
        }
        if slot.marker != marker.0 {
            return Err(AmfError::ReferenceTypeMismatch {
                index,
                expected: marker.0,
                found: slot.marker,
            });
        }
        let resume = self.reader.position();
        self.reader.seek(slot.offset);
        self.replaying += 1;
        let result = self.uncharged_value(depth);
        self.replaying -= 1;
        self.reader.seek(resume);
        result
    }

    /// Fails unless `count` items of at least `min_size` bytes each can follow and fit the
    /// element budget; returns a safe capacity to reserve.
    fn declared_count(&mut self, count: usize, min_size: usize) -> Result<usize, AmfError> {
        self.reader.require(count.saturating_mul(min_size))?;
        self.budget.check_elements(count)?;
        Ok(count.min(PREALLOC_MAX))
    }

    /// `name value` pairs up to the empty name (array associative part, dynamic members).
    fn named_members(&mut self, depth: usize) -> Result<Vec<(String, Amf3Value)>, AmfError> {
        let mut members = Vec::new();
        loop {
            let name = self.str_vr()?;
            if name.is_empty() {
                return Ok(members);
            }
            let name = self.budget.own(name)?;
            let value = self.value(depth)?;
            members.push((name, value));
        }
    }

    /// Array (spec 3.11): dense count, associative part, dense part.
    fn array(&mut self, start: usize, depth: usize) -> Result<Amf3Value, AmfError> {
        let header = self.reader.u29()?;
        if header & 1 == 0 {
            return self.reference(header, Amf3Marker::ARRAY, depth);
        }
        let dense_count = (header >> 1) as usize;
        let inner = self.budget.enter(depth)?;
        let slot = self.open(start, Amf3Marker::ARRAY);
        let assoc = self.named_members(inner)?;
        let capacity = self.declared_count(dense_count, 1)?;
        let mut dense = Vec::with_capacity(capacity);
        for _ in 0..dense_count {
            dense.push(self.value(inner)?);
        }
        self.close(slot);
        Ok(Amf3Value::Array(Amf3Array { assoc, dense }))
    }

    /// Object (spec 3.12): traits (inline, referenced or externalizable), then sealed values,
    /// then dynamic members.
    fn object(&mut self, start: usize, depth: usize) -> Result<Amf3Value, AmfError> {
        let header = self.reader.u29()?;
        if header & 1 == 0 {
            return self.reference(header, Amf3Marker::OBJECT, depth);
        }
        let traits = if header & 0b10 == 0 {
            let index = (header >> 2) as usize;
            let traits = self
                .traits
                .get(index)
                .ok_or(AmfError::InvalidTraitReference { index })?;
            self.budget.check_elements(traits.sealed.len())?;
            traits.clone()
        } else if header & 0b100 != 0 {
            let class_name = self.str_vr()?.to_owned();
            return Err(AmfError::Externalizable { class_name });
        } else {
            let dynamic = header & 0b1000 != 0;
            let count = (header >> 4) as usize;
            let class_name = self.str_vr()?;
            let capacity = self.declared_count(count, 1)?;
            let mut sealed = Vec::with_capacity(capacity);
            for _ in 0..count {
                sealed.push(self.str_vr()?);
            }
            let traits = Traits {
                class_name,
                sealed,
                dynamic,
            };
            if self.replaying == 0 {
                self.traits.push(traits.clone());
            }
            traits
        };
        let inner = self.budget.enter(depth)?;
        let slot = self.open(start, Amf3Marker::OBJECT);
        let class_name = self.budget.own(traits.class_name)?;
        let mut sealed = Vec::with_capacity(traits.sealed.len().min(PREALLOC_MAX));
        for name in &traits.sealed {
            let value = self.value(inner)?;
            sealed.push((self.budget.own(name)?, value));
        }
        let dynamic = if traits.dynamic {
            Some(self.named_members(inner)?)
        } else {
            None
        };
        self.close(slot);
        Ok(Amf3Value::Object(Amf3Object {
            class_name,
            sealed,
            dynamic,
        }))
    }

    /// Vectors of int, uint and double (spec 3.15): count, fixed flag, big-endian items.
    fn number_vector(
        &mut self,
        start: usize,
        marker: Amf3Marker,
        depth: usize,
    ) -> Result<Amf3Value, AmfError> {
        let header = self.reader.u29()?;
        if header & 1 == 0 {
            return self.reference(header, marker, depth);
        }
        let count = (header >> 1) as usize;
        let fixed = self.reader.u8()? != 0;
        self.register_leaf(start, marker);
        let size = if marker == Amf3Marker::VECTOR_DOUBLE {
            8
        } else {
            4
        };
        self.reader.require(count.saturating_mul(size))?;
        self.budget.elements(count)?;
        // The items are all present (checked above), so the count is bounded by the input.
        Ok(match marker {
            Amf3Marker::VECTOR_INT => {
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.reader.i32()?);
                }
                Amf3Value::VectorInt { fixed, items }
            }
            Amf3Marker::VECTOR_UINT => {
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.reader.u32()?);
                }
                Amf3Value::VectorUint { fixed, items }
            }
            _ => {
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.reader.f64()?);
                }
                Amf3Value::VectorDouble { fixed, items }
            }
        })
    }

    /// Vector of objects (spec 3.15): count, fixed flag, item type name, values.
    fn object_vector(&mut self, start: usize, depth: usize) -> Result<Amf3Value, AmfError> {
        let header = self.reader.u29()?;
        if header & 1 == 0 {
            return self.reference(header, Amf3Marker::VECTOR_OBJECT, depth);
        }
        let count = (header >> 1) as usize;
        let fixed = self.reader.u8()? != 0;
        let inner = self.budget.enter(depth)?;
        let slot = self.open(start, Amf3Marker::VECTOR_OBJECT);
        let type_name = self.str_vr()?;
        let type_name = self.budget.own(type_name)?;
        let capacity = self.declared_count(count, 1)?;
        let mut items = Vec::with_capacity(capacity);
        for _ in 0..count {
            items.push(self.value(inner)?);
        }
        self.close(slot);
        Ok(Amf3Value::VectorObject {
            fixed,
            type_name,
            items,
        })
    }

    /// Dictionary (spec 3.16): count, weak-keys flag, key/value pairs.
    fn dictionary(&mut self, start: usize, depth: usize) -> Result<Amf3Value, AmfError> {
        let header = self.reader.u29()?;
        if header & 1 == 0 {
            return self.reference(header, Amf3Marker::DICTIONARY, depth);
        }
        let count = (header >> 1) as usize;
        let weak_keys = self.reader.u8()? != 0;
        let inner = self.budget.enter(depth)?;
        let slot = self.open(start, Amf3Marker::DICTIONARY);
        let capacity = self.declared_count(count.saturating_mul(2), 1)?;
        let mut entries = Vec::with_capacity(capacity / 2);
        for _ in 0..count {
            let key = self.value(inner)?;
            let value = self.value(inner)?;
            entries.push((key, value));
        }
        self.close(slot);
        Ok(Amf3Value::Dictionary { weak_keys, entries })
    }
}

/// Decodes every AMF3 value in `buf` with [`AmfLimits::default`] and one set of tables.
pub fn amf3_decode_all(buf: &[u8]) -> Result<Vec<Amf3Value>, AmfError> {
    Amf3Decoder::new(buf).decode_all()
}
