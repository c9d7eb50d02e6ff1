//! `sluice probe URL [--json]`: what a server and a stream are. Reports the `connect` answer
//! (RTMP 1.0 §7.2.1.1: fmsVer, capabilities, mode and any extra properties), the stream's
//! `onMetaData`, codecs from the sequence headers (FLV v10.1 / Enhanced RTMP tag headers and
//! the avcC / hvcC / av1C / AudioSpecificConfig records, via `sluice-flv`), a frame rate measured
//! from the video timestamps, and the time to connect, to the first frame and to the first
//! keyframe.

use super::{client_options, runtime, secs, Target, TransportArgs};
use clap::Args;
use serde::Serialize;
use sluice_amf::{Amf0Object, Amf0Value};
use sluice_client::{ClientError, ConnectResponse, PlayEvent, Timestamp};
use sluice_flv::{
    classify_audio, classify_video, describe_audio_sequence_header, describe_video_sequence_header,
    StreamCodecInfo,
};
use sluice_rtmp::handshake::{HandshakeKind, RtmpeType};
use std::time::Duration;
use tokio::time::Instant;

/// Arguments of `sluice probe`.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub target: Target,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Seconds allowed to connect, to get the answer to play, and for the first media; then
    /// again for the rest of the measurement. Example: --timeout 5
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
    /// Seconds of media to watch after the first frame (frame rate, bitrate, late tracks).
    /// Example: --measure 5
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub measure: f64,
    #[command(flatten)]
    pub transport: TransportArgs,
}

/// The long help of `sluice probe`.
pub const AFTER_HELP: &str = "\
Connects, plays the stream, and watches it until the sequence headers, a keyframe and
--measure seconds of media have arrived (or --timeout passes again), then prints what it found.
Times are counted from the start of the TCP connection.

Examples:
  sluice probe rtmp://127.0.0.1/live/cam
  sluice probe rtmfp://127.0.0.1/live/cam   (RTMP over RTMFP, UDP 1935)
  sluice probe --json --timeout 5 rtmp://example.com/live/cam | jq .video";

/// Server part of the report.
#[derive(Debug, Serialize)]
pub struct ServerReport {
    /// `fmsVer`.
    pub fms_ver: String,
    /// `capabilities`.
    pub capabilities: f64,
    /// `mode`.
    pub mode: f64,
    /// `simple`, `digest` or `rtmpe`.
    pub handshake: Option<&'static str>,
    /// Other properties of the connect answer (e.g. Enhanced RTMP `fourCcList`, `capsEx`).
    pub properties: serde_json::Value,
    /// Other fields of the connect answer's information object (e.g. `data.version`).
    pub information: serde_json::Value,
}

/// Timings, milliseconds from the start of the connection.
#[derive(Debug, Serialize, Default)]
pub struct Timings {
    /// `connect` answered.
    pub connect_ms: f64,
    /// `NetStream.Play.Start` received.
    pub play_ms: f64,
    /// First audio or video frame.
    pub first_frame_ms: Option<f64>,
    /// First video keyframe.
    pub first_keyframe_ms: Option<f64>,
}

