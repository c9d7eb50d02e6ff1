//! Media fixtures: FLV files generated with ffmpeg from `lavfi` test sources.
//!
//! Video is `testsrc2` (a moving pattern with a frame counter), audio is a
//! 440 Hz `sine`. H.264 + AAC (legacy FLV codec ids 7 and 10, FLV spec v10
//! annex E) is made with Debian's ffmpeg; HEVC, AV1, VP9 and Opus are written
//! by the recent ffmpeg ([`crate::ffmpeg9`]) as Enhanced RTMP FLV (FourCC
//! `hvc1`/`av01`/`vp09`/`Opus`, Enhanced RTMP v2), which Debian's ffmpeg 5.1
//! cannot produce or parse.
//!
//! The encoders are set for fast, deterministic-shape output: fixed GOP
//! (`-g`, no scene-cut keyframes), constant-ish bitrate, and by default no
//! B-frames (`-tune zerolatency`), so tests can predict keyframe positions.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::process::spawn;
use crate::tools::{ffmpeg9, tool};

/// How long generating one fixture may take before the test fails.
pub const FIXTURE_TIMEOUT: Duration = Duration::from_secs(180);

/// Video codec of a generated fixture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264 with libx264 (legacy FLV codec id 7); Debian's ffmpeg.
    #[default]
    H264,
    /// HEVC with libx265, Enhanced RTMP `hvc1`; ffmpeg9.
    Hevc,
    /// AV1 with SVT-AV1, Enhanced RTMP `av01`; ffmpeg9.
    Av1,
    /// VP9 with libvpx, Enhanced RTMP `vp09`; ffmpeg9.
    Vp9,
}

impl VideoCodec {
    /// Whether only the recent ffmpeg can write this codec into FLV.
    pub fn needs_ffmpeg9(self) -> bool {
        !matches!(self, VideoCodec::H264)
    }

    /// The codec name ffmpeg/ffprobe report for it.
    pub fn ffmpeg_name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264",
            VideoCodec::Hevc => "hevc",
            VideoCodec::Av1 => "av1",
            VideoCodec::Vp9 => "vp9",
        }
    }
}

/// Audio codec of a generated fixture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AudioCodec {
    /// AAC-LC with ffmpeg's native encoder (legacy FLV sound format 10).
    #[default]
    Aac,
    /// Opus with libopus, Enhanced RTMP `Opus`; ffmpeg9. Always 48 kHz
    /// (the only rate Opus and this fixture support), whatever
    /// [`FixtureOpts::sample_rate`] says.
    Opus,
}

impl AudioCodec {
    /// Whether only the recent ffmpeg can write this codec into FLV.
    pub fn needs_ffmpeg9(self) -> bool {
        matches!(self, AudioCodec::Opus)
    }

    /// The codec name ffmpeg/ffprobe report for it.
    pub fn ffmpeg_name(self) -> &'static str {
        match self {
            AudioCodec::Aac => "aac",
            AudioCodec::Opus => "opus",
        }
    }
}

/// Parameters of [`make_test_flv`]. The default is 5 s of 320x240 at 25 fps,
/// H.264 at ~500 kbit/s with a keyframe every second, and AAC 44.1 kHz stereo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureOpts {
    /// Length of the media. Default 5 s.
    pub duration: Duration,
    /// Frame width in pixels. Default 320.
    pub width: u32,
    /// Frame height in pixels. Default 240.
    pub height: u32,
    /// Frames per second. Default 25.
    pub fps: u32,
    /// Target video bitrate in kbit/s. Default 500.
    pub video_kbps: u32,
    /// Keyframe interval in frames (`-g`). Default 25 (one per second).
    pub keyframe_interval: u32,
    /// Maximum consecutive B-frames; 0 (default) uses `-tune zerolatency`.
    /// Only H.264 and HEVC use it; more than 0 makes composition time offsets.
    pub b_frames: u32,
    /// Video codec. Default H.264.
    pub video: VideoCodec,
    /// Audio codec, or `None` for a video-only file. Default AAC.
    pub audio: Option<AudioCodec>,
    /// Audio sample rate in Hz. Default 44 100.
    pub sample_rate: u32,
    /// Audio channels. Default 2.
    pub channels: u32,
}

impl Default for FixtureOpts {
    fn default() -> Self {
        FixtureOpts {
            duration: Duration::from_secs(5),
            width: 320,
            height: 240,
            fps: 25,
            video_kbps: 500,
            keyframe_interval: 25,
            b_frames: 0,
            video: VideoCodec::H264,
            audio: Some(AudioCodec::Aac),
            sample_rate: 44_100,
            channels: 2,
        }
    }
}

impl FixtureOpts {
    /// The default fixture with HEVC video (Enhanced RTMP FLV, via ffmpeg9).
    pub fn hevc() -> Self {
        FixtureOpts {
            video: VideoCodec::Hevc,
            ..FixtureOpts::default()
        }
    }

    /// Same options with another length.
    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// Same options with another video codec.
    pub fn with_video(mut self, video: VideoCodec) -> Self {
        self.video = video;
        self
    }

