//! The AMF0 value tree (AMF0 spec section 2, "AMF 0 Data Types").

use crate::Amf3Value;

/// One AMF0 value.
///
/// Strings and long strings (markers `0x02` and `0x0C`) are the same value: the encoder picks
/// the short form whenever the UTF-8 length fits in 16 bits. References (`0x07`) never appear
/// here: the decoder replaces them by a copy of the referenced value.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    /// `0x00`: an IEEE-754 double.
    Number(f64),
    /// `0x01`: a boolean (any non-zero byte decodes as true).
    Boolean(bool),
    /// `0x02` string or `0x0C` long string.
    String(String),
    /// `0x03`: an anonymous object, properties in wire order.
    Object(Amf0Object),
    /// `0x05`: null.
    Null,
    /// `0x06`: undefined.
    Undefined,
    /// `0x08`: an associative ("ECMA") array. The encoder writes the property count as the
    /// count hint; the decoder ignores the hint and reads up to the object-end marker.
    EcmaArray(Amf0Object),
    /// `0x0A`: a dense array.
    StrictArray(Vec<Amf0Value>),
    /// `0x0B`: a date, milliseconds since the Unix epoch (UTC) plus the timezone field, which
    /// the spec says to write as 0 and to ignore.
    Date {
        /// Milliseconds since 1970-01-01T00:00:00Z.
        millis: f64,
        /// The signed 16-bit timezone field, kept as sent.
        timezone: i16,
    },
    /// `0x0D`: unsupported.
    Unsupported,
    /// `0x0F`: an XML document as text.
    XmlDocument(String),
    /// `0x10`: an object with a registered class name.
    TypedObject {
        /// The class alias.
        class_name: String,
        /// Properties in wire order.
        properties: Amf0Object,
    },
    /// `0x11`: one AMF3 value behind the AVM+ switch.
    Avmplus(Amf3Value),
}

impl Amf0Value {
    /// The text of a string or XML document.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(s) | Amf0Value::XmlDocument(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The value of a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Amf0Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The properties of an object, ECMA array or typed object.
    pub fn as_object(&self) -> Option<&Amf0Object> {
        match self {
            Amf0Value::Object(o) | Amf0Value::EcmaArray(o) => Some(o),
            Amf0Value::TypedObject { properties, .. } => Some(properties),
            _ => None,
        }
    }

    /// True for null and undefined.
    pub fn is_null_or_undefined(&self) -> bool {
        matches!(self, Amf0Value::Null | Amf0Value::Undefined)
    }
}

impl From<f64> for Amf0Value {
    fn from(v: f64) -> Self {
        Amf0Value::Number(v)
    }
}

impl From<i32> for Amf0Value {
    fn from(v: i32) -> Self {
        Amf0Value::Number(f64::from(v))
    }
}

impl From<u32> for Amf0Value {
    fn from(v: u32) -> Self {
        Amf0Value::Number(f64::from(v))
    }
}

impl From<bool> for Amf0Value {
    fn from(v: bool) -> Self {
        Amf0Value::Boolean(v)
    }
}

impl From<&str> for Amf0Value {
    fn from(v: &str) -> Self {
        Amf0Value::String(v.to_owned())
    }
}

impl From<String> for Amf0Value {
    fn from(v: String) -> Self {
        Amf0Value::String(v)
    }
}

impl From<Amf0Object> for Amf0Value {
    fn from(v: Amf0Object) -> Self {
        Amf0Value::Object(v)
    }
}

impl From<Vec<Amf0Value>> for Amf0Value {
    fn from(v: Vec<Amf0Value>) -> Self {
        Amf0Value::StrictArray(v)
    }
}

impl From<Amf3Value> for Amf0Value {
    fn from(v: Amf3Value) -> Self {
        Amf0Value::Avmplus(v)
    }
}

/// The ordered properties of an AMF0 object, ECMA array or typed object.
///
/// Built through [`insert`](Self::insert) the names are unique. The decoder keeps the wire
/// exactly, duplicates included (so that re-encoding is faithful and decoding stays linear);
/// [`get`](Self::get) then answers with the first occurrence.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Amf0Object {
    props: Vec<(String, Amf0Value)>,
}

impl Amf0Object {
    /// An empty object.
    pub fn new() -> Self {
        Amf0Object::default()
    }

    /// An empty object with room for `n` properties.
    pub fn with_capacity(n: usize) -> Self {
        Amf0Object {
            props: Vec::with_capacity(n),
        }
    }

