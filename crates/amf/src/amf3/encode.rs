//! AMF3 encoding (AMF3 spec sections 1.3 and 3.1 to 3.16, reference tables of 2.2).
//!
//! Encoding is infallible. Integers outside the 29-bit range are written as doubles (spec
//! 3.6). Lengths and counts above what a U29 can say (2^28 - 1; 2^25 - 1 sealed members) are
//! cut to that bound, text at a UTF-8 character boundary; no real value comes near them.
//! Empty names in an array's associative part or among dynamic members are skipped, since the
//! empty name ends those lists on the wire.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use bytes::{BufMut, Bytes, BytesMut};

use super::{put_u29, Amf3Marker, Amf3Object, Amf3Value};
use crate::amf0::truncate_utf8;

/// Largest length, count or reference index a U29 with one flag bit can carry.
const MAX_LEN: usize = (1 << 28) - 1;
/// Largest traits reference index (two flag bits).
const MAX_TRAIT_INDEX: usize = (1 << 27) - 1;
/// Largest sealed member count (four flag bits).
const MAX_SEALED: usize = (1 << 25) - 1;

/// Encodes AMF3 values, owning the string and traits tables of one message.
///
/// Strings and trait layouts are written once and referenced afterwards for as long as the
/// encoder lives, so use one encoder per message (the decoder does the same). Complex values
/// are referenced when bit-for-bit equal to one already written in the same
/// [`encode`](Self::encode) / [`encode_slice`](Self::encode_slice) call.
#[derive(Debug, Default)]
pub struct Amf3Encoder {
    strings: HashMap<String, usize>,
    string_count: usize,
    /// Trait layouts by class name: (dynamic, sealed names, table index).
    traits: HashMap<String, Vec<(bool, Vec<String>, usize)>>,
    trait_count: usize,
    object_count: usize,
}

impl Amf3Encoder {
    /// An encoder with empty tables.
    pub fn new() -> Self {
        Amf3Encoder::default()
    }

    /// Writes one value.
    pub fn encode(&mut self, value: &Amf3Value, out: &mut impl BufMut) {
        let mut refs = ObjectRefs::default();
        self.value(value, &mut refs, out);
    }

    /// Writes several values in a row; complex values repeated across them are referenced.
    pub fn encode_slice(&mut self, values: &[Amf3Value], out: &mut impl BufMut) {
        let mut refs = ObjectRefs::default();
        for v in values {
            self.value(v, &mut refs, out);
        }
    }

