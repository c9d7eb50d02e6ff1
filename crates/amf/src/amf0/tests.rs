//! AMF0 byte vectors, hand-built from the AMF0 specification, in both directions.

use super::*;
use crate::{Amf3Value, AmfError, AmfLimits};

fn bytes(hex_text: &str) -> Vec<u8> {
    let clean: String = hex_text.split_whitespace().collect();
    hex::decode(clean).expect("test vector is valid hex")
}

fn decode(hex_text: &str) -> Result<Vec<Amf0Value>, AmfError> {
    amf0_decode_all(&bytes(hex_text))
}

fn decode_with(hex_text: &str, limits: AmfLimits) -> Result<Vec<Amf0Value>, AmfError> {
    Amf0Decoder::with_limits(&bytes(hex_text), limits).decode_all()
}

fn strict() -> AmfLimits {
    AmfLimits {
        allow_unterminated_ecma_array: false,
        ..AmfLimits::default()
    }
}

/// Decodes `hex_text` to exactly `value` and encodes `value` back to exactly `hex_text`.
fn both_ways(hex_text: &str, value: Amf0Value) {
    assert_eq!(
        decode(hex_text),
        Ok(vec![value.clone()]),
        "decoding {hex_text}"
    );
    assert_eq!(
        hex::encode_upper(amf0_encode_all(&[value])),
        hex_text.split_whitespace().collect::<String>(),
        "encoding"
    );
}

#[test]
fn number_boolean_string() {
    both_ways("00 3FF0000000000000", Amf0Value::Number(1.0));
    both_ways("01 01", Amf0Value::Boolean(true));
    both_ways("01 00", Amf0Value::Boolean(false));
    assert_eq!(decode("01 7F"), Ok(vec![Amf0Value::Boolean(true)]));
    both_ways("02 0002 6869", "hi".into());
    both_ways("02 0000", "".into());
}

#[test]
fn object_null_undefined() {
    both_ways(
        "03 0001 61 00 3FF0000000000000 0001 62 05 0000 09",
        Amf0Object::new()
            .with("a", 1.0)
            .with("b", Amf0Value::Null)
            .into(),
    );
    both_ways("03 0000 09", Amf0Object::new().into());
    both_ways("05", Amf0Value::Null);
    both_ways("06", Amf0Value::Undefined);
}

#[test]
fn reserved_and_unknown_markers() {
    assert_eq!(decode("04"), Err(AmfError::ReservedMarker(0x04)));
    assert_eq!(decode("0E"), Err(AmfError::ReservedMarker(0x0E)));
    assert_eq!(decode("12"), Err(AmfError::UnknownMarker(0x12)));
    assert_eq!(decode("FF"), Err(AmfError::UnknownMarker(0xFF)));
    assert_eq!(Amf0Marker::AVMPLUS.name(), Some("avmplus-object"));
    assert_eq!(Amf0Marker(0x12).name(), None);
}

#[test]
fn ecma_array_ignores_count_hint() {
    let value = Amf0Value::EcmaArray(Amf0Object::new().with("a", true));
    both_ways("08 00000001 0001 61 01 01 0000 09", value.clone());
    assert_eq!(decode("08 00000007 0001 61 01 01 0000 09"), Ok(vec![value]));
}

#[test]
fn object_end_rules() {
    assert_eq!(decode("09"), Err(AmfError::UnexpectedObjectEnd));
    // A non-empty name followed by the object-end marker.
    assert_eq!(decode("03 0001 61 09"), Err(AmfError::UnexpectedObjectEnd));
    // Quirk: an empty name before a real value is a property named "".
    both_ways(
        "03 0000 05 0000 09",
        Amf0Object::from(vec![(String::new(), Amf0Value::Null)]).into(),
    );
}

#[test]
fn unterminated_ecma_array() {
    let want = Ok(vec![Amf0Value::EcmaArray(
        Amf0Object::new().with("a", Amf0Value::Null),
    )]);
    assert_eq!(decode("08 00000001 0001 61 05"), want);
    assert_eq!(decode("08 00000001 0001 61 05 0000"), want);
    assert!(matches!(
        decode_with("08 00000001 0001 61 05", strict()),
        Err(AmfError::UnexpectedEof { .. })
    ));
    // Only an ECMA array may end at the buffer end, not an object around it.
    assert!(matches!(
        decode("03 0001 65 08 00000000 0001 61 05"),
        Err(AmfError::UnexpectedEof { .. })
    ));
    // Cut inside a name or value is still an error.
    assert!(decode("08 00000001 0001 61").is_err());
    assert!(decode("08 00000001 00").is_err());
}

