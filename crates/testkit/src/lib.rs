//! Test support for Sluice's interop tests.
//!
//! The house style asks for interop tests against real peers (ffmpeg, rtmpdump,
//! GStreamer, nginx-rtmp, Chromium) in the normal test suite. This crate is the
//! shared plumbing those tests stand on; it implements no protocol itself.
//!
//! - [`tools`]: where the peer programs are ([`tool`], [`ffmpeg9`]). A missing
//!   tool is a loud panic that names `scripts/install-deps.sh`: tests never skip.
//! - [`net`]: ephemeral loopback ports ([`free_port`], [`wait_for_port`]).
//! - [`process`]: [`ChildGuard`], a child process in its own process group that
//!   is killed (whole group) on drop, with its output captured to a log file
//!   that is printed when the test panics.
//! - [`fixture`]: FLV media made with ffmpeg from `lavfi` test sources
//!   ([`make_test_flv`]), H.264/AAC with Debian's ffmpeg and HEVC/AV1/VP9/Opus
//!   (Enhanced RTMP FLV) with the recent ffmpeg of the `imageio-ffmpeg` wheel.
//! - [`probe`]: what a file or URL contains, via `ffprobe` JSON ([`ffprobe`]) or,
//!   for Enhanced RTMP FLV that Debian's ffprobe 5.1 cannot parse, via the recent
//!   ffmpeg ([`ffmpeg9_probe`], [`ffmpeg9_stream_codecs`]).
//! - [`browser`]: headless Chromium over the DevTools Protocol ([`Chromium`]) and a static
//!   page server ([`StaticSite`]) for playback tests in a real browser (mpegts.js, MSE).
//! - [`nginx`]: a throw-away nginx-rtmp server on a free port ([`NginxRtmp`]),
//!   the reference peer for relay tests.
//!
//! Every process a helper starts is owned by a [`ChildGuard`]; every port is
//! ephemeral; every temporary file lives in a [`tempfile::TempDir`] that is
//! removed on drop.
#![forbid(unsafe_code)]

pub mod browser;
pub mod fixture;
pub mod net;
pub mod nginx;
pub mod probe;
pub mod process;
pub mod tools;

pub use browser::{hls_js, mpegts_js, Chromium, StaticSite};
pub use fixture::{make_test_flv, publish_flv, AudioCodec, FixtureOpts, VideoCodec};
pub use net::{free_port, wait_for_port};
pub use nginx::NginxRtmp;
/// Signals for [`ChildGuard::signal_group`] and [`ChildGuard::killed_by`].
pub use nix::sys::signal::Signal;
pub use probe::{
    ffmpeg9_probe, ffmpeg9_stream_codecs, ffprobe, ffprobe_with, Ffmpeg9Stream, ProbeResult,
    ProbeStream,
};
pub use process::{run, spawn, spawn_with, ChildGuard, RunOutput, SpawnOptions};
pub use tools::{ffmpeg9, find_tool, repo_root, tool};
