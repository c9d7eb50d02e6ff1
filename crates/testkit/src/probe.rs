//! What a media file or stream URL contains, as seen by ffmpeg's own demuxers.
//!
//! [`ffprobe`] runs `ffprobe -v error -show_streams -show_format -count_frames
//! -of json` and parses the JSON. Debian's ffprobe 5.1 does not know Enhanced
//! RTMP FLV (it reports an HEVC stream as `vp6f` with no size), and the
//! `imageio-ffmpeg` wheel ships no ffprobe, so for those files
//! [`ffmpeg9_probe`] runs the recent ffmpeg as `-i TARGET -map 0 -c copy -f
//! framecrc -`: codecs come from its input stream listing, packet counts from
//! the framecrc lines (one per packet: `stream_index, dts, pts, duration, size,
//! crc`).
//!
//! A live RTMP stream has no end ffmpeg honours (its RTMP reader keeps waiting
//! after nginx-rtmp's `NetStream.Play.UnpublishNotify`), so for URLs both
//! probes pass `-rw_timeout` ([`LIVE_IDLE_TIMEOUT`]): the read ends, with
//! success, once the server has sent nothing for that long.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

use crate::process::{run, LOG_TAIL_ON_PANIC};
use crate::tools::{ffmpeg9, tool};

/// How long one probe may take (it reads the whole input, and a live URL
/// until the publisher stops).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(90);

/// For a URL target: how long the server may send nothing before the probe
/// treats the stream as ended.
pub const LIVE_IDLE_TIMEOUT: Duration = Duration::from_secs(3);

/// The `-rw_timeout` arguments for a URL target, none for a file path.
fn live_args(path_or_url: &str) -> Vec<String> {
    if path_or_url.contains("://") && !path_or_url.starts_with("file:") {
        vec![
            "-rw_timeout".to_string(),
            LIVE_IDLE_TIMEOUT.as_micros().to_string(),
        ]
    } else {
        Vec::new()
    }
}

/// One stream as ffprobe reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStream {
    /// Stream index in the container.
    pub index: u32,
    /// Codec name, e.g. `h264`, `aac`, `hevc`.
    pub codec_name: String,
    /// `video`, `audio`, `data`, ...
    pub codec_type: String,
    /// Frame width (video).
    pub width: Option<u32>,
    /// Frame height (video).
    pub height: Option<u32>,
    /// Frames decoded by `-count_frames`.
    pub nb_read_frames: Option<u64>,
    /// Sample rate in Hz (audio).
    pub sample_rate: Option<u32>,
    /// Channel count (audio).
    pub channels: Option<u32>,
}

/// ffprobe's view of a file or URL.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    /// The streams, in container order.
    pub streams: Vec<ProbeStream>,
    /// Container format name, e.g. `flv`.
    pub format_name: String,
    /// Container duration in seconds, if known.
    pub duration: Option<f64>,
}

impl ProbeResult {
    /// The first stream of `codec_type` (`"video"`, `"audio"`).
    pub fn stream(&self, codec_type: &str) -> Option<&ProbeStream> {
        self.streams.iter().find(|s| s.codec_type == codec_type)
    }

    /// The first video stream.
    pub fn video(&self) -> Option<&ProbeStream> {
        self.stream("video")
    }

    /// The first audio stream.
    pub fn audio(&self) -> Option<&ProbeStream> {
        self.stream("audio")
    }

    /// Parses the JSON written by `ffprobe -show_streams -show_format -of json`.
    pub fn from_json(json: &[u8]) -> Result<ProbeResult, serde_json::Error> {
        let raw: RawProbe = serde_json::from_slice(json)?;
        let streams = raw
            .streams
            .into_iter()
            .map(|s| ProbeStream {
                index: s.index,
                codec_name: s.codec_name.unwrap_or_default(),
                codec_type: s.codec_type.unwrap_or_default(),
                width: s.width,
                height: s.height,
                nb_read_frames: s.nb_read_frames.and_then(|v| v.parse().ok()),
                sample_rate: s.sample_rate.and_then(|v| v.parse().ok()),
                channels: s.channels,
            })
            .collect();
        let format = raw.format.unwrap_or_default();
        Ok(ProbeResult {
            streams,
            format_name: format.format_name.unwrap_or_default(),
            duration: format.duration.and_then(|v| v.parse().ok()),
        })
    }
}