/// One track of the report.
#[derive(Debug, Serialize, Default)]
pub struct TrackReport {
    /// Codec name (`h264`, `hevc`, `aac`, ...).
    pub codec: String,
    /// Profile, when the configuration record says.
    pub profile: Option<String>,
    /// Level, when the configuration record says.
    pub level: Option<String>,
    /// Picture width.
    pub width: Option<u32>,
    /// Picture height.
    pub height: Option<u32>,
    /// Frame rate from the metadata (`framerate` / `fps`).
    pub frame_rate_metadata: Option<f64>,
    /// Frame rate measured from the timestamps.
    pub frame_rate_measured: Option<f64>,
    /// Seconds between keyframes, measured.
    pub keyframe_interval_s: Option<f64>,
    /// Sample rate (Hz).
    pub sample_rate: Option<u32>,
    /// Channels.
    pub channels: Option<u8>,
    /// Bitrate over the measured window (kbit/s).
    pub bitrate_kbps: Option<f64>,
    /// Frames seen (sequence headers excluded).
    pub frames: u64,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct ProbeReport {
    /// The probed URL.
    pub url: String,
    /// The server's connect answer.
    pub server: ServerReport,
    /// Timings.
    pub timings: Timings,
    /// `onMetaData`, as JSON.
    pub metadata: Option<serde_json::Value>,
    /// Video track.
    pub video: Option<TrackReport>,
    /// Audio track.
    pub audio: Option<TrackReport>,
}

/// An AMF0 value as JSON (dates as milliseconds, non-finite numbers as null).
pub fn amf_to_json(v: &Amf0Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Amf0Value::Number(n) => serde_json::Number::from_f64(*n).map_or(J::Null, J::Number),
        Amf0Value::Boolean(b) => J::Bool(*b),
        Amf0Value::String(s) | Amf0Value::XmlDocument(s) => J::String(s.clone()),
        Amf0Value::Object(o) | Amf0Value::EcmaArray(o) => object_to_json(o),
        Amf0Value::TypedObject { properties, .. } => object_to_json(properties),
        Amf0Value::StrictArray(items) => J::Array(items.iter().map(amf_to_json).collect()),
        Amf0Value::Date { millis, .. } => {
            serde_json::Number::from_f64(*millis).map_or(J::Null, J::Number)
        }
        Amf0Value::Avmplus(v) => J::String(format!("{v:?}")),
        Amf0Value::Null | Amf0Value::Undefined | Amf0Value::Unsupported => J::Null,
    }
}

