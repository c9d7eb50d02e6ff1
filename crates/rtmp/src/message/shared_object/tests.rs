//! Tests of the shared object codec: a hand-built vector, every event type, every error.

use super::*;
use proptest::prelude::*;
use sluice_amf::{Amf0Object, AmfError};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("test hex")
}

/// name "so", version 1, flags 2 (persistent), reserved; Use; Change x = 1.0; Status.
const HAND: &str = concat!(
    "0002 736F 00000001 00000002 00000000",
    "01 00000000",
    "04 0000000C 0001 78 00 3FF0000000000000",
    "07 0000000D 0004 636F6465 0005 6572726F72",
);

fn hand_message() -> SharedObjectMessage {
    SharedObjectMessage {
        name: "so".into(),
        version: 1,
        persistent: true,
        flags: 2,
        events: vec![
            SharedObjectEvent::Use,
            SharedObjectEvent::Change {
                properties: vec![("x".into(), Amf0Value::Number(1.0))],
            },
            SharedObjectEvent::Status {
                code: "code".into(),
                level: "error".into(),
            },
        ],
    }
}

fn every_event() -> Vec<SharedObjectEvent> {
    use SharedObjectEvent as E;
    let obj = Amf0Object::new().with("a", 1.0).with("b", "text");
    vec![
        E::Use,
        E::Release,
        E::RequestChange {
            properties: vec![("score".into(), 10.0.into()), ("who".into(), "me".into())],
        },
        E::Change {
            properties: vec![("o".into(), obj.into()), ("n".into(), Amf0Value::Null)],
        },
        E::Success {
            name: "score".into(),
        },
        E::SendMessage {
            values: vec![
                "onChat".into(),
                true.into(),
                Amf0Value::Avmplus(Amf3Value::Integer(5)),
            ],
        },
        E::Status {
            code: "SharedObject.BadPersistence".into(),
            level: "error".into(),
        },
        E::Clear,
        E::Remove {
            name: "score".into(),
        },
        E::RequestRemove { name: "who".into() },
        E::UseSuccess,
        E::Unknown {
            event_type: 0x42,
            data: Bytes::from_static(&[1, 2, 3]),
        },
    ]
}

#[test]
fn hand_built_vector() {
    let body = h(HAND);
    assert_eq!(
        SharedObjectMessage::decode(&body, false),
        Ok(hand_message())
    );
    assert_eq!(hand_message().encode(false).expect("encode"), body);
    assert_eq!(SharedObjectMessage::message_type(false), MessageType(19));
    assert_eq!(SharedObjectMessage::message_type(true), MessageType(16));
}

#[test]
fn amf3_variant_has_format_byte() {
    let mut body = vec![0x00];
    body.extend(h(HAND));
    assert_eq!(SharedObjectMessage::decode(&body, true), Ok(hand_message()));
    assert_eq!(hand_message().encode(true).expect("encode"), body);
    body[0] = 0x03;
    assert_eq!(
        SharedObjectMessage::decode(&body, true),
        Err(MessageError::UnsupportedSharedObjectEncoding(3))
    );
    assert!(matches!(
        SharedObjectMessage::decode(&[], true),
        Err(MessageError::Truncated {
            needed: 1,
            got: 0,
            ..
        })
    ));
}

#[test]
fn every_event_type_round_trips() {
    for (i, ev) in every_event().into_iter().enumerate() {
        let msg = SharedObjectMessage {
            name: "room/lobby".into(),
            version: i as u32,
            persistent: i % 2 == 0,
            flags: if i % 2 == 0 { 2 } else { 0 },
            events: vec![ev.clone(), SharedObjectEvent::Clear],
        };
        for amf3 in [false, true] {
            let body = msg.encode(amf3).expect("encode");
            assert_eq!(
                SharedObjectMessage::decode(&body, amf3),
                Ok(msg.clone()),
                "{ev:?}"
            );
        }
    }
    let all = SharedObjectMessage {
        name: String::new(),
        version: 0,
        persistent: false,
        flags: 0x10,
        events: every_event(),
    };
    let body = all.encode(false).expect("encode");
    assert_eq!(SharedObjectMessage::decode(&body, false), Ok(all));
}

