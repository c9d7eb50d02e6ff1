//! The AMF3 value tree (AMF3 spec section 3, "AMF 3 Data Types").

use bytes::Bytes;

/// One AMF3 value.
///
/// References (to strings, objects and traits) never appear here: the decoder replaces them
/// by copies, and the encoder introduces them again where it recognises repeats.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf3Value {
    /// `0x00` undefined.
    Undefined,
    /// `0x01` null.
    Null,
    /// `0x02` false / `0x03` true.
    Boolean(bool),
    /// `0x04` integer. Only [`INTEGER_MIN`](Self::INTEGER_MIN)..=[`INTEGER_MAX`](Self::INTEGER_MAX)
    /// fits the 29-bit wire form; the encoder writes other values as a `0x05` double, which
    /// decodes as [`Amf3Value::Double`].
    Integer(i32),
    /// `0x05` IEEE-754 double.
    Double(f64),
    /// `0x06` string.
    String(String),
    /// `0x07` legacy XML document (`flash.xml.XMLDocument`) as text.
    XmlDocument(String),
    /// `0x08` date, milliseconds since the Unix epoch (UTC).
    Date(f64),
    /// `0x09` array with associative and dense parts.
    Array(Amf3Array),
    /// `0x0A` object.
    Object(Amf3Object),
    /// `0x0B` E4X XML as text.
    Xml(String),
    /// `0x0C` byte array.
    ByteArray(Bytes),
    /// `0x0D` `Vector.<int>`.
    VectorInt {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// The items.
        items: Vec<i32>,
    },
    /// `0x0E` `Vector.<uint>`.
    VectorUint {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// The items.
        items: Vec<u32>,
    },
    /// `0x0F` `Vector.<Number>`.
    VectorDouble {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// The items.
        items: Vec<f64>,
    },
    /// `0x10` `Vector.<T>` of objects.
    VectorObject {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// The item class name; `"*"` means any type.
        type_name: String,
        /// The items.
        items: Vec<Amf3Value>,
    },
    /// `0x11` dictionary (`flash.utils.Dictionary`).
    Dictionary {
        /// Whether the dictionary holds its keys weakly.
        weak_keys: bool,
        /// Key/value pairs in wire order.
        entries: Vec<(Amf3Value, Amf3Value)>,
    },
}

impl Amf3Value {
    /// The smallest integer the 29-bit integer form holds: -2^28.
    pub const INTEGER_MIN: i32 = -(1 << 28);
    /// The largest integer the 29-bit integer form holds: 2^28 - 1.
    pub const INTEGER_MAX: i32 = (1 << 28) - 1;

    /// True when `i` can be written as an AMF3 integer rather than a double.
    pub fn integer_fits(i: i32) -> bool {
        (Self::INTEGER_MIN..=Self::INTEGER_MAX).contains(&i)
    }

    /// The value a number takes on the wire: `Integer` when `n` is a whole number in the
    /// 29-bit range (and not negative zero), `Double` otherwise.
    pub fn number(n: f64) -> Self {
        let whole = n.fract() == 0.0 && !(n == 0.0 && n.is_sign_negative());
        if whole && n >= f64::from(Self::INTEGER_MIN) && n <= f64::from(Self::INTEGER_MAX) {
            Amf3Value::Integer(n as i32)
        } else {
            Amf3Value::Double(n)
        }
    }

    /// The text of a string, XML document or XML value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf3Value::String(s) | Amf3Value::XmlDocument(s) | Amf3Value::Xml(s) => Some(s),
            _ => None,
        }
    }

    /// The value of an integer or double.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Amf3Value::Integer(i) => Some(f64::from(*i)),
            Amf3Value::Double(d) => Some(*d),
            _ => None,
        }
    }

    /// The value of an integer, or of a double that is a whole number in `i32` range.
    pub fn as_i32(&self) -> Option<i32> {
        match self {
            Amf3Value::Integer(i) => Some(*i),
            Amf3Value::Double(d)
                if d.fract() == 0.0 && *d >= f64::from(i32::MIN) && *d <= f64::from(i32::MAX) =>
            {
                Some(*d as i32)
            }
            _ => None,
        }
    }

    /// The value of a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Amf3Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Amf3Object> {
        match self {
            Amf3Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// True for null and undefined.
    pub fn is_null_or_undefined(&self) -> bool {
        matches!(self, Amf3Value::Null | Amf3Value::Undefined)
    }
}

impl From<i32> for Amf3Value {
    fn from(v: i32) -> Self {
        Amf3Value::Integer(v)
    }
}

impl From<f64> for Amf3Value {
    fn from(v: f64) -> Self {
        Amf3Value::Double(v)
    }
}

impl From<bool> for Amf3Value {
    fn from(v: bool) -> Self {
        Amf3Value::Boolean(v)
    }
}

impl From<&str> for Amf3Value {
    fn from(v: &str) -> Self {
        Amf3Value::String(v.to_owned())
    }
}

