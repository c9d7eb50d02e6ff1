//! Unit and property tests of [`Fmp4Muxer`]: timing (wrap, discontinuities, audio sample
//! counting), cutting policies, init changes, `prft`, and a box-level round trip of random
//! streams through the test-only box walker.

use bytes::Bytes;
use proptest::prelude::*;

use crate::testutil::{be32, be64, find, find_all, parse_boxes};
use crate::{
    AudioConfig, Fmp4Muxer, Fragment, FragmentPolicy, InitSegment, MuxError, MuxEvent,
    MuxerOptions, NtpTime, Sample, TrackConfig, TrackKind, VideoConfig,
};

const AVCC: &str = "0142c01effe100186742c01eda0283f602220000030002000003006478b1728c01000468ce3c80";

fn video_config() -> TrackConfig {
    TrackConfig::Video(VideoConfig::avc(Bytes::from(hex::decode(AVCC).unwrap())).unwrap())
}

fn aac_config() -> TrackConfig {
    TrackConfig::Audio(AudioConfig::aac(Bytes::from_static(&[0x12, 0x10])).unwrap())
}

fn video(ts: u32, key: bool) -> Sample {
    Sample {
        track: TrackKind::Video,
        timestamp: ts,
        composition_offset: 0,
        keyframe: key,
        data: Bytes::from(vec![if key { 0x65 } else { 0x41 }; 10]),
        wall_clock: None,
    }
}

fn audio(ts: u32) -> Sample {
    Sample {
        track: TrackKind::Audio,
        timestamp: ts,
        composition_offset: 0,
        keyframe: false,
        data: Bytes::from_static(&[0x21, 0x1b, 0x00]),
        wall_clock: None,
    }
}

fn muxer(policy: FragmentPolicy, tracks: &[TrackConfig]) -> Fmp4Muxer {
    let mut m = Fmp4Muxer::new(MuxerOptions {
        policy,
        ..MuxerOptions::default()
    });
    for t in tracks {
        m.handle_config(t.clone());
    }
    m
}

fn events(m: &mut Fmp4Muxer) -> (Vec<InitSegment>, Vec<Fragment>) {
    let (mut inits, mut frags) = (Vec::new(), Vec::new());
    while let Some(e) = m.poll_event() {
        match e {
            MuxEvent::Init(i) => {
                assert!(frags.is_empty(), "init after a fragment in one drain");
                inits.push(i)
            }
            MuxEvent::Fragment(f) => frags.push(f),
        }
    }
    (inits, frags)
}

/// (track_ID, tfdt, per-sample durations) of every traf of a fragment.
fn trafs(f: &Fragment) -> Vec<(u32, u64, Vec<u32>)> {
    let bytes = f.to_bytes();
    let boxes = parse_boxes(&bytes);
    find_all(&boxes, "moof/traf")
        .into_iter()
        .map(|traf| {
            let kids = traf.children();
            let tfhd = &kids.iter().find(|b| b.name() == "tfhd").unwrap().payload;
            let tfdt = &kids.iter().find(|b| b.name() == "tfdt").unwrap().payload;
            let trun = &kids.iter().find(|b| b.name() == "trun").unwrap().payload;
            let n = be32(trun, 4) as usize;
            let stride = if trun[0] == 1 { 16 } else { 12 };
            let durations = (0..n).map(|i| be32(trun, 12 + i * stride)).collect();
            (be32(tfhd, 4), be64(tfdt, 4), durations)
        })
        .collect()
}

#[test]
fn rtmp_timestamp_wrap_keeps_tfdt_monotonic() {
    let mut m = muxer(FragmentPolicy::EverySample, &[video_config()]);
    let start = u32::MAX - 79; // 80 ms before the wrap
    for i in 0..5u32 {
        m.handle_sample(video(start.wrapping_add(i * 40), i == 0))
            .unwrap();
    }
    m.flush();
    let (inits, frags) = events(&mut m);
    assert_eq!(inits.len(), 1);
    let t: Vec<_> = frags.iter().flat_map(trafs).collect();
    let tfdts: Vec<u64> = t.iter().map(|x| x.1).collect();
    assert_eq!(tfdts, [0, 3600, 7200, 10800, 14400]);
    assert!(t.iter().all(|x| x.2 == [3600]));
}

#[test]
fn no_rebase_starts_at_the_rtmp_timestamp() {
    let mut m = Fmp4Muxer::new(MuxerOptions {
        policy: FragmentPolicy::EverySample,
        rebase_to_zero: false,
        ..MuxerOptions::default()
    });
    m.handle_config(video_config());
    m.handle_sample(video(1000, true)).unwrap();
    m.handle_sample(video(1040, false)).unwrap();
    let (_, frags) = events(&mut m);
    assert_eq!(trafs(&frags[0])[0].1, 90_000);
}

