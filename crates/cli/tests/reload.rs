//! Live reload with real peers: `sluice serve --config F` with ffmpeg publishing and playing;
//! a deny rule added to F and `SIGHUP` refuses the next publisher while the live stream and its
//! player go on; a key that needs a restart is reported; a broken F is refused with its error
//! and the settings in force stay; `POST /api/v1/reload` does the same and answers in JSON.

mod live_support;

use live_support::{ffmpeg, ffmpeg_play, fixture, publish, temp_dir, Sluice};
use sluice_testkit::{FixtureOpts, Signal};
use std::io::{Read, Write};
use std::time::Duration;

/// `POST path` on the HTTP port; the status and body.
fn post(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.read_to_string(&mut buf).unwrap();
    let status = buf
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[test]
fn sighup_applies_a_deny_rule_to_new_publishers_only() {
    let dir = temp_dir();
    let cfg = dir.path().join("sluice.toml");
    std::fs::write(&cfg, "[access]\npublish = \"anyone\"\n").unwrap();
    let (sluice, http) = Sluice::start_with_config_http(&cfg, &[]);
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(30)));

    let mut live = publish(&input, &sluice.url("a"));
    sluice.wait_log(&["publish", "stream=a"], Duration::from_secs(15));
    let out = dir.path().join("a.flv");
    let mut player = ffmpeg_play(
        &ffmpeg(),
        &sluice.url("a"),
        &out,
        Duration::from_secs(5),
        &["-t", "8"],
    );

    // Deny publishing b*, and change a key that needs a restart.
    std::fs::write(
        &cfg,
        "[access]\npublish = \"anyone\"\n\n[[access.rule]]\napp = \"live\"\nstream = \"b*\"\npublish = \"nobody\"\n\n[hub]\ngop_cache = false\n",
    )
    .unwrap();
    sluice.guard.signal_group(Signal::SIGHUP);
    sluice.wait_log(
        &["settings reloaded", "access.rule"],
        Duration::from_secs(5),
    );
    sluice.wait_log(
        &["take effect only after a restart", "hub.gop_cache"],
        Duration::from_secs(5),
    );

    let mut denied = publish(&input, &sluice.url("b1"));
    let status = denied.wait_timeout(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| !s.success()),
        "b1 was not refused: {}",
        denied.log()
    );
    sluice.wait_log(&["publish denied", "live/b1"], Duration::from_secs(5));

    // A broken file is refused; the rules in force stay (b2 denied, c allowed).
    std::fs::write(&cfg, "[access]\npublish = \"everyone\"\n").unwrap();
    sluice.guard.signal_group(Signal::SIGHUP);
    sluice.wait_log(&["reload refused", "everyone"], Duration::from_secs(5));
    let mut denied = publish(&input, &sluice.url("b2"));
    let status = denied.wait_timeout(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| !s.success()),
        "b2 was not refused: {}",
        denied.log()
    );
    let _c = publish(&input, &sluice.url("c"));
    sluice.wait_log(&["publish", "stream=c"], Duration::from_secs(15));

    // The same through the API: a broken file is a 400 with the error; a good one a 200 with
    // what was applied (here: b* may publish again).
    let (status, body) = post(http, "/api/v1/reload");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("everyone"), "{body}");
    std::fs::write(
        &cfg,
        "[access]\npublish = \"anyone\"\n[hub]\ngop_cache = false\n",
    )
    .unwrap();
    let (status, body) = post(http, "/api/v1/reload");
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        report["applied"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "access.rule"),
        "{body}"
    );
    assert!(
        report["restart_required"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "hub.gop_cache"),
        "{body}"
    );
    let _b3 = publish(&input, &sluice.url("b3"));
    sluice.wait_log(&["publish", "stream=b3"], Duration::from_secs(15));

    // The stream that was live before the reload went on, and so did its player.
    assert!(
        live.is_running(),
        "the live publisher was dropped: {}",
        live.log()
    );
    let status = player.wait_timeout(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "player: {}",
        player.log()
    );
    let frames = live_support::packets(&out, "v").len();
    assert!(frames >= 150, "the player got {frames} video frames in 8 s");
    assert_eq!(sluice.count_log(&["close", "reason=kicked"]), 0);
}
