//! AMF3 byte vectors, hand-built from the AMF3 specification, in both directions.

use bytes::Bytes;

use super::*;
use crate::{AmfError, AmfLimits};

fn bytes(hex_text: &str) -> Vec<u8> {
    let clean: String = hex_text.split_whitespace().collect();
    hex::decode(clean).expect("test vector is valid hex")
}

fn decode(hex_text: &str) -> Result<Vec<Amf3Value>, AmfError> {
    amf3_decode_all(&bytes(hex_text))
}

fn decode_with(hex_text: &str, limits: AmfLimits) -> Result<Vec<Amf3Value>, AmfError> {
    Amf3Decoder::with_limits(&bytes(hex_text), limits).decode_all()
}

/// Decodes `hex_text` to exactly `values` and encodes them back to exactly `hex_text`.
fn both_ways(hex_text: &str, values: Vec<Amf3Value>) {
    assert_eq!(decode(hex_text), Ok(values.clone()), "decoding {hex_text}");
    assert_eq!(
        hex::encode_upper(amf3_encode_all(&values)),
        hex_text.split_whitespace().collect::<String>(),
        "encoding"
    );
}

fn one(hex_text: &str, value: Amf3Value) {
    both_ways(hex_text, vec![value]);
}

#[test]
fn scalars() {
    one("00", Amf3Value::Undefined);
    one("01", Amf3Value::Null);
    one("02", Amf3Value::Boolean(false));
    one("03", Amf3Value::Boolean(true));
    one("05 3FF8000000000000", Amf3Value::Double(1.5));
}

#[test]
fn integers_and_u29_sign_extension() {
    one("04 00", Amf3Value::Integer(0));
    one("04 7F", Amf3Value::Integer(127));
    one("04 81 00", Amf3Value::Integer(128));
    one("04 FF 7F", Amf3Value::Integer(0x3FFF));
    one("04 81 80 00", Amf3Value::Integer(0x4000));
    one("04 80 C0 80 00", Amf3Value::Integer(0x20_0000));
    one("04 BF FF FF FF", Amf3Value::Integer(Amf3Value::INTEGER_MAX));
    one("04 C0 80 80 00", Amf3Value::Integer(Amf3Value::INTEGER_MIN));
    one("04 FF FF FF FF", Amf3Value::Integer(-1));
    // Out of the 29-bit range: written as a double.
    assert_eq!(
        hex::encode_upper(amf3_encode_all(&[Amf3Value::Integer(1 << 28)])),
        "0541B0000000000000"
    );
    assert_eq!(
        hex::encode_upper(amf3_encode_all(&[Amf3Value::Integer(i32::MIN)])),
        "05C1E0000000000000"
    );
}

#[test]
fn strings_and_string_table() {
    one("06 07 616263", "abc".into());
    one("06 01", "".into());
    // The second "abc" is a reference to string #0; the empty string is never referenced.
    both_ways("06 07 616263 06 00", vec!["abc".into(), "abc".into()]);
    both_ways("06 01 06 01", vec!["".into(), "".into()]);
    assert_eq!(
        decode("06 00"),
        Err(AmfError::InvalidStringReference { index: 0 })
    );
    // An empty string does not take an index: "a" is #0, so #1 does not exist.
    assert_eq!(
        decode("06 01 06 03 61 06 02"),
        Err(AmfError::InvalidStringReference { index: 1 })
    );
}

#[test]
fn xml_date_bytearray() {
    one("07 09 3C612F3E", Amf3Value::XmlDocument("<a/>".into()));
    one("0B 09 3C612F3E", Amf3Value::Xml("<a/>".into()));
    one("08 01 426D1A94A2000000", Amf3Value::Date(1e12));
    one(
        "0C 07 010203",
        Amf3Value::ByteArray(Bytes::from_static(&[1, 2, 3])),
    );
    // XML text does not enter the string table, but the value enters the object table.
    both_ways(
        "07 09 3C612F3E 07 00",
        vec![
            Amf3Value::XmlDocument("<a/>".into()),
            Amf3Value::XmlDocument("<a/>".into()),
        ],
    );
    assert_eq!(
        decode("07 09 3C612F3E 06 00"),
        Err(AmfError::InvalidStringReference { index: 0 })
    );
    both_ways(
        "08 01 426D1A94A2000000 08 00",
        vec![Amf3Value::Date(1e12), Amf3Value::Date(1e12)],
    );
}