#[test]
fn persistent_flag_and_raw_flags() {
    let body = h("0000 00000000 00000003 00000000");
    let msg = SharedObjectMessage::decode(&body, false).expect("decode");
    assert!(msg.persistent);
    assert_eq!(msg.flags, 3);
    let mut m = msg.clone();
    m.persistent = false;
    assert_eq!(
        m.encode(false).expect("encode"),
        h("0000 00000000 00000001 00000000")
    );
    m.flags = 0;
    m.persistent = true;
    assert_eq!(
        m.encode(false).expect("encode"),
        h("0000 00000000 00000002 00000000")
    );
}

#[test]
fn truncated_at_every_cut() {
    let body = h(HAND);
    // Cuts at an event boundary leave a valid, shorter message.
    let boundaries = [16, 21, 38];
    for cut in 0..body.len() {
        let r = SharedObjectMessage::decode(&body[..cut], false);
        if boundaries.contains(&cut) {
            assert!(r.is_ok(), "cut {cut}: {r:?}");
        } else {
            assert!(
                matches!(
                    r,
                    Err(MessageError::Truncated { .. }
                        | MessageError::SharedObjectEventOverrun { .. })
                ),
                "cut {cut}: {r:?}"
            );
        }
    }
    assert_eq!(
        SharedObjectMessage::decode(&body[..40], false),
        Err(MessageError::Truncated {
            what: "shared object event header",
            needed: 5,
            got: 2
        })
    );
    assert_eq!(
        SharedObjectMessage::decode(&body[..45], false),
        Err(MessageError::SharedObjectEventOverrun {
            event_type: 7,
            declared: 13,
            available: 2
        })
    );
}

#[test]
fn malformed_event_data() {
    let hdr = "0000 00000000 00000000 00000000";
    // Property name longer than the event.
    let r = SharedObjectMessage::decode(&h(&format!("{hdr} 04 00000003 0005 61")), false);
    assert!(matches!(
        r,
        Err(MessageError::Truncated {
            needed: 7,
            got: 3,
            ..
        })
    ));
    // Property value cut by the event length: the AMF layer reports it.
    let r = SharedObjectMessage::decode(&h(&format!("{hdr} 04 00000005 0001 61 00 3F")), false);
    assert!(matches!(
        r,
        Err(MessageError::Amf(AmfError::UnexpectedEof { .. }))
    ));
    // Reserved AMF0 marker inside a SendMessage.
    let r = SharedObjectMessage::decode(&h(&format!("{hdr} 06 00000001 04")), false);
    assert_eq!(r, Err(MessageError::Amf(AmfError::ReservedMarker(4))));
    // Success without its name.
    let r = SharedObjectMessage::decode(&h(&format!("{hdr} 05 00000000")), false);
    assert!(matches!(
        r,
        Err(MessageError::Truncated {
            needed: 2,
            got: 0,
            ..
        })
    ));
    // Invalid UTF-8 in the object name.
    let r = SharedObjectMessage::decode(&h("0001 FF 00000000 00000000 00000000"), false);
    assert!(matches!(r, Err(MessageError::InvalidUtf8 { .. })));
    // Header cut in the reserved field.
    let r = SharedObjectMessage::decode(&h("0000 00000000 00000000 0000"), false);
    assert!(matches!(
        r,
        Err(MessageError::Truncated {
            needed: 12,
            got: 10,
            ..
        })
    ));
}

#[test]
fn lenient_extra_event_data() {
    let hdr = "0000 00000000 00000000 00000000";
    let msg = SharedObjectMessage::decode(
        &h(&format!(
            "{hdr} 01 00000002 ABCD 05 00000006 0001 61 00 0000 0B 00000000"
        )),
        false,
    )
    .expect("decode");
    assert_eq!(
        msg.events,
        vec![
            SharedObjectEvent::Use,
            SharedObjectEvent::Success { name: "a".into() },
            SharedObjectEvent::UseSuccess
        ]
    );
}

