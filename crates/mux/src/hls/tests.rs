//! Tests of the HLS playlist state without sockets: byte-exact playlists, RFC 8216bis rules
//! over random streams, blocking reload semantics, restarts.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::{AudioConfig, FlvItem, Sample, TrackConfig, TrackKind, VideoConfig};

const AVCC: &str = "0142c01effe100186742c01eda0283f602220000030002000003006478b1728c01000468ce3c80";
/// 2024-05-01T12:00:00.000Z.
const T0: u64 = 1_714_564_800_000;

fn part(ms: u32, independent: bool) -> Part {
    Part {
        duration: f64::from(ms) / 1000.0,
        independent,
        data: Bytes::from(vec![0u8; 4]),
    }
}

fn cfg(window: usize) -> HlsConfig {
    HlsConfig {
        segment_target_ms: 1000,
        part_target_ms: 200,
        window_segments: window,
        delta_updates: true,
    }
}

/// Segments of five 200 ms parts each, the first part independent.
fn playlist_with(cfg: HlsConfig, segments: usize, open_parts: usize) -> HlsPlaylist {
    let mut p = HlsPlaylist::new(cfg);
    p.handle_init(Bytes::from_static(b"init"));
    let mut wall = T0;
    for s in 0..=segments {
        let n = if s == segments { open_parts } else { 5 };
        for i in 0..n {
            p.push_part(part(200, i == 0), i == 0, wall);
            wall += 200;
        }
    }
    p
}

#[test]
fn ll_hls_playlist_vector() {
    let p = playlist_with(cfg(3), 2, 2);
    let text = p.render(&RenderOptions {
        prefix: "s/hls/x-",
        query: Some("expires=9&token=ab"),
        skip: false,
    });
    let q = "?expires=9&token=ab";
    let mut want = String::from(
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600\n\
         #EXT-X-PART-INF:PART-TARGET=0.200\n#EXT-X-MEDIA-SEQUENCE:0\n",
    );
    want += &format!("#EXT-X-MAP:URI=\"s/hls/x-init1.mp4{q}\"\n");
    for (msn, pdt) in [(0, "12:00:00.000"), (1, "12:00:01.000")] {
        want += &format!("#EXT-X-PROGRAM-DATE-TIME:2024-05-01T{pdt}Z\n");
        for i in 0..5 {
            let ind = if i == 0 { ",INDEPENDENT=YES" } else { "" };
            want +=
                &format!("#EXT-X-PART:DURATION=0.200,URI=\"s/hls/x-part{msn}.{i}.m4s{q}\"{ind}\n");
        }
        want += &format!("#EXTINF:1.000,\ns/hls/x-seg{msn}.m4s{q}\n");
    }
    want += "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:02.000Z\n";
    want += &format!(
        "#EXT-X-PART:DURATION=0.200,URI=\"s/hls/x-part2.0.m4s{q}\",INDEPENDENT=YES\n\
         #EXT-X-PART:DURATION=0.200,URI=\"s/hls/x-part2.1.m4s{q}\"\n\
         #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"s/hls/x-part2.2.m4s{q}\"\n"
    );
    assert_eq!(text, want);
}

#[test]
fn classic_hls_playlist_vector() {
    let mut c = cfg(2);
    c.part_target_ms = 0;
    c.delta_updates = false;
    let p = playlist_with(c, 3, 1);
    let text = p.render(&RenderOptions::default());
    assert_eq!(
        text,
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:1\n\
         #EXT-X-MAP:URI=\"init1.mp4\"\n\
         #EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:01.000Z\n#EXTINF:1.000,\nseg1.m4s\n\
         #EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:02.000Z\n#EXTINF:1.000,\nseg2.m4s\n"
    );
}