    fn value<'v>(&mut self, v: &'v Amf3Value, refs: &mut ObjectRefs<'v>, out: &mut impl BufMut) {
        match v {
            Amf3Value::Undefined => out.put_u8(Amf3Marker::UNDEFINED.0),
            Amf3Value::Null => out.put_u8(Amf3Marker::NULL.0),
            Amf3Value::Boolean(false) => out.put_u8(Amf3Marker::FALSE.0),
            Amf3Value::Boolean(true) => out.put_u8(Amf3Marker::TRUE.0),
            Amf3Value::Integer(i) if Amf3Value::integer_fits(*i) => {
                out.put_u8(Amf3Marker::INTEGER.0);
                put_u29(out, *i as u32);
            }
            Amf3Value::Integer(i) => {
                out.put_u8(Amf3Marker::DOUBLE.0);
                out.put_f64(f64::from(*i));
            }
            Amf3Value::Double(d) => {
                out.put_u8(Amf3Marker::DOUBLE.0);
                out.put_f64(*d);
            }
            Amf3Value::String(s) => {
                out.put_u8(Amf3Marker::STRING.0);
                self.put_str(s, out);
            }
            _ => self.complex(v, refs, out),
        }
    }

    /// A value of the object table: a reference if an equal one was written, else inline.
    fn complex<'v>(&mut self, v: &'v Amf3Value, refs: &mut ObjectRefs<'v>, out: &mut impl BufMut) {
        out.put_u8(marker_of(v).0);
        let hash = refs.hash_of(v);
        if let Some(index) = refs.find(hash, v) {
            put_u29(out, (index as u32) << 1);
            return;
        }
        let index = self.object_count;
        self.object_count += 1;
        match v {
            Amf3Value::XmlDocument(s) | Amf3Value::Xml(s) => {
                let s = truncate_utf8(s, MAX_LEN);
                put_len(out, s.len());
                out.put_slice(s.as_bytes());
            }
            Amf3Value::Date(millis) => {
                put_u29(out, 1);
                out.put_f64(*millis);
            }
            Amf3Value::Array(a) => {
                let count = a.dense.len().min(MAX_LEN);
                put_len(out, count);
                self.members(&a.assoc, refs, out);
                for item in a.dense.iter().take(count) {
                    self.value(item, refs, out);
                }
            }
            Amf3Value::Object(o) => self.object(o, refs, out),
            Amf3Value::ByteArray(b) => {
                let b = b.get(..b.len().min(MAX_LEN)).unwrap_or_default();
                put_len(out, b.len());
                out.put_slice(b);
            }
            Amf3Value::VectorInt { fixed, items } => {
                put_vector_header(out, items.len(), *fixed);
                items.iter().take(MAX_LEN).for_each(|i| out.put_i32(*i));
            }
            Amf3Value::VectorUint { fixed, items } => {
                put_vector_header(out, items.len(), *fixed);
                items.iter().take(MAX_LEN).for_each(|i| out.put_u32(*i));
            }
            Amf3Value::VectorDouble { fixed, items } => {
                put_vector_header(out, items.len(), *fixed);
                items.iter().take(MAX_LEN).for_each(|d| out.put_f64(*d));
            }
            Amf3Value::VectorObject {
                fixed,
                type_name,
                items,
            } => {
                put_vector_header(out, items.len(), *fixed);
                self.put_str(type_name, out);
                for item in items.iter().take(MAX_LEN) {
                    self.value(item, refs, out);
                }
            }
            Amf3Value::Dictionary { weak_keys, entries } => {
                put_vector_header(out, entries.len(), *weak_keys);
                for (key, value) in entries.iter().take(MAX_LEN) {
                    self.value(key, refs, out);
                    self.value(value, refs, out);
                }
            }
            // Scalars never reach here (see `value`).
            _ => {}
        }
        // Only now is the value complete: a decoder rejects references to unfinished ones.
        refs.remember(hash, v, index);
    }

    /// Object body (spec 3.12): traits, sealed values, dynamic members.
    fn object<'v>(&mut self, o: &'v Amf3Object, refs: &mut ObjectRefs<'v>, out: &mut impl BufMut) {
        let dynamic = o.dynamic.is_some();
        let sealed_count = o.sealed.len().min(MAX_SEALED);
        let sealed = o.sealed.get(..sealed_count).unwrap_or_default();
        let known = self.traits.get(o.class_name.as_str()).and_then(|layouts| {
            layouts
                .iter()
                .find(|(d, names, _)| {
                    *d == dynamic && names.iter().eq(sealed.iter().map(|(name, _)| name))
                })
                .map(|(_, _, index)| *index)
        });
        match known {
            Some(index) => put_u29(out, ((index as u32) << 2) | 0b01),
            None => {
                let flags = if dynamic { 0b1011 } else { 0b0011 };
                put_u29(out, ((sealed_count as u32) << 4) | flags);
                self.put_str(&o.class_name, out);
                for (name, _) in sealed {
                    self.put_str(name, out);
                }
                if self.trait_count <= MAX_TRAIT_INDEX {
                    let names = sealed.iter().map(|(name, _)| name.clone()).collect();
                    self.traits.entry(o.class_name.clone()).or_default().push((
                        dynamic,
                        names,
                        self.trait_count,
                    ));
                }
                self.trait_count += 1;
            }
        }
        for (_, value) in sealed {
            self.value(value, refs, out);
        }
        if let Some(members) = &o.dynamic {
            self.members(members, refs, out);
        }
    }

    /// Named members followed by the empty name; empty names are skipped.
    fn members<'v>(
        &mut self,
        members: &'v [(String, Amf3Value)],
        refs: &mut ObjectRefs<'v>,
        out: &mut impl BufMut,
    ) {
        for (name, value) in members.iter().filter(|(name, _)| !name.is_empty()) {
            self.put_str(name, out);
            self.value(value, refs, out);
        }
        put_u29(out, 1);
    }

    /// UTF-8-vr (spec 1.3.2): a reference to an earlier equal string, else inline.
    fn put_str(&mut self, s: &str, out: &mut impl BufMut) {
        if s.is_empty() {
            put_u29(out, 1);
            return;
        }
        if let Some(index) = self.strings.get(s) {
            put_u29(out, (*index as u32) << 1);
            return;
        }
        let s = truncate_utf8(s, MAX_LEN);
        put_len(out, s.len());
        out.put_slice(s.as_bytes());
        if self.string_count <= MAX_LEN {
            self.strings.insert(s.to_owned(), self.string_count);
        }
        self.string_count += 1;
    }
}