#[test]
fn publisher_restart_continues_the_timeline() {
    let mut m = muxer(FragmentPolicy::EverySample, &[video_config(), aac_config()]);
    for i in 0..50u32 {
        m.handle_sample(video(10_000 + i * 40, i == 0)).unwrap();
    }
    // Restart: timestamps begin again at 0.
    for i in 0..3u32 {
        m.handle_sample(video(i * 40, i == 0)).unwrap();
    }
    m.flush();
    let (_, frags) = events(&mut m);
    let tfdts: Vec<u64> = frags.iter().flat_map(trafs).map(|t| t.1).collect();
    assert!(tfdts.windows(2).all(|w| w[1] > w[0]), "{tfdts:?}");
    assert_eq!(tfdts[50], 50 * 3600, "gapless across the restart");
}

#[test]
fn small_steps_back_are_clamped() {
    let mut m = muxer(FragmentPolicy::Manual, &[video_config()]);
    for ts in [0, 40, 40, 30, 120] {
        m.handle_sample(video(ts, ts == 0)).unwrap();
    }
    m.flush();
    let (_, frags) = events(&mut m);
    let t = trafs(&frags[0]);
    assert_eq!(t[0].2.len(), 5);
    assert!(t[0].2.iter().all(|&d| d > 0), "{:?}", t[0].2);
    assert_eq!(t[0].2.iter().sum::<u32>() - t[0].2[4], 120 * 90);
}

#[test]
fn aac_timing_counts_samples_not_milliseconds() {
    let mut m = muxer(FragmentPolicy::Manual, &[aac_config()]);
    // 1024 samples at 44.1 kHz = 23.22 ms: RTMP rounds to whole milliseconds.
    for i in 0..20u32 {
        m.handle_sample(audio((f64::from(i) * 1024.0 / 44.1).round() as u32))
            .unwrap();
    }
    m.flush();
    let (_, frags) = events(&mut m);
    let t = trafs(&frags[0]);
    assert!(t[0].2.iter().all(|&d| d == 1024), "{:?}", t[0].2);
    // A real gap (100 ms of lost audio) resynchronises to the RTMP clock.
    let mut m = muxer(FragmentPolicy::Manual, &[aac_config()]);
    for ts in [0, 23, 46, 146] {
        m.handle_sample(audio(ts)).unwrap();
    }
    m.flush();
    let (_, frags) = events(&mut m);
    assert_eq!(
        trafs(&frags[0])[0].2[..3],
        [1024, 1024, 146 * 441 / 10 - 2048]
    );
}

#[test]
fn keyframe_policy_cuts_before_each_key_frame() {
    let mut m = muxer(
        FragmentPolicy::Keyframes { max_duration_ms: 0 },
        &[video_config(), aac_config()],
    );
    for i in 0..10u32 {
        m.handle_sample(video(i * 40, i % 5 == 0)).unwrap();
        m.handle_sample(audio(i * 40 + 10)).unwrap();
    }
    let (inits, frags) = events(&mut m);
    assert_eq!(inits[0].tracks, [TrackKind::Video, TrackKind::Audio]);
    assert_eq!(frags.len(), 1, "the second GOP is still open");
    let f = &frags[0];
    assert!(f.starts_with_keyframe());
    assert_eq!(f.track(TrackKind::Video).unwrap().samples, 5);
    // Audio with a known duration before the key frame at 200 ms: 10, 50, 90, 130 ms
    // (the one at 170 ms waits for its successor).
    assert_eq!(f.track(TrackKind::Audio).unwrap().samples, 4);
    m.flush();
    let (_, frags) = events(&mut m);
    assert_eq!(frags[0].track(TrackKind::Video).unwrap().samples, 5);
    assert_eq!(frags[0].sequence_number(), 2);
}

#[test]
fn audio_only_fragments_respect_max_duration() {
    let mut m = muxer(
        FragmentPolicy::Keyframes {
            max_duration_ms: 500,
        },
        &[aac_config()],
    );
    for i in 0..100u32 {
        m.handle_sample(audio(i * 1024 / 44)).unwrap();
    }
    let (_, frags) = events(&mut m);
    assert!(frags.len() >= 3, "{}", frags.len());
    for f in &frags {
        assert!(f.is_independent() && !f.starts_with_keyframe());
        assert!(
            (0.49..0.53).contains(&f.duration_secs()),
            "{}",
            f.duration_secs()
        );
    }
}

