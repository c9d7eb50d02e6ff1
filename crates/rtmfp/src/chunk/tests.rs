//! Byte vectors for every chunk type: decode the wire bytes, compare with the expected value,
//! encode it back to the same bytes.

use std::net::SocketAddr;

use bytes::Bytes;

use super::*;
use crate::chunk::startup::Origin;

fn roundtrip(hex: &str, expected: Chunk) {
    let bytes = hex::decode(hex.replace(' ', "")).unwrap();
    let kind = ChunkType(bytes[0]);
    let len = u16::from_be_bytes([bytes[1], bytes[2]]) as usize;
    assert_eq!(len, bytes.len() - 3, "length field of {hex}");
    let chunk = Chunk::decode(kind, Bytes::copy_from_slice(&bytes[3..])).unwrap();
    assert_eq!(chunk, expected, "{hex}");
    let mut out = Vec::new();
    chunk.encode(&mut out).unwrap();
    assert_eq!(hex::encode(&out), hex.replace(' ', ""), "re-encoding");
    assert_eq!(chunk.encoded_len(), out.len());
}

fn b(hex: &str) -> Bytes {
    Bytes::from(hex::decode(hex.replace(' ', "")).unwrap())
}

#[test]
fn ihello_flash_client() {
    // Cumulus issue #31: EPD field 0x19 holding option 0x18/0x0a with the URI, 16-byte tag.
    let uri = hex::encode("rtmfp://xugar.net:1985/");
    let tag = "000102030405060708090a0b0c0d0e0f";
    roundtrip(
        &format!("30 002a 19 180a {uri} {tag}"),
        Chunk::IHello {
            epd: b(&format!("180a{uri}")),
            tag: b(tag),
        },
    );
}

#[test]
fn forwarded_ihello_and_redirect() {
    let addr: SocketAddr = "192.0.2.1:1935".parse().unwrap();
    let v6: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
    roundtrip(
        "0f 000d 03 020f aa 02 c0000201 078f 1122",
        Chunk::ForwardedIHello {
            epd: b("020faa"),
            reply_address: Address {
                addr,
                origin: Origin::OBSERVED,
            },
            tag: b("1122"),
        },
    );
    roundtrip(
        "71 001d 02 1122 01 c0000201 078f 82 20010db8000000000000000000000001 01bb",
        Chunk::Redirect {
            tag: b("1122"),
            addresses: vec![
                Address {
                    addr,
                    origin: Origin::LOCAL,
                },
                Address {
                    addr: v6,
                    origin: Origin::OBSERVED,
                },
            ],
        },
    );
}

#[test]
fn rhello_cookie_change_keying() {
    roundtrip(
        "70 000a 02 aabb 03 010203 02 0a 00",
        Chunk::RHello {
            tag: b("aabb"),
            cookie: b("010203"),
            certificate: b("020a00"),
        },
    );
    roundtrip(
        "79 0005 02 0102 0304",
        Chunk::CookieChange {
            old: b("0102"),
            new: b("0304"),
        },
    );
    roundtrip(
        "38 000d 01020304 02 c0c1 01 aa 02 0102 58",
        Chunk::IIKeying {
            session_id: 0x0102_0304,
            cookie: b("c0c1"),
            certificate: b("aa"),
            skic: b("0102"),
            signature: b("58"),
        },
    );
    roundtrip(
        "78 0008 0a0b0c0d 02 ffee 58",
        Chunk::RIKeying {
            session_id: 0x0a0b_0c0d,
            skrc: b("ffee"),
            signature: b("58"),
        },
    );
}

