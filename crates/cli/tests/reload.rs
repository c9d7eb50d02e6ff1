//! Live reload with real peers: `sluice serve --config F` with ffmpeg publishing and playing;
//! a deny rule added to F and `SIGHUP` refuses the next publisher while the live stream and its
//! player go on; a key that needs a restart is reported; a broken F is refused with its error
//! and the settings in force stay.

mod live_support;

use live_support::{ffmpeg, ffmpeg_play, fixture, publish, temp_dir, Sluice};
use sluice_testkit::{FixtureOpts, Signal};
use std::time::Duration;

#[test]
fn sighup_applies_a_deny_rule_to_new_publishers_only() {
    let dir = temp_dir();
    let cfg = dir.path().join("sluice.toml");
    std::fs::write(&cfg, "[access]\npublish = \"anyone\"\n").unwrap();
    let sluice = Sluice::start_with_config(&cfg, &[]);
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
