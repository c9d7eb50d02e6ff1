//! Recording (DVR) end to end, with real peers: Debian's ffmpeg (and our own RTMP client)
//! publishes to a `sluice serve` that records; the files are read back with `sluice_flv`'s
//! reader, ffprobe and ffmpeg.
//!
//! Covered: `[record] record = "all"` keeps every frame (counts and payload hashes equal the
//! source's) with a keyframe index that points at keyframe tags, and ffmpeg seeks in it
//! (`-ss 5`); publish type `record` from our client; a window recorded through
//! `POST`/`DELETE /api/v1/streams/{app}/{stream}/record`; `format=mp4`; a server killed with
//! `-9` leaves a readable file; an unwritable directory fails the recording (log, API,
//! metrics) while a player keeps playing; `on_record_done` and an `on_publish` answer
//! `{"record": true}` with a real HTTP hook service; `append` continuing a file;
//! `max_duration_secs` splitting at keyframes without losing a frame.

mod hook_support;
mod live_support;

use hook_support::HookServer;
use live_support::{
    ffmpeg, ffmpeg_play, fixture, http_request, packets, poll_until, publish, temp_dir, RawClient,
    Sluice,
};
use sluice_amf::Amf0Value;
use sluice_flv::{parse_script, FlvReader, TagType};
use sluice_rtmp::command::PublishMode;
use sluice_rtmp::session::ClientEvent;
use sluice_rtmp::Timestamp;
use sluice_testkit::{ffprobe, run, FixtureOpts};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

fn av_fixture(secs: u64) -> PathBuf {
    fixture(FixtureOpts::default().with_duration(Duration::from_secs(secs)))
}

/// (tag type, timestamp, payload hash) of every audio and video tag of an FLV file.
fn media_tags(path: &Path) -> Vec<(u8, u32, u64)> {
    let mut r = FlvReader::new(std::fs::File::open(path).unwrap());
    r.header().unwrap();
    let mut out = Vec::new();
    // A file cut by a crash may end in a torn tag: stop there.
    while let Ok(Some(tag)) = r.next_tag() {
        if tag.tag_type == TagType::AUDIO || tag.tag_type == TagType::VIDEO {
            let mut h = DefaultHasher::new();
            tag.data.hash(&mut h);
            out.push((tag.tag_type.0, tag.timestamp, h.finish()));
        }
    }
    out
}