#[derive(Debug, Deserialize)]
struct RawProbe {
    #[serde(default)]
    streams: Vec<RawStream>,
    format: Option<RawFormat>,
}

#[derive(Debug, Deserialize)]
struct RawStream {
    index: u32,
    codec_name: Option<String>,
    codec_type: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    nb_read_frames: Option<String>,
    sample_rate: Option<String>,
    channels: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
struct RawFormat {
    format_name: Option<String>,
    duration: Option<String>,
}

/// Probes a file path or URL with Debian's `ffprobe`. A URL is read until the
/// server has been silent for [`LIVE_IDLE_TIMEOUT`].
///
/// # Panics
/// If ffprobe is missing, fails, times out ([`PROBE_TIMEOUT`]) or prints
/// JSON that does not parse; the message holds its log.
pub fn ffprobe(path_or_url: &str) -> ProbeResult {
    ffprobe_with(&tool("ffprobe"), path_or_url)
}

/// Probes a file path or URL with the ffprobe binary `bin`.
///
/// # Panics
/// As [`ffprobe`].
pub fn ffprobe_with(bin: &Path, path_or_url: &str) -> ProbeResult {
    let mut cmd = Command::new(bin);
    cmd.args([
        "-v",
        "error",
        "-show_streams",
        "-show_format",
        "-count_frames",
        "-of",
        "json",
    ]);
    cmd.args(live_args(path_or_url)).arg(path_or_url);
    let out = run(cmd, PROBE_TIMEOUT);
    if !out.status.success() {
        panic!(
            "{} {path_or_url} failed with {}; log:\n{}",
            bin.display(),
            out.status,
            tail(&out.log)
        );
    }
    ProbeResult::from_json(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "cannot parse {} JSON for {path_or_url}: {e}; stdout:\n{}",
            bin.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// One input stream as the recent ffmpeg sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ffmpeg9Stream {
    /// Stream index in the input.
    pub index: u32,
    /// `Video`, `Audio`, `Data`, ... as ffmpeg prints it.
    pub kind: String,
    /// Codec name, e.g. `hevc`, `av1`, `opus`.
    pub codec: String,
    /// Number of packets read from the stream.
    pub packets: u64,
}

/// Reads a whole file or URL with [`ffmpeg9`] and lists its streams with codec
/// names and packet counts (see the module docs for how).
///
/// # Panics
/// If ffmpeg9 is missing, fails or times out ([`PROBE_TIMEOUT`]).
pub fn ffmpeg9_probe(path_or_url: &str) -> Vec<Ffmpeg9Stream> {
    let bin = ffmpeg9();
    let mut cmd = Command::new(&bin);
    cmd.args(["-hide_banner", "-nostdin", "-nostats"]);
    cmd.args(live_args(path_or_url)).args(["-i", path_or_url]);
    cmd.args(["-map", "0", "-c", "copy", "-f", "framecrc", "-"]);
    let out = run(cmd, PROBE_TIMEOUT);
    if !out.status.success() {
        panic!(
            "{} -i {path_or_url} failed with {}; log:\n{}",
            bin.display(),
            out.status,
            tail(&out.log)
        );
    }
    let mut streams = parse_input_streams(&out.log);
    for (index, packets) in count_framecrc_packets(&String::from_utf8_lossy(&out.stdout)) {
        if let Some(s) = streams.iter_mut().find(|s| s.index == index) {
            s.packets = packets;
        }
    }
    streams
}

/// The codec names of every stream [`ffmpeg9`] finds in a file or URL, in
/// stream order (e.g. `["hevc", "aac"]`).
///
/// # Panics
/// As [`ffmpeg9_probe`].
pub fn ffmpeg9_stream_codecs(path_or_url: &str) -> Vec<String> {
    ffmpeg9_probe(path_or_url)
        .into_iter()
        .map(|s| s.codec)
        .collect()
}

fn tail(log: &str) -> &str {
    let max = usize::try_from(LOG_TAIL_ON_PANIC).unwrap_or(usize::MAX);
    let mut start = log.len().saturating_sub(max);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    log.get(start..).unwrap_or(log)
}

/// Parses the `Stream #0:N...: Kind: codec ...` lines of ffmpeg's first input
/// listing (stops at `Output #` / `Stream mapping:`). Packet counts are 0.
pub fn parse_input_streams(log: &str) -> Vec<Ffmpeg9Stream> {
    let mut streams = Vec::new();
    for line in log.lines() {
        let line = line.trim_start();
        if line.starts_with("Output #") || line.starts_with("Stream mapping:") {
            break;
        }
        let Some(rest) = line.strip_prefix("Stream #0:") else {
            continue;
        };
        // "0(eng)[0x100]: Video: hevc (Main), ..." -> index, then "Kind: codec".
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(index) = digits.parse::<u32>() else {
            continue;
        };
        let Some((_, after)) = rest.split_once(": ") else {
            continue;
        };
        let Some((kind, desc)) = after.split_once(": ") else {
            continue;
        };
        let codec = desc
            .split([' ', ','])
            .next()
            .unwrap_or_default()
            .to_string();
        streams.push(Ffmpeg9Stream {
            index,
            kind: kind.to_string(),
            codec,
            packets: 0,
        });
    }
    streams
}

/// Counts the packets per stream index in `-f framecrc` output.
pub fn count_framecrc_packets(text: &str) -> Vec<(u32, u64)> {
    let mut counts: Vec<(u32, u64)> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(Ok(index)) = line.split(',').next().map(|f| f.trim().parse::<u32>()) else {
            continue;
        };
        match counts.iter_mut().find(|(i, _)| *i == index) {
            Some((_, n)) => *n += 1,
            None => counts.push((index, 1)),
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ffprobe_json() {
        let json = br#"{"streams":[
            {"index":0,"codec_name":"h264","codec_type":"video","width":320,"height":240,"nb_read_frames":"125"},
            {"index":1,"codec_name":"aac","codec_type":"audio","sample_rate":"44100","channels":2,"nb_read_frames":"216"}],
            "format":{"format_name":"flv","duration":"5.000000"}}"#;
        let p = ProbeResult::from_json(json).unwrap();
        assert_eq!(p.format_name, "flv");
        assert_eq!(p.duration, Some(5.0));
        let v = p.video().unwrap();
        assert_eq!(
            (v.width, v.height, v.nb_read_frames),
            (Some(320), Some(240), Some(125))
        );
        let a = p.audio().unwrap();
        assert_eq!((a.sample_rate, a.channels), (Some(44_100), Some(2)));
        assert!(ProbeResult::from_json(b"not json").is_err());
    }

    #[test]
    fn parses_ffmpeg_stream_lines() {
        let log = "Input #0, flv, from 'x.flv':\n  Duration: 00:00:02.00\n  \
            Stream #0:0: Video: hevc (Main), yuv420p(tv), 320x240, 25 fps\n  \
            Stream #0:1(eng)[0x101]: Audio: aac (LC), 44100 Hz, stereo\n\
            Output #0, framecrc, to 'pipe:':\n  Stream #0:0: Video: hevc\n";
        let s = parse_input_streams(log);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].index, s[0].kind.as_str(), s[0].codec.as_str()),
            (0, "Video", "hevc")
        );
        assert_eq!(
            (s[1].index, s[1].kind.as_str(), s[1].codec.as_str()),
            (1, "Audio", "aac")
        );
    }

    #[test]
    fn counts_framecrc_lines() {
        let text = "#tb 0: 1/1000\n#tb 1: 1/1000\n0, 0, 0, 40, 100, 0x1\n1, 0, 0, 23, 9, 0x2\n0, 40, 40, 40, 50, 0x3\n";
        assert_eq!(count_framecrc_packets(text), vec![(0, 2), (1, 1)]);
    }
}