#[test]
fn arrays() {
    one(
        "09 05 01 04 01 04 02",
        Amf3Array::dense(vec![1.into(), 2.into()]).into(),
    );
    one(
        "09 01 03 61 04 01 01",
        Amf3Array {
            assoc: vec![("a".into(), 1.into())],
            dense: vec![],
        }
        .into(),
    );
    // Equal arrays: the second is object reference #0.
    let a: Amf3Value = Amf3Array::dense(vec![1.into()]).into();
    both_ways("09 03 01 04 01 09 00", vec![a.clone(), a]);
}

#[test]
fn objects_traits_and_references() {
    // Anonymous dynamic object {a: 1}.
    one(
        "0A 0B 01 03 61 04 01 01",
        Amf3Object::anonymous(vec![("a".into(), 1.into())]).into(),
    );
    // Sealed class C {x}, twice: the second uses traits reference #0 (header 0x01).
    let c = |x: i32| -> Amf3Value {
        Amf3Object {
            class_name: "C".into(),
            sealed: vec![("x".into(), x.into())],
            dynamic: None,
        }
        .into()
    };
    both_ways("0A 13 03 43 03 78 04 05 0A 01 04 06", vec![c(5), c(6)]);
    // Equal objects: object reference #0 instead of a traits reference.
    both_ways("0A 13 03 43 03 78 04 05 0A 00", vec![c(5), c(5)]);
    // Same class name, different layout: new inline traits, strings by reference.
    let d = Amf3Object {
        class_name: "C".into(),
        sealed: vec![("x".into(), 1.into())],
        dynamic: Some(vec![("y".into(), 2.into())]),
    };
    both_ways(
        "0A 13 03 43 03 78 04 05 0A 1B 00 02 04 01 03 79 04 02 01",
        vec![c(5), d.into()],
    );
}

#[test]
fn object_errors() {
    assert_eq!(
        decode("0A 07 07 666F6F"),
        Err(AmfError::Externalizable {
            class_name: "foo".into()
        })
    );
    assert_eq!(
        decode("0A 01"),
        Err(AmfError::InvalidTraitReference { index: 0 })
    );
    assert_eq!(
        decode("0A 00"),
        Err(AmfError::InvalidReference { index: 0 })
    );
    assert_eq!(
        decode("09 00"),
        Err(AmfError::InvalidReference { index: 0 })
    );
    // An array whose item refers to the array itself.
    assert_eq!(decode("09 03 01 09 00"), Err(AmfError::CircularReference));
    assert_eq!(
        decode("0A 0B 01 03 61 0A 00"),
        Err(AmfError::CircularReference)
    );
    assert_eq!(
        decode("09 01 01 08 00"),
        Err(AmfError::ReferenceTypeMismatch {
            index: 0,
            expected: 0x08,
            found: 0x09
        })
    );
    assert_eq!(decode("12"), Err(AmfError::UnknownMarker(0x12)));
    assert_eq!(Amf3Marker::DICTIONARY.name(), Some("dictionary"));
    assert_eq!(Amf3Marker(0x12).name(), None);
}

#[test]
fn vectors_and_dictionary() {
    one(
        "0D 05 00 00000001 FFFFFFFF",
        Amf3Value::VectorInt {
            fixed: false,
            items: vec![1, -1],
        },
    );
    one(
        "0E 03 01 FFFFFFFF",
        Amf3Value::VectorUint {
            fixed: true,
            items: vec![u32::MAX],
        },
    );
    one(
        "0F 03 00 3FF0000000000000",
        Amf3Value::VectorDouble {
            fixed: false,
            items: vec![1.0],
        },
    );
    one(
        "10 05 00 03 2A 04 01 01",
        Amf3Value::VectorObject {
            fixed: false,
            type_name: "*".into(),
            items: vec![1.into(), Amf3Value::Null],
        },
    );
    one(
        "11 03 00 06 03 6B 04 01",
        Amf3Value::Dictionary {
            weak_keys: false,
            entries: vec![("k".into(), 1.into())],
        },
    );
    let v = Amf3Value::VectorInt {
        fixed: true,
        items: vec![7],
    };
    both_ways("0D 03 01 00000007 0D 00", vec![v.clone(), v]);
    assert!(matches!(
        decode("0D 05 00 00000001"),
        Err(AmfError::UnexpectedEof { .. })
    ));
}

