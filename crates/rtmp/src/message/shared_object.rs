//! Shared object messages (message types 19 = AMF0 and 16 = AMF3, RTMP 1.0 §7.1.3).
//!
//! Body layout (all integers big-endian; the spec's figure gives the field order, the widths are
//! those Flash Player, FMS and Red5 use):
//!
//! ```text
//! [format (1), type 16 only] | name length (2) | name (UTF-8) | version (4) | flags (4) | reserved (4)
//! then repeated: event type (1) | event data length (4) | event data
//! ```
//!
//! * `flags`: bit 1 (value 2) marks a persistent shared object; the other bits are kept raw.
//! * Type 16 prefixes the body with one format byte. Only `0x00` is known (Red5 reads 0 as
//!   "AMF0 body" and refuses the rest), so the rest of the body is the type 19 layout and the
//!   values stay AMF0; an AMF3 value travels behind the AMF0 AVM+ marker `0x11`.
//!
//! Event data per type (§7.1.3 names, layouts as Flash/Red5 send them; "string" below is a
//! u16 length + UTF-8 with no AMF marker, "value" a complete AMF0 value):
//!
//! | type | event | data |
//! |---|---|---|
//! | 1, 2, 8, 11 | Use, Release, Clear, UseSuccess | none |
//! | 3, 4 | RequestChange, Change | one or more (string name, value) pairs |
//! | 5, 9, 10 | Success, Remove, RequestRemove | string name |
//! | 6 | SendMessage | AMF0 values (the first is usually the handler name) |
//! | 7 | Status | string code, string level |
//!
//! Leniency: every event is cut to its declared length first, so a sloppy event cannot
//! desynchronise the next one; data after the fields above is ignored (Red5 may append a value
//! to Success/Remove), data of data-less events is ignored, and an unknown event type is kept
//! as [`SharedObjectEvent::Unknown`].
//!
//! Bounds: events and items (properties, values) per message are capped by
//! [`SharedObjectLimits`]; all AMF values of one message share one [`AmfLimits`] budget, so AMF0
//! references cannot amplify a message beyond it even though each value gets its own decoder
//! (and therefore its own reference table: references never reach from one value to the next).

use super::error::{be_u32, MessageError};
use crate::types::MessageType;
use bytes::{BufMut, Bytes, BytesMut};
use sluice_amf::{amf0_encode, Amf0Decoder, Amf0Value, Amf3Value, AmfLimits};

/// The `flags` bit that marks a persistent shared object.
pub const PERSISTENT_FLAG: u32 = 2;

/// Limits applied when decoding a shared object message from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedObjectLimits {
    /// Events in one message. Default 1024.
    pub max_events: usize,
    /// Properties (Change / RequestChange pairs) plus values (SendMessage) in one message,
    /// all events together. Default 4096.
    pub max_items: usize,
    /// Budget for all AMF values of one message together (depth, values, string bytes).
    /// Default: [`AmfLimits::default`].
    pub amf: AmfLimits,
}

impl Default for SharedObjectLimits {
    fn default() -> Self {
        SharedObjectLimits {
            max_events: 1024,
            max_items: 4096,
            amf: AmfLimits::default(),
        }
    }
}

/// One event of a shared object message.
#[derive(Debug, Clone, PartialEq)]
pub enum SharedObjectEvent {
    /// 1: the client starts using the named shared object.
    Use,
    /// 2: the client stops using it.
    Release,
    /// 3: the client asks to change properties.
    RequestChange {
        /// Name/value pairs in wire order.
        properties: Vec<(String, Amf0Value)>,
    },
    /// 4: the server announces changed properties.
    Change {
        /// Name/value pairs in wire order.
        properties: Vec<(String, Amf0Value)>,
    },
    /// 5: the server accepts a RequestChange for this property.
    Success {
        /// Property name.
        name: String,
    },
    /// 6: broadcast a message to every user of the object.
    SendMessage {
        /// The AMF0 values (handler name first).
        values: Vec<Amf0Value>,
    },
    /// 7: an error or warning.
    Status {
        /// Status code, e.g. `SharedObject.BadPersistence`.
        code: String,
        /// `error` or `warning`.
        level: String,
    },
    /// 8: the client must clear its local copy.
    Clear,
    /// 9: the server removes a property.
    Remove {
        /// Property name.
        name: String,
    },
    /// 10: the client asks to remove a property.
    RequestRemove {
        /// Property name.
        name: String,
    },
    /// 11: the server accepted the Use.
    UseSuccess,
    /// Any other event type, kept with its raw data.
    Unknown {
        /// The event type byte.
        event_type: u8,
        /// The event data.
        data: Bytes,
    },
}

