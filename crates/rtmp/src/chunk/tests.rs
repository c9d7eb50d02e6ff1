//! Hand-computed chunk vectors (RTMP 1.0 §5.3) for the decoder and the encoder, and every error.

use bytes::{Bytes, BytesMut};

use super::*;
use crate::types::{MessageType, RawMessage, Timestamp};

/// Hex to bytes; spaces are ignored.
fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("test vector hex")
}

fn buf(parts: &[&[u8]]) -> BytesMut {
    let mut b = BytesMut::new();
    for p in parts {
        b.extend_from_slice(p);
    }
    b
}

/// Decodes everything in `src`, expecting it to be consumed exactly.
fn decode_all(dec: &mut ChunkDecoder, src: &mut BytesMut) -> Vec<RawMessage> {
    let mut out = Vec::new();
    while let Some(msg) = dec.decode(src).expect("valid stream") {
        out.push(msg);
    }
    assert!(src.is_empty(), "{} bytes left undecoded", src.len());
    out
}

fn msg(csid: u32, ts: u32, type_id: u8, stream_id: u32, payload: &[u8]) -> RawMessage {
    RawMessage {
        csid,
        timestamp: Timestamp(ts),
        type_id: MessageType(type_id),
        stream_id,
        payload: Bytes::copy_from_slice(payload),
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

const SEED: &str =
    "03 00 0b 68 00 00 19 14 00 00 00 00 02 00 0C 63 72 65 61 74 65 53 74 72 65 61 6D \
                    00 40 00 00 00 00 00 00 00 05";

#[test]
fn seed_vector_create_stream() {
    let mut dec = ChunkDecoder::default();
    let mut src = BytesMut::from(&h(SEED)[..]);
    let m = dec.decode(&mut src).unwrap().unwrap();
    assert_eq!(m.csid, 3);
    assert_eq!(m.timestamp, Timestamp(0xb68));
    assert_eq!(m.type_id, MessageType::COMMAND_AMF0);
    assert_eq!(m.stream_id, 0);
    assert_eq!(m.payload.len(), 25);
    assert_eq!(&m.payload[3..15], b"createStream");
    assert!(src.is_empty());
    assert_eq!(dec.bytes_consumed(), 37);
}

#[test]
fn single_chunk_message_is_zero_copy() {
    let mut dec = ChunkDecoder::default();
    let mut src = BytesMut::from(&h(SEED)[..]);
    let base = src.as_ptr() as usize;
    let m = dec.decode(&mut src).unwrap().unwrap();
    assert_eq!(m.payload.as_ptr() as usize, base + 12);
}

#[test]
fn copy_threshold_copies_small_single_chunk_messages() {
    let mut dec = ChunkDecoder::default().with_copy_threshold(4096);
    let mut src = BytesMut::from(&h(SEED)[..]);
    let base = src.as_ptr() as usize;
    let m = dec.decode(&mut src).unwrap().unwrap();
    assert_ne!(m.payload.as_ptr() as usize, base + 12);
    assert_eq!(&m.payload[3..15], b"createStream");
    assert!(src.is_empty());
    assert_eq!(dec.bytes_consumed(), 37);
}

#[test]
fn fmt1_fmt2_fmt3_follow_the_previous_header() {
    let mut dec = ChunkDecoder::default();
    let mut src = buf(&[
        &h(SEED),
        // fmt 1: delta 10, length 5, type 9
        &h("43 00 00 0A 00 00 05 09 01 02 03 04 05"),
        // fmt 2: delta 20
        &h("83 00 00 14 06 07 08 09 0A"),
        // fmt 3 new message: delta 20 again
        &h("C3 0B 0C 0D 0E 0F"),
    ]);
    let got = decode_all(&mut dec, &mut src);
    assert_eq!(got.len(), 4);
    assert_eq!(got[1], msg(3, 0xb68 + 10, 9, 0, &[1, 2, 3, 4, 5]));
    assert_eq!(got[2], msg(3, 0xb68 + 30, 9, 0, &[6, 7, 8, 9, 10]));
    assert_eq!(got[3], msg(3, 0xb68 + 50, 9, 0, &[11, 12, 13, 14, 15]));
}

#[test]
fn fmt3_after_fmt0_reapplies_the_fmt0_timestamp_as_delta() {
    // ffmpeg/SRS convention: after a type 0 header with timestamp 40, a type 3 new message is at 80.
    let mut dec = ChunkDecoder::default();
    let mut src = buf(&[
        &h("04 00 00 28 00 00 02 08 01 00 00 00 AA BB"),
        &h("C4 CC DD"),
    ]);
    let got = decode_all(&mut dec, &mut src);
    assert_eq!(got[0], msg(4, 40, 8, 1, &[0xAA, 0xBB]));
    assert_eq!(got[1], msg(4, 80, 8, 1, &[0xCC, 0xDD]));
}

#[test]
fn timestamp_delta_wraps() {
    let mut dec = ChunkDecoder::default();
    let mut src = buf(&[
        &h("04 FF FF FF 00 00 01 08 01 00 00 00 FF FF FF F0 AA"),
        &h("84 00 00 20 BB"),
    ]);
    let got = decode_all(&mut dec, &mut src);
    assert_eq!(got[0].timestamp, Timestamp(0xFFFF_FFF0));
    assert_eq!(got[1].timestamp, Timestamp(0x10));
}

#[test]
fn two_and_three_byte_basic_headers() {
    for (basic, csid) in [
        ("00 00", 64u32),
        ("00 FF", 319),
        ("01 00 01", 320),
        ("01 FF FF", 65599),
        // The 3-byte form may also carry an id the shorter form could: accepted.
        ("01 05 00", 69),
    ] {
        let mut dec = ChunkDecoder::default();
        let mut src = buf(&[&h(basic), &h("00 00 05 00 00 01 12 00 00 00 00 42")]);
        let got = decode_all(&mut dec, &mut src);
        assert_eq!(got, vec![msg(csid, 5, 18, 0, &[0x42])], "{basic}");
        // And a type 3 follow-up on the same id.
        let mut follow = h(basic);
        follow[0] |= 0xC0;
        follow.push(0x43);
        let mut src = BytesMut::from(&follow[..]);
        let got = decode_all(&mut dec, &mut src);
        assert_eq!(got, vec![msg(csid, 10, 18, 0, &[0x43])], "{basic} fmt3");
    }
}

/// A 130-byte message at timestamp 0x01000000: a 128-byte chunk and a 2-byte chunk.
fn extended_first_chunk() -> Vec<u8> {
    let mut v = h("04 FF FF FF 00 00 82 09 01 00 00 00 01 00 00 00");
    v.extend_from_slice(&pattern(128));
    v
}

#[test]
fn extended_timestamp_continuation_with_repeat() {
    let mut dec = ChunkDecoder::default();
    let mut src = buf(&[
        &extended_first_chunk(),
        &h("C4 01 00 00 00"),
        &pattern(130)[128..],
    ]);
    let got = decode_all(&mut dec, &mut src);
    assert_eq!(got, vec![msg(4, 0x0100_0000, 9, 1, &pattern(130))]);
}

#[test]
fn extended_timestamp_continuation_without_repeat() {
    let mut dec = ChunkDecoder::default();
    let mut src = buf(&[&extended_first_chunk(), &h("C4"), &pattern(130)[128..]]);
    // The peek needs 4 bytes after the type 3 header; the next message supplies them.
    src.extend_from_slice(&h("14 00 00 00 00 00 01 08 01 00 00 00 77"));
    let got = decode_all(&mut dec, &mut src);
    assert_eq!(got[0], msg(4, 0x0100_0000, 9, 1, &pattern(130)));
    assert_eq!(got[1], msg(20, 0, 8, 1, &[0x77]));
}

#[test]
fn extended_timestamp_on_new_message_fmt3_both_conventions() {
    // fmt 2 with an extended delta 0x01000000, then type 3 new messages with and without the
    // repeated 4 bytes.
    let mut dec = ChunkDecoder::default();
    let mut src = buf(&[
        &h("05 00 00 00 00 00 01 09 01 00 00 00 AA"),
        &h("85 FF FF FF 01 00 00 00 BB"),
        &h("C5 01 00 00 00 CC"),
        &h("C5 DD"),
        // trailing message so the last peek has its 4 bytes
        &h("06 00 00 00 00 00 01 09 01 00 00 00 EE"),
    ]);
    let got = decode_all(&mut dec, &mut src);
    assert_eq!(got[0].timestamp, Timestamp(0));
    assert_eq!(got[1], msg(5, 0x0100_0000, 9, 1, &[0xBB]));
    assert_eq!(got[2], msg(5, 0x0200_0000, 9, 1, &[0xCC]));
    assert_eq!(got[3], msg(5, 0x0300_0000, 9, 1, &[0xDD]));
    assert_eq!(got[4].csid, 6);
}

#[test]
fn message_split_across_chunks_interleaved_with_another_chunk_stream() {
    let body = pattern(200);
    let mut dec = ChunkDecoder::default();
    let mut src = buf(&[
        &h("04 00 00 00 00 00 C8 08 01 00 00 00"),
        &body[..128],
        &h("06 00 00 07 00 00 0A 09 01 00 00 00"),
        &pattern(10),
        &h("C4"),
        &body[128..],
    ]);
    let got = decode_all(&mut dec, &mut src);
    assert_eq!(got[0], msg(6, 7, 9, 1, &pattern(10)));
    assert_eq!(got[1], msg(4, 0, 8, 1, &body));
    assert_eq!(dec.buffered_bytes(), 0);
}

#[test]
fn set_chunk_size_applies_to_the_next_chunk_even_mid_message() {
    let body = pattern(300);
    let mut dec = ChunkDecoder::default();
    let mut src = buf(&[
        &h("04 00 00 00 00 01 2C 09 01 00 00 00"),
        &body[..128],
        // Set Chunk Size 256 on csid 2
        &h("02 00 00 00 00 00 04 01 00 00 00 00 00 00 01 00"),
        // the remaining 172 bytes now fit one chunk
        &h("C4"),
        &body[128..],
    ]);
    let got = decode_all(&mut dec, &mut src);
    assert_eq!(got[0], msg(2, 0, 1, 0, &[0, 0, 1, 0]));
    assert_eq!(got[1], msg(4, 0, 9, 1, &body));
    assert_eq!(dec.chunk_size(), 256);
}

#[test]
fn abort_drops_the_partial_message() {
    let mut dec = ChunkDecoder::default();
    let mut src = buf(&[
        &h("04 00 00 00 00 01 2C 09 01 00 00 00"),
        &pattern(128),
        // Abort csid 4
        &h("02 00 00 00 00 00 04 02 00 00 00 00 00 00 00 04"),
        &h("04 00 00 05 00 00 01 09 01 00 00 00 55"),
    ]);
    let got = decode_all(&mut dec, &mut src);
    assert_eq!(got[0], msg(2, 0, 2, 0, &[0, 0, 0, 4]));
    assert_eq!(got[1], msg(4, 5, 9, 1, &[0x55]));
    assert_eq!(dec.buffered_bytes(), 0);
}

#[test]
fn abort_by_caller_mid_chunk_skips_the_rest_of_the_chunk() {
    let mut dec = ChunkDecoder::default();
    let mut src = buf(&[&h("04 00 00 00 00 01 2C 09 01 00 00 00"), &pattern(50)]);
    assert_eq!(dec.decode(&mut src).unwrap(), None);
    dec.abort(4);
    let mut rest = buf(&[&pattern(78), &h("04 00 00 05 00 00 01 09 01 00 00 00 55")]);
    assert_eq!(
        decode_all(&mut dec, &mut rest),
        vec![msg(4, 5, 9, 1, &[0x55])]
    );
    assert_eq!(dec.bytes_consumed(), 12 + 128 + 13);
}

#[test]
fn zero_length_message() {
    let mut dec = ChunkDecoder::default();
    let mut src = BytesMut::from(&h("03 00 00 01 00 00 00 14 00 00 00 00")[..]);
    assert_eq!(decode_all(&mut dec, &mut src), vec![msg(3, 1, 20, 0, &[])]);
}

#[test]
fn librtmp_ping_fmt1_on_fresh_csid2_is_accepted() {
    let mut dec = ChunkDecoder::default();
    let mut src = BytesMut::from(&h("42 00 00 00 00 00 06 04 00 06 00 00 0D 0F")[..]);
    assert_eq!(
        decode_all(&mut dec, &mut src),
        vec![msg(2, 0, 4, 0, &h("00 06 00 00 0D 0F"))]
    );
}

#[test]
fn redundant_header_mid_message_with_same_length_is_a_continuation() {
    let body = pattern(200);
    let mut dec = ChunkDecoder::default();
    let mut src = buf(&[
        &h("04 00 00 09 00 00 C8 08 01 00 00 00"),
        &body[..128],
        &h("44 00 00 63 00 00 C8 08"),
        &body[128..],
    ]);
    assert_eq!(decode_all(&mut dec, &mut src), vec![msg(4, 9, 8, 1, &body)]);
}

#[test]
fn byte_at_a_time() {
    let body = pattern(300);
    let mut stream = buf(&[
        &h(SEED),
        &h("04 00 00 00 00 01 2C 09 01 00 00 00"),
        &body[..128],
        &h("C4"),
        &body[128..256],
        &h("C4"),
        &body[256..],
        &extended_first_chunk(),
        &h("C4 01 00 00 00"),
        &pattern(130)[128..],
    ]);
    let total = stream.len();
    let mut dec = ChunkDecoder::default();
    let mut src = BytesMut::new();
    let mut got = Vec::new();
    while !stream.is_empty() {
        src.extend_from_slice(&stream.split_to(1));
        while let Some(m) = dec.decode(&mut src).unwrap() {
            got.push(m);
        }
    }
    assert_eq!(got.len(), 3);
    assert_eq!(got[1], msg(4, 0, 9, 1, &body));
    assert_eq!(got[2], msg(4, 0x0100_0000, 9, 1, &pattern(130)));
    assert_eq!(dec.bytes_consumed(), total as u64);
}

// ---- errors ----

fn decode_err(limits: ChunkLimits, bytes: &[u8]) -> ChunkError {
    let mut dec = ChunkDecoder::new(limits);
    let mut src = BytesMut::from(bytes);
    loop {
        match dec.decode(&mut src) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("expected an error, decoder wants more bytes"),
            Err(e) => return e,
        }
    }
}

#[test]
fn error_invalid_chunk_size() {
    for value in ["00 00 00 00", "80 00 00 00", "FF FF FF FF"] {
        let e = decode_err(
            ChunkLimits::default(),
            &h(&format!("02 00 00 00 00 00 04 01 00 00 00 00 {value}")),
        );
        assert!(matches!(e, ChunkError::InvalidChunkSize { .. }), "{e}");
    }
    assert_eq!(
        ChunkDecoder::default().set_chunk_size(0),
        Err(ChunkError::InvalidChunkSize { size: 0 })
    );
}

#[test]
fn set_chunk_size_accepts_the_protocol_range() {
    let mut dec = ChunkDecoder::default();
    assert_eq!(dec.set_chunk_size(1), Ok(()));
    assert_eq!(dec.set_chunk_size(MAX_CHUNK_SIZE), Ok(()));
    assert_eq!(dec.chunk_size(), MAX_CHUNK_SIZE);
}

#[test]
fn error_chunk_size_too_large() {
    let limits = ChunkLimits {
        max_chunk_size: 4096,
        ..ChunkLimits::default()
    };
    let e = decode_err(
        limits,
        &h("02 00 00 00 00 00 04 01 00 00 00 00 00 00 20 00"),
    );
    assert_eq!(
        e,
        ChunkError::ChunkSizeTooLarge {
            size: 8192,
            limit: 4096
        }
    );
}

#[test]
fn error_message_too_large() {
    let limits = ChunkLimits {
        max_message_size: 100,
        ..ChunkLimits::default()
    };
    let e = decode_err(limits, &h("04 00 00 00 00 00 65 09 01 00 00 00"));
    assert_eq!(
        e,
        ChunkError::MessageTooLarge {
            csid: 4,
            len: 101,
            limit: 100
        }
    );
}

#[test]
fn error_too_many_chunk_streams() {
    let limits = ChunkLimits {
        max_chunk_streams: 2,
        ..ChunkLimits::default()
    };
    let e = decode_err(
        limits,
        &h("03 00 00 00 00 00 01 09 01 00 00 00 AA \
            04 00 00 00 00 00 01 09 01 00 00 00 AA \
            05 00 00 00 00 00 01 09 01 00 00 00 AA"),
    );
    assert_eq!(e, ChunkError::TooManyChunkStreams { limit: 2 });
}

#[test]
fn error_buffered_bytes_limit() {
    let limits = ChunkLimits {
        max_buffered_bytes: 1000,
        ..ChunkLimits::default()
    };
    // Two 900-byte messages in progress: each buffer is sized 900 (declared length caps the
    // 4 KiB minimum growth), the second one exceeds 1000.
    let mut bytes = h("04 00 00 00 00 00 03 84 09 01 00 00 00");
    bytes.extend_from_slice(&pattern(128));
    bytes.extend_from_slice(&h("05 00 00 00 00 00 03 84 09 01 00 00 00"));
    bytes.extend_from_slice(&pattern(128));
    let e = decode_err(limits, &bytes);
    assert_eq!(e, ChunkError::BufferedBytesLimit { limit: 1000 });
}

#[test]
fn buffered_bytes_grow_with_received_data_not_declared_length() {
    let mut dec = ChunkDecoder::default();
    // Declares 8 MiB - 1 bytes, sends one.
    let mut src = BytesMut::from(&h("04 00 00 00 7F FF FF 09 01 00 00 00 AA")[..]);
    assert_eq!(dec.decode(&mut src).unwrap(), None);
    assert!(dec.buffered_bytes() <= 4096, "{}", dec.buffered_bytes());
}

#[test]
fn error_no_prior_header() {
    for (bytes, fmt) in [
        ("43 00 00 00 00 00 01 09 AA", 1u8),
        ("83 00 00 00 AA", 2),
        ("C3 AA", 3),
        ("82 00 00 00 AA", 2),
    ] {
        let e = decode_err(ChunkLimits::default(), &h(bytes));
        let csid = if bytes.starts_with("82") { 2 } else { 3 };
        assert_eq!(e, ChunkError::Fmt1Or2OrFmt3WithoutPriorHeader { csid, fmt });
    }
}

#[test]
fn error_message_length_changed_mid_message() {
    let mut bytes = h("04 00 00 00 00 01 2C 09 01 00 00 00");
    bytes.extend_from_slice(&pattern(128));
    bytes.extend_from_slice(&h("44 00 00 00 00 00 10 09"));
    let e = decode_err(ChunkLimits::default(), &bytes);
    assert_eq!(
        e,
        ChunkError::MessageLengthChangedMidMessage {
            csid: 4,
            expected: 300,
            got: 16
        }
    );
}

#[test]
fn error_control_message_too_short() {
    let e = decode_err(
        ChunkLimits::default(),
        &h("02 00 00 00 00 00 02 01 00 00 00 00 01 00"),
    );
    assert_eq!(e, ChunkError::ControlMessageTooShort { type_id: 1, len: 2 });
    let e = decode_err(
        ChunkLimits::default(),
        &h("02 00 00 00 00 00 00 02 00 00 00 00"),
    );
    assert_eq!(e, ChunkError::ControlMessageTooShort { type_id: 2, len: 0 });
}

#[test]
fn errors_are_sticky() {
    let mut dec = ChunkDecoder::default();
    let mut src = BytesMut::from(&h("C3 AA")[..]);
    let first = dec.decode(&mut src).unwrap_err();
    let mut more = BytesMut::from(&h(SEED)[..]);
    assert_eq!(dec.decode(&mut more).unwrap_err(), first);
}

// ---- encoder ----

fn encode(enc: &mut ChunkEncoder, m: &RawMessage) -> Vec<u8> {
    let mut out = BytesMut::new();
    enc.encode(m, &mut out);
    out.to_vec()
}

#[test]
fn encoder_reproduces_the_seed_vector() {
    let seed = h(SEED);
    let m = msg(3, 0xb68, 20, 0, &seed[12..]);
    assert_eq!(encode(&mut ChunkEncoder::new(), &m), seed);
}

#[test]
fn encoder_header_compression() {
    let mut enc = ChunkEncoder::new();
    let p = [1u8, 2, 3];
    assert_eq!(
        encode(&mut enc, &msg(4, 100, 8, 1, &p)),
        h("04 00 00 64 00 00 03 08 01 00 00 00 01 02 03")
    );
    // same length/type: fmt 2 (never fmt 3 right after fmt 0)
    assert_eq!(
        encode(&mut enc, &msg(4, 123, 8, 1, &p)),
        h("84 00 00 17 01 02 03")
    );
    // same delta again: fmt 3
    assert_eq!(encode(&mut enc, &msg(4, 146, 8, 1, &p)), h("C4 01 02 03"));
    // different delta: fmt 2
    assert_eq!(
        encode(&mut enc, &msg(4, 150, 8, 1, &p)),
        h("84 00 00 04 01 02 03")
    );
    // different length: fmt 1
    assert_eq!(
        encode(&mut enc, &msg(4, 150, 8, 1, &[9])),
        h("44 00 00 00 00 00 01 08 09")
    );
    // different type: fmt 1
    assert_eq!(
        encode(&mut enc, &msg(4, 151, 9, 1, &[9])),
        h("44 00 00 01 00 00 01 09 09")
    );
    // backwards timestamp: fmt 0
    assert_eq!(
        encode(&mut enc, &msg(4, 10, 9, 1, &[9])),
        h("04 00 00 0A 00 00 01 09 01 00 00 00 09")
    );
    // different stream id: fmt 0
    assert_eq!(
        encode(&mut enc, &msg(4, 10, 9, 2, &[9])),
        h("04 00 00 0A 00 00 01 09 02 00 00 00 09")
    );
}

#[test]
fn encoder_basic_header_forms() {
    for (csid, basic) in [
        (2u32, "02"),
        (63, "3F"),
        (64, "00 00"),
        (319, "00 FF"),
        (320, "01 00 01"),
        (65599, "01 FF FF"),
    ] {
        let out = encode(&mut ChunkEncoder::new(), &msg(csid, 0, 8, 0, &[]));
        assert_eq!(
            out,
            [h(basic), h("00 00 00 00 00 00 08 00 00 00 00")].concat()
        );
    }
}

#[test]
fn encoder_extended_timestamp_repeated_on_continuations() {
    let m = msg(4, 0x0100_0000, 9, 1, &pattern(130));
    let expected = [
        extended_first_chunk(),
        h("C4 01 00 00 00"),
        pattern(130)[128..].to_vec(),
    ]
    .concat();
    assert_eq!(encode(&mut ChunkEncoder::new(), &m), expected);
    let mut segs = Vec::new();
    encode_standalone(&m, 128, &mut segs);
    assert_eq!(segs.concat(), expected);
}

#[test]
fn encoder_extended_delta_uses_fmt2_not_fmt3() {
    let mut enc = ChunkEncoder::new();
    encode(&mut enc, &msg(5, 0, 9, 1, &[1]));
    assert_eq!(
        encode(&mut enc, &msg(5, 0x0100_0000, 9, 1, &[2])),
        h("85 FF FF FF 01 00 00 00 02")
    );
    assert_eq!(
        encode(&mut enc, &msg(5, 0x0200_0000, 9, 1, &[3])),
        h("85 FF FF FF 01 00 00 00 03")
    );
}

#[test]
fn encode_vectored_is_zero_copy_and_matches_encode() {
    let payload = Bytes::from(pattern(1000));
    let m = RawMessage {
        csid: 6,
        timestamp: Timestamp(33),
        type_id: MessageType::VIDEO,
        stream_id: 1,
        payload: payload.clone(),
    };
    let mut a = ChunkEncoder::new();
    let mut b = ChunkEncoder::new();
    for _ in 0..3 {
        let mut segs = Vec::new();
        b.encode_vectored(&m, &mut segs);
        assert_eq!(segs.concat(), encode(&mut a, &m));
        let base = payload.as_ptr() as usize;
        let payload_segments = segs
            .iter()
            .filter(|s| {
                let p = s.as_ptr() as usize;
                p >= base && p < base + payload.len()
            })
            .count();
        assert_eq!(payload_segments, 8);
    }
}

#[test]
fn encode_standalone_always_starts_with_fmt0() {
    let m = msg(4, 100, 8, 1, &[1, 2, 3]);
    let mut segs = Vec::new();
    encode_standalone(&m, 128, &mut segs);
    encode_standalone(&m, 128, &mut segs);
    let expected = h("04 00 00 64 00 00 03 08 01 00 00 00 01 02 03");
    assert_eq!(segs.concat(), [expected.clone(), expected].concat());
}

#[test]
fn record_standalone_keeps_compression_in_sync() {
    let mut enc = ChunkEncoder::new();
    let first = msg(4, 100, 8, 1, &[1, 2, 3]);
    let mut segs = Vec::new();
    encode_standalone(&first, 128, &mut segs);
    enc.record_standalone(&first);
    let second = msg(4, 120, 8, 1, &[4, 5, 6]);
    let mut wire = BytesMut::from(&segs.concat()[..]);
    let tail = encode(&mut enc, &second);
    assert_eq!(tail, h("84 00 00 14 04 05 06"));
    wire.extend_from_slice(&tail);
    assert_eq!(
        decode_all(&mut ChunkDecoder::default(), &mut wire),
        vec![first, second]
    );
}

#[test]
fn encoder_chunk_size_change() {
    let mut enc = ChunkEncoder::new();
    enc.set_chunk_size(2);
    assert_eq!(enc.chunk_size(), 2);
    assert_eq!(
        encode(&mut enc, &msg(3, 0, 20, 0, &[1, 2, 3, 4, 5])),
        h("03 00 00 00 00 00 05 14 00 00 00 00 01 02 C3 03 04 C3 05")
    );
}

#[test]
#[should_panic(expected = "chunk stream id")]
fn encoder_rejects_invalid_csid() {
    encode(&mut ChunkEncoder::new(), &msg(1, 0, 8, 0, &[]));
}

#[test]
#[should_panic(expected = "chunk size")]
fn encoder_rejects_zero_chunk_size() {
    ChunkEncoder::new().set_chunk_size(0);
}
