//! VOD over RTMP with real peers: a 20 s ffmpeg fixture (testsrc2 + sine, a keyframe every
//! second) in the `vod` app's directory (the recordings directory) is played by rtmpdump whole,
//! from `-A 10` and for `-B 5`, by ffmpeg whole and with `-ss 8` before `-i` (a `seek`), and by
//! the core's client session, which pauses, resumes, seeks, asks `getStreamLength`, and sees
//! the same frames with aggregate messages on and off. A missing name gets StreamNotFound; the
//! tokio client pauses and resumes, and plays a torn file to its last whole tag; `-2` prefers a
//! live stream of the name, `0` the file. MP4 files: `vod_mp4.rs`.

mod live_support;
mod vod_support;

use live_support::{collect, ffmpeg, fixture, packets};
use sluice_amf::Amf0Value;
use sluice_flv::{FlvReader, TagType};
use sluice_rtmp::command::{codes, Command, CommandMessage, PlayArgs};
use sluice_rtmp::session::ClientEvent;
use sluice_testkit::{spawn, FixtureOpts};
use std::process::Command as Process;
use std::time::Duration;
use vod_support::{
    check_from, ffmpeg_plays_whole, file_media, file_video, play_all, rtmpdump, start, start_with,
    video_span,
};

#[test]
fn rtmpdump_plays_whole_from_an_offset_and_for_a_duration() {
    let v = start(&[]);
    let whole = v.out.join("whole.flv");
    rtmpdump(&v.url("movie"), &whole, &[]);
    let (first, last, n) = video_span(&whole);
    assert!(first < 0.05 && last > 19.8, "whole: {first}..{last}");
    assert_eq!(n, 500, "every video frame of the 20 s file");

    // From the keyframe at or before 10 s; timestamps count from the start offset (librtmp
    // adds it back), so the output starts at 10 s.
    let from10 = v.out.join("from10.flv");
    rtmpdump(&v.url("movie"), &from10, &["-A", "10"]);
    check_from(&from10, &v.source, 10_000);
    // A file whose onMetaData holds a keyframe index (ffmpeg's add_keyframe_index) is seeked
    // with it, without a scan; the same frames come out.
    let mut cmd = Process::new(ffmpeg());
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"])
        .arg(&v.source)
        .args(["-c", "copy", "-flvflags", "add_keyframe_index", "-y"])
        .arg(v.source_dir().join("indexed.flv"));
    spawn(cmd).wait_success(Duration::from_secs(60));
    let indexed = v.out.join("indexed.flv");
    rtmpdump(&v.url("indexed"), &indexed, &["-A", "10"]);
    check_from(&indexed, &v.source_dir().join("indexed.flv"), 10_000);
    let log = v.sluice.log();
    assert!(
        log.contains("stream=indexed") && log.contains("index=Metadata"),
        "{log}"
    );

    let five = v.out.join("five.flv");
    rtmpdump(&v.url("flv:movie"), &five, &["-B", "5"]);
    let (first, last, _) = video_span(&five);
    assert!(
        first < 0.05 && (4.8..=5.05).contains(&last),
        "-B 5: {first}..{last}"
    );
    let log = v.sluice.log();
    assert!(log.contains("VOD play ended"), "{log}");
}

#[test]
fn ffmpeg_plays_whole_and_seeks() {
    let v = start(&[]);
    ffmpeg_plays_whole(&v, "movie.flv");

    // -ss before -i on an RTMP input: ffmpeg's flv demuxer seeks through RTMP `seek`.
    let seeked = v.out.join("seeked.flv");
    let mut cmd = Process::new(ffmpeg());
    cmd.args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]);
    cmd.args(["-rw_timeout", "10000000", "-ss", "8", "-i", &v.url("movie")]);
    cmd.args(["-map", "0", "-c", "copy", "-f", "flv", "-y"])
        .arg(&seeked);
    let mut g = spawn(cmd);
    g.wait_success(Duration::from_secs(60));
    let p = packets(&seeked, "v");
    // Stream copy from the keyframe at 8 s: 12 s of video (and what was in flight before the
    // seek, at most the lead of 4 s), not 20.
    assert!(
        (300..=400).contains(&p.len()),
        "{} video packets after -ss 8",
        p.len()
    );
    assert!(v.sluice.log().contains("VOD seek"), "{}", v.sluice.log());
}