    /// Same options with another audio codec (or none).
    pub fn with_audio(mut self, audio: Option<AudioCodec>) -> Self {
        self.audio = audio;
        self
    }

    /// Whether the recent ffmpeg is needed to write this fixture.
    pub fn needs_ffmpeg9(&self) -> bool {
        self.video.needs_ffmpeg9() || self.audio.is_some_and(AudioCodec::needs_ffmpeg9)
    }

    /// The number of video frames the fixture will hold.
    pub fn expected_video_frames(&self) -> u64 {
        (self.duration.as_secs_f64() * f64::from(self.fps)).round() as u64
    }

    /// The ffmpeg arguments (after the program name) that write `path`.
    pub fn ffmpeg_args(&self, path: &Path) -> Vec<String> {
        let secs = format!("{:.3}", self.duration.as_secs_f64());
        let g = self.keyframe_interval.max(1).to_string();
        let kbps = self.video_kbps.max(1);
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        push(&[
            "-hide_banner",
            "-nostdin",
            "-nostats",
            "-loglevel",
            "warning",
        ]);
        push(&["-y", "-f", "lavfi", "-i"]);
        push(&[&format!(
            "testsrc2=size={}x{}:rate={}:duration={secs}",
            self.width, self.height, self.fps
        )]);
        let sample_rate = match self.audio {
            Some(AudioCodec::Opus) => 48_000,
            _ => self.sample_rate,
        };
        if self.audio.is_some() {
            push(&["-f", "lavfi", "-i"]);
            push(&[&format!(
                "sine=frequency=440:sample_rate={sample_rate}:duration={secs}"
            )]);
        }
        push(&["-map", "0:v"]);
        if self.audio.is_some() {
            push(&["-map", "1:a"]);
        }
        push(&["-pix_fmt", "yuv420p", "-g", &g, "-keyint_min", &g]);
        push(&["-b:v", &format!("{kbps}k")]);
        // SVT-AV1 rejects a max bitrate outside CRF mode; the others get a
        // VBV so the rate stays near the target.
        if self.video != VideoCodec::Av1 {
            push(&[
                "-maxrate",
                &format!("{kbps}k"),
                "-bufsize",
                &format!("{}k", kbps * 2),
            ]);
        }
        let bf = self.b_frames.to_string();
        match self.video {
            VideoCodec::H264 => {
                push(&[
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-sc_threshold",
                    "0",
                ]);
                if self.b_frames == 0 {
                    push(&["-tune", "zerolatency"]);
                } else {
                    push(&["-bf", &bf]);
                }
            }
            VideoCodec::Hevc => {
                push(&["-c:v", "libx265", "-preset", "ultrafast"]);
                if self.b_frames == 0 {
                    push(&["-tune", "zerolatency"]);
                }
                push(&[
                    "-x265-params",
                    &format!("log-level=error:scenecut=0:bframes={bf}"),
                ]);
            }
            VideoCodec::Av1 => push(&["-c:v", "libsvtav1", "-preset", "11"]),
            VideoCodec::Vp9 => push(&[
                "-c:v",
                "libvpx-vp9",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
            ]),
        }
        match self.audio {
            Some(AudioCodec::Aac) => push(&["-c:a", "aac", "-b:a", "128k"]),
            Some(AudioCodec::Opus) => push(&["-c:a", "libopus", "-b:a", "96k"]),
            None => {}
        }
        if self.audio.is_some() {
            push(&[
                "-ar",
                &sample_rate.to_string(),
                "-ac",
                &self.channels.to_string(),
            ]);
        }
        push(&["-f", "flv"]);
        a.push(path.to_string_lossy().into_owned());
        a
    }
}

/// Writes an FLV test file at `path` as described by `opts`, with Debian's
/// ffmpeg for H.264/AAC and with [`ffmpeg9`] when a codec needs Enhanced RTMP.
///
/// # Panics
/// If the tool is missing or ffmpeg fails (the message holds its log).
pub fn make_test_flv(path: &Path, opts: FixtureOpts) {
    let bin = if opts.needs_ffmpeg9() {
        ffmpeg9()
    } else {
        tool("ffmpeg")
    };
    let mut cmd = Command::new(bin);
    cmd.args(opts.ffmpeg_args(path));
    spawn(cmd).wait_success(FIXTURE_TIMEOUT);
}

/// Starts `ffmpeg` publishing the FLV file `input` to the RTMP `url` in real
/// time (`-re`, stream copy). `ffmpeg` is usually [`tool`]`("ffmpeg")` or
/// [`ffmpeg9`]. The guard ends with success when the file is sent.
pub fn publish_flv(ffmpeg: &Path, input: &Path, url: &str) -> crate::ChildGuard {
    let mut cmd = Command::new(ffmpeg);
    cmd.args([
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "info",
        "-re",
        "-i",
    ])
    .arg(input)
    .args(["-map", "0", "-c", "copy", "-f", "flv", url]);
    spawn(cmd)
}