/// Every recording file under `dir`.
fn recordings(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Waits until `n` log lines say a recording file closed.
fn wait_closed(sluice: &Sluice, n: usize) {
    poll_until(
        Duration::from_secs(30),
        "recording file closed",
        || {
            let c = sluice.count_log(&["recording file closed"]);
            if c >= n {
                Ok(())
            } else {
                Err(format!("{c} closed"))
            }
        },
        || sluice.log(),
    );
}

/// Publishes `input` with our client as `name` with `mode`, in real time, for at most `max`.
fn publish_raw(
    sluice: &Sluice,
    name: &str,
    mode: PublishMode,
    input: &Path,
    max: Duration,
) -> usize {
    let mut c = RawClient::connect(sluice.addr(), |_| {});
    c.wait_connected();
    c.session.publish(name, mode).unwrap();
    c.flush();
    let sid = c.wait_for("PublishStarted", Duration::from_secs(10), |e| match e {
        ClientEvent::PublishStarted { stream_id } => Some(*stream_id),
        _ => None,
    });
    let mut r = FlvReader::new(std::fs::File::open(input).unwrap());
    r.header().unwrap();
    let start = Instant::now();
    let mut video = 0;
    while let Some(tag) = r.next_tag().unwrap() {
        let at = Duration::from_millis(u64::from(tag.timestamp));
        if at > max {
            break;
        }
        if let Some(wait) = at.checked_sub(start.elapsed()) {
            thread::sleep(wait);
        }
        let ts = Timestamp(tag.timestamp);
        match tag.tag_type {
            TagType::VIDEO => {
                video += 1;
                c.session.send_video(sid, ts, tag.data.clone())
            }
            TagType::AUDIO => c.session.send_audio(sid, ts, tag.data.clone()),
            _ => c.session.send_data(sid, ts, tag.data.clone()),
        }
        c.flush();
        c.read_some(Duration::from_millis(1));
    }
    c.session.close_stream(sid, name);
    c.flush();
    thread::sleep(Duration::from_millis(300));
    video
}

/// The `onMetaData` of an FLV file (its first tag).
fn file_metadata(path: &Path) -> sluice_amf::Amf0Object {
    let mut r = FlvReader::new(std::fs::File::open(path).unwrap());
    r.header().unwrap();
    let tag = r.next_tag().unwrap().unwrap();
    assert_eq!(tag.tag_type, TagType::SCRIPT);
    parse_script(&tag.data).unwrap().metadata().unwrap().clone()
}

fn numbers(v: Option<&Amf0Value>) -> Vec<f64> {
    match v {
        Some(Amf0Value::StrictArray(a)) => a.iter().filter_map(Amf0Value::as_f64).collect(),
        other => panic!("not a strict array: {other:?}"),
    }
}

#[test]
fn an_ffmpeg_publish_is_recorded_whole_with_a_keyframe_index_ffmpeg_seeks_in() {
    let dir = temp_dir();
    let rec_dir = dir.path().join("rec");
    let sluice = Sluice::start_with_env(&[
        ("SLUICE_RECORD_DIR", rec_dir.to_str().unwrap()),
        ("SLUICE_RECORD_RECORD", "all"),
    ]);
    let input = av_fixture(8);
    let mut p = publish(&input, &sluice.url("cam"));
    p.wait_success(Duration::from_secs(40));
    wait_closed(&sluice, 1);
    let files = recordings(&rec_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    assert!(file.starts_with(rec_dir.join("live")), "{file:?}");
    assert!(file.to_str().unwrap().ends_with(".flv"));

    // Every frame, in order, with its timestamp and payload.
    let src = media_tags(&input);
    let got = media_tags(file);
    let count = |v: &[(u8, u32, u64)], t: u8| v.iter().filter(|x| x.0 == t).count();
    assert_eq!(count(&got, 9), count(&src, 9), "video frames");
    assert_eq!(count(&got, 8), count(&src, 8), "audio frames");
    let by_kind = |v: &[(u8, u32, u64)], t: u8| {
        v.iter()
            .filter(|x| x.0 == t)
            .map(|x| (x.1, x.2))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        by_kind(&got, 9),
        by_kind(&src, 9),
        "video payloads and timestamps"
    );
    assert_eq!(
        by_kind(&got, 8),
        by_kind(&src, 8),
        "audio payloads and timestamps"
    );

    // The header says audio and video; ffprobe reads the duration.
    let bytes = std::fs::read(file).unwrap();
    assert_eq!(bytes[4], 0x05);
    let probe = ffprobe(file.to_str().unwrap());
    let d = probe.duration.expect("a duration");
    assert!((d - 8.0).abs() < 0.6, "duration {d}");
    assert_eq!(probe.video().unwrap().codec_name, "h264");
    assert_eq!(probe.audio().unwrap().codec_name, "aac");

    // The keyframe index points at keyframe tags with those timestamps.
    let meta = file_metadata(file);
    let duration = meta.get_number("duration").unwrap();
    assert!(
        (duration - 8.0).abs() < 0.6,
        "onMetaData duration {duration}"
    );
    assert_eq!(meta.get_number("filesize"), Some(bytes.len() as f64));
    let kf = meta
        .get("keyframes")
        .and_then(Amf0Value::as_object)
        .unwrap();
    let times = numbers(kf.get("times"));
    let positions = numbers(kf.get("filepositions"));
    assert_eq!(times.len(), positions.len());
    assert!(times.len() >= 7, "one keyframe a second: {times:?}");
    for (t, p) in times.iter().zip(&positions) {
        let p = *p as usize;
        assert_eq!(bytes[p], 9, "a video tag at {p}");
        let ts = u32::from_be_bytes([bytes[p + 7], bytes[p + 4], bytes[p + 5], bytes[p + 6]]);
        assert_eq!(f64::from(ts) / 1000.0, *t);
        let body = &bytes[p + 11..];
        assert_eq!(body[0] >> 4, 1, "a keyframe at {p}");
        assert_eq!(body[1], 1, "not a sequence header at {p}");
    }

    // ffmpeg seeks to 5 s and decodes from there.
    let mut cmd = Command::new(ffmpeg());
    cmd.args(["-hide_banner", "-nostdin", "-v", "error", "-ss", "5", "-i"])
        .arg(file)
        .args(["-f", "null", "-"]);
    let out = run(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "ffmpeg -ss 5: {}", out.log);
}

#[test]
fn publisher_record_api_window_and_mp4() {
    let dir = temp_dir();
    let rec_dir = dir.path().join("rec");
    let (sluice, http) =
        Sluice::start_with_http(&[("SLUICE_RECORD_DIR", rec_dir.to_str().unwrap())]);
    let input = av_fixture(20);

    // publish type "record" from our client: recorded although [record] says off.
    let sent = publish_raw(
        &sluice,
        "own",
        PublishMode::Record,
        &input,
        Duration::from_secs(3),
    );
    wait_closed(&sluice, 1);
    let own: Vec<_> = recordings(&rec_dir)
        .into_iter()
        .filter(|p| p.to_str().unwrap().contains("/own-"))
        .collect();
    assert_eq!(own.len(), 1);
    let tags = media_tags(&own[0]);
    assert_eq!(
        tags.iter().filter(|t| t.0 == 9).count(),
        sent,
        "video frames"
    );
    assert!(sluice.count_log(&["recording started", "publisher_record"]) == 1);

    // A live stream is not recorded until POST; a window between POST and DELETE is.
    let mut p = publish(&input, &sluice.url("win"));
    sluice.wait_log(&["publish", "stream=win"], Duration::from_secs(15));
    let streams = live_support::api_get(http, "/api/v1/streams/live/win");
    assert!(streams["recording"].is_null(), "{streams}");
    thread::sleep(Duration::from_secs(2));
    let (status, _, body) = http_request(http, "POST", "/api/v1/streams/live/win/record", "");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = http_request(http, "POST", "/api/v1/streams/live/win/record", "");
    assert_eq!(status, 409, "already recording");
    thread::sleep(Duration::from_secs(3));
    let s = live_support::api_get(http, "/api/v1/streams");
    let item = s["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "win")
        .unwrap()
        .clone();
    let r = &item["recording"];
    assert_eq!(r["active"], true, "{item}");
    assert!(r["bytes"].as_u64().unwrap() > 10_000, "{r}");
    assert!(r["path"].as_str().unwrap().contains("/win-"), "{r}");
    assert!(r["since"].as_str().unwrap().ends_with('Z'));
    let (status, _, body) = http_request(http, "DELETE", "/api/v1/streams/live/win/record", "");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    wait_closed(&sluice, 2);
    let (status, _, _) = http_request(http, "DELETE", "/api/v1/streams/live/win/record", "");
    assert_eq!(status, 404);
    let win: Vec<_> = recordings(&rec_dir)
        .into_iter()
        .filter(|p| p.to_str().unwrap().contains("/win-"))
        .collect();
    assert_eq!(win.len(), 1);
    let probe = ffprobe(win[0].to_str().unwrap());
    let d = probe.duration.unwrap();
    assert!((1.5..6.0).contains(&d), "a ~3 s window: {d}");
    // It starts at a keyframe, at 0.
    let v = packets(&win[0], "v");
    assert!(v[0].keyframe && v[0].dts.abs() < 0.05, "{:?}", v[0]);

    // format=mp4: fragmented MP4 that ffprobe reads with both codecs.
    let (status, _, body) = http_request(
        http,
        "POST",
        "/api/v1/streams/live/win/record?format=mp4",
        "",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    thread::sleep(Duration::from_secs(4));
    let (status, _, _) = http_request(http, "DELETE", "/api/v1/streams/live/win/record", "");
    assert_eq!(status, 200);
    wait_closed(&sluice, 3);
    let mp4: Vec<_> = recordings(&rec_dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    assert_eq!(mp4.len(), 1);
    let probe = ffprobe(mp4[0].to_str().unwrap());
    assert_eq!(probe.video().unwrap().codec_name, "h264");
    assert_eq!(probe.audio().unwrap().codec_name, "aac");
    let vp = packets(&mp4[0], "v");
    assert!(vp.len() > 50, "{} video packets", vp.len());
    assert!(vp[0].keyframe);
    let (status, _, _) = http_request(http, "POST", "/api/v1/streams/live/nope/record", "");
    assert_eq!(status, 404);
    p.kill();
}

#[test]
fn a_recording_cut_by_kill_9_is_readable_up_to_the_kill() {
    let dir = temp_dir();
    let rec_dir = dir.path().join("rec");
    let mut sluice = Sluice::start_with_env(&[
        ("SLUICE_RECORD_DIR", rec_dir.to_str().unwrap()),
        ("SLUICE_RECORD_RECORD", "all"),
    ]);
    let input = av_fixture(20);
    let mut p = publish(&input, &sluice.url("crash"));
    let file = poll_until(
        Duration::from_secs(20),
        "a recording of 150 kB",
        || match recordings(&rec_dir).first() {
            Some(f) if std::fs::metadata(f).map_or(0, |m| m.len()) > 150_000 => Ok(f.clone()),
            other => Err(format!("{other:?}")),
        },
        || sluice.log(),
    );
    sluice.guard.kill();
    p.kill();
    let tags = media_tags(&file);
    let video = tags.iter().filter(|t| t.0 == 9).count();
    assert!(video > 25, "{video} video frames before the kill");
    let src = media_tags(&input);
    assert_eq!(
        &src[..tags.len() - 1],
        &tags[..tags.len() - 1],
        "a prefix of the source"
    );
    let v = packets(&file, "v");
    assert!(v.len() + 2 >= video, "ffprobe reads {} of {video}", v.len());
}

#[test]
fn an_unwritable_directory_fails_the_recording_and_the_live_stream_goes_on() {
    let dir = temp_dir();
    // A regular file where the directory should be: unwritable even for root.
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let (sluice, http) = Sluice::start_with_http(&[
        ("SLUICE_RECORD_DIR", not_a_dir.to_str().unwrap()),
        ("SLUICE_RECORD_RECORD", "all"),
    ]);
    let input = av_fixture(20);
    let mut p = publish(&input, &sluice.url("cam"));
    let line = sluice.wait_log(&["recording failed"], Duration::from_secs(15));
    assert!(line.contains("ERROR"), "{line}");
    let item = live_support::api_wait(
        &sluice,
        http,
        "/api/v1/streams/live/cam",
        Duration::from_secs(10),
        |v| v["recording"]["error"].is_string(),
    );
    assert_eq!(item["recording"]["active"], false, "{item}");
    let (_, _, metrics) = http_request(http, "GET", "/metrics", "");
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("sluice_recordings_failed_total{reason=\"io\"} 1"),
        "{metrics}"
    );
    // A player of the live stream keeps receiving.
    let out = dir.path().join("play.flv");
    let mut g = ffmpeg_play(
        &ffmpeg(),
        &sluice.url("cam"),
        &out,
        Duration::from_secs(5),
        &["-t", "3"],
    );
    assert!(
        g.wait_timeout(Duration::from_secs(20))
            .is_some_and(|s| s.success()),
        "{}",
        g.log()
    );
    assert!(packets(&out, "v").len() > 50);
    p.kill();
}

#[test]
fn on_record_done_and_an_on_publish_record_answer_reach_a_real_hook_service() {
    let hook = HookServer::start();
    let dir = temp_dir();
    let rec_dir = dir.path().join("rec");
    let sluice = Sluice::start_with_env(&[
        ("SLUICE_RECORD_DIR", rec_dir.to_str().unwrap()),
        ("SLUICE_HOOKS_ON_PUBLISH", &hook.url("publish")),
        ("SLUICE_HOOKS_ON_RECORD_DONE", &hook.url("done")),
    ]);
    let input = av_fixture(5);
    // Not recorded: [record] is off and the hook says nothing.
    publish(&input, &sluice.url("plain")).wait_success(Duration::from_secs(30));
    // The hook answers {"record": true} for "rec-..." names.
    publish(&input, &sluice.url("rec-1")).wait_success(Duration::from_secs(30));
    let done = hook.wait_json("on_record_done", |b| b["action"] == "record_done");
    assert_eq!(done["app"], "live");
    assert_eq!(done["stream"], "rec-1");
    assert_eq!(done["format"], "flv");
    assert!(done["error"].is_null());
    let path = PathBuf::from(done["path"].as_str().unwrap());
    assert_eq!(
        done["size"].as_u64(),
        Some(std::fs::metadata(&path).unwrap().len())
    );
    let d = done["duration"].as_f64().unwrap();
    assert!((d - 5.0).abs() < 0.6, "duration {d}");
    let files = recordings(&rec_dir);
    assert_eq!(files, [path], "only the hook's stream is recorded");
}

#[test]
fn append_continues_a_file_and_max_duration_splits_at_keyframes() {
    let dir = temp_dir();
    let rec_dir = dir.path().join("rec");
    let sluice = Sluice::start_with_env(&[
        ("SLUICE_RECORD_DIR", rec_dir.to_str().unwrap()),
        ("SLUICE_RECORD_MAX_DURATION_SECS", "3"),
    ]);
    let input = av_fixture(20);

    // Two `append` publishes of 2 s go into one file (`append_path`), timestamps continuing.
    let a = publish_raw(
        &sluice,
        "app",
        PublishMode::Append,
        &input,
        Duration::from_secs(2),
    );
    wait_closed(&sluice, 1);
    let b = publish_raw(
        &sluice,
        "app",
        PublishMode::Append,
        &input,
        Duration::from_secs(2),
    );
    wait_closed(&sluice, 2);
    let file = rec_dir.join("live/app.flv");
    let tags = media_tags(&file);
    assert_eq!(
        tags.iter().filter(|t| t.0 == 9).count(),
        a + b,
        "both publishes"
    );
    let ts: Vec<u32> = tags.iter().filter(|t| t.0 == 9).map(|t| t.1).collect();
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1]),
        "timestamps continue: {ts:?}"
    );
    assert!(*ts.last().unwrap() > 3500, "{:?}", ts.last());
    let meta = file_metadata(&file);
    let kf = meta
        .get("keyframes")
        .and_then(Amf0Value::as_object)
        .unwrap();
    assert!(numbers(kf.get("times")).len() >= 4, "index of both parts");
    let probe = ffprobe(file.to_str().unwrap());
    assert!(probe.duration.unwrap() > 3.5, "{:?}", probe.duration);

    // 8 s recorded with max_duration_secs = 3: split at keyframes into files that each start
    // with the sequence headers and a keyframe, every frame in exactly one of them.
    let sent = publish_raw(
        &sluice,
        "split",
        PublishMode::Record,
        &input,
        Duration::from_secs(8),
    );
    poll_until(
        Duration::from_secs(20),
        "the split files closed",
        || {
            let n = sluice.count_log(&["recording stopped", "stream=split"]);
            if n == 1 {
                Ok(())
            } else {
                Err(format!("{n}"))
            }
        },
        || sluice.log(),
    );
    let parts: Vec<_> = recordings(&rec_dir)
        .into_iter()
        .filter(|p| p.to_str().unwrap().contains("/split-"))
        .collect();
    assert!(parts.len() >= 2, "{parts:?}");
    let mut total = 0;
    for (i, p) in parts.iter().enumerate() {
        let mut r = FlvReader::new(std::fs::File::open(p).unwrap());
        r.header().unwrap();
        let mut video = Vec::new();
        while let Some(tag) = r.next_tag().unwrap() {
            if tag.tag_type == TagType::VIDEO {
                video.push(tag);
            }
        }
        assert!(
            live_support::is_video_sequence_header(&video[0].data),
            "{p:?}"
        );
        assert!(live_support::is_video_keyframe(&video[1].data), "{p:?}");
        if i > 0 {
            // A split file's timeline starts at its first keyframe.
            assert_eq!(video[1].timestamp, 0, "{p:?}");
        }
        total += video.len() - 1;
    }
    // `sent` counts the publisher's one sequence header; each file repeats it.
    assert_eq!(total + 1, sent, "every video frame once");
}