#[test]
fn aggregate_on_and_off_give_the_files_frames() {
    let on = start(&[]);
    let off = start(&[("SLUICE_VOD_AGGREGATE", "false")]);
    let want = file_media(&on.source);
    let (a, statuses) = play_all(&on, "movie");
    let (b, _) = play_all(&off, "movie");
    assert_eq!(a.len(), want.len());
    assert!(a == want, "aggregated play differs from the file");
    assert!(b == want, "plain play differs from the file");
    assert_eq!(
        statuses,
        [codes::PLAY_RESET, codes::PLAY_START, codes::PLAY_STOP]
    );
}

#[test]
fn client_pauses_resumes_seeks_and_asks_the_length() {
    let v = start(&[]);
    let mut c = v.client();
    // getStreamLength answers the file's duration.
    let t = c.session.call(
        CommandMessage::new("getStreamLength", 0.0).with_arg("movie"),
        true,
    );
    c.flush();
    let secs = c.wait_for(
        "getStreamLength result",
        Duration::from_secs(10),
        |e| match e {
            ClientEvent::CallResult {
                transaction_id,
                response,
                ..
            } if *transaction_id == t => response.args.first().and_then(Amf0Value::as_f64),
            _ => None,
        },
    );
    assert!((19.9..=20.1).contains(&secs), "getStreamLength = {secs}");

    // A missing name: StreamNotFound.
    c.session
        .play(PlayArgs {
            name: "nosuch".into(),
            start: -2.0,
            duration: -1.0,
            reset: true,
        })
        .unwrap();
    c.flush();
    let code = c.wait_for("StreamFailed", Duration::from_secs(10), |e| match e {
        ClientEvent::StreamFailed { info, .. } => Some(info.code.clone()),
        _ => None,
    });
    assert_eq!(code, codes::PLAY_STREAM_NOT_FOUND);

    let mut c = v.client();
    let stream_id = c.play("movie");
    // Media arrives ahead of real time, but not all at once.
    let first = collect(&mut c, Duration::from_secs(2), |_| false);
    let last_ts = first.media.iter().map(|m| m.timestamp).max().unwrap_or(0);
    assert!(last_ts >= 2000, "buffer + margin ahead: {last_ts}");
    assert!(last_ts < 15_000, "paced, not the whole file: {last_ts}");

    c.session.send_stream_command(
        stream_id,
        &Command::Pause {
            pause: true,
            position_ms: 1000.0,
        },
    );
    c.flush();
    let paused = collect(&mut c, Duration::from_secs(3), |_| false);
    assert!(
        paused.has_status(codes::PAUSE_NOTIFY),
        "{:?}",
        paused.statuses
    );
    // Only what was in flight when the pause arrived.
    let in_flight = paused.media.len();
    let quiet = collect(&mut c, Duration::from_millis(1500), |_| false);
    assert!(
        quiet.media.is_empty(),
        "{} frames while paused",
        quiet.media.len()
    );

    c.session.send_stream_command(
        stream_id,
        &Command::Pause {
            pause: false,
            position_ms: 1000.0,
        },
    );
    c.flush();
    let resumed = collect(&mut c, Duration::from_secs(2), |c| !c.media.is_empty());
    assert!(
        resumed.has_status(codes::UNPAUSE_NOTIFY),
        "{:?}",
        resumed.statuses
    );
    // It goes on where it stopped: no frame is repeated or skipped.
    let before: Vec<u32> = first
        .media
        .iter()
        .chain(paused.media.iter())
        .filter(|m| m.video)
        .map(|m| m.timestamp)
        .collect();
    let after: Vec<u32> = resumed
        .media
        .iter()
        .filter(|m| m.video)
        .map(|m| m.timestamp)
        .collect();
    if let (Some(b), Some(a)) = (before.last(), after.first()) {
        assert_eq!(
            a - b,
            40,
            "resume continues after {b} with {a} ({in_flight} in flight)"
        );
    }

    // Seek to 15.5 s: Seek.Notify, then media from the keyframe at or before it.
    let key = file_video(&v.source)
        .iter()
        .filter(|(ts, key)| *key && *ts <= 15_500)
        .map(|(ts, _)| *ts)
        .max()
        .unwrap();
    c.session.send_stream_command(
        stream_id,
        &Command::Seek {
            position_ms: 15_500.0,
        },
    );
    c.flush();
    let seek = collect(&mut c, Duration::from_secs(5), |c| {
        c.statuses
            .iter()
            .find(|(s, _)| s == codes::SEEK_NOTIFY)
            .is_some_and(|(_, at)| c.media.len() > at + 10)
    });
    let (_, at) = seek
        .statuses
        .iter()
        .find(|(s, _)| s == codes::SEEK_NOTIFY)
        .cloned()
        .unwrap_or_else(|| panic!("no Seek.Notify: {:?}", seek.statuses));
    let first_after = seek.media[at..]
        .iter()
        .find(|m| m.video && !live_support::is_video_sequence_header(&m.payload))
        .expect("video after the seek");
    assert_eq!(first_after.timestamp, key);
    assert!(live_support::is_video_keyframe(&first_after.payload));
    // Then it plays to the end.
    let rest = collect(&mut c, Duration::from_secs(20), |c| {
        c.has_status(codes::PLAY_STOP)
    });
    assert!(rest.has_status(codes::PLAY_STOP), "{:?}", rest.statuses);
    assert!(rest.media.iter().any(|m| m.timestamp >= 19_900));
}