/// An AMF0 object as a JSON object.
pub fn object_to_json(o: &Amf0Object) -> serde_json::Value {
    serde_json::Value::Object(
        o.iter()
            .map(|(k, v)| (k.to_owned(), amf_to_json(v)))
            .collect(),
    )
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Per-track measurement.
#[derive(Debug, Default)]
struct Track {
    described: Option<StreamCodecInfo>,
    codec_seen: Option<String>,
    frames: u64,
    bytes: u64,
    first_ts: Option<Timestamp>,
    last_ts: Option<Timestamp>,
    keyframes: Vec<Timestamp>,
}

impl Track {
    fn frame(&mut self, ts: Timestamp, len: usize) {
        self.frames += 1;
        self.bytes += len as u64;
        self.first_ts.get_or_insert(ts);
        self.last_ts = Some(self.last_ts.map_or(ts, |l| l.max(ts)));
    }

    fn span_ms(&self) -> Option<u32> {
        Some(self.last_ts?.delta_since(self.first_ts?)).filter(|&s| s > 0 && s < 1 << 31)
    }

    fn report(&self, video: bool, md: Option<&Amf0Object>) -> Option<TrackReport> {
        let codec = match (&self.described, &self.codec_seen) {
            (Some(d), _) => d.codec.clone(),
            (None, Some(c)) => c.clone(),
            (None, None) => return None,
        };
        let d = self.described.clone().unwrap_or_default();
        let span = self.span_ms();
        let mut r = TrackReport {
            codec,
            profile: d.profile,
            level: d.level,
            width: d.width,
            height: d.height,
            sample_rate: d.sample_rate,
            channels: d.channels,
            frames: self.frames,
            bitrate_kbps: span
                .map(|s| (self.bytes as f64 * 8.0 / f64::from(s) * 10.0).round() / 10.0),
            ..TrackReport::default()
        };
        if video {
            r.frame_rate_metadata = md.and_then(|m| {
                m.get_number("framerate")
                    .or_else(|| m.get_number("fps"))
                    .or_else(|| m.get_number("videoframerate"))
            });
            r.frame_rate_measured = span.filter(|_| self.frames >= 2).map(|s| {
                ((self.frames - 1) as f64 * 1000.0 / f64::from(s) * 100.0).round() / 100.0
            });
            if let [first, .., last] = self.keyframes.as_slice() {
                let n = (self.keyframes.len() - 1) as f64;
                r.keyframe_interval_s = Some(
                    (f64::from(last.delta_since(*first)) / 1000.0 / n * 100.0).round() / 100.0,
                );
            }
            if r.width.is_none() {
                r.width = md.and_then(|m| m.get_number("width")).map(|w| w as u32);
                r.height = md.and_then(|m| m.get_number("height")).map(|h| h as u32);
            }
        } else if r.sample_rate.is_none() {
            r.sample_rate = md
                .and_then(|m| m.get_number("audiosamplerate"))
                .map(|v| v as u32);
        }
        Some(r)
    }
}

fn server_report(r: &ConnectResponse, handshake: Option<HandshakeKind>) -> ServerReport {
    ServerReport {
        fms_ver: r.fms_ver.clone(),
        capabilities: r.capabilities,
        mode: r.mode,
        handshake: handshake.map(|k| match k {
            HandshakeKind::Simple => "simple",
            HandshakeKind::Digest(_) => "digest",
            HandshakeKind::Rtmpe { rtmpe_type, .. } => match rtmpe_type {
                RtmpeType::Basic => "rtmpe type 6",
                RtmpeType::Xtea => "rtmpe type 8",
                RtmpeType::Blowfish => "rtmpe type 9",
            },
        }),
        properties: object_to_json(&r.extra_properties),
        information: object_to_json(&r.extra_information),
    }
}

/// Run `sluice probe`.
pub fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let url = args.target.url()?;
    let options = client_options(args.timeout, &args.transport)?;
    let limit = secs(args.timeout, "--timeout")?;
    let measure = secs(args.measure, "--measure")?;
    let report = runtime()?.block_on(async move {
        let t0 = Instant::now();
        let name = sluice_client::stream_name(&url)?;
        let (response, handshake, connect_time, mut player) =
            super::any::connect_and_play(&url, &options, &name).await?;
        let server = server_report(&response, handshake);
        let connect_ms = ms(connect_time);
        let mut timings = Timings {
            connect_ms,
            play_ms: ms(t0.elapsed()),
            ..Timings::default()
        };
        let mut metadata: Option<Amf0Object> = None;
        let mut video = Track::default();
        let mut audio = Track::default();
        let mut deadline = Instant::now() + limit;
        let mut first_media_ts: Option<Timestamp> = None;
        let mut last_media_ts = Timestamp::ZERO;
        loop {
            let ev = match tokio::time::timeout_at(deadline, player.next_event()).await {
                Err(_) if first_media_ts.is_none() => {
                    anyhow::bail!("no media from {url} within {limit:?}: the stream never started")
                }
                Err(_) => break,
                Ok(Err(e @ ClientError::StreamError(_))) => return Err(e.into()),
                Ok(Err(e)) => return Err(anyhow::Error::new(e).context("playing")),
                Ok(Ok(ev)) => ev,
            };
            let now = ms(t0.elapsed());
            match ev {
                PlayEvent::Eof(reason) => {
                    if first_media_ts.is_none() {
                        anyhow::bail!("stream {url} ended before any media arrived ({reason:?})");
                    }
                    break;
                }
                PlayEvent::Metadata { properties, .. } => metadata = Some(properties),
                PlayEvent::Video { timestamp, payload } => {
                    let i = classify_video(&payload);
                    video.codec_seen.get_or_insert_with(|| i.codec.to_string());
                    if i.is_sequence_header {
                        if let Ok(d) = describe_video_sequence_header(&payload) {
                            video.described = Some(d);
                        }
                        continue;
                    }
                    if i.is_command {
                        continue;
                    }
                    video.frame(timestamp, payload.len());
                    timings.first_frame_ms.get_or_insert(now);
                    if i.is_keyframe {
                        timings.first_keyframe_ms.get_or_insert(now);
                        video.keyframes.push(timestamp);
                    }
                    if first_media_ts.is_none() {
                        deadline = Instant::now() + limit;
                    }
                    first_media_ts.get_or_insert(timestamp);
                    last_media_ts = last_media_ts.max(timestamp);
                }
                PlayEvent::Audio { timestamp, payload } => {
                    let i = classify_audio(&payload);
                    audio.codec_seen.get_or_insert_with(|| i.codec.to_string());
                    if audio.described.is_none() {
                        // AAC and enhanced audio describe themselves in the sequence header;
                        // legacy formats (MP3, PCM, Speex) in every tag header.
                        if let Ok(d) = describe_audio_sequence_header(&payload) {
                            audio.described = Some(d);
                        }
                    }
                    if i.is_sequence_header {
                        continue;
                    }
                    audio.frame(timestamp, payload.len());
                    timings.first_frame_ms.get_or_insert(now);
                    if first_media_ts.is_none() {
                        deadline = Instant::now() + limit;
                    }
                    first_media_ts.get_or_insert(timestamp);
                    last_media_ts = last_media_ts.max(timestamp);
                }
                _ => {}
            }
            // Done once the window is covered and what can be known is known.
            if let Some(first) = first_media_ts {
                let window = u128::from(last_media_ts.delta_since(first)) >= measure.as_millis();
                let video_known = video.codec_seen.is_none()
                    || (video.described.is_some() && !video.keyframes.is_empty());
                if window && video_known {
                    break;
                }
            }
        }
        let _ = player.stop().await;
        let md = metadata.as_ref();
        Ok::<_, anyhow::Error>(ProbeReport {
            url: url.to_string(),
            server,
            timings,
            metadata: md.map(object_to_json),
            video: video.report(true, md),
            audio: audio.report(false, md),
        })
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(String::new, ToString::to_string)
}

/// The text form of a report.
pub fn render(r: &ProbeReport) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<14}{v}\n"));
    line("url", r.url.clone());
    line(
        "server",
        format!(
            "fmsVer {}, capabilities {}, mode {}, handshake {}",
            r.server.fms_ver,
            r.server.capabilities,
            r.server.mode,
            r.server.handshake.unwrap_or("unknown")
        ),
    );
    for (k, v) in [
        ("server props", &r.server.properties),
        ("server info", &r.server.information),
    ] {
        if v.as_object().is_some_and(|o| !o.is_empty()) {
            line(k, v.to_string());
        }
    }
    let t = &r.timings;
    line(
        "timing",
        format!(
            "connect {:.1} ms, play {:.1} ms, first frame {}, first keyframe {}",
            t.connect_ms,
            t.play_ms,
            t.first_frame_ms
                .map_or("-".into(), |v| format!("{v:.1} ms")),
            t.first_keyframe_ms
                .map_or("-".into(), |v| format!("{v:.1} ms")),
        ),
    );
    if let Some(serde_json::Value::Object(md)) = &r.metadata {
        let items: Vec<String> = md.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line("metadata", items.join(" "));
    }
    match &r.video {
        Some(v) => {
            let mut parts = vec![[v.codec.clone(), opt(&v.profile), opt(&v.level)]
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")];
            if let (Some(w), Some(h)) = (v.width, v.height) {
                parts.push(format!("{w}x{h}"));
            }
            match (v.frame_rate_measured, v.frame_rate_metadata) {
                (Some(m), Some(md)) => parts.push(format!("{m:.2} fps (metadata {md})")),
                (Some(m), None) => parts.push(format!("{m:.2} fps")),
                (None, Some(md)) => parts.push(format!("{md} fps (metadata)")),
                (None, None) => {}
            }
            if let Some(k) = v.keyframe_interval_s {
                parts.push(format!("keyframe every {k:.2} s"));
            }
            if let Some(b) = v.bitrate_kbps {
                parts.push(format!("{b:.0} kbit/s"));
            }
            line("video", parts.join(", "));
        }
        None => line("video", "none".into()),
    }
    match &r.audio {
        Some(a) => {
            let mut parts = vec![[a.codec.clone(), opt(&a.profile)]
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")];
            if let Some(sr) = a.sample_rate {
                parts.push(format!("{sr} Hz"));
            }
            if let Some(c) = a.channels {
                parts.push(format!("{c} channels"));
            }
            if let Some(b) = a.bitrate_kbps {
                parts.push(format!("{b:.0} kbit/s"));
            }
            line("audio", parts.join(", "));
        }
        None => line("audio", "none".into()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amf_json() {
        let o = Amf0Object::new()
            .with("n", 1.5)
            .with("b", true)
            .with("s", "x")
            .with("nan", f64::NAN);
        let mut o2 = o.clone();
        o2.insert(
            "arr",
            Amf0Value::StrictArray(vec![Amf0Value::Null, 2.0.into()]),
        );
        o2.insert("inner", Amf0Value::EcmaArray(o));
        o2.insert(
            "d",
            Amf0Value::Date {
                millis: 10.0,
                timezone: 0,
            },
        );
        let j = object_to_json(&o2);
        assert_eq!(
            j.to_string(),
            r#"{"n":1.5,"b":true,"s":"x","nan":null,"arr":[null,2.0],"inner":{"n":1.5,"b":true,"s":"x","nan":null},"d":10.0}"#
        );
    }

    #[test]
    fn track_measurement() {
        let mut t = Track {
            codec_seen: Some("h264".into()),
            ..Track::default()
        };
        for i in 0..26u32 {
            t.frame(Timestamp(1000 + i * 40), 1000);
            if i % 25 == 0 {
                t.keyframes.push(Timestamp(1000 + i * 40));
            }
        }
        let md = Amf0Object::new()
            .with("framerate", 25.0)
            .with("width", 320.0)
            .with("height", 240.0);
        let r = t.report(true, Some(&md)).unwrap();
        assert_eq!(r.codec, "h264");
        assert_eq!(r.frame_rate_measured, Some(25.0));
        assert_eq!(r.frame_rate_metadata, Some(25.0));
        assert_eq!(r.keyframe_interval_s, Some(1.0));
        assert_eq!((r.width, r.height), (Some(320), Some(240)));
        assert_eq!(r.bitrate_kbps, Some(208.0));
        assert!(Track::default().report(true, None).is_none());
    }

    #[test]
    fn render_text() {
        let r = ProbeReport {
            url: "rtmp://h/live/s".into(),
            server: ServerReport {
                fms_ver: "FMS/3,0,1,123".into(),
                capabilities: 31.0,
                mode: 1.0,
                handshake: Some("digest"),
                properties: serde_json::json!({}),
                information: serde_json::json!({"version": "1.0"}),
            },
            timings: Timings {
                connect_ms: 1.0,
                play_ms: 2.0,
                first_frame_ms: Some(3.0),
                first_keyframe_ms: None,
            },
            metadata: Some(serde_json::json!({"width": 320.0})),
            video: Some(TrackReport {
                codec: "h264".into(),
                profile: Some("High".into()),
                level: Some("3".into()),
                width: Some(320),
                height: Some(240),
                frame_rate_measured: Some(25.0),
                ..TrackReport::default()
            }),
            audio: None,
        };
        let text = render(&r);
        assert!(
            text.contains("fmsVer FMS/3,0,1,123, capabilities 31"),
            "{text}"
        );
        assert!(
            text.contains("server info   {\"version\":\"1.0\"}"),
            "{text}"
        );
        assert!(
            text.contains("video         h264 High 3, 320x240, 25.00 fps"),
            "{text}"
        );
        assert!(text.contains("first keyframe -"), "{text}");
        assert!(text.contains("audio         none"), "{text}");
        assert!(text.contains("metadata      width=320.0"), "{text}");
    }
}