#[test]
fn strict_array_date_long_string() {
    both_ways(
        "0A 00000002 05 06",
        Amf0Value::StrictArray(vec![Amf0Value::Null, Amf0Value::Undefined]),
    );
    both_ways(
        "0B 426D1A94A2000000 FFC4",
        Amf0Value::Date {
            millis: 1e12,
            timezone: -60,
        },
    );
    assert_eq!(decode("0C 00000002 6869"), Ok(vec!["hi".into()]));
    let long = "a".repeat(70_000);
    let encoded = amf0_encode_all(&[long.clone().into()]);
    assert_eq!(&encoded[..5], &[0x0C, 0x00, 0x01, 0x11, 0x70]);
    assert_eq!(encoded.len(), 5 + 70_000);
    assert_eq!(amf0_decode_all(&encoded), Ok(vec![long.into()]));
    let limit = "b".repeat(0xFFFF);
    assert_eq!(amf0_encode_all(&[limit.into()])[0], 0x02);
}

#[test]
fn unsupported_xml_typed_object() {
    both_ways("0D", Amf0Value::Unsupported);
    both_ways(
        "0F 00000004 3C612F3E",
        Amf0Value::XmlDocument("<a/>".into()),
    );
    both_ways(
        "10 0001 43 0001 78 05 0000 09",
        Amf0Value::TypedObject {
            class_name: "C".into(),
            properties: Amf0Object::new().with("x", Amf0Value::Null),
        },
    );
}

#[test]
fn avmplus_switch() {
    both_ways("11 04 05", Amf0Value::Avmplus(Amf3Value::Integer(5)));
    both_ways("11 06 05 6162", Amf0Value::Avmplus("ab".into()));
    // Each AVM+ value starts with empty AMF3 tables: a string reference cannot reach back.
    assert_eq!(
        decode("11 06 05 6162 11 06 00"),
        Err(AmfError::InvalidStringReference { index: 0 })
    );
    both_ways_all(
        "11 06 05 6162 11 06 05 6162",
        vec![
            Amf0Value::Avmplus("ab".into()),
            Amf0Value::Avmplus("ab".into()),
        ],
    );
}

#[test]
fn seed_create_stream() {
    // Seed 002: the body of the chunk example, ["createStream", 2.0, null].
    both_ways_all(
        "02 000C 63726561746553747265616D 00 4000000000000000 05",
        vec!["createStream".into(), 2.0.into(), Amf0Value::Null],
    );
}

#[test]
fn ffmpeg_connect_command() {
    // What ffmpeg's RTMP client sends to play rtmp://localhost:1935/live.
    let wire = "
        02 0007 636F6E6E656374
        00 3FF0000000000000
        03
          0003 617070 02 0004 6C697665
          0008 666C617368566572 02 000D 4C4E5820392C302C3132342C32
          0005 746355726C 02 001A 72746D703A2F2F6C6F63616C686F73743A313933352F6C697665
          0004 66706164 01 00
          000C 6361706162696C6974696573 00 402E000000000000
          000B 617564696F436F64656373 00 40AFCE0000000000
          000B 766964656F436F64656373 00 406F800000000000
          000D 766964656F46756E6374696F6E 00 3FF0000000000000
        0000 09";
    let object = Amf0Object::new()
        .with("app", "live")
        .with("flashVer", "LNX 9,0,124,2")
        .with("tcUrl", "rtmp://localhost:1935/live")
        .with("fpad", false)
        .with("capabilities", 15.0)
        .with("audioCodecs", 4071.0)
        .with("videoCodecs", 252.0)
        .with("videoFunction", 1.0);
    both_ways_all(wire, vec!["connect".into(), 1.0.into(), object.into()]);
    let values = decode(wire).unwrap();
    let props = values[2].as_object().unwrap();
    assert_eq!(props.get_str("tcUrl"), Some("rtmp://localhost:1935/live"));
    assert_eq!(props.get_number("audioCodecs"), Some(4071.0));
}

fn both_ways_all(hex_text: &str, values: Vec<Amf0Value>) {
    assert_eq!(decode(hex_text), Ok(values.clone()));
    assert_eq!(
        hex::encode_upper(amf0_encode_all(&values)),
        hex_text.split_whitespace().collect::<String>()
    );
}

