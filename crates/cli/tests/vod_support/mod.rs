//! Shared plumbing of the VOD interop tests (`vod*.rs`): a server whose `vod` app serves a
//! directory holding the 20 s fixture, and checks of what rtmpdump, ffmpeg and the core client
//! received.
#![allow(dead_code)] // Each test binary uses a different subset.

use crate::live_support::{
    self, collect, ffmpeg, ffmpeg_play, fixture, packets, temp_dir, RawClient, Sluice,
};
use sluice_flv::{FlvReader, TagType};
use sluice_rtmp::command::{codes, PlayArgs};
use sluice_rtmp::session::ClientConfig;
use sluice_testkit::{spawn, tool, FixtureOpts};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

/// A server whose `vod` app serves a directory holding `movie.flv` (the 20 s fixture).
pub struct Vod {
    /// The server.
    pub sluice: Sluice,
    dir: tempfile::TempDir,
    /// Where tests write their outputs.
    pub out: PathBuf,
    /// The 20 s fixture (`movie.flv` in the served directory).
    pub source: PathBuf,
}

pub fn start(env: &[(&str, &str)]) -> Vod {
    start_with(env, false).0
}

/// [`start`], with an HTTP listener (RTMPT) when `http`; gives its port.
pub fn start_with(env: &[(&str, &str)], http: bool) -> (Vod, Option<u16>) {
    let dir = temp_dir();
    let rec = dir.path().join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    let source = fixture(FixtureOpts::default().with_duration(Duration::from_secs(20)));
    std::fs::copy(&source, rec.join("movie.flv")).unwrap();
    let rec_s = rec.to_str().unwrap().to_owned();
    let mut all = vec![("SLUICE_RECORD_DIR", rec_s.as_str())];
    all.extend_from_slice(env);
    let (sluice, port) = if http {
        let (s, p) = Sluice::start_with_http(&all);
        (s, Some(p))
    } else {
        (Sluice::start_with_env(&all), None)
    };
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let v = Vod {
        sluice,
        out,
        source,
        dir,
    };
    (v, port)
}

impl Vod {
    /// The directory `vod` serves.
    pub fn source_dir(&self) -> PathBuf {
        self.dir.path().join("rec")
    }

    pub fn url(&self, name: &str) -> String {
        format!("rtmp://127.0.0.1:{}/vod/{name}", self.sluice.port)
    }

    pub fn client(&self) -> RawClient {
        let addr = self.sluice.addr();
        let mut c = RawClient::connect(addr, |cfg| {
            *cfg = ClientConfig::new("vod", format!("rtmp://{addr}/vod"));
            cfg.buffer_ms = 2000;
        });
        c.wait_connected();
        c
    }
}

/// rtmpdump's download of `url` into `out` with `extra` arguments; panics unless it succeeds.
pub fn rtmpdump(url: &str, out: &Path, extra: &[&str]) {
    let mut cmd = Process::new(tool("rtmpdump"));
    cmd.args(["-q", "-r", url, "-o"]).arg(out).args(extra);
    let mut g = spawn(cmd);
    let status = g
        .wait_timeout(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("rtmpdump {url} {extra:?} did not finish; log:\n{}", g.log()));
    // 0 = complete; 2 = "may be incomplete": rtmpdump's verdict when the last timestamp is
    // below 99.9 % of the metadata's duration (a 20 s file's last frame is at 19.96 s, and -B
    // stops early on purpose). What arrived is checked with ffprobe by the callers.
    let code = status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 2,
        "rtmpdump {url} {extra:?} exited with {status}; log:\n{}",
        g.log()
    );
}