#[test]
fn nested_references_replay_exactly() {
    // [ [ "s", obj{a: "s"} ], ref #1 (the object), ref #0 ] with string and traits refs inside.
    let obj: Amf3Value = Amf3Object::anonymous(vec![("a".into(), "s".into())]).into();
    let arr: Amf3Value = Amf3Array::dense(vec!["s".into(), obj.clone()]).into();
    let wire = "09 05 01 06 03 73 0A 0B 01 03 61 06 00 01 0A 02 09 00";
    assert_eq!(decode(wire), Ok(vec![arr.clone(), obj, arr]));
}

#[test]
fn encoder_references_identical_values_only() {
    // 0.0 and -0.0 are equal for `==` but must not share a reference.
    let pos: Amf3Value = Amf3Array::dense(vec![Amf3Value::Double(0.0)]).into();
    let neg: Amf3Value = Amf3Array::dense(vec![Amf3Value::Double(-0.0)]).into();
    let wire = amf3_encode_all(&[pos, neg]);
    let back = amf3_decode_all(&wire).unwrap();
    match &back[1] {
        Amf3Value::Array(a) => {
            assert!(matches!(a.dense[0], Amf3Value::Double(d) if d.is_sign_negative()))
        }
        other => panic!("unexpected {other:?}"),
    }
    // A NaN is identical to itself, so it can be referenced.
    let nan: Amf3Value = Amf3Array::dense(vec![Amf3Value::Double(f64::NAN)]).into();
    let wire = amf3_encode_all(&[nan.clone(), nan]);
    assert_eq!(&wire[wire.len() - 2..], &[0x09, 0x00]);
    // Separate `encode` calls do not share object references, but keep the numbering.
    let mut enc = Amf3Encoder::new();
    let mut out = Vec::new();
    let a: Amf3Value = Amf3Array::default().into();
    enc.encode(&a, &mut out);
    enc.encode(&a, &mut out);
    enc.encode_slice(&[a.clone(), a.clone()], &mut out);
    assert_eq!(hex::encode_upper(&out), "0901010901010901010904");
    assert_eq!(amf3_decode_all(&out).unwrap().len(), 4);
}

#[test]
fn encoder_skips_inexpressible_empty_names() {
    let v: Amf3Value = Amf3Array {
        assoc: vec![("".into(), 1.into()), ("b".into(), 2.into())],
        dense: vec![],
    }
    .into();
    assert_eq!(hex::encode_upper(amf3_encode_all(&[v])), "09010362040201");
}

#[test]
fn limits() {
    let nested = |n: usize| "09 03 01 ".repeat(n) + "01";
    assert!(decode(&nested(64)).is_ok());
    assert_eq!(decode(&nested(65)), Err(AmfError::DepthLimit { limit: 64 }));
    let flat = AmfLimits {
        max_depth: 0,
        ..AmfLimits::default()
    };
    for wire in ["0A 0B 01 01", "10 01 00 01", "11 01 00", "09 01 01"] {
        assert_eq!(
            decode_with(wire, flat.clone()),
            Err(AmfError::DepthLimit { limit: 0 })
        );
    }
    // Leaf values of the object table are not containers.
    assert!(decode_with("0D 01 00 0C 01 08 01 0000000000000000", flat).is_ok());
    let few = AmfLimits {
        max_elements: 2,
        ..AmfLimits::default()
    };
    assert_eq!(
        decode_with("0D 05 00 00000001 00000002", few.clone()),
        Err(AmfError::ElementLimit { limit: 2 })
    );
    assert_eq!(
        decode_with("11 03 00 01 01", few.clone()),
        Err(AmfError::ElementLimit { limit: 2 })
    );
    assert_eq!(
        decode_with("0A 23 01 03 61 03 62 01 01", few),
        Err(AmfError::ElementLimit { limit: 2 })
    );
    let short = AmfLimits {
        max_string_len: 1,
        ..AmfLimits::default()
    };
    for wire in ["06 05 6162", "07 05 6162", "0C 05 0102", "0A 0B 05 6162 01"] {
        assert_eq!(
            decode_with(wire, short.clone()),
            Err(AmfError::StringTooLong { len: 2, limit: 1 }),
            "{wire}"
        );
    }
    let small = AmfLimits {
        max_total_bytes: 3,
        ..AmfLimits::default()
    };
    assert_eq!(
        decode_with("06 05 6162 06 00", small.clone()),
        Err(AmfError::TotalBytesLimit { limit: 3 })
    );
    assert_eq!(
        decode_with("0C 05 0102 0C 00", small),
        Err(AmfError::TotalBytesLimit { limit: 3 })
    );
}

