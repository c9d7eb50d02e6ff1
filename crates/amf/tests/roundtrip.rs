//! Property tests: arbitrary AMF0 and AMF3 value trees survive encode -> decode unchanged,
//! every strict prefix of an encoding is an error, and arbitrary bytes never panic.
//!
//! Generated doubles exclude NaN so that `==` is meaningful; re-encodings are also compared
//! byte for byte, which tells `0.0` from `-0.0`.

use bytes::Bytes;
use proptest::prelude::*;
use sluice_amf::{
    amf0_decode_all, amf0_encode_all, amf3_decode_all, amf3_encode_all, check, Amf0Decoder,
    Amf0Object, Amf0Value, Amf3Array, Amf3Decoder, Amf3Object, Amf3Value, AmfLimits,
};

fn double() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("NaN is never equal to itself", |d| !d.is_nan())
}

fn name() -> impl Strategy<Value = String> + Clone {
    // A small alphabet so that names repeat and exercise string and traits references.
    "[a-c]{1,2}"
}

fn amf3_leaf() -> impl Strategy<Value = Amf3Value> {
    prop_oneof![
        Just(Amf3Value::Undefined),
        Just(Amf3Value::Null),
        any::<bool>().prop_map(Amf3Value::Boolean),
        (Amf3Value::INTEGER_MIN..=Amf3Value::INTEGER_MAX).prop_map(Amf3Value::Integer),
        double().prop_map(Amf3Value::Double),
        "[a-c]{0,3}|\\PC{0,8}".prop_map(Amf3Value::String),
        "\\PC{0,8}".prop_map(Amf3Value::XmlDocument),
        "\\PC{0,8}".prop_map(Amf3Value::Xml),
        double().prop_map(Amf3Value::Date),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(|b| Amf3Value::ByteArray(Bytes::from(b))),
        (any::<bool>(), prop::collection::vec(any::<i32>(), 0..4))
            .prop_map(|(fixed, items)| Amf3Value::VectorInt { fixed, items }),
        (any::<bool>(), prop::collection::vec(any::<u32>(), 0..4))
            .prop_map(|(fixed, items)| Amf3Value::VectorUint { fixed, items }),
        (any::<bool>(), prop::collection::vec(double(), 0..4))
            .prop_map(|(fixed, items)| Amf3Value::VectorDouble { fixed, items }),
    ]
}

fn amf3_value() -> impl Strategy<Value = Amf3Value> {
    amf3_leaf().prop_recursive(4, 48, 6, |inner| {
        let members = prop::collection::vec((name(), inner.clone()), 0..4);
        prop_oneof![
            (members.clone(), prop::collection::vec(inner.clone(), 0..4))
                .prop_map(|(assoc, dense)| Amf3Value::Array(Amf3Array { assoc, dense })),
            (
                "[A-B]{0,1}",
                prop::collection::vec(("[a-c]{0,2}", inner.clone()), 0..3),
                prop::option::of(members),
            )
                .prop_map(|(class_name, sealed, dynamic)| Amf3Value::Object(
                    Amf3Object {
                        class_name,
                        sealed,
                        dynamic,
                    }
                )),
            (
                any::<bool>(),
                "[*a-c]{0,2}",
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(fixed, type_name, items)| Amf3Value::VectorObject {
                    fixed,
                    type_name,
                    items,
                }),
            (
                any::<bool>(),
                prop::collection::vec((inner.clone(), inner), 0..3)
            )
                .prop_map(|(weak_keys, entries)| Amf3Value::Dictionary { weak_keys, entries }),
        ]
    })
}

fn amf0_leaf() -> impl Strategy<Value = Amf0Value> {
    prop_oneof![
        double().prop_map(Amf0Value::Number),
        any::<bool>().prop_map(Amf0Value::Boolean),
        "\\PC{0,10}".prop_map(Amf0Value::String),
        Just(Amf0Value::Null),
        Just(Amf0Value::Undefined),
        (double(), any::<i16>())
            .prop_map(|(millis, timezone)| Amf0Value::Date { millis, timezone }),
        Just(Amf0Value::Unsupported),
        "\\PC{0,10}".prop_map(Amf0Value::XmlDocument),
        amf3_value().prop_map(Amf0Value::Avmplus),
    ]
}

fn amf0_value() -> impl Strategy<Value = Amf0Value> {
    amf0_leaf().prop_recursive(4, 48, 6, |inner| {
        // Names may be empty and may repeat: both survive the round trip.
        let props =
            prop::collection::vec(("[a-c]{0,2}", inner.clone()), 0..4).prop_map(Amf0Object::from);
        prop_oneof![
            props.clone().prop_map(Amf0Value::Object),
            props.clone().prop_map(Amf0Value::EcmaArray),
            prop::collection::vec(inner, 0..4).prop_map(Amf0Value::StrictArray),
            ("\\PC{0,6}", props).prop_map(|(class_name, properties)| Amf0Value::TypedObject {
                class_name,
                properties,
            }),
        ]
    })
}

fn strict() -> AmfLimits {
    AmfLimits {
        allow_unterminated_ecma_array: false,
        ..AmfLimits::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn amf0_round_trip(values in prop::collection::vec(amf0_value(), 1..4)) {
        let wire = amf0_encode_all(&values);
        let back = amf0_decode_all(&wire).expect("own encoding decodes");
        prop_assert_eq!(&back, &values);
        prop_assert_eq!(amf0_encode_all(&back), wire);
    }

    #[test]
    fn amf3_round_trip(values in prop::collection::vec(amf3_value(), 1..4)) {
        let wire = amf3_encode_all(&values);
        let back = amf3_decode_all(&wire).expect("own encoding decodes");
        prop_assert_eq!(&back, &values);
        prop_assert_eq!(amf3_encode_all(&back), wire);
    }

    #[test]
    fn amf0_prefixes_are_errors(value in amf0_value()) {
        let wire = amf0_encode_all(&[value]);
        for cut in 0..wire.len() {
            let mut d = Amf0Decoder::with_limits(&wire[..cut], strict());
            prop_assert!(d.decode().is_err(), "prefix of {} bytes decoded", cut);
        }
    }

    #[test]
    fn amf3_prefixes_are_errors(value in amf3_value()) {
        let wire = amf3_encode_all(&[value]);
        for cut in 0..wire.len() {
            prop_assert!(Amf3Decoder::new(&wire[..cut]).decode().is_err(), "prefix of {} bytes decoded", cut);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..64)) {
        let limits = AmfLimits::default();
        let _ = check::amf0_round_trip(&data, &limits);
        let _ = check::amf0_round_trip(&data, &strict());
        let _ = check::amf3_round_trip(&data, &limits);
    }

    #[test]
    fn mutated_encodings_never_panic(
        value in amf0_value(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut wire = amf0_encode_all(&[value]).to_vec();
        for (at, byte) in flips {
            let i = at.index(wire.len());
            wire[i] = byte;
        }
        let _ = check::amf0_round_trip(&wire, &AmfLimits::default());
    }

    #[test]
    fn mutated_amf3_encodings_never_panic(
        values in prop::collection::vec(amf3_value(), 1..3),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut wire = amf3_encode_all(&values).to_vec();
        for (at, byte) in flips {
            let i = at.index(wire.len());
            wire[i] = byte;
        }
        let _ = check::amf3_round_trip(&wire, &AmfLimits::default());
    }
}