impl From<String> for Amf3Value {
    fn from(v: String) -> Self {
        Amf3Value::String(v)
    }
}

impl From<Bytes> for Amf3Value {
    fn from(v: Bytes) -> Self {
        Amf3Value::ByteArray(v)
    }
}

impl From<Amf3Array> for Amf3Value {
    fn from(v: Amf3Array) -> Self {
        Amf3Value::Array(v)
    }
}

impl From<Amf3Object> for Amf3Value {
    fn from(v: Amf3Object) -> Self {
        Amf3Value::Object(v)
    }
}

/// An AMF3 array: associative (named) members and a dense part.
///
/// The encoder skips associative members with an empty name: on the wire the empty name ends
/// the associative part, so such a member cannot be expressed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Amf3Array {
    /// Named members in wire order.
    pub assoc: Vec<(String, Amf3Value)>,
    /// Indexed members.
    pub dense: Vec<Amf3Value>,
}

impl Amf3Array {
    /// A purely dense array.
    pub fn dense(items: Vec<Amf3Value>) -> Self {
        Amf3Array {
            assoc: Vec::new(),
            dense: items,
        }
    }
}

/// An AMF3 object: its traits (class name, sealed member names, dynamic or not) and values.
///
/// The encoder skips dynamic members with an empty name, which the wire format cannot express.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Amf3Object {
    /// The class alias; `""` for an anonymous object.
    pub class_name: String,
    /// Sealed members, in trait order.
    pub sealed: Vec<(String, Amf3Value)>,
    /// Dynamic members; `Some` when the traits are dynamic.
    pub dynamic: Option<Vec<(String, Amf3Value)>>,
}

impl Amf3Object {
    /// An anonymous dynamic object with the given members (what ActionScript `{...}` gives).
    pub fn anonymous(members: Vec<(String, Amf3Value)>) -> Self {
        Amf3Object {
            class_name: String::new(),
            sealed: Vec::new(),
            dynamic: Some(members),
        }
    }

    /// The first sealed, then dynamic, member named `name`.
    pub fn get(&self, name: &str) -> Option<&Amf3Value> {
        self.sealed
            .iter()
            .chain(self.dynamic.iter().flatten())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_picks_integer_or_double() {
        assert_eq!(Amf3Value::number(5.0), Amf3Value::Integer(5));
        assert_eq!(
            Amf3Value::number(-268_435_456.0),
            Amf3Value::Integer(-268_435_456)
        );
        assert_eq!(
            Amf3Value::number(268_435_456.0),
            Amf3Value::Double(268_435_456.0)
        );
        assert_eq!(Amf3Value::number(0.5), Amf3Value::Double(0.5));
        assert!(matches!(Amf3Value::number(-0.0), Amf3Value::Double(d) if d.is_sign_negative()));
        assert!(matches!(Amf3Value::number(f64::NAN), Amf3Value::Double(d) if d.is_nan()));
        assert!(Amf3Value::integer_fits(Amf3Value::INTEGER_MAX));
        assert!(!Amf3Value::integer_fits(Amf3Value::INTEGER_MAX + 1));
        assert!(!Amf3Value::integer_fits(Amf3Value::INTEGER_MIN - 1));
    }

    #[test]
    fn accessors() {
        assert_eq!(Amf3Value::from(7).as_f64(), Some(7.0));
        assert_eq!(Amf3Value::from(7.0).as_i32(), Some(7));
        assert_eq!(Amf3Value::from(7.5).as_i32(), None);
        assert_eq!(Amf3Value::from(1e12).as_i32(), None);
        assert_eq!(Amf3Value::from("a").as_str(), Some("a"));
        assert_eq!(Amf3Value::Xml("<x/>".into()).as_str(), Some("<x/>"));
        assert_eq!(Amf3Value::from(true).as_bool(), Some(true));
        assert!(Amf3Value::Null.is_null_or_undefined());
        assert!(!Amf3Value::from(String::new()).is_null_or_undefined());
        let o = Amf3Object {
            class_name: "C".into(),
            sealed: vec![("a".into(), 1.into())],
            dynamic: Some(vec![("b".into(), 2.into())]),
        };
        assert_eq!(o.get("a"), Some(&Amf3Value::Integer(1)));
        assert_eq!(o.get("b"), Some(&Amf3Value::Integer(2)));
        assert_eq!(o.get("c"), None);
        assert_eq!(Amf3Value::from(o.clone()).as_object(), Some(&o));
        assert_eq!(
            Amf3Value::from(Amf3Array::dense(vec![])),
            Amf3Value::Array(Amf3Array::default())
        );
        assert_eq!(
            Amf3Value::from(Bytes::from_static(b"x")),
            Amf3Value::ByteArray(Bytes::from_static(b"x"))
        );
        assert_eq!(Amf3Object::anonymous(vec![]).dynamic, Some(vec![]));
    }
}