/// Encodes `values` with one [`Amf3Encoder`] into a new buffer.
pub fn amf3_encode_all(values: &[Amf3Value]) -> Bytes {
    let mut out = BytesMut::new();
    Amf3Encoder::new().encode_slice(values, &mut out);
    out.freeze()
}

/// An inline length: `len << 1 | 1`.
fn put_len(out: &mut impl BufMut, len: usize) {
    put_u29(out, ((len.min(MAX_LEN) as u32) << 1) | 1);
}

/// Vector and dictionary header: inline count, then the one-byte flag.
fn put_vector_header(out: &mut impl BufMut, count: usize, flag: bool) {
    put_len(out, count);
    out.put_u8(u8::from(flag));
}

fn marker_of(v: &Amf3Value) -> Amf3Marker {
    match v {
        Amf3Value::Undefined => Amf3Marker::UNDEFINED,
        Amf3Value::Null => Amf3Marker::NULL,
        Amf3Value::Boolean(false) => Amf3Marker::FALSE,
        Amf3Value::Boolean(true) => Amf3Marker::TRUE,
        Amf3Value::Integer(_) => Amf3Marker::INTEGER,
        Amf3Value::Double(_) => Amf3Marker::DOUBLE,
        Amf3Value::String(_) => Amf3Marker::STRING,
        Amf3Value::XmlDocument(_) => Amf3Marker::XML_DOCUMENT,
        Amf3Value::Date(_) => Amf3Marker::DATE,
        Amf3Value::Array(_) => Amf3Marker::ARRAY,
        Amf3Value::Object(_) => Amf3Marker::OBJECT,
        Amf3Value::Xml(_) => Amf3Marker::XML,
        Amf3Value::ByteArray(_) => Amf3Marker::BYTE_ARRAY,
        Amf3Value::VectorInt { .. } => Amf3Marker::VECTOR_INT,
        Amf3Value::VectorUint { .. } => Amf3Marker::VECTOR_UINT,
        Amf3Value::VectorDouble { .. } => Amf3Marker::VECTOR_DOUBLE,
        Amf3Value::VectorObject { .. } => Amf3Marker::VECTOR_OBJECT,
        Amf3Value::Dictionary { .. } => Amf3Marker::DICTIONARY,
    }
}

/// True for the types that enter the object table.
fn is_complex(v: &Amf3Value) -> bool {
    !matches!(
        v,
        Amf3Value::Undefined
            | Amf3Value::Null
            | Amf3Value::Boolean(_)
            | Amf3Value::Integer(_)
            | Amf3Value::Double(_)
            | Amf3Value::String(_)
    )
}

/// The complex values written in full during one encode call, found by structural hash.
#[derive(Default)]
struct ObjectRefs<'v> {
    /// Structural hash -> (value, object table index).
    written: HashMap<u64, Vec<(&'v Amf3Value, usize)>>,
    /// Each complex value's structural hash, by address, so every node is hashed once.
    hashes: HashMap<*const Amf3Value, u64>,
}

impl<'v> ObjectRefs<'v> {
    fn hash_of(&mut self, v: &'v Amf3Value) -> u64 {
        let key: *const Amf3Value = v;
        if let Some(h) = self.hashes.get(&key) {
            return *h;
        }
        let mut state = DefaultHasher::new();
        self.feed(v, &mut state);
        let h = state.finish();
        self.hashes.insert(key, h);
        h
    }

    fn child(&mut self, v: &'v Amf3Value, state: &mut DefaultHasher) {
        if is_complex(v) {
            state.write_u64(self.hash_of(v));
        } else {
            self.feed(v, state);
        }
    }