impl SharedObjectEvent {
    /// Event type 1.
    pub const USE: u8 = 1;
    /// Event type 2.
    pub const RELEASE: u8 = 2;
    /// Event type 3.
    pub const REQUEST_CHANGE: u8 = 3;
    /// Event type 4.
    pub const CHANGE: u8 = 4;
    /// Event type 5.
    pub const SUCCESS: u8 = 5;
    /// Event type 6.
    pub const SEND_MESSAGE: u8 = 6;
    /// Event type 7.
    pub const STATUS: u8 = 7;
    /// Event type 8.
    pub const CLEAR: u8 = 8;
    /// Event type 9.
    pub const REMOVE: u8 = 9;
    /// Event type 10.
    pub const REQUEST_REMOVE: u8 = 10;
    /// Event type 11.
    pub const USE_SUCCESS: u8 = 11;

    /// The event type byte on the wire.
    pub fn event_type(&self) -> u8 {
        match self {
            Self::Use => Self::USE,
            Self::Release => Self::RELEASE,
            Self::RequestChange { .. } => Self::REQUEST_CHANGE,
            Self::Change { .. } => Self::CHANGE,
            Self::Success { .. } => Self::SUCCESS,
            Self::SendMessage { .. } => Self::SEND_MESSAGE,
            Self::Status { .. } => Self::STATUS,
            Self::Clear => Self::CLEAR,
            Self::Remove { .. } => Self::REMOVE,
            Self::RequestRemove { .. } => Self::REQUEST_REMOVE,
            Self::UseSuccess => Self::USE_SUCCESS,
            Self::Unknown { event_type, .. } => *event_type,
        }
    }
}

/// A decoded shared object message.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedObjectMessage {
    /// The shared object's name.
    pub name: String,
    /// The version of the object this message applies to.
    pub version: u32,
    /// Whether the object is persistent (bit [`PERSISTENT_FLAG`] of `flags`).
    pub persistent: bool,
    /// The raw flags field. On encode the persistent bit is taken from `persistent`.
    pub flags: u32,
    /// The events, in wire order.
    pub events: Vec<SharedObjectEvent>,
}

/// Remaining AMF budget of one message.
struct Budget {
    limits: AmfLimits,
    items: usize,
    max_items: usize,
}

impl Budget {
    fn item(&mut self, event_type: u8) -> Result<(), MessageError> {
        if self.items >= self.max_items {
            return Err(MessageError::TooManySharedObjectItems {
                event_type,
                limit: self.max_items,
            });
        }
        self.items += 1;
        Ok(())
    }

    /// Decodes one AMF0 value from the front of `data` and charges what it produced.
    fn value(&mut self, event_type: u8, data: &mut &[u8]) -> Result<Amf0Value, MessageError> {
        self.item(event_type)?;
        let mut dec = Amf0Decoder::with_limits(data, self.limits.clone());
        let value = dec.decode()?;
        *data = dec.remaining();
        let (elements, bytes) = cost0(&value);
        self.limits.max_elements = self.limits.max_elements.saturating_sub(elements);
        self.limits.max_total_bytes = self.limits.max_total_bytes.saturating_sub(bytes);
        Ok(value)
    }
}

/// (values, string bytes) an AMF0 value holds, as the AMF decoder charges them.
fn cost0(v: &Amf0Value) -> (usize, usize) {
    let props = |o: &sluice_amf::Amf0Object| {
        o.iter().fold((1, 0), |(e, b), (k, v)| {
            let (ve, vb) = cost0(v);
            (e + ve, b + k.len() + vb)
        })
    };
    match v {
        Amf0Value::String(s) | Amf0Value::XmlDocument(s) => (1, s.len()),
        Amf0Value::Object(o) | Amf0Value::EcmaArray(o) => props(o),
        Amf0Value::TypedObject {
            class_name,
            properties,
        } => {
            let (e, b) = props(properties);
            (e, b + class_name.len())
        }
        Amf0Value::StrictArray(items) => sum(items.iter().map(cost0)),
        Amf0Value::Avmplus(v) => cost3(v),
        _ => (1, 0),
    }
}

