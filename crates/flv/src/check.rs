//! Whole-pipeline exercise used by the `flv` fuzz target and by the corpus regression test, so
//! both run exactly the same code: demux an input in input-dependent chunk sizes, check that the
//! result does not depend on the split points, re-encode every tag and demux it again, and run
//! every tag-body parser, classifier and describer on every tag body (and on the raw input as
//! if it were a tag body). Only assertion failures may panic; parser errors are expected.

use bytes::{Bytes, BytesMut};

use crate::{
    classify_audio, classify_video, describe_audio_sequence_header, describe_video_sequence_header,
    encode_tag, parse_aac_config, parse_audio_header, parse_av1_config, parse_avc_config,
    parse_hevc_config, parse_multichannel_config, parse_script, parse_video_header,
    parse_vp_config, AudioTagHeader, FlvDemuxer, FlvError, FlvEvent, FlvLimits, VideoTagHeader,
};

/// Limits used by the exercise: smaller tags than the default so the fuzzer stays fast.
fn limits() -> FlvLimits {
    FlvLimits {
        max_tag_size: 1 << 20,
        ..FlvLimits::default()
    }
}

fn demux_all(
    data: &[u8],
    mut next_chunk: impl FnMut() -> usize,
) -> (Vec<FlvEvent>, Option<FlvError>) {
    let mut d = FlvDemuxer::with_limits(limits());
    let mut src = BytesMut::new();
    let mut events = Vec::new();
    let mut pos = 0;
    loop {
        loop {
            match d.decode(&mut src) {
                Ok(Some(ev)) => events.push(ev),
                Ok(None) => break,
                Err(e) => return (events, Some(e)),
            }
        }
        if pos >= data.len() {
            return (events, d.finish(&src).err());
        }
        let n = next_chunk().clamp(1, data.len() - pos);
        src.extend_from_slice(&data[pos..pos + n]);
        pos += n;
    }
}

/// Runs every parser that takes a tag body on `body`; returns how many succeeded.
pub fn exercise_tag_body(body: &[u8]) -> usize {
    let mut ok = 0;
    let _ = classify_video(body);
    let _ = classify_audio(body);
    if let Ok((h, len)) = parse_video_header(body) {
        ok += 1;
        let rest = body.get(len..).unwrap_or(&[]);
        if let VideoTagHeader::Enhanced(e) = h {
            for t in e.tracks(Bytes::copy_from_slice(rest)).flatten() {
                ok += usize::from(parse_avc_config(&t.data).is_ok());
                ok += usize::from(parse_hevc_config(&t.data).is_ok());
                ok += usize::from(parse_av1_config(&t.data).is_ok());
                ok += usize::from(parse_vp_config(&t.data).is_ok());
                ok += usize::from(parse_script(&t.data).is_ok());
            }
        }
        ok += usize::from(parse_avc_config(rest).is_ok());
        ok += usize::from(parse_hevc_config(rest).is_ok());
    }
    if let Ok((h, len)) = parse_audio_header(body) {
        ok += 1;
        let rest = body.get(len..).unwrap_or(&[]);
        if let AudioTagHeader::Enhanced(e) = h {
            for t in e.tracks(Bytes::copy_from_slice(rest)).flatten() {
                ok += usize::from(parse_aac_config(&t.data).is_ok());
                ok += usize::from(parse_multichannel_config(&t.data).is_ok());
            }
        }
        ok += usize::from(parse_aac_config(rest).is_ok());
    }
    ok += usize::from(describe_video_sequence_header(body).is_ok());
    ok += usize::from(describe_audio_sequence_header(body).is_ok());
    ok += usize::from(parse_script(body).is_ok());
    ok
}

/// The fuzz/corpus entry point; returns the number of demuxed events.
///
/// # Panics
/// Only if an invariant is broken: demuxing depends on split points, or a tag does not survive
/// an encode/decode round trip.
pub fn exercise_flv(data: &[u8]) -> usize {
    let (whole, whole_err) = demux_all(data, || usize::MAX);
    let mut state = data
        .iter()
        .take(16)
        .fold(data.len() as u32 ^ 0x9e37_79b9, |acc, &b| {
            acc.rotate_left(5) ^ u32::from(b)
        });
    let (split, split_err) = demux_all(data, || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (state >> 16) as usize % 97 + 1
    });
    assert_eq!(whole, split, "demux result depends on split points");
    assert_eq!(
        whole_err.is_some(),
        split_err.is_some(),
        "demux error depends on split points"
    );

    for ev in &whole {
        if let FlvEvent::Tag(tag) = ev {
            let mut buf = BytesMut::new();
            if encode_tag(tag, &mut buf).is_ok() {
                let mut framed =
                    BytesMut::from(&b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"[..]);
                framed.extend_from_slice(&buf);
                let (again, err) = demux_all(&framed, || usize::MAX);
                assert!(err.is_none(), "re-encoded tag does not demux");
                assert_eq!(again.get(1), Some(ev), "tag changed in a round trip");
            }
            exercise_tag_body(&tag.data);
        }
    }
    exercise_tag_body(data);
    whole.len()
}