#[test]
fn manual_cuts_start_at_the_next_sample() {
    let mut m = muxer(FragmentPolicy::Manual, &[video_config()]);
    for i in 0..10u32 {
        if i == 4 || i == 8 {
            m.request_cut();
        }
        m.handle_sample(video(i * 40, i == 0 || i == 8)).unwrap();
    }
    let (_, frags) = events(&mut m);
    let counts: Vec<u32> = frags.iter().map(|f| f.tracks()[0].samples).collect();
    assert_eq!(counts, [4, 4]);
    assert!(frags[0].starts_with_keyframe());
    assert!(!frags[1].starts_with_keyframe());
    m.flush();
    let (_, frags) = events(&mut m);
    assert!(frags[0].starts_with_keyframe(), "the part from sample 8");
}

#[test]
fn repeated_sequence_headers_are_ignored_and_changes_make_a_new_init() {
    let mut m = muxer(
        FragmentPolicy::Keyframes { max_duration_ms: 0 },
        &[video_config()],
    );
    m.handle_sample(video(0, true)).unwrap();
    m.handle_sample(video(40, false)).unwrap();
    m.handle_config(video_config()); // the same again: nothing happens
    m.handle_sample(video(80, false)).unwrap();
    let (inits, frags) = events(&mut m);
    assert_eq!((inits.len(), frags.len()), (1, 0));
    // A new audio track: the open samples are flushed, then a second init.
    m.handle_config(aac_config());
    let (inits, frags) = events(&mut m);
    assert!(inits.is_empty());
    assert_eq!(frags[0].tracks()[0].samples, 3);
    m.handle_sample(video(120, true)).unwrap();
    let (inits, _) = events(&mut m);
    assert_eq!(inits.len(), 1);
    assert_eq!(inits[0].generation, 2);
    assert_eq!(inits[0].tracks, [TrackKind::Video, TrackKind::Audio]);
    assert_eq!(m.init_segment(), Some(&inits[0]));
    assert!(m.codecs_mime().unwrap().ends_with("mp4a.40.2\""));
}

#[test]
fn errors() {
    let mut m = muxer(FragmentPolicy::EverySample, &[video_config()]);
    assert!(matches!(
        m.handle_sample(audio(0)),
        Err(MuxError::SampleBeforeConfig(TrackKind::Audio))
    ));
    let mut empty = video(0, true);
    empty.data = Bytes::new();
    assert!(matches!(
        m.handle_sample(empty),
        Err(MuxError::EmptySample(TrackKind::Video))
    ));
    assert!(m.poll_event().is_none(), "failed calls emit nothing");
    assert_eq!(Fmp4Muxer::new(MuxerOptions::default()).codecs_mime(), None);
}

#[test]
fn prft_carries_the_wall_clock_of_the_first_sample() {
    let mut m = muxer(FragmentPolicy::EverySample, &[video_config()]);
    let mut s = video(0, true);
    s.wall_clock = Some(NtpTime(0xaabb_ccdd_0000_0001));
    s.composition_offset = 40;
    m.handle_sample(s).unwrap();
    m.handle_sample(video(40, false)).unwrap();
    let (_, frags) = events(&mut m);
    let bytes = frags[0].to_bytes();
    let boxes = parse_boxes(&bytes);
    assert_eq!(boxes[0].name(), "prft");
    let p = &boxes[0].payload;
    assert_eq!(be32(p, 4), 1); // reference_track_ID
    assert_eq!(be64(p, 8), 0xaabb_ccdd_0000_0001);
    assert_eq!(be64(p, 16), 3600, "media time = presentation time");
    // Without a wall clock, no prft.
    m.handle_sample(video(80, false)).unwrap();
    let (_, frags) = events(&mut m);
    assert_eq!(parse_boxes(&frags[0].to_bytes())[0].name(), "moof");
}

#[test]
fn vp9_size_comes_from_the_first_key_frame() {
    let record = Bytes::from(hex::decode("01000000 0015 82 020202 0000".replace(' ', "")).unwrap());
    let mut m = muxer(
        FragmentPolicy::EverySample,
        &[TrackConfig::Video(VideoConfig::vp9(record).unwrap())],
    );
    // Profile 0 key frame, 320x240 (see track::tests::vp9_key_frame_size).
    let mut s = video(0, true);
    s.data = Bytes::from_static(&[0x82, 0x49, 0x83, 0x42, 0x20, 0x13, 0xf0, 0x0e, 0xf0]);
    m.handle_sample(s).unwrap();
    let (inits, _) = events(&mut m);
    let boxes = parse_boxes(&inits[0].data);
    let tkhd = &find(&boxes, "moov/trak/tkhd").unwrap().payload;
    assert_eq!(be32(tkhd, 76) >> 16, 320);
    assert_eq!(be32(tkhd, 80) >> 16, 240);
    assert_eq!(inits[0].mime, "video/mp4; codecs=\"vp09.00.21.08\"");
}