/// `out` (rtmpdump's download from `start_ms`) holds the video of `source` from the keyframe
/// at or before `start_ms`, with timestamps counting from the start offset (librtmp adds it
/// back to what the server sends), so it starts at `start_ms`.
pub fn check_from(out: &Path, source: &Path, start_ms: u32) {
    let (first, last, n) = video_span(out);
    let video = file_video(source);
    let key = video
        .iter()
        .filter(|(ts, key)| *key && *ts <= start_ms)
        .map(|(ts, _)| *ts)
        .max()
        .unwrap();
    let want: Vec<u32> = video
        .iter()
        .map(|(ts, _)| *ts)
        .filter(|ts| *ts >= key)
        .collect();
    assert_eq!(
        n,
        want.len(),
        "from the keyframe at {key} ms and what follows"
    );
    let start = f64::from(start_ms) / 1000.0;
    assert!((first - start).abs() < 0.002, "starts at {first}");
    let want_last = start + f64::from(want.last().unwrap() - key) / 1000.0;
    assert!(
        (last - want_last).abs() < 0.002,
        "ends at {last}, not {want_last}"
    );
}

/// First and last video decode times (s) and the video packet count of an FLV file.
pub fn video_span(path: &Path) -> (f64, f64, usize) {
    let p = packets(path, "v");
    assert!(!p.is_empty(), "no video in {}", path.display());
    assert!(
        p[0].keyframe,
        "{} does not start with a keyframe",
        path.display()
    );
    (p[0].dts, p.last().unwrap().dts, p.len())
}

/// ffmpeg plays `name` into a file: all 500 video frames of the 20 s source, from 0 s.
pub fn ffmpeg_plays_whole(v: &Vod, name: &str) -> PathBuf {
    let out = v.out.join(format!("{}.flv", name.replace(':', "_")));
    let idle = Duration::from_secs(10);
    let mut g = ffmpeg_play(&ffmpeg(), &v.url(name), &out, idle, &[]);
    g.wait_success(Duration::from_secs(60));
    let (first, last, n) = video_span(&out);
    assert!(first < 0.05 && last > 19.8, "{name}: {first}..{last}");
    assert_eq!(n, 500, "{name}");
    out
}

/// Every audio and video tag body of `path` after its sequence headers' first appearance,
/// hashed in order.
pub fn file_media(path: &Path) -> Vec<(bool, u32, u64)> {
    let mut r = FlvReader::new(std::fs::File::open(path).unwrap());
    let mut out = Vec::new();
    while let Some(t) = r.next_tag().unwrap() {
        if t.tag_type == TagType::AUDIO || t.tag_type == TagType::VIDEO {
            out.push((t.tag_type == TagType::VIDEO, t.timestamp, hash(&t.data)));
        }
    }
    out
}

/// Timestamps of the video frames of `path` (sequence headers left out), with their keyframe
/// flag.
pub fn file_video(path: &Path) -> Vec<(u32, bool)> {
    let mut r = FlvReader::new(std::fs::File::open(path).unwrap());
    let mut out = Vec::new();
    while let Some(t) = r.next_tag().unwrap() {
        let info = sluice_flv::classify_video(&t.data);
        if t.tag_type == TagType::VIDEO && !info.is_sequence_header && !info.is_sequence_end {
            out.push((t.timestamp, live_support::is_video_keyframe(&t.data)));
        }
    }
    out
}

pub fn hash(b: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

/// Plays `name` from `start` with the client; media (video?, timestamp, payload hash) and status
/// codes until `Play.Stop`.
pub fn play_all(v: &Vod, name: &str) -> (Vec<(bool, u32, u64)>, Vec<String>) {
    let mut c = v.client();
    c.session
        .play(PlayArgs {
            name: name.into(),
            start: 0.0,
            duration: -1.0,
            reset: true,
        })
        .unwrap();
    c.flush();
    let got = collect(&mut c, Duration::from_secs(40), |c| {
        c.has_status(codes::PLAY_STOP)
    });
    assert!(got.has_status(codes::PLAY_STOP), "{:?}", got.statuses);
    let media = got
        .media
        .iter()
        .map(|m| (m.video, m.timestamp, hash(&m.payload)))
        .collect();
    (media, got.statuses.into_iter().map(|s| s.0).collect())
}
