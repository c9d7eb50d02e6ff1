//! Peer tool discovery: every tool the interop suite drives is installed and
//! runs, and a missing one fails loudly.

use std::process::Command;
use std::time::Duration;

use sluice_testkit::{ffmpeg9, find_tool, repo_root, run, tool};

const TIMEOUT: Duration = Duration::from_secs(30);

fn version_line(bin: &std::path::Path, arg: &str) -> String {
    let mut cmd = Command::new(bin);
    cmd.arg(arg);
    let out = run(cmd, TIMEOUT);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), out.log);
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn debian_peer_tools_are_installed() {
    for name in [
        "ffmpeg",
        "ffprobe",
        "rtmpdump",
        "gst-launch-1.0",
        "gst-inspect-1.0",
        "nginx",
    ] {
        let path = tool(name);
        assert!(path.is_absolute(), "{name} resolved to {}", path.display());
    }
    assert!(version_line(&tool("ffmpeg"), "-version").starts_with("ffmpeg version"));
    assert!(version_line(&tool("rtmpdump"), "-h").contains("RTMPDump"));
    assert!(version_line(&tool("nginx"), "-v").contains("nginx/"));
}

#[test]
fn gstreamer_has_the_rtmp_and_codec_elements() {
    for element in [
        "rtmp2src",
        "rtmp2sink",
        "flvmux",
        "flvdemux",
        "h264parse",
        "x264enc",
        "avdec_h264",
        "avdec_aac",
        "avenc_aac",
    ] {
        let mut cmd = Command::new(tool("gst-inspect-1.0"));
        cmd.args(["--exists", element]);
        let out = run(cmd, TIMEOUT);
        assert!(
            out.status.success(),
            "GStreamer element {element} is missing: run scripts/install-deps.sh"
        );
    }
}

#[test]
fn ffmpeg9_is_recent_and_speaks_enhanced_rtmp() {
    let bin = ffmpeg9();
    let line = version_line(&bin, "-version");
    let major: u32 = line
        .strip_prefix("ffmpeg version n")
        .or_else(|| line.strip_prefix("ffmpeg version "))
        .and_then(|v| v.split('.').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the ffmpeg9 version from {line:?}"));
    assert!(major >= 7, "ffmpeg9 is too old for Enhanced RTMP: {line}");

    let mut cmd = Command::new(&bin);
    cmd.args(["-hide_banner", "-protocols"]);
    let protocols = String::from_utf8_lossy(&run(cmd, TIMEOUT).stdout).into_owned();
    for p in ["rtmp", "rtmpe", "rtmpt", "rtmps"] {
        assert!(
            protocols.lines().any(|l| l.trim() == p),
            "ffmpeg9 lacks protocol {p}"
        );
    }
    let mut cmd = Command::new(&bin);
    cmd.args(["-hide_banner", "-encoders"]);
    let encoders = String::from_utf8_lossy(&run(cmd, TIMEOUT).stdout).into_owned();
    for e in [
        "libx264",
        "libx265",
        "libsvtav1",
        "libvpx-vp9",
        "libopus",
        "aac",
    ] {
        assert!(
            encoders.contains(&format!(" {e} ")),
            "ffmpeg9 lacks encoder {e}"
        );
    }
}

#[test]
fn repo_root_holds_the_workspace() {
    let root = repo_root();
    assert!(root.join("Cargo.toml").is_file());
    assert!(root.join("scripts/install-deps.sh").is_file());
}

#[test]
fn find_tool_returns_none_for_unknown_tools() {
    assert_eq!(find_tool("sluice-no-such-tool-xyz"), None);
    assert!(find_tool("sh").is_some());
}

#[test]
#[should_panic(
    expected = "peer tool sluice-no-such-tool-xyz is missing: run scripts/install-deps.sh"
)]
fn missing_tool_panics_with_the_installer_hint() {
    tool("sluice-no-such-tool-xyz");
}