proptest! {
    /// Random interleavings of audio and video with random cuts: every fragment parses,
    /// every sample is written once, data offsets point at each sample's bytes, and tfdt plus
    /// durations tile each track's timeline without gaps or overlaps.
    #[test]
    fn random_streams_round_trip(
        steps in prop::collection::vec((any::<bool>(), 1u32..80, any::<bool>(), any::<bool>(), 1usize..40), 1..120),
        policy in 0u8..3,
    ) {
        let policy = match policy {
            0 => FragmentPolicy::EverySample,
            1 => FragmentPolicy::Keyframes { max_duration_ms: 300 },
            _ => FragmentPolicy::Manual,
        };
        let mut m = muxer(policy, &[video_config(), aac_config()]);
        let (mut vt, mut at) = (0u32, 0u32);
        let mut sent = Vec::new();
        for (i, (is_video, step, key, cut, len)) in steps.into_iter().enumerate() {
            if cut {
                m.request_cut();
            }
            let data = Bytes::from(vec![(i % 251) as u8; len]);
            let s = if is_video {
                vt += step;
                Sample { data: data.clone(), ..video(vt, key) }
            } else {
                at += step;
                Sample { data: data.clone(), ..audio(at) }
            };
            m.handle_sample(s).unwrap();
            sent.push((is_video, data));
        }
        m.flush();
        let (_, frags) = events(&mut m);
        let mut got = Vec::new();
        let mut ends = [None::<u64>; 2];
        for f in &frags {
            let bytes = f.to_bytes();
            prop_assert_eq!(bytes.len(), f.len());
            let boxes = parse_boxes(&bytes);
            let mdat = boxes.iter().find(|b| b.name() == "mdat").unwrap();
            prop_assert_eq!(mdat.payload.len() + 8 + find(&boxes, "moof").map_or(0, |b| b.payload.len() + 8), bytes.len());
            for (traf, (id, tfdt, durations)) in find_all(&boxes, "moof/traf").into_iter().zip(trafs(f)) {
                let trun = &traf.children().iter().find(|b| b.name() == "trun").unwrap().payload;
                let stride = if trun[0] == 1 { 16 } else { 12 };
                let mut at = be32(trun, 8) as usize;
                for k in 0..durations.len() {
                    let size = be32(trun, 16 + k * stride) as usize;
                    got.push((id == 1, Bytes::copy_from_slice(&bytes[at..at + size])));
                    at += size;
                }
                let slot = &mut ends[(id - 1) as usize];
                if let Some(end) = *slot {
                    prop_assert_eq!(end, tfdt, "track {} tiles its timeline", id);
                }
                *slot = Some(tfdt + durations.iter().map(|&d| u64::from(d)).sum::<u64>());
                prop_assert!(durations.iter().all(|&d| d > 0));
            }
        }
        let mut want_v: Vec<_> = sent.iter().filter(|s| s.0).collect();
        let mut got_v: Vec<_> = got.iter().filter(|s| s.0).collect();
        prop_assert_eq!(want_v.len(), got_v.len());
        prop_assert!(want_v.drain(..).zip(got_v.drain(..)).all(|(a, b)| a.1 == b.1));
        let want_a: Vec<_> = sent.iter().filter(|s| !s.0).map(|s| &s.1).collect();
        let got_a: Vec<_> = got.iter().filter(|s| !s.0).map(|s| &s.1).collect();
        prop_assert_eq!(want_a, got_a);
    }
}

#[test]
fn video_frames_policy_cuts_at_each_video_sample_with_the_audio_since() {
    let mut m = muxer(FragmentPolicy::VideoFrames, &[video_config(), aac_config()]);
    m.handle_sample(video(0, true)).unwrap();
    for ts in [3, 26] {
        m.handle_sample(audio(ts)).unwrap();
    }
    m.handle_sample(video(40, false)).unwrap();
    m.handle_sample(audio(49)).unwrap();
    m.handle_sample(video(80, false)).unwrap();
    let (_, frags) = events(&mut m);
    assert_eq!(frags.len(), 2);
    assert!(frags[0].starts_with_keyframe());
    let t: Vec<(u32, usize)> = trafs(&frags[0]).iter().map(|t| (t.0, t.2.len())).collect();
    assert_eq!(
        t,
        [(1, 1), (2, 1)],
        "the key frame, then the audio before the next frame"
    );
    let t: Vec<(u32, usize)> = trafs(&frags[1]).iter().map(|t| (t.0, t.2.len())).collect();
    assert_eq!(t, [(1, 1), (2, 1)]);

    // Audio only: one fragment per audio sample.
    let mut m = muxer(FragmentPolicy::VideoFrames, &[aac_config()]);
    for ts in [0, 23, 46, 70] {
        m.handle_sample(audio(ts)).unwrap();
    }
    assert_eq!(events(&mut m).1.len(), 3);
}