/// The next video timestamp or status code from `p` (other events skipped); `None` at a quiet
/// `wait`.
async fn next_video_or_status(
    p: &mut sluice_client::Player<sluice_client::ClientStream>,
    wait: Duration,
) -> Option<Result<u32, String>> {
    loop {
        let ev = tokio::time::timeout(wait, p.next_event()).await.ok()?;
        match ev.expect("play event") {
            sluice_client::PlayEvent::Video { timestamp, payload }
                if !live_support::is_video_sequence_header(&payload) =>
            {
                return Some(Ok(timestamp.0));
            }
            sluice_client::PlayEvent::Audio { .. } => return Some(Ok(u32::MAX)),
            sluice_client::PlayEvent::Status(info) => return Some(Err(info.code)),
            sluice_client::PlayEvent::Eof(r) => return Some(Err(format!("eof {r:?}"))),
            _ => {}
        }
    }
}

#[test]
fn sluice_client_pauses_and_resumes_and_a_torn_file_plays_to_its_last_tag() {
    let v = start(&[]);
    // A recording cut mid-tag, as `kill -9` leaves it: no index, a torn last tag.
    let bytes = std::fs::read(&v.source).unwrap();
    let cut = bytes.len() * 6 / 10 + 7;
    let rec = v.source_dir();
    std::fs::write(rec.join("torn.flv"), &bytes[..cut]).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let opts = sluice_client::ClientOptions::default();
        let url = sluice_client::Url::parse(&v.url("movie")).unwrap();
        let mut p = sluice_client::Client::play(&url, &opts).await.unwrap();
        let mut last = 0;
        while last < 1000 {
            if let Some(Ok(ts)) = next_video_or_status(&mut p, Duration::from_secs(10)).await {
                if ts != u32::MAX {
                    last = ts;
                }
            }
        }
        p.pause(true, f64::from(last)).await.unwrap();
        // Media in flight, then Pause.Notify, then nothing.
        loop {
            match next_video_or_status(&mut p, Duration::from_secs(10)).await {
                Some(Ok(ts)) if ts != u32::MAX => last = ts,
                Some(Err(code)) if code == codes::PAUSE_NOTIFY => break,
                Some(_) => {}
                None => panic!("no Pause.Notify"),
            }
        }
        loop {
            match next_video_or_status(&mut p, Duration::from_millis(1500)).await {
                None => break,
                Some(Ok(ts)) if ts != u32::MAX => last = ts,
                Some(other) => panic!("while paused: {other:?}"),
            }
        }
        p.pause(false, f64::from(last)).await.unwrap();
        let mut resumed = None;
        while resumed.is_none() {
            match next_video_or_status(&mut p, Duration::from_secs(10)).await {
                Some(Ok(ts)) if ts != u32::MAX => resumed = Some(ts),
                Some(_) => {}
                None => panic!("nothing after unpause"),
            }
        }
        assert_eq!(resumed, Some(last + 40), "resumes with the next frame");
        p.stop().await.unwrap();

        // The torn file plays to its last whole tag, then ends with Play.Stop.
        let url = sluice_client::Url::parse(&v.url("torn")).unwrap();
        let mut p = sluice_client::Client::play(&url, &opts).await.unwrap();
        let mut last = 0;
        let end = loop {
            match next_video_or_status(&mut p, Duration::from_secs(30)).await {
                Some(Ok(ts)) if ts != u32::MAX => last = ts,
                Some(Err(code)) if code.starts_with("eof") => break code,
                Some(_) => {}
                None => panic!("torn play stalled after {last}"),
            }
        };
        assert!(end.contains(codes::PLAY_STOP), "{end}");
        let whole: Vec<u32> = file_video(&v.source).iter().map(|(ts, _)| *ts).collect();
        let mut r = FlvReader::new(&bytes[..cut]);
        let mut last_whole = 0;
        while let Ok(Some(t)) = r.next_tag() {
            if t.tag_type == TagType::VIDEO && whole.contains(&t.timestamp) {
                last_whole = t.timestamp;
            }
        }
        assert_eq!(last, last_whole, "the last whole video tag before the cut");
    });
}