/// (values, string bytes) an AMF3 value holds.
fn cost3(v: &Amf3Value) -> (usize, usize) {
    let members = |m: &[(String, Amf3Value)]| {
        sum(m.iter().map(|(k, v)| {
            let (e, b) = cost3(v);
            (e, b + k.len())
        }))
    };
    let (e, b) = match v {
        Amf3Value::String(s) | Amf3Value::XmlDocument(s) | Amf3Value::Xml(s) => (0, s.len()),
        Amf3Value::ByteArray(b) => (0, b.len()),
        Amf3Value::Array(a) => {
            let (e1, b1) = members(&a.assoc);
            let (e2, b2) = sum(a.dense.iter().map(cost3));
            (e1 + e2, b1 + b2)
        }
        Amf3Value::Object(o) => {
            let (e1, b1) = members(&o.sealed);
            let (e2, b2) = o.dynamic.as_deref().map(members).unwrap_or_default();
            (e1 + e2, b1 + b2 + o.class_name.len())
        }
        Amf3Value::VectorInt { items, .. } => (items.len(), 0),
        Amf3Value::VectorUint { items, .. } => (items.len(), 0),
        Amf3Value::VectorDouble { items, .. } => (items.len(), 0),
        Amf3Value::VectorObject {
            type_name, items, ..
        } => {
            let (e, b) = sum(items.iter().map(cost3));
            (e, b + type_name.len())
        }
        Amf3Value::Dictionary { entries, .. } => sum(entries.iter().map(|(k, v)| {
            let (ke, kb) = cost3(k);
            let (ve, vb) = cost3(v);
            (ke + ve, kb + vb)
        })),
        _ => (0, 0),
    };
    (e + 1, b)
}

fn sum(it: impl Iterator<Item = (usize, usize)>) -> (usize, usize) {
    it.fold((1, 0), |(e, b), (xe, xb)| (e + xe, b + xb))
}