#[test]
fn limits() {
    let msg = SharedObjectMessage {
        name: "s".into(),
        version: 0,
        persistent: false,
        flags: 0,
        events: vec![
            SharedObjectEvent::SendMessage {
                values: vec![1.0.into(), 2.0.into()],
            },
            SharedObjectEvent::Change {
                properties: vec![("a".into(), 1.0.into()), ("b".into(), 2.0.into())],
            },
        ],
    };
    let body = msg.encode(false).expect("encode");
    let base = SharedObjectLimits::default();
    let lim = |f: &dyn Fn(&mut SharedObjectLimits)| {
        let mut l = base.clone();
        f(&mut l);
        SharedObjectMessage::decode_with_limits(&body, false, &l)
    };
    assert_eq!(
        lim(&|l| l.max_events = 1),
        Err(MessageError::TooManySharedObjectEvents { limit: 1 })
    );
    assert_eq!(lim(&|l| l.max_events = 2), Ok(msg.clone()));
    assert_eq!(
        lim(&|l| l.max_items = 3),
        Err(MessageError::TooManySharedObjectItems {
            event_type: 4,
            limit: 3
        })
    );
    assert_eq!(lim(&|l| l.max_items = 4), Ok(msg.clone()));
    // The AMF budget is shared by every value of the message, not renewed per value.
    assert_eq!(
        lim(&|l| l.amf.max_elements = 3),
        Err(MessageError::Amf(AmfError::ElementLimit { limit: 0 }))
    );
    assert_eq!(lim(&|l| l.amf.max_elements = 4), Ok(msg));
}

#[test]
fn amf_references_cannot_amplify_past_the_budget() {
    // One SendMessage value: a strict array holding an object and 3 references to it.
    let value = "0A 00000004 03 0001 61 02 0004 74657874 000009 07 0001 07 0001 07 0001";
    let body = h(&format!(
        "0000 00000000 00000000 00000000 06 {:08X} {value} {value}",
        h(value).len() * 2
    ));
    let mut l = SharedObjectLimits::default();
    assert!(SharedObjectMessage::decode_with_limits(&body, false, &l).is_ok());
    // 4 objects x ("a" + "text") = 20 string bytes per value; two values need 40.
    l.amf.max_total_bytes = 30;
    assert!(matches!(
        SharedObjectMessage::decode_with_limits(&body, false, &l),
        Err(MessageError::Amf(AmfError::TotalBytesLimit { .. }))
    ));
}

#[test]
fn string_too_long_on_encode() {
    let long = "x".repeat(70_000);
    let mut msg = hand_message();
    msg.name = long.clone();
    assert!(matches!(
        msg.encode(false),
        Err(MessageError::StringTooLong { len: 70_000, .. })
    ));
    let mut msg = hand_message();
    msg.events = vec![SharedObjectEvent::Remove { name: long }];
    assert!(matches!(
        msg.encode(false),
        Err(MessageError::StringTooLong { .. })
    ));
}

proptest! {
    #[test]
    fn decode_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256), amf3 in any::<bool>()) {
        let _ = SharedObjectMessage::decode(&body, amf3);
    }

    #[test]
    fn round_trip(
        name in ".{0,20}",
        version in any::<u32>(),
        flags in any::<u32>(),
        props in proptest::collection::vec(("[a-z]{0,8}", any::<f64>().prop_filter("NaN", |f| !f.is_nan()), ".{0,10}"), 0..6),
        amf3 in any::<bool>(),
    ) {
        let events = props
            .into_iter()
            .map(|(k, n, s)| SharedObjectEvent::Change {
                properties: vec![(k.clone(), n.into()), (s.clone(), s.as_str().into())],
            })
            .collect();
        let msg = SharedObjectMessage { name, version, persistent: flags & 2 != 0, flags, events };
        let body = msg.encode(amf3).expect("encode");
        prop_assert_eq!(SharedObjectMessage::decode(&body, amf3), Ok(msg));
    }
}