    /// Sets `key`: replaces the value in place if the name exists, else appends.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Amf0Value>) {
        let key = key.into();
        let value = value.into();
        match self.props.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.props.push((key, value)),
        }
    }

    /// Builder form of [`insert`](Self::insert).
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Amf0Value>) -> Self {
        self.insert(key, value);
        self
    }

    /// Appends without looking for an existing name (decoder use: keeps the wire as sent).
    pub(crate) fn push(&mut self, key: String, value: Amf0Value) {
        self.props.push((key, value));
    }

    /// The value of the first property named `key`.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        self.props.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The property `key` if it is a string (or XML document).
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Amf0Value::as_str)
    }

    /// The property `key` if it is a number.
    pub fn get_number(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Amf0Value::as_f64)
    }

    /// Removes the first property named `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Amf0Value> {
        let at = self.props.iter().position(|(k, _)| k == key)?;
        Some(self.props.remove(at).1)
    }

    /// The properties in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Amf0Value)> {
        self.props.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.props.len()
    }

    /// True when there are no properties.
    pub fn is_empty(&self) -> bool {
        self.props.is_empty()
    }

    /// The properties in order, by value.
    pub fn into_vec(self) -> Vec<(String, Amf0Value)> {
        self.props
    }
}

impl From<Vec<(String, Amf0Value)>> for Amf0Object {
    /// Takes the pairs as they are, duplicates included.
    fn from(props: Vec<(String, Amf0Value)>) -> Self {
        Amf0Object { props }
    }
}

impl<K: Into<String>, V: Into<Amf0Value>> FromIterator<(K, V)> for Amf0Object {
    /// Inserts each pair in turn, so a repeated name keeps its first position and last value.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut o = Amf0Object::new();
        for (k, v) in iter {
            o.insert(k, v);
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keeps_order_and_replaces_in_place() {
        let mut o = Amf0Object::new()
            .with("a", 1.0)
            .with("b", "x")
            .with("c", true);
        o.insert("b", "y");
        let keys: Vec<&str> = o.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(o.get_str("b"), Some("y"));
        assert_eq!(o.get_number("a"), Some(1.0));
        assert_eq!(o.get_number("b"), None);
        assert_eq!(o.remove("a"), Some(Amf0Value::Number(1.0)));
        assert_eq!(o.remove("a"), None);
        assert_eq!(o.len(), 2);
        assert!(!o.is_empty());
        assert!(Amf0Object::with_capacity(4).is_empty());
        let v = o.clone().into_vec();
        assert_eq!(Amf0Object::from(v), o);
        let collected: Amf0Object = [("k", 1), ("k", 2)].into_iter().collect();
        assert_eq!(
            collected.into_vec(),
            vec![("k".to_owned(), Amf0Value::Number(2.0))]
        );
    }

    #[test]
    fn accessors_and_conversions() {
        assert_eq!(Amf0Value::from("s").as_str(), Some("s"));
        assert_eq!(Amf0Value::XmlDocument("<a/>".into()).as_str(), Some("<a/>"));
        assert_eq!(Amf0Value::from(3u32).as_f64(), Some(3.0));
        assert_eq!(Amf0Value::from(-3i32).as_f64(), Some(-3.0));
        assert_eq!(Amf0Value::from(false).as_bool(), Some(false));
        assert_eq!(Amf0Value::Null.as_bool(), None);
        assert!(Amf0Value::Null.is_null_or_undefined());
        assert!(Amf0Value::Undefined.is_null_or_undefined());
        assert!(!Amf0Value::from(0.0).is_null_or_undefined());
        let o = Amf0Object::new().with("x", 1);
        assert_eq!(Amf0Value::from(o.clone()).as_object(), Some(&o));
        assert_eq!(Amf0Value::EcmaArray(o.clone()).as_object(), Some(&o));
        let typed = Amf0Value::TypedObject {
            class_name: "C".into(),
            properties: o.clone(),
        };
        assert_eq!(typed.as_object(), Some(&o));
        assert_eq!(Amf0Value::from(String::from("s")).as_object(), None);
        assert_eq!(
            Amf0Value::from(vec![Amf0Value::Null]),
            Amf0Value::StrictArray(vec![Amf0Value::Null])
        );
        assert_eq!(
            Amf0Value::from(Amf3Value::Null),
            Amf0Value::Avmplus(Amf3Value::Null)
        );
    }
}