/// Reads a u16-length UTF-8 string from the front of `data`.
fn read_str(what: &'static str, data: &mut &[u8]) -> Result<String, MessageError> {
    let &[hi, lo, ref rest @ ..] = *data else {
        return Err(MessageError::Truncated {
            what,
            needed: 2,
            got: data.len(),
        });
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    let (Some(text), Some(tail)) = (rest.get(..len), rest.get(len..)) else {
        return Err(MessageError::Truncated {
            what,
            needed: 2 + len,
            got: data.len(),
        });
    };
    let s = std::str::from_utf8(text)
        .map_err(|_| MessageError::InvalidUtf8 { what })?
        .to_owned();
    *data = tail;
    Ok(s)
}

fn put_str(what: &'static str, s: &str, out: &mut BytesMut) -> Result<(), MessageError> {
    let len =
        u16::try_from(s.len()).map_err(|_| MessageError::StringTooLong { what, len: s.len() })?;
    out.put_u16(len);
    out.put_slice(s.as_bytes());
    Ok(())
}

/// Reads (name, value) pairs until `data` is used up.
fn pairs(
    event_type: u8,
    data: &mut &[u8],
    budget: &mut Budget,
) -> Result<Vec<(String, Amf0Value)>, MessageError> {
    let mut properties = Vec::new();
    while !data.is_empty() {
        let name = read_str("shared object property name", data)?;
        let value = budget.value(event_type, data)?;
        properties.push((name, value));
    }
    Ok(properties)
}

fn decode_event(
    event_type: u8,
    mut data: &[u8],
    budget: &mut Budget,
) -> Result<SharedObjectEvent, MessageError> {
    use SharedObjectEvent as E;
    let data = &mut data;
    Ok(match event_type {
        E::USE => E::Use,
        E::RELEASE => E::Release,
        E::REQUEST_CHANGE => E::RequestChange {
            properties: pairs(event_type, data, budget)?,
        },
        E::CHANGE => E::Change {
            properties: pairs(event_type, data, budget)?,
        },
        E::SUCCESS => E::Success {
            name: read_str("shared object Success name", data)?,
        },
        E::SEND_MESSAGE => {
            let mut values = Vec::new();
            while !data.is_empty() {
                values.push(budget.value(event_type, data)?);
            }
            E::SendMessage { values }
        }
        E::STATUS => E::Status {
            code: read_str("shared object Status code", data)?,
            level: read_str("shared object Status level", data)?,
        },
        E::CLEAR => E::Clear,
        E::REMOVE => E::Remove {
            name: read_str("shared object Remove name", data)?,
        },
        E::REQUEST_REMOVE => E::RequestRemove {
            name: read_str("shared object RequestRemove name", data)?,
        },
        E::USE_SUCCESS => E::UseSuccess,
        _ => E::Unknown {
            event_type,
            data: Bytes::copy_from_slice(data),
        },
    })
}

fn encode_event(ev: &SharedObjectEvent, out: &mut BytesMut) -> Result<(), MessageError> {
    use SharedObjectEvent as E;
    out.put_u8(ev.event_type());
    let len_at = out.len();
    out.put_u32(0);
    match ev {
        E::Use | E::Release | E::Clear | E::UseSuccess => {}
        E::RequestChange { properties } | E::Change { properties } => {
            for (name, value) in properties {
                put_str("shared object property name", name, out)?;
                amf0_encode(value, out);
            }
        }
        E::Success { name } | E::Remove { name } | E::RequestRemove { name } => {
            put_str("shared object property name", name, out)?;
        }
        E::SendMessage { values } => values.iter().for_each(|v| amf0_encode(v, out)),
        E::Status { code, level } => {
            put_str("shared object Status code", code, out)?;
            put_str("shared object Status level", level, out)?;
        }
        E::Unknown { data, .. } => out.put_slice(data),
    }
    let len = out.len() - len_at - 4;
    let len = u32::try_from(len).map_err(|_| MessageError::StringTooLong {
        what: "shared object event data",
        len,
    })?;
    if let Some(slot) = out.get_mut(len_at..len_at + 4) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

impl SharedObjectMessage {
    /// The message type: 16 when `amf3`, else 19.
    pub fn message_type(amf3: bool) -> MessageType {
        if amf3 {
            MessageType::SHARED_OBJECT_AMF3
        } else {
            MessageType::SHARED_OBJECT_AMF0
        }
    }

    /// Decodes a body of type 19 (`amf3 == false`) or 16 (`amf3 == true`) with the default
    /// [`SharedObjectLimits`].
    pub fn decode(payload: &[u8], amf3: bool) -> Result<Self, MessageError> {
        Self::decode_with_limits(payload, amf3, &SharedObjectLimits::default())
    }

    /// Decodes a body with explicit limits.
    pub fn decode_with_limits(
        payload: &[u8],
        amf3: bool,
        limits: &SharedObjectLimits,
    ) -> Result<Self, MessageError> {
        let mut data = payload;
        if amf3 {
            let &[format, ref rest @ ..] = data else {
                return Err(MessageError::Truncated {
                    what: "shared object format byte",
                    needed: 1,
                    got: 0,
                });
            };
            if format != 0 {
                return Err(MessageError::UnsupportedSharedObjectEncoding(format));
            }
            data = rest;
        }
        let name = read_str("shared object name", &mut data)?;
        let version = be_u32("shared object header", data, 0)?;
        let flags = be_u32("shared object header", data, 4)?;
        be_u32("shared object header", data, 8)?;
        data = data.get(12..).unwrap_or_default();

        let mut budget = Budget {
            limits: limits.amf.clone(),
            items: 0,
            max_items: limits.max_items,
        };
        let mut events = Vec::new();
        while let &[event_type, l0, l1, l2, l3, ref rest @ ..] = data {
            if events.len() >= limits.max_events {
                return Err(MessageError::TooManySharedObjectEvents {
                    limit: limits.max_events,
                });
            }
            let declared = u32::from_be_bytes([l0, l1, l2, l3]);
            let len = usize::try_from(declared).unwrap_or(usize::MAX);
            let (Some(event_data), Some(tail)) = (rest.get(..len), rest.get(len..)) else {
                return Err(MessageError::SharedObjectEventOverrun {
                    event_type,
                    declared,
                    available: rest.len(),
                });
            };
            events.push(decode_event(event_type, event_data, &mut budget)?);
            data = tail;
        }
        if !data.is_empty() {
            return Err(MessageError::Truncated {
                what: "shared object event header",
                needed: 5,
                got: data.len(),
            });
        }
        Ok(SharedObjectMessage {
            name,
            version,
            persistent: flags & PERSISTENT_FLAG != 0,
            flags,
            events,
        })
    }

    /// Encodes the body for type 16 (`amf3 == true`, with the `0x00` format byte) or 19.
    ///
    /// Fails with [`MessageError::StringTooLong`] when a name, property name or status string
    /// does not fit its 16-bit length.
    pub fn encode(&self, amf3: bool) -> Result<Bytes, MessageError> {
        let mut out = BytesMut::with_capacity(32 + self.name.len());
        if amf3 {
            out.put_u8(0);
        }
        put_str("shared object name", &self.name, &mut out)?;
        out.put_u32(self.version);
        let flags = if self.persistent {
            self.flags | PERSISTENT_FLAG
        } else {
            self.flags & !PERSISTENT_FLAG
        };
        out.put_u32(flags);
        out.put_u32(0);
        for ev in &self.events {
            encode_event(ev, &mut out)?;
        }
        Ok(out.freeze())
    }
}

#[cfg(test)]
mod tests;
