//! Replays the committed chunk fuzz corpus (`fuzz/corpus/chunk/`) through the fuzz target's
//! driver (`sluice_rtmp::check::chunk`, the same code `fuzz/fuzz_targets/chunk.rs` runs), so the
//! corpus is checked by the normal test suite. The corpus is produced by `regenerate_chunk_corpus` below
//! (`cargo test -p sluice-rtmp --test chunk_corpus -- --ignored`), mostly from `ChunkEncoder`
//! output: each file is one configuration byte (see the fuzz target) followed by chunk stream
//! bytes.

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use sluice_rtmp::chunk::{ChunkEncoder, ChunkError};
use sluice_rtmp::{MessageType, RawMessage, Timestamp};

use sluice_rtmp::check::chunk::{run, CHUNK_SIZES};

// ---- corpus ----

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/chunk")
}

fn msg(csid: u32, ts: u32, type_id: MessageType, stream_id: u32, len: usize) -> RawMessage {
    RawMessage {
        csid,
        timestamp: Timestamp(ts),
        type_id,
        stream_id,
        payload: Bytes::from(
            (0..len)
                .map(|i| (i * 13 + csid as usize) as u8)
                .collect::<Vec<_>>(),
        ),
    }
}

fn set_chunk_size(size: u32) -> RawMessage {
    RawMessage {
        csid: 2,
        timestamp: Timestamp(0),
        type_id: MessageType::SET_CHUNK_SIZE,
        stream_id: 0,
        payload: Bytes::copy_from_slice(&size.to_be_bytes()),
    }
}

fn encoded(config: u8, msgs: &[RawMessage]) -> Vec<u8> {
    let mut enc = ChunkEncoder::new();
    enc.set_chunk_size(CHUNK_SIZES[usize::from(config & 7)]);
    let mut out = BytesMut::new();
    out.extend_from_slice(&[config]);
    for m in msgs {
        enc.encode(m, &mut out);
        if m.type_id == MessageType::SET_CHUNK_SIZE {
            let size = u32::from_be_bytes(m.payload[..4].try_into().unwrap());
            enc.set_chunk_size(size);
        }
    }
    out.to_vec()
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// The corpus files: (name, contents).
fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let av: Vec<RawMessage> = (0..12u32)
        .flat_map(|i| {
            [
                msg(4, i * 23, MessageType::AUDIO, 1, 180),
                msg(
                    6,
                    i * 33,
                    MessageType::VIDEO,
                    1,
                    900 + (i as usize % 3) * 100,
                ),
            ]
        })
        .collect();
    let mut av_resized = av.clone();
    av_resized.insert(7, set_chunk_size(4096));
    let seed = h(
        "03 00 0b 68 00 00 19 14 00 00 00 00 02 00 0C 63 72 65 61 74 65 53 74 72 65 61 6D \
                  00 40 00 00 00 00 00 00 00 05",
    );
    let mut ext_no_repeat = vec![0x04];
    ext_no_repeat.extend(h("04 FF FF FF 00 00 82 09 01 00 00 00 01 00 00 00"));
    ext_no_repeat.extend(vec![0x5A; 64]);
    ext_no_repeat.extend(h("C4"));
    ext_no_repeat.extend(vec![0x5B; 64]);
    ext_no_repeat.extend(h("C4 01 02"));
    // a following message supplies the 4 bytes the repeat check peeks at
    ext_no_repeat.extend(h("05 00 00 00 00 00 01 08 01 00 00 00 77"));
    let mut abort = vec![0x00];
    abort.extend(h("04 00 00 00 00 01 2C 09 01 00 00 00"));
    abort.extend(vec![0x11; 128]);
    abort.extend(h("02 00 00 00 00 00 04 02 00 00 00 00 00 00 00 04"));
    abort.extend(h("04 00 00 05 00 00 01 09 01 00 00 00 55"));
    vec![
        ("seed_create_stream", [vec![0x08], seed].concat()),
        ("audio_video_128", encoded(0x00, &av)),
        ("audio_video_set_chunk_size", encoded(0x10, &av_resized)),
        (
            "extended_timestamps_64",
            encoded(
                0x04,
                &[
                    msg(4, 0x00FF_FFF0, MessageType::VIDEO, 1, 200),
                    msg(4, 0x0100_0000, MessageType::VIDEO, 1, 200),
                    msg(4, 0x0100_0010, MessageType::VIDEO, 1, 200),
                    msg(5, 0x7FFF_FFFF, MessageType::AUDIO, 1, 70),
                    msg(5, 0xFFFF_FFFF, MessageType::AUDIO, 1, 70),
                ],
            ),
        ),
        ("extended_without_repeat", ext_no_repeat),
        ("abort_mid_message", abort),
        (
            "large_chunk_stream_ids",
            encoded(
                0x18,
                &[64, 319, 320, 65_599, 64, 320].map(|c| msg(c, c, MessageType::DATA_AMF0, 0, 40)),
            ),
        ),
        (
            "header_compression",
            encoded(
                0x00,
                &(0..10u32)
                    .map(|i| {
                        msg(
                            8,
                            1000 + i * 40,
                            MessageType::AUDIO,
                            1,
                            if i < 6 { 20 } else { 30 },
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "librtmp_ping_fmt1",
            [vec![0x00], h("42 00 00 00 00 00 06 04 00 06 00 00 0D 0F")].concat(),
        ),
        (
            "small_limits_too_large",
            encoded(
                0x20,
                &[
                    msg(3, 0, MessageType::COMMAND_AMF0, 0, 100),
                    msg(6, 0, MessageType::VIDEO, 1, 5000),
                ],
            ),
        ),
        (
            "chunk_size_1",
            encoded(
                0x09,
                &(0..5u32)
                    .map(|i| msg(3, i, MessageType::COMMAND_AMF0, 0, 9))
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "zero_length_and_wrap",
            encoded(
                0x02,
                &[
                    msg(3, 0xFFFF_FFF0, MessageType::DATA_AMF0, 0, 0),
                    msg(3, 0x0000_0010, MessageType::DATA_AMF0, 0, 0),
                    msg(3, 0x0000_0030, MessageType::DATA_AMF0, 0, 5),
                ],
            ),
        ),
    ]
}

#[test]
fn corpus_replays() {
    let mut files = 0;
    for entry in std::fs::read_dir(corpus_dir()).expect("fuzz/corpus/chunk exists") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        run(&data);
        files += 1;
    }
    assert!(files >= 8, "only {files} corpus files");
}

#[test]
fn corpus_expectations() {
    for (name, data) in corpus() {
        let whole = run(&data).expect("non-empty corpus file");
        match name {
            "small_limits_too_large" => assert!(matches!(
                whole.error,
                Some(ChunkError::MessageTooLarge { .. })
            )),
            _ => {
                assert_eq!(whole.error, None, "{name}");
                assert!(!whole.messages.is_empty(), "{name}");
            }
        }
    }
}

/// Writes the corpus files. Run with `--ignored` after changing `corpus()`.
#[test]
#[ignore]
fn regenerate_chunk_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, data) in corpus() {
        std::fs::write(dir.join(name), data).unwrap();
    }
}