#[test]
fn start_minus_two_plays_a_live_stream_of_the_name_and_zero_the_file() {
    let v = start(&[]);
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(10)));
    let mut publisher = live_support::publish(&input, &v.url("movie"));
    v.sluice
        .wait_log(&["publish", "stream=movie"], Duration::from_secs(15));
    // -2 (the default): the live stream, not the file.
    let mut live = v.client();
    live.play("movie");
    let got = collect(&mut live, Duration::from_secs(3), |c| c.media.len() > 20);
    assert!(got.media.len() > 20, "live media");
    assert_eq!(
        v.sluice.count_log(&["VOD play conn"]),
        0,
        "{}",
        v.sluice.log()
    );
    // 0: the file, although a live stream of that name exists.
    let mut rec = v.client();
    rec.session
        .play(PlayArgs {
            name: "movie".into(),
            start: 0.0,
            duration: -1.0,
            reset: true,
        })
        .unwrap();
    rec.flush();
    let got = collect(&mut rec, Duration::from_secs(5), |c| c.media.len() > 20);
    assert!(got.media.len() > 20);
    assert_eq!(
        v.sluice.count_log(&["VOD play conn"]),
        1,
        "{}",
        v.sluice.log()
    );
    publisher.kill();
}

#[test]
fn rtmpdump_plays_a_file_over_rtmpt() {
    // RTMPT connections run the generic connection loop (not the direct TCP one).
    let (v, http) = start_with(&[], true);
    let url = format!("rtmpt://127.0.0.1:{}/vod/movie", http.unwrap());
    let out = v.out.join("rtmpt.flv");
    rtmpdump(&url, &out, &["-A", "10"]);
    check_from(&out, &v.source, 10_000);
}