#[test]
fn session_chunks() {
    roundtrip("01 0002 abcd", Chunk::Ping(b("abcd")));
    roundtrip("41 0002 abcd", Chunk::PingReply(b("abcd")));
    roundtrip("01 0000", Chunk::Ping(Bytes::new()));
    roundtrip("0c 0000", Chunk::Close);
    roundtrip("4c 0000", Chunk::CloseAck);
    roundtrip("18 0002 8102", Chunk::BufferProbe { flow_id: 130 });
    roundtrip(
        "5e 0002 05 00",
        Chunk::FlowException {
            flow_id: 5,
            code: 0,
        },
    );
    roundtrip(
        "ec 0001 07",
        Chunk::Unknown {
            kind: ChunkType(0xec),
            value: b("07"),
        },
    );
}

#[test]
fn user_data_with_options() {
    // NetConnection control flow, first fragment: OPT|whole, flow 2, seq 1, fsnOffset 1, metadata
    // "TC" 04 00, return flow association 3, marker, payload.
    roundtrip(
        "10 0012 80 02 01 01 05 00 54430400 02 0a 03 00 14 000000",
        Chunk::UserData(UserData {
            flow_id: 2,
            seq: 1,
            fsn_offset: 1,
            fragment: Fragment::Whole,
            flags: UserDataFlags::default(),
            metadata: Some(b("54430400")),
            return_flow: Some(3),
            data: b("14000000"),
        }),
    );
    // A middle fragment that is also abandoned and final.
    roundtrip(
        "10 0004 33 02 07 00",
        Chunk::UserData(UserData {
            flow_id: 2,
            seq: 7,
            fsn_offset: 0,
            fragment: Fragment::Middle,
            flags: UserDataFlags {
                abandoned: true,
                fin: true,
            },
            metadata: None,
            return_flow: None,
            data: Bytes::new(),
        }),
    );
    roundtrip(
        "11 0003 20 aabb",
        Chunk::NextUserData(UserData {
            flow_id: 0,
            seq: 0,
            fsn_offset: 0,
            fragment: Fragment::End,
            flags: UserDataFlags::default(),
            metadata: None,
            return_flow: None,
            data: b("aabb"),
        }),
    );
    // Unknown options are skipped.
    let c = Chunk::decode(ChunkType::USER_DATA, b("80 01 01 00 03 7f 01 02 00 ee")).unwrap();
    let Chunk::UserData(d) = c else { panic!() };
    assert_eq!(d.metadata, None);
    assert_eq!(d.data, b("ee"));
}

#[test]
fn acks_both_forms() {
    // cumulative 3, received 5..=6 and 9: ranges = (0,1), (1,0).
    let ack = Ack {
        flow_id: 2,
        buffer_blocks: 0x7f,
        cumulative: 3,
        ranges: vec![(5, 6), (9, 9)],
    };
    roundtrip(
        "51 0007 02 7f 03 00 01 01 00",
        Chunk::AckRanges(ack.clone()),
    );
    // Bitmap: bit i = seq 5+i: 5,6,9 = bits 0,1,4 = 0x13.
    roundtrip("50 0004 02 7f 03 13", Chunk::AckBitmap(ack));
    roundtrip(
        "51 0003 02 10 00",
        Chunk::AckRanges(Ack {
            flow_id: 2,
            buffer_blocks: 0x10,
            cumulative: 0,
            ranges: vec![],
        }),
    );
    // A bitmap spanning two bytes collapses adjacent bits into one range.
    let c = Chunk::decode(ChunkType::ACK_BITMAP, b("01 01 00 80 01")).unwrap();
    let Chunk::AckBitmap(a) = c else { panic!() };
    assert_eq!(a.ranges, vec![(9, 10)]);
}

#[test]
fn truncated_chunks_are_errors() {
    for (kind, v) in [
        (ChunkType::IIKEYING, "010203"),
        (ChunkType::RHELLO, "05aa"),
        (ChunkType::USER_DATA, "00"),
        (ChunkType::ACK_RANGES, "0101"),
        (ChunkType::REDIRECT, "00 01c000"),
        (ChunkType::USER_DATA, "80 01 01 00 05 00"),
    ] {
        assert!(Chunk::decode(kind, b(v)).is_err(), "{kind:?} {v}");
    }
}