#[test]
fn references_resolve_to_copies() {
    // [ {a: {b: 1}}, ref #1 (the inner object), ref #0 (the outer one) ]
    let inner = Amf0Value::from(Amf0Object::new().with("b", 1.0));
    let outer = Amf0Value::from(Amf0Object::new().with("a", inner.clone()));
    let got = decode(
        "03 0001 61 03 0001 62 00 3FF0000000000000 0000 09 0000 09
         07 0001
         07 0000",
    );
    assert_eq!(got, Ok(vec![outer.clone(), inner, outer]));
    // Strict arrays, ECMA arrays and typed objects enter the table too.
    let got = decode("0A 00000000 08 00000000 0000 09 10 0001 43 0000 09 07 0002 07 0001 07 0000");
    let got = got.unwrap();
    assert_eq!(got[3], got[2]);
    assert_eq!(got[4], got[1]);
    assert_eq!(got[5], got[0]);
    // Inside a reference target, nested references resolve too.
    let got = decode("0A 00000000 0A 00000001 07 0000 07 0001").unwrap();
    assert_eq!(
        got[2],
        Amf0Value::StrictArray(vec![Amf0Value::StrictArray(vec![])])
    );
}

#[test]
fn reference_errors() {
    assert_eq!(
        decode("07 0000"),
        Err(AmfError::InvalidReference { index: 0 })
    );
    assert_eq!(
        decode("03 0000 09 07 0001"),
        Err(AmfError::InvalidReference { index: 1 })
    );
    assert_eq!(
        decode("03 0001 61 07 0000 0000 09"),
        Err(AmfError::CircularReference)
    );
}

#[test]
fn limits() {
    let nested = |n: usize| "0A 00000001 ".repeat(n) + "05";
    let limits = AmfLimits::default();
    assert!(decode(&nested(64)).is_ok());
    assert_eq!(decode(&nested(65)), Err(AmfError::DepthLimit { limit: 64 }));
    // Objects, ECMA arrays and typed objects count as depth as well.
    let deep = AmfLimits {
        max_depth: 1,
        ..limits.clone()
    };
    for wire in [
        "03 0001 61 03 0000 09 0000 09",
        "08 00000000 0001 61 08 00000000 0000 09 0000 09",
    ] {
        assert_eq!(
            decode_with(wire, deep.clone()),
            Err(AmfError::DepthLimit { limit: 1 })
        );
    }
    assert_eq!(
        decode_with("10 0001 43 0001 61 10 0000 0000 09 0000 09", deep),
        Err(AmfError::DepthLimit { limit: 1 })
    );
    let few = AmfLimits {
        max_elements: 3,
        ..limits.clone()
    };
    assert_eq!(decode_with("05 05 05", few.clone()).map(|v| v.len()), Ok(3));
    assert_eq!(
        decode_with("05 05 05 05", few.clone()),
        Err(AmfError::ElementLimit { limit: 3 })
    );
    assert_eq!(
        decode_with("0A 00000003 05 05 05", few),
        Err(AmfError::ElementLimit { limit: 3 })
    );
    let short = AmfLimits {
        max_string_len: 1,
        ..limits.clone()
    };
    assert_eq!(
        decode_with("02 0002 6869", short.clone()),
        Err(AmfError::StringTooLong { len: 2, limit: 1 })
    );
    assert_eq!(
        decode_with("0C 00000002 6869", short.clone()),
        Err(AmfError::StringTooLong { len: 2, limit: 1 })
    );
    assert_eq!(
        decode_with("03 0002 6869 05 0000 09", short),
        Err(AmfError::StringTooLong { len: 2, limit: 1 })
    );
    let small = AmfLimits {
        max_total_bytes: 3,
        ..limits
    };
    assert_eq!(
        decode_with("02 0002 6869 02 0002 6869", small),
        Err(AmfError::TotalBytesLimit { limit: 3 })
    );
}

#[test]
fn declared_counts_are_not_trusted() {
    assert_eq!(
        decode("0A FFFFFFFF 05"),
        Err(AmfError::UnexpectedEof {
            needed: 0xFFFF_FFFF,
            available: 1
        })
    );
    assert_eq!(
        decode("0C FFFFFFFF 6869"),
        Err(AmfError::StringTooLong {
            len: 0xFFFF_FFFF,
            limit: AmfLimits::DEFAULT_MAX_STRING_LEN
        })
    );
    assert_eq!(
        decode("02 0010 6869"),
        Err(AmfError::UnexpectedEof {
            needed: 16,
            available: 2
        })
    );
}

