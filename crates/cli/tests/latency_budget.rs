//! The latency budget (`server.latency_budget_ms`, `[[server.app]]`, docs/CAPACITY.md) end to
//! end: ffmpeg publishes to a `sluice serve` that holds media to merge writes, and players built
//! on the sans-IO client session check that nothing is lost or reordered, that a late player
//! still starts at once on a keyframe from the GOP cache, that media really arrives in merged
//! bursts, that per-app budgets apply, and that a stalled player is still cut off without
//! slowing the publisher or another player.

mod live_support;

use live_support::{collect, fixture, publish, temp_dir, wait_exit, Collected, RawClient, Sluice};
use sluice_flv::{FlvReader, TagType};
use sluice_testkit::FixtureOpts;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::Duration;

fn hash(b: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

/// (video?, timestamp, payload hash) of every audio and video tag of an FLV file.
fn file_media(path: &Path) -> Vec<(bool, u32, u64)> {
    let mut r = FlvReader::new(std::fs::File::open(path).unwrap());
    r.header().unwrap();
    let mut out = Vec::new();
    while let Some(tag) = r.next_tag().unwrap() {
        if tag.tag_type == TagType::AUDIO || tag.tag_type == TagType::VIDEO {
            out.push((
                tag.tag_type == TagType::VIDEO,
                tag.timestamp,
                hash(&tag.data),
            ));
        }
    }
    out
}

/// The same triples for what a player received.
fn received(c: &Collected) -> Vec<(bool, u32, u64)> {
    c.media
        .iter()
        .map(|m| (m.video, m.timestamp, hash(&m.payload)))
        .collect()
}

/// One track's (timestamp, hash) in order.
fn track(v: &[(bool, u32, u64)], video: bool) -> Vec<(u32, u64)> {
    v.iter()
        .filter(|m| m.0 == video)
        .map(|m| (m.1, m.2))
        .collect()
}

/// Groups of media that arrived together (less than `gap` between neighbours).
fn bursts(c: &Collected, gap: Duration) -> usize {
    let mut n = 0;
    let mut last: Option<Duration> = None;
    for m in &c.media {
        if last.is_none_or(|l| m.at - l >= gap) {
            n += 1;
        }
        last = Some(m.at);
    }
    n
}

/// A player that waits for `name`, plays the publish of `input` whole and returns what it saw.
fn play_whole(server: &Sluice, name: &str, url: &str, input: &Path) -> Collected {
    let app = url.rsplit('/').nth(1).unwrap().to_owned();
    let mut player = RawClient::connect(server.addr(), |c| {
        c.connect.tc_url = Some(format!("rtmp://{}/{app}", server.addr()));
        c.connect.app = app;
    });
    player.wait_connected();
    player.play(name);
    let mut publisher = publish(input, url);
    let got = collect(&mut player, Duration::from_secs(40), |c| {
        c.has_status("NetStream.Play.UnpublishNotify")
    });
    wait_exit(&mut publisher, Duration::from_secs(30));
    got
}

#[test]
fn a_budget_loses_and_reorders_nothing_and_merges_writes() {
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(6)));
    let src = file_media(&input);
    let server = Sluice::start_with_env(&[("SLUICE_SERVER_LATENCY_BUDGET_MS", "300")]);
    let got = play_whole(&server, "held", &server.url("held"), &input);
    server.wait_log(
        &["publish", "latency_budget_ms=300"],
        Duration::from_secs(5),
    );
    let rx = received(&got);
    // Every frame of each track, in order, with its payload and timestamp.
    assert_eq!(track(&rx, true), track(&src, true), "video");
    assert_eq!(track(&rx, false), track(&src, false), "audio");
    // Audio and video stay in step: the interleaving keeps timestamps within one hold.
    let mut max_video = 0;
    for m in &rx {
        if m.0 {
            max_video = max_video.max(m.1);
        } else {
            assert!(
                m.1 + 1000 >= max_video,
                "audio at {} after video at {max_video}",
                m.1
            );
        }
    }
    // 6 s of 25 fps video and 43 audio frames a second: ~400 messages. Held 300 ms they come
    // in about 20 bursts; without a hold there would be one per picture (150).
    let n = bursts(&got, Duration::from_millis(60));
    assert!(n <= 60, "{n} bursts of media for a 300 ms budget");
}

#[test]
fn a_late_player_starts_at_once_on_a_keyframe_with_a_budget() {
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(8)));
    let server = Sluice::start_with_env(&[("SLUICE_SERVER_LATENCY_BUDGET_MS", "350")]);
    let mut publisher = publish(&input, &server.url("late"));
    server.wait_log(&["publish", "stream=late"], Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    let mut player = RawClient::connect(server.addr(), |_| {});
    player.wait_connected();
    player.play("late");
    let got = collect(&mut player, Duration::from_secs(40), |c| {
        c.has_status("NetStream.Play.UnpublishNotify")
    });
    wait_exit(&mut publisher, Duration::from_secs(30));
    let first = got.video_frames().next().expect("video");
    assert_eq!(first.payload[0] >> 4, 1, "starts on a keyframe");
    // From its first picture on, the player has the source's pictures, contiguous.
    let rx: Vec<u64> = got.video_frames().map(|m| hash(&m.payload)).collect();
    let video = source_pictures(&input);
    let from = video
        .iter()
        .position(|h| *h == rx[0])
        .expect("the first picture is one of the source's");
    assert_eq!(
        &rx[..],
        &video[from..],
        "contiguous video from the keyframe"
    );
}

/// Payload hashes of the source's pictures (video tags that are not sequence headers).
fn source_pictures(path: &Path) -> Vec<u64> {
    let mut r = FlvReader::new(std::fs::File::open(path).unwrap());
    r.header().unwrap();
    let mut out = Vec::new();
    while let Some(tag) = r.next_tag().unwrap() {
        if tag.tag_type == TagType::VIDEO && tag.data.get(1) != Some(&0) {
            out.push(hash(&tag.data));
        }
    }
    out
}

#[test]
fn per_app_budgets_apply_to_their_apps_only() {
    let dir = temp_dir();
    let config = dir.path().join("sluice.toml");
    std::fs::write(
        &config,
        "[server]\nlatency_budget_ms = 0\n\n[[server.app]]\napp = \"cheap*\"\nlatency_budget_ms = 250\n",
    )
    .unwrap();
    let server = Sluice::start_with_config(&config, &[]);
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(3)));
    let url = format!("rtmp://127.0.0.1:{}/cheapo/a", server.addr().port());
    let got = play_whole(&server, "a", &url, &input);
    assert_eq!(
        track(&received(&got), true),
        track(&file_media(&input), true)
    );
    let line = server.wait_log(&["publish", "app=cheapo"], Duration::from_secs(5));
    assert!(line.contains("latency_budget_ms=250"), "{line}");
    let mut p = publish(&input, &server.url("b"));
    let line = server.wait_log(&["publish", "app=live"], Duration::from_secs(10));
    assert!(!line.contains("latency_budget_ms"), "{line}");
    wait_exit(&mut p, Duration::from_secs(30));
}

#[test]
fn a_stalled_player_is_still_cut_off_with_a_budget() {
    // As live_robustness's stalled player, with media held 300 ms.
    live_support::stalled_player_scenario(&[("SLUICE_SERVER_LATENCY_BUDGET_MS", "300")]);
}