#[test]
fn declared_counts_are_not_trusted() {
    for wire in [
        "09 FF FF FF FF 01",
        "0D FF FF FF FF 00",
        "0F FF FF FF FF 00",
        "0A FF FF FF F3 01",
    ] {
        assert!(
            matches!(decode(wire), Err(AmfError::UnexpectedEof { .. })),
            "{wire}"
        );
    }
    assert!(matches!(
        decode("06 FF FF FF FF"),
        Err(AmfError::StringTooLong { .. })
    ));
}

#[test]
fn billion_laughs_is_bounded() {
    // A0 = [null; 10]; Ak = [ref A(k-1); 10].
    let mut wire = String::from("09 15 01 ") + &"01 ".repeat(10);
    for k in 0..11u32 {
        wire += "09 15 01 ";
        let mut r = Vec::new();
        put_u29(&mut r, k << 1);
        wire += &format!("09 {} ", hex::encode(r)).repeat(10);
    }
    assert_eq!(
        decode(&wire),
        Err(AmfError::ElementLimit {
            limit: AmfLimits::DEFAULT_MAX_ELEMENTS
        })
    );
}

#[test]
fn invalid_utf8() {
    assert_eq!(decode("06 03 FF"), Err(AmfError::InvalidUtf8));
    assert_eq!(decode("0B 03 FF"), Err(AmfError::InvalidUtf8));
}

#[test]
fn every_truncation_is_an_error() {
    let obj = Amf3Object {
        class_name: "C".into(),
        sealed: vec![("x".into(), 300_000.into())],
        dynamic: Some(vec![("d".into(), Amf3Value::Date(5.0))]),
    };
    let value: Amf3Value = Amf3Array {
        assoc: vec![("k".into(), "v".into())],
        dense: vec![
            obj.clone().into(),
            obj.into(),
            Amf3Value::Xml("<x/>".into()),
            Amf3Value::ByteArray(Bytes::from_static(b"ab")),
            Amf3Value::VectorDouble {
                fixed: true,
                items: vec![1.0, 2.0],
            },
            Amf3Value::VectorObject {
                fixed: false,
                type_name: "T".into(),
                items: vec![Amf3Value::Integer(-5)],
            },
            Amf3Value::Dictionary {
                weak_keys: true,
                entries: vec![(1.into(), "k".into())],
            },
        ],
    }
    .into();
    let wire = amf3_encode_all(std::slice::from_ref(&value));
    for cut in 0..wire.len() {
        assert!(
            Amf3Decoder::new(&wire[..cut]).decode().is_err(),
            "prefix of {cut} bytes decoded"
        );
    }
    assert_eq!(amf3_decode_all(&wire), Ok(vec![value]));
}

#[test]
fn decoder_cursor_and_shared_bytes() {
    let wire = Bytes::from(bytes("01 0C 03 2A"));
    let mut d = Amf3Decoder::from_bytes(&wire, AmfLimits::default());
    assert_eq!(d.decode(), Ok(Amf3Value::Null));
    assert_eq!(d.position(), 1);
    assert_eq!(d.remaining(), &wire[1..]);
    assert!(!d.is_empty());
    match d.decode() {
        Ok(Amf3Value::ByteArray(b)) => assert_eq!(b.as_ptr(), wire[3..].as_ptr()),
        other => panic!("unexpected {other:?}"),
    }
    assert!(d.is_empty());
    assert_eq!(Amf3Decoder::new(&[]).decode_all(), Ok(vec![]));
}

#[test]
fn u29_writer_matches_reader() {
    for v in [
        0, 1, 0x7F, 0x80, 0x3FFF, 0x4000, 0x1F_FFFF, 0x20_0000, U29_MAX,
    ] {
        let mut out = Vec::new();
        put_u29(&mut out, v);
        let mut r = crate::reader::Reader::new(&out);
        assert_eq!(r.u29(), Ok(v));
        assert!(r.is_empty());
    }
    assert_eq!(sign_extend_u29(0x1FFF_FFFF), -1);
    assert_eq!(sign_extend_u29(0x1000_0000), -(1 << 28));
    assert_eq!(sign_extend_u29(0x0FFF_FFFF), (1 << 28) - 1);
}