#[test]
fn billion_laughs_is_bounded() {
    // A0 = [null; 10], then Ak = [ref A(k-1); 10]: 10^12 values from 31 * 12 bytes.
    let mut wire = String::from("0A 0000000A ") + &"05 ".repeat(10);
    for k in 0..11u16 {
        wire += "0A 0000000A ";
        wire += &format!("07 {k:04X} ").repeat(10);
    }
    assert_eq!(
        decode(&wire),
        Err(AmfError::ElementLimit {
            limit: AmfLimits::DEFAULT_MAX_ELEMENTS
        })
    );
    // Big strings copied by reference are charged by their bytes.
    let mut wire = format!("0A 00000001 0C 00010000 {}", "61".repeat(1 << 16));
    wire += &" 07 0000".repeat(5);
    let limits = AmfLimits {
        max_total_bytes: 4 << 16,
        ..AmfLimits::default()
    };
    assert_eq!(
        decode_with(&wire, limits),
        Err(AmfError::TotalBytesLimit { limit: 4 << 16 })
    );
}

#[test]
fn invalid_utf8() {
    assert_eq!(decode("02 0001 FF"), Err(AmfError::InvalidUtf8));
    assert_eq!(decode("03 0001 FF 05 0000 09"), Err(AmfError::InvalidUtf8));
}

#[test]
fn every_truncation_is_an_error() {
    let value = Amf0Value::StrictArray(vec![
        Amf0Object::new()
            .with("n", 1.5)
            .with("s", "text")
            .with("e", Amf0Value::EcmaArray(Amf0Object::new().with("k", true)))
            .into(),
        Amf0Value::Date {
            millis: 0.0,
            timezone: 0,
        },
        Amf0Value::TypedObject {
            class_name: "T".into(),
            properties: Amf0Object::new(),
        },
        Amf0Value::XmlDocument("<x/>".into()),
        Amf0Value::Avmplus(Amf3Value::String("z".into())),
        "x".repeat(70_000).into(),
    ]);
    let wire = amf0_encode_all(std::slice::from_ref(&value));
    for cut in 0..wire.len() {
        let mut d = Amf0Decoder::with_limits(&wire[..cut], strict());
        assert!(d.decode().is_err(), "prefix of {cut} bytes decoded");
    }
    assert_eq!(amf0_decode_all(&wire), Ok(vec![value]));
}

#[test]
fn decoder_cursor() {
    let wire = bytes("05 00 3FF0000000000000");
    let mut d = Amf0Decoder::new(&wire);
    assert_eq!(d.position(), 0);
    assert_eq!(d.decode(), Ok(Amf0Value::Null));
    assert_eq!(d.position(), 1);
    assert_eq!(d.remaining(), &wire[1..]);
    assert!(!d.is_empty());
    assert_eq!(d.decode(), Ok(Amf0Value::Number(1.0)));
    assert!(d.is_empty());
    assert!(matches!(
        d.decode(),
        Err(AmfError::UnexpectedEof { needed: 1, .. })
    ));
    assert_eq!(amf0_decode_all(&[]), Ok(vec![]));
}

#[test]
fn from_bytes_slices_amf3_byte_arrays() {
    let wire = bytes::Bytes::from(bytes("11 0C 07 010203"));
    let mut d = Amf0Decoder::from_bytes(&wire, AmfLimits::default());
    match d.decode() {
        Ok(Amf0Value::Avmplus(Amf3Value::ByteArray(b))) => {
            assert_eq!(&b[..], &[1, 2, 3]);
            assert_eq!(b.as_ptr(), wire[3..].as_ptr());
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn encoder_cuts_oversized_names_at_char_boundary() {
    let name = "é".repeat(40_000); // 80 000 bytes
    let wire = amf0_encode_all(&[Amf0Object::new().with(name, 1.0).into()]);
    assert_eq!(&wire[1..3], &[0xFF, 0xFE]); // 65 534 bytes: the last whole character
    let back = amf0_decode_all(&wire).unwrap();
    let (key, _) = back[0].as_object().unwrap().iter().next().unwrap();
    assert_eq!(key.len(), 65_534);
    assert_eq!(truncate_utf8("aé", 2), "a");
}