#[test]
fn delta_update_skips_old_segments() {
    let p = playlist_with(cfg(12), 12, 1);
    assert_eq!(p.can_skip_until(), Some(6));
    let full = p.render(&RenderOptions::default());
    assert!(full.contains("CAN-SKIP-UNTIL=6.0"), "{full}");
    assert!(!full.contains("EXT-X-SKIP:"));
    let delta = p.render(&RenderOptions {
        skip: true,
        ..Default::default()
    });
    // 12 segments of 1 s plus 0.2 s open: the last 6 are within 6 s of the end.
    assert!(
        delta.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=6\n"),
        "{delta}"
    );
    assert!(!delta.contains("seg5.m4s") && delta.contains("seg6.m4s"));
    assert!(delta.contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
    assert!(
        delta.contains("#EXT-X-MAP:"),
        "the map of the first listed segment"
    );
}

#[test]
fn old_parts_leave_the_playlist() {
    let p = playlist_with(cfg(12), 8, 1);
    let text = p.render(&RenderOptions::default());
    assert!(!text.contains("part4.0.m4s"), "{text}");
    assert!(text.contains("part5.0.m4s") || text.contains("part6.0.m4s"));
    assert!(text.contains("part8.0.m4s"));
    // Parts out of the listing are still served while their segment is in the window.
    assert!(matches!(p.part(4, 0), PartLookup::Ready(_)));
}

#[test]
fn blocking_reload_rules() {
    let p = playlist_with(cfg(6), 2, 2); // segments 0, 1 complete; parts 2.0 and 2.1
    assert_eq!(p.last_part(), Some((2, 1)));
    assert_eq!(p.blocking(1, None), Blocking::Ready);
    assert_eq!(p.blocking(2, None), Blocking::Wait);
    assert_eq!(p.blocking(2, Some(1)), Blocking::Ready);
    assert_eq!(
        p.blocking(1, Some(9)),
        Blocking::Ready,
        "a later part exists"
    );
    assert_eq!(p.blocking(2, Some(2)), Blocking::Wait, "the preload hint");
    assert_eq!(p.blocking(3, Some(0)), Blocking::Wait);
    assert_eq!(p.blocking(4, None), Blocking::Wait);
    assert_eq!(
        p.blocking(5, None),
        Blocking::Reject,
        "more than two segments ahead"
    );
    // Advance Part Limit: 3 / 0.2 s = 15 parts.
    assert_eq!(p.blocking(2, Some(16)), Blocking::Wait);
    assert_eq!(p.blocking(2, Some(17)), Blocking::Reject);
    assert_eq!(p.blocking(4, Some(0)), Blocking::Wait);
    assert_eq!(p.blocking(4, Some(9)), Blocking::Reject);
    assert_eq!(p.part(2, 2), PartLookup::Pending);
    assert_eq!(p.part(2, 9), PartLookup::Missing);
    assert_eq!(
        p.part(1, 5),
        PartLookup::Missing,
        "its segment ended with 5 parts"
    );
    assert!(p.segment(1).is_some() && p.segment(2).is_none());

    // The part a blocked request waits for arrives: ready, and the version moved.
    let mut p = p;
    let v = p.version();
    p.push_part(part(200, false), false, 0);
    assert!(p.version() > v);
    assert_eq!(p.blocking(2, Some(2)), Blocking::Ready);
}

#[test]
fn segment_bytes_are_the_parts_joined() {
    let mut p = HlsPlaylist::new(cfg(6));
    p.handle_init(Bytes::from_static(b"I"));
    for (i, b) in [&b"ab"[..], b"cde", b"f"].iter().enumerate() {
        p.push_part(
            Part {
                duration: 0.2,
                independent: i == 0,
                data: Bytes::copy_from_slice(b),
            },
            i == 0,
            T0,
        );
    }
    p.end_segment();
    assert_eq!(p.segment(0).unwrap(), Bytes::from_static(b"abcdef"));
    assert_eq!(p.part(0, 1), PartLookup::Ready(Bytes::from_static(b"cde")));
    assert_eq!(p.init(1).unwrap(), Bytes::from_static(b"I"));
}

#[test]
fn restart_is_a_discontinuity_and_sequence_goes_on() {
    let mut p = playlist_with(cfg(3), 2, 2);
    p.handle_discontinuity();
    p.handle_init(Bytes::from_static(b"other init"));
    p.push_part(part(200, true), true, T0 + 60_000);
    let text = p.render(&RenderOptions::default());
    assert!(
        text.contains(
            "#EXTINF:0.400,\nseg2.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init2.mp4\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:01:00.000Z\n"
        ),
        "{text}"
    );
    // The discontinuity leaves the window: counted.
    for _ in 0..4 {
        p.push_part(part(200, true), true, 0);
    }
    let text = p.render(&RenderOptions::default());
    assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{text}");
    assert!(!text.contains("init1.mp4"));
    assert!(p.init(1).is_none(), "an init no segment needs is dropped");
}

#[test]
fn resource_names_round_trip() {
    for r in [
        Resource::Init(3),
        Resource::Segment(0),
        Resource::Part(12, 4),
    ] {
        assert_eq!(Resource::parse(&r.name()), Some(r));
    }
    for bad in [
        "seg.m4s",
        "seg1.mp4",
        "part1.m4s",
        "part1.x.m4s",
        "init-1.mp4",
        "seg+1.m4s",
    ] {
        assert_eq!(Resource::parse(bad), None, "{bad}");
    }
}

#[test]
fn program_date_time_format() {
    assert_eq!(format_program_date_time(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(format_program_date_time(T0 + 1), "2024-05-01T12:00:00.001Z");
    assert_eq!(
        format_program_date_time(951_825_600_000),
        "2000-02-29T12:00:00.000Z"
    );
}

// ---- the segmenter over synthetic streams ----

fn video_config() -> TrackConfig {
    TrackConfig::Video(VideoConfig::avc(Bytes::from(hex::decode(AVCC).unwrap())).unwrap())
}

fn aac_config() -> TrackConfig {
    TrackConfig::Audio(AudioConfig::aac(Bytes::from_static(&[0x12, 0x10])).unwrap())
}

fn sample(track: TrackKind, ts: u32, key: bool) -> FlvItem {
    FlvItem::Sample(Sample {
        track,
        timestamp: ts,
        composition_offset: 0,
        keyframe: key,
        data: Bytes::from_static(&[0x65, 0, 0, 0]),
        wall_clock: None,
    })
}

/// Feeds `secs` of video at `fps` with a key frame every `gop` frames and AAC at 44.1 kHz.
fn feed(seg: &mut HlsSegmenter, start_ms: u32, secs: u32, fps: u32, gop: u32) {
    seg.handle_item(FlvItem::Config(video_config()), 0).unwrap();
    seg.handle_item(FlvItem::Config(aac_config()), 0).unwrap();
    let frames = secs * fps;
    let mut audio_n = 0u32;
    for f in 0..frames {
        let ts = start_ms + f * 1000 / fps;
        while start_ms + audio_n * 1024 * 1000 / 44_100 <= ts {
            let at = start_ms + audio_n * 1024 * 1000 / 44_100;
            seg.handle_item(sample(TrackKind::Audio, at, false), u64::from(at))
                .unwrap();
            audio_n += 1;
        }
        seg.handle_item(
            sample(TrackKind::Video, ts, f % gop == 0),
            T0 + u64::from(ts),
        )
        .unwrap();
    }
}

/// RFC 8216bis rules every rendered playlist must keep.
fn check_rules(p: &HlsPlaylist) {
    let target = f64::from(p.config().part_target_ms) / 1000.0;
    for s in p.segments().chain(p.open_segment()) {
        for part in &s.parts {
            assert!(
                format!("{:.3}", part.duration).parse::<f64>().unwrap() <= target,
                "part of {} s > PART-TARGET {target}",
                part.duration
            );
        }
        assert!(
            s.parts[0].independent,
            "segment {} starts with a key frame",
            s.msn
        );
    }
    for s in p.segments() {
        assert!(
            s.duration().round() as u32 <= p.target_duration(),
            "EXTINF {} > TARGETDURATION {}",
            s.duration(),
            p.target_duration()
        );
    }
    let msns: Vec<u64> = p.segments().map(|s| s.msn).collect();
    assert!(msns.windows(2).all(|w| w[1] == w[0] + 1), "{msns:?}");
}

#[test]
fn segmenter_cuts_on_keyframes_and_parts_by_time() {
    let mut seg = HlsSegmenter::new(cfg(6));
    feed(&mut seg, 0, 5, 30, 30);
    let p = seg.playlist();
    check_rules(p);
    let durations: Vec<f64> = p.segments().map(Segment::duration).collect();
    assert_eq!(durations.len(), 4, "{durations:?}");
    for d in &durations {
        assert!((d - 1.0).abs() < 0.001, "{durations:?}");
    }
    // Five-ish parts per 1 s segment, the first independent only.
    let first = p.segments().next().unwrap();
    assert!(first.parts.len() >= 5, "{:?}", first.parts.len());
    assert!(first.parts.iter().skip(1).all(|x| !x.independent));
    assert_eq!(first.program_date_time_ms, T0);
    assert!(p.init(1).is_some());

    // A 2 s GOP with a 1 s target: 2 s segments, TARGETDURATION 2.
    let mut seg = HlsSegmenter::new(cfg(6));
    feed(&mut seg, 0, 7, 25, 50);
    check_rules(seg.playlist());
    assert_eq!(seg.playlist().target_duration(), 2);
}

#[test]
fn segmenter_restart_keeps_sequence_and_marks_discontinuity() {
    let mut seg = HlsSegmenter::new(cfg(20));
    feed(&mut seg, 5000, 3, 30, 30);
    seg.handle_restart();
    feed(&mut seg, 0, 3, 30, 30);
    seg.end();
    let p = seg.playlist();
    check_rules(p);
    let disc: Vec<u64> = p
        .segments()
        .filter(|s| s.discontinuity)
        .map(|s| s.msn)
        .collect();
    assert_eq!(
        disc,
        vec![3],
        "{:?}",
        p.segments().map(|s| s.msn).collect::<Vec<_>>()
    );
    assert_eq!(p.segments().count(), 6);
    let text = p.render(&RenderOptions::default());
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{text}");
    // Same codec configuration: the same init, no second EXT-X-MAP.
    assert_eq!(text.matches("#EXT-X-MAP").count(), 1, "{text}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn playlists_keep_the_rfc_rules(
        fps in prop::sample::select(vec![24u32, 25, 30, 50, 60]),
        gop_secs in 1u32..4,
        part_ms in prop::sample::select(vec![100u32, 200, 333, 500]),
        seg_ms in prop::sample::select(vec![1000u32, 2000]),
        restarts in 0usize..3,
    ) {
        let c = HlsConfig { segment_target_ms: seg_ms, part_target_ms: part_ms, window_segments: 8, delta_updates: true };
        let mut seg = HlsSegmenter::new(c);
        let mut last_seq = 0;
        for r in 0..=restarts {
            if r > 0 {
                seg.handle_restart();
            }
            feed(&mut seg, r as u32 * 777, 6, fps, fps * gop_secs);
            let p = seg.playlist();
            check_rules(p);
            prop_assert!(p.media_sequence() >= last_seq);
            last_seq = p.media_sequence();
            let text = p.render(&RenderOptions { skip: true, ..Default::default() });
            prop_assert!(text.starts_with("#EXTM3U\n"));
        }
    }
}