    fn feed(&mut self, v: &'v Amf3Value, state: &mut DefaultHasher) {
        marker_of(v).0.hash(state);
        match v {
            Amf3Value::Undefined | Amf3Value::Null | Amf3Value::Boolean(_) => {}
            Amf3Value::Integer(i) => i.hash(state),
            Amf3Value::Double(d) | Amf3Value::Date(d) => d.to_bits().hash(state),
            Amf3Value::String(s) | Amf3Value::XmlDocument(s) | Amf3Value::Xml(s) => s.hash(state),
            Amf3Value::ByteArray(b) => b.hash(state),
            Amf3Value::Array(a) => {
                a.assoc.len().hash(state);
                for (name, value) in &a.assoc {
                    name.hash(state);
                    self.child(value, state);
                }
                a.dense.len().hash(state);
                for value in &a.dense {
                    self.child(value, state);
                }
            }
            Amf3Value::Object(o) => {
                o.class_name.hash(state);
                o.sealed.len().hash(state);
                for (name, value) in &o.sealed {
                    name.hash(state);
                    self.child(value, state);
                }
                o.dynamic.as_ref().map(Vec::len).hash(state);
                for (name, value) in o.dynamic.iter().flatten() {
                    name.hash(state);
                    self.child(value, state);
                }
            }
            Amf3Value::VectorInt { fixed, items } => (fixed, items).hash(state),
            Amf3Value::VectorUint { fixed, items } => (fixed, items).hash(state),
            Amf3Value::VectorDouble { fixed, items } => {
                fixed.hash(state);
                items.len().hash(state);
                items.iter().for_each(|d| d.to_bits().hash(state));
            }
            Amf3Value::VectorObject {
                fixed,
                type_name,
                items,
            } => {
                (fixed, type_name, items.len()).hash(state);
                for item in items {
                    self.child(item, state);
                }
            }
            Amf3Value::Dictionary { weak_keys, entries } => {
                (weak_keys, entries.len()).hash(state);
                for (key, value) in entries {
                    self.child(key, state);
                    self.child(value, state);
                }
            }
        }
    }

    fn find(&self, hash: u64, v: &Amf3Value) -> Option<usize> {
        self.written
            .get(&hash)?
            .iter()
            .find(|(seen, _)| identical(seen, v))
            .map(|(_, index)| *index)
    }

    fn remember(&mut self, hash: u64, v: &'v Amf3Value, index: usize) {
        if index <= MAX_LEN {
            self.written.entry(hash).or_default().push((v, index));
        }
    }
}

/// Structural equality with doubles compared bit for bit (so `-0.0` and `0.0` differ and a
/// NaN equals the same NaN): a reference must decode to exactly what was given.
fn identical(a: &Amf3Value, b: &Amf3Value) -> bool {
    fn pairs(a: &[(String, Amf3Value)], b: &[(String, Amf3Value)]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|((ka, va), (kb, vb))| ka == kb && identical(va, vb))
    }
    fn values(a: &[Amf3Value], b: &[Amf3Value]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| identical(x, y))
    }
    use Amf3Value as V;
    match (a, b) {
        (V::Double(x), V::Double(y)) | (V::Date(x), V::Date(y)) => x.to_bits() == y.to_bits(),
        (V::Array(x), V::Array(y)) => pairs(&x.assoc, &y.assoc) && values(&x.dense, &y.dense),
        (V::Object(x), V::Object(y)) => {
            x.class_name == y.class_name
                && pairs(&x.sealed, &y.sealed)
                && match (&x.dynamic, &y.dynamic) {
                    (Some(p), Some(q)) => pairs(p, q),
                    (None, None) => true,
                    _ => false,
                }
        }
        (
            V::VectorDouble {
                fixed: fx,
                items: ix,
            },
            V::VectorDouble {
                fixed: fy,
                items: iy,
            },
        ) => {
            fx == fy
                && ix.len() == iy.len()
                && ix.iter().zip(iy).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        (
            V::VectorObject {
                fixed: fx,
                type_name: tx,
                items: ix,
            },
            V::VectorObject {
                fixed: fy,
                type_name: ty,
                items: iy,
            },
        ) => fx == fy && tx == ty && values(ix, iy),
        (
            V::Dictionary {
                weak_keys: wx,
                entries: ex,
            },
            V::Dictionary {
                weak_keys: wy,
                entries: ey,
            },
        ) => {
            wx == wy
                && ex.len() == ey.len()
                && ex
                    .iter()
                    .zip(ey)
                    .all(|((kx, vx), (ky, vy))| identical(kx, ky) && identical(vx, vy))
        }
        // The remaining types hold no doubles, so `==` is exact for them.
        _ => a == b,
    }
}
