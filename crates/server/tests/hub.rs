//! Behaviour tests of the stream hub (`sluice_server::hub`): join order, caches, publisher
//! exclusivity, republish, slow players, bounds, isolation, registry cleanup and shutdown.

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use sluice_server::hub::{
    FrameKind, Hub, HubConfig, MediaFrame, PeerInfo, PlayerEvent, PublishError, Subscriber,
    SubscriberClosed,
};

// Payloads are FLV tag bodies as an RTMP session would pass them: first byte is
// frame type << 4 | codec id (0x17 AVC keyframe, 0x27 AVC inter frame), 0xAF is AAC.
fn vseq() -> MediaFrame {
    MediaFrame::video(
        0,
        Bytes::from_static(&[0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64]),
        true,
    )
    .into_sequence_header()
}
fn aseq() -> MediaFrame {
    MediaFrame::audio(0, Bytes::from_static(&[0xAF, 0x00, 0x12, 0x10])).into_sequence_header()
}
fn key(ts: u32) -> MediaFrame {
    MediaFrame::video(
        ts,
        Bytes::from_static(&[0x17, 0x01, 0x00, 0x00, 0x00, 0x65]),
        true,
    )
}
fn inter(ts: u32) -> MediaFrame {
    MediaFrame::video(
        ts,
        Bytes::from_static(&[0x27, 0x01, 0x00, 0x00, 0x00, 0x41]),
        false,
    )
}
fn audio(ts: u32) -> MediaFrame {
    MediaFrame::audio(ts, Bytes::from_static(&[0xAF, 0x01, 0x21]))
}
fn meta() -> Bytes {
    // AMF0: string "onMetaData", ECMA array with 0 entries, end marker.
    Bytes::from_static(&[
        0x02, 0x00, 0x0A, b'o', b'n', b'M', b'e', b't', b'a', b'D', b'a', b't', b'a', 0x08, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
    ])
}
fn f(frame: MediaFrame) -> PlayerEvent {
    PlayerEvent::Frame(frame)
}
fn peer(n: u64) -> PeerInfo {
    PeerInfo::new(format!("127.0.0.1:{}", 40000 + n)).with_connection_id(n)
}

fn drain(sub: &mut Subscriber) -> Vec<PlayerEvent> {
    let mut out = Vec::new();
    sub.try_recv_batch(&mut out);
    out
}

async fn recv(sub: &mut Subscriber) -> Vec<PlayerEvent> {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), sub.recv_batch(&mut out))
        .await
        .expect("recv_batch timed out")
        .expect("subscriber closed");
    out
}

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Hub>();
    send_sync::<sluice_server::hub::Publisher>();
    send_sync::<Subscriber>();
}

#[tokio::test]
async fn join_before_publish_waits_then_gets_publish_and_frames() {
    let hub = Hub::default();
    let mut sub = hub.subscribe("live", "s", peer(1));
    let mut out = Vec::new();
    let waited = tokio::time::timeout(Duration::from_millis(50), sub.recv_batch(&mut out)).await;
    assert!(waited.is_err(), "must wait while nobody publishes");
    assert!(out.is_empty());

    let waiter = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < 5 {
            got.extend(recv(&mut sub).await);
        }
        got
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let publisher = hub.publish("live", "s", peer(2)).unwrap();
    publisher.set_metadata(meta());
    publisher.send_many([vseq(), key(0), audio(10)]);
    let got = waiter.await.unwrap();
    assert_eq!(
        got,
        vec![
            PlayerEvent::Publish,
            PlayerEvent::Metadata(meta()),
            f(vseq()),
            f(key(0)),
            f(audio(10))
        ]
    );
}

#[tokio::test]
async fn join_mid_stream_starts_with_seq_headers_and_keyframe() {
    let hub = Hub::default();
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    publisher.set_metadata(meta());
    publisher.send_many([vseq(), aseq(), key(0), audio(0), inter(33)]);
    publisher.send_many([key(66), audio(70), inter(99), audio(100)]);

    let mut sub = hub.subscribe("live", "s", peer(2));
    let got = recv(&mut sub).await;
    assert_eq!(
        got,
        vec![
            PlayerEvent::Publish,
            PlayerEvent::Metadata(meta()),
            f(vseq()),
            f(aseq()),
            f(key(66)),
            f(audio(70)),
            f(inter(99)),
            f(audio(100)),
        ]
    );
    publisher.send(inter(133));
    assert_eq!(recv(&mut sub).await, vec![f(inter(133))]);
}

#[tokio::test]
async fn gop_cache_off_holds_video_until_keyframe() {
    let hub = Hub::new(HubConfig {
        gop_cache: false,
        ..HubConfig::default()
    });
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    publisher.send_many([vseq(), aseq(), key(0), inter(33)]);
    let mut sub = hub.subscribe("live", "s", peer(2));
    assert_eq!(
        drain(&mut sub),
        vec![PlayerEvent::Publish, f(vseq()), f(aseq())]
    );
    publisher.send_many([inter(66), audio(70), inter(99), key(133), inter(166)]);
    assert_eq!(
        drain(&mut sub),
        vec![f(audio(70)), f(key(133)), f(inter(166))]
    );
}

#[tokio::test]
async fn gop_cache_unwatched_off_caches_only_while_watched() {
    let hub = Hub::new(HubConfig {
        gop_cache_unwatched: false,
        ..HubConfig::default()
    });
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    // Nobody watches: only the sequence headers are kept.
    publisher.send_many([vseq(), aseq(), key(0), audio(0), inter(33)]);
    let mut first = hub.subscribe("live", "s", peer(2));
    assert_eq!(
        drain(&mut first),
        vec![PlayerEvent::Publish, f(vseq()), f(aseq())]
    );
    // Watched: video from the next keyframe, and the GOP is cached again from there.
    publisher.send_many([inter(66), audio(70), key(100), audio(110), inter(133)]);
    assert_eq!(
        drain(&mut first),
        vec![f(audio(70)), f(key(100)), f(audio(110)), f(inter(133))]
    );
    let mut second = hub.subscribe("live", "s", peer(3));
    assert_eq!(
        drain(&mut second),
        vec![
            PlayerEvent::Publish,
            f(vseq()),
            f(aseq()),
            f(key(100)),
            f(audio(110)),
            f(inter(133)),
        ]
    );
    // Everyone left: the next frame drops the GOP, so a newcomer waits for a keyframe again.
    drop(first);
    drop(second);
    publisher.send(inter(166));
    let mut third = hub.subscribe("live", "s", peer(4));
    assert_eq!(
        drain(&mut third),
        vec![PlayerEvent::Publish, f(vseq()), f(aseq())]
    );
}

#[tokio::test]
async fn second_publisher_refused_while_first_continues() {
    let hub = Hub::default();
    let first = hub.publish("live", "s", peer(1)).unwrap();
    let mut sub = hub.subscribe("live", "s", peer(2));
    assert_eq!(
        hub.publish("live", "s", peer(3)).unwrap_err(),
        PublishError::AlreadyPublishing
    );
    first.send(key(0));
    assert_eq!(drain(&mut sub), vec![PlayerEvent::Publish, f(key(0))]);
    assert_eq!(hub.stats().publishers, 1);
    assert!(hub.is_live("live", "s"));
}

#[tokio::test]
async fn unpublish_then_republish_resumes_players() {
    let hub = Hub::default();
    let first = hub.publish("live", "s", peer(1)).unwrap();
    first.set_metadata(meta());
    first.send_many([vseq(), key(0)]);
    let mut sub = hub.subscribe("live", "s", peer(2));
    assert_eq!(drain(&mut sub).len(), 4);
    first.unpublish();
    assert_eq!(recv(&mut sub).await, vec![PlayerEvent::Unpublish]);
    assert!(!hub.is_live("live", "s"));
    assert_eq!(
        hub.stats().streams,
        1,
        "the waiting player keeps the stream"
    );

    // A player joining now gets none of the old publisher's caches.
    let mut late = hub.subscribe("live", "s", peer(3));
    assert!(drain(&mut late).is_empty());

    let second = hub.publish("live", "s", peer(4)).unwrap();
    // Video from the new publisher starts at its first keyframe.
    second.send_many([inter(5), audio(6), key(10)]);
    let expected = vec![PlayerEvent::Publish, f(audio(6)), f(key(10))];
    assert_eq!(recv(&mut sub).await, expected);
    assert_eq!(recv(&mut late).await, expected);
}

#[tokio::test]
async fn slow_player_does_not_block_publisher_or_others_and_is_kicked() {
    let hub = Hub::new(HubConfig {
        player_queue_max_frames: 100,
        slow_player_timeout: Duration::from_millis(100),
        ..HubConfig::default()
    });
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    let mut slow = hub.subscribe("live", "s", peer(2));
    let mut fast = hub.subscribe("live", "s", peer(3));
    assert_eq!(drain(&mut fast), vec![PlayerEvent::Publish]);
    let fast_task = tokio::spawn(async move {
        let mut frames = 0usize;
        while frames < 10_000 {
            for ev in recv(&mut fast).await {
                assert!(
                    matches!(ev, PlayerEvent::Frame(_)),
                    "fast player dropped: {ev:?}"
                );
                frames += 1;
            }
        }
        frames
    });
    for i in 0..10_000u32 {
        let frame = if i % 50 == 0 {
            key(i)
        } else if i % 2 == 0 {
            inter(i)
        } else {
            audio(i)
        };
        publisher.send(frame);
        if i % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    assert_eq!(fast_task.await.unwrap(), 10_000);

    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut out = Vec::new();
    assert_eq!(
        slow.recv_batch(&mut out).await,
        Err(SubscriberClosed::TooSlow)
    );
    assert!(out.is_empty());
    assert_eq!(slow.closed_reason(), Some(SubscriberClosed::TooSlow));
    assert_eq!(slow.try_recv_batch(&mut out), 0);
    assert_eq!(
        slow.recv_batch(&mut out).await,
        Err(SubscriberClosed::TooSlow)
    );
}

#[tokio::test]
async fn player_behind_at_every_read_is_kicked_after_timeout() {
    let hub = Hub::new(HubConfig {
        player_queue_max_frames: 4,
        slow_player_timeout: Duration::from_millis(60),
        ..HubConfig::default()
    });
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    let mut sub = hub.subscribe("live", "s", peer(2));
    drain(&mut sub);
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    let result = loop {
        // Always more than the bound between two reads: the player never catches up.
        publisher.send_many((0..6).map(audio));
        tokio::time::sleep(Duration::from_millis(15)).await;
        out.clear();
        if let Err(e) = sub.recv_batch(&mut out).await {
            break e;
        }
        assert!(started.elapsed() < Duration::from_secs(2), "never kicked");
    };
    assert_eq!(result, SubscriberClosed::TooSlow);
    assert!(started.elapsed() >= Duration::from_millis(60));
}

#[tokio::test]
async fn player_that_catches_up_is_not_kicked() {
    let hub = Hub::new(HubConfig {
        player_queue_max_frames: 4,
        slow_player_timeout: Duration::from_millis(40),
        ..HubConfig::default()
    });
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    let mut sub = hub.subscribe("live", "s", peer(2));
    drain(&mut sub);
    for round in 0..6 {
        // Behind (6 > 4), then caught up (2 <= 4): the behind clock restarts each time.
        publisher.send_many((0..6).map(audio));
        assert_eq!(drain(&mut sub).len(), 6, "round {round}");
        tokio::time::sleep(Duration::from_millis(15)).await;
        publisher.send_many((0..2).map(audio));
        assert_eq!(drain(&mut sub).len(), 2, "round {round}");
    }
    assert_eq!(sub.closed_reason(), None);
}

#[tokio::test]
async fn behind_player_drops_video_until_keyframe_and_keeps_audio() {
    let hub = Hub::new(HubConfig {
        player_queue_max_frames: 10,
        ..HubConfig::default()
    });
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    publisher.send_many([vseq(), aseq(), key(0)]);
    let mut sub = hub.subscribe("live", "s", peer(2));
    assert_eq!(drain(&mut sub).len(), 4);

    // 16 messages pending (over the bound of 10), keyframe at 100 with 5 messages after it.
    let mut burst = Vec::new();
    for i in 1..=5u32 {
        burst.push(inter(i * 10));
        burst.push(audio(i * 10 + 1));
    }
    burst.push(key(100));
    burst.extend([audio(101), inter(110), audio(111), vseq(), inter(120)]);
    publisher.send_many(burst);
    let got = drain(&mut sub);
    let mut expected: Vec<PlayerEvent> = (1..=5u32).map(|i| f(audio(i * 10 + 1))).collect();
    expected.extend([
        f(key(100)),
        f(audio(101)),
        f(inter(110)),
        f(audio(111)),
        f(vseq()),
    ]);
    expected.extend([f(inter(120)), PlayerEvent::Dropped { frames: 5 }]);
    assert_eq!(got, expected);

    // Caught up: nothing more is dropped.
    publisher.send_many([inter(130), audio(131)]);
    assert_eq!(drain(&mut sub), vec![f(inter(130)), f(audio(131))]);
}

#[tokio::test]
async fn behind_player_without_keyframe_keeps_dropping_until_next_one() {
    let hub = Hub::new(HubConfig {
        player_queue_max_frames: 4,
        ..HubConfig::default()
    });
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    publisher.send(key(0));
    let mut sub = hub.subscribe("live", "s", peer(2));
    drain(&mut sub);
    publisher.send_many([inter(1), audio(2), inter(3), audio(4), inter(5)]);
    assert_eq!(
        drain(&mut sub),
        vec![f(audio(2)), f(audio(4)), PlayerEvent::Dropped { frames: 3 }]
    );
    // Backlog now small but video waits for the next keyframe.
    publisher.send_many([inter(6), audio(7)]);
    assert_eq!(
        drain(&mut sub),
        vec![f(audio(7)), PlayerEvent::Dropped { frames: 1 }]
    );
    publisher.send_many([key(8), inter(9)]);
    assert_eq!(drain(&mut sub), vec![f(key(8)), f(inter(9))]);
}

#[tokio::test]
async fn byte_bound_counts_as_behind() {
    let hub = Hub::new(HubConfig {
        player_queue_max_bytes: 20,
        ..HubConfig::default()
    });
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    publisher.send(key(0));
    let mut sub = hub.subscribe("live", "s", peer(2));
    drain(&mut sub);
    // 4 inter frames of 6 bytes = 24 > 20.
    publisher.send_many([inter(1), inter(2), inter(3), inter(4)]);
    assert_eq!(drain(&mut sub), vec![PlayerEvent::Dropped { frames: 4 }]);
}

#[tokio::test]
async fn player_out_of_window_resyncs_at_live_edge() {
    let hub = Hub::new(HubConfig {
        player_queue_max_frames: 64,
        ..HubConfig::default()
    });
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    publisher.set_metadata(meta());
    publisher.send_many([vseq(), aseq(), key(0)]);
    let mut sub = hub.subscribe("live", "s", peer(2));
    assert_eq!(drain(&mut sub).len(), 5);
    // Far more than the 128-message window.
    for i in 1..1000u32 {
        publisher.send(if i % 2 == 0 { inter(i) } else { audio(i) });
    }
    // Fell out of the 128-message window: restart at the live edge with the current state again.
    assert_eq!(
        drain(&mut sub),
        vec![
            PlayerEvent::Metadata(meta()),
            f(vseq()),
            f(aseq()),
            PlayerEvent::Dropped { frames: 999 }
        ]
    );
    publisher.send_many([inter(1000), key(1001), audio(1002)]);
    assert_eq!(
        drain(&mut sub),
        vec![
            f(key(1001)),
            f(audio(1002)),
            PlayerEvent::Dropped { frames: 1 }
        ]
    );
}

#[tokio::test]
async fn player_further_behind_than_max_delay_resyncs_at_live_edge() {
    let hub = Hub::new(HubConfig {
        player_max_delay: Duration::from_millis(50),
        ..HubConfig::default()
    });
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    publisher.send_many([vseq(), aseq(), key(0)]);
    let mut sub = hub.subscribe("live", "s", peer(2));
    assert_eq!(drain(&mut sub).len(), 4);
    // Two full segments (64 messages each) the player does not read...
    for i in 1..=128u32 {
        publisher.send(audio(i));
    }
    // ...become older than the bound; what comes next evicts them (well within the byte and
    // frame bounds, so only their age counts).
    tokio::time::sleep(Duration::from_millis(120)).await;
    for i in 129..=200u32 {
        publisher.send(audio(i));
    }
    let got = drain(&mut sub);
    assert_eq!(got[..2], [f(vseq()), f(aseq())], "{got:?}");
    assert!(
        matches!(got.last(), Some(PlayerEvent::Dropped { frames }) if *frames >= 64),
        "{got:?}"
    );
    // Back at the live edge: the next message arrives as usual.
    publisher.send(audio(201));
    assert_eq!(drain(&mut sub), vec![f(audio(201))]);
}

#[tokio::test]
async fn resync_after_republish_reports_unpublish_and_publish() {
    let hub = Hub::new(HubConfig {
        player_queue_max_frames: 64,
        ..HubConfig::default()
    });
    let first = hub.publish("live", "s", peer(1)).unwrap();
    first.send(key(0));
    let mut sub = hub.subscribe("live", "s", peer(2));
    drain(&mut sub);
    for i in 1..500u32 {
        first.send(audio(i));
    }
    drop(first);
    let second = hub.publish("live", "s", peer(3)).unwrap();
    second.send(aseq());
    let got = drain(&mut sub);
    assert_eq!(
        &got[..3],
        &[PlayerEvent::Unpublish, PlayerEvent::Publish, f(aseq())]
    );
    assert!(matches!(got.last(), Some(PlayerEvent::Dropped { .. })));
}

#[tokio::test]
async fn gop_cache_bounds_make_new_players_wait_for_keyframe() {
    let hub = Hub::new(HubConfig {
        gop_cache_max_frames: 3,
        ..HubConfig::default()
    });
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    publisher.send_many([vseq(), key(0), inter(1), audio(2)]);
    let mut within = hub.subscribe("live", "s", peer(2));
    assert_eq!(
        drain(&mut within),
        vec![
            PlayerEvent::Publish,
            f(vseq()),
            f(key(0)),
            f(inter(1)),
            f(audio(2))
        ]
    );
    publisher.send(inter(3)); // 4th message of the GOP: the cache gives up on this GOP
    let mut over = hub.subscribe("live", "s", peer(3));
    assert_eq!(drain(&mut over), vec![PlayerEvent::Publish, f(vseq())]);
    publisher.send_many([inter(4), audio(5), key(6)]);
    assert_eq!(drain(&mut over), vec![f(audio(5)), f(key(6))]);

    let bytes_hub = Hub::new(HubConfig {
        gop_cache_max_bytes: 10,
        ..HubConfig::default()
    });
    let publisher = bytes_hub.publish("live", "s", peer(4)).unwrap();
    publisher.send_many([key(0), inter(1)]); // 12 bytes > 10
    let mut sub = bytes_hub.subscribe("live", "s", peer(5));
    assert_eq!(drain(&mut sub), vec![PlayerEvent::Publish]);
}

#[tokio::test]
async fn audio_only_stream_has_no_gop_but_plays_at_once() {
    let hub = Hub::default();
    let publisher = hub.publish("radio", "s", peer(1)).unwrap();
    publisher.send_many([aseq(), audio(0), audio(21)]);
    let mut sub = hub.subscribe("radio", "s", peer(2));
    assert_eq!(drain(&mut sub), vec![PlayerEvent::Publish, f(aseq())]);
    publisher.send(audio(42));
    assert_eq!(drain(&mut sub), vec![f(audio(42))]);
}

#[tokio::test]
async fn new_sequence_header_replaces_cache_and_is_forwarded() {
    let hub = Hub::default();
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    publisher.send_many([vseq(), key(0), inter(1)]);
    let mut sub = hub.subscribe("live", "s", peer(2));
    drain(&mut sub);
    let vseq2 = MediaFrame::video(
        50,
        Bytes::from_static(&[0x17, 0x00, 0, 0, 0, 0x01, 0x4D]),
        true,
    )
    .into_sequence_header();
    publisher.send(vseq2.clone());
    assert_eq!(drain(&mut sub), vec![f(vseq2.clone())]);
    // The GOP before the codec change is not offered to new players.
    let mut late = hub.subscribe("live", "s", peer(3));
    assert_eq!(
        drain(&mut late),
        vec![PlayerEvent::Publish, f(vseq2.clone())]
    );
    publisher.send_many([inter(60), key(70)]);
    assert_eq!(drain(&mut late), vec![f(key(70))]);
    // The same header again does not reset the GOP.
    publisher.send(vseq2.clone());
    let mut later = hub.subscribe("live", "s", peer(4));
    assert_eq!(
        drain(&mut later),
        vec![PlayerEvent::Publish, f(vseq2), f(key(70))]
    );
}

#[tokio::test]
async fn data_frames_are_forwarded_and_cached_in_gop() {
    let hub = Hub::default();
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    let cue = MediaFrame::data(5, Bytes::from_static(&[0x02, 0x00, 0x01, b'x']));
    publisher.send_many([key(0), cue.clone()]);
    let mut sub = hub.subscribe("live", "s", peer(2));
    assert_eq!(
        drain(&mut sub),
        vec![PlayerEvent::Publish, f(key(0)), f(cue)]
    );
}

#[tokio::test]
async fn streams_are_isolated_per_app() {
    let hub = Hub::default();
    let a = hub.publish("app1", "s", peer(1)).unwrap();
    let b = hub.publish("app2", "s", peer(2)).unwrap();
    let mut sa = hub.subscribe("app1", "s", peer(3));
    let mut sb = hub.subscribe("app2", "s", peer(4));
    a.send(key(1));
    b.send(key(2));
    assert_eq!(drain(&mut sa), vec![PlayerEvent::Publish, f(key(1))]);
    assert_eq!(drain(&mut sb), vec![PlayerEvent::Publish, f(key(2))]);
    let stats = hub.stats();
    assert_eq!((stats.streams, stats.publishers, stats.players), (2, 2, 2));
}

#[tokio::test]
async fn registry_removes_streams_without_publisher_or_players() {
    let hub = Hub::default();
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    let sub1 = hub.subscribe("live", "s", peer(2));
    let sub2 = hub.subscribe("live", "other", peer(3));
    assert_eq!(hub.stats().streams, 2);
    drop(sub2);
    assert_eq!(hub.stats().streams, 1);
    drop(publisher);
    assert_eq!(hub.stats().streams, 1, "a player still waits on it");
    assert_eq!(hub.stats().players, 1);
    drop(sub1);
    assert_eq!(hub.stats(), Default::default());
    let p = hub.publish("live", "s", peer(4)).unwrap();
    assert_eq!(p.player_count(), 0);
    assert_eq!((p.app(), p.stream_name()), ("live", "s"));
    p.unpublish();
    assert_eq!(hub.stats().streams, 0);
}

#[tokio::test]
async fn shutdown_closes_players_and_refuses_publishers() {
    let hub = Hub::default();
    let publisher = hub.publish("live", "s", peer(1)).unwrap();
    let mut sub = hub.subscribe("live", "s", peer(2));
    let waiting = tokio::spawn(async move {
        let mut out = Vec::new();
        loop {
            if let Err(e) = sub.recv_batch(&mut out).await {
                return e;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    hub.shutdown();
    assert_eq!(waiting.await.unwrap(), SubscriberClosed::ShutDown);
    assert!(publisher.is_shut_down());
    assert_eq!(
        hub.publish("live", "t", peer(3)).unwrap_err(),
        PublishError::ShutDown
    );
    let mut late = hub.subscribe("live", "s", peer(4));
    let mut out = Vec::new();
    assert_eq!(
        late.recv_batch(&mut out).await,
        Err(SubscriberClosed::ShutDown)
    );
    assert_eq!(late.closed_reason(), Some(SubscriberClosed::ShutDown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_players_on_threads_receive_everything_in_order() {
    // Bound high enough that no player can fall behind on a busy machine.
    let hub = Hub::new(HubConfig {
        player_queue_max_frames: 100_000,
        ..HubConfig::default()
    });
    let publisher = hub.publish("live", "s", peer(0)).unwrap();
    let mut tasks = Vec::new();
    for n in 0..50 {
        let mut sub = hub.subscribe("live", "s", peer(n + 1));
        tasks.push(tokio::spawn(async move {
            let mut next_ts = 0u32;
            let mut out = Vec::new();
            while next_ts < 2000 {
                out.clear();
                sub.recv_batch(&mut out).await.unwrap();
                for ev in &out {
                    if let PlayerEvent::Frame(fr) = ev {
                        assert_eq!(fr.timestamp, next_ts);
                        next_ts += 1;
                    }
                }
            }
        }));
    }
    for i in 0..2000u32 {
        publisher.send(if i % 30 == 0 { key(i) } else { audio(i) });
        if i % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Audio,
    Inter,
    Key,
    Read,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Audio),
        4 => Just(Step::Inter),
        1 => Just(Step::Key),
        2 => Just(Step::Read),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever the read pattern (within the window): every audio message arrives, in order; video
    /// arrives in order and after every gap resumes on a keyframe; drops are counted exactly.
    #[test]
    fn delivery_invariants(steps in proptest::collection::vec(step(), 1..300)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let hub = Hub::new(HubConfig { player_queue_max_frames: 16, ..HubConfig::default() });
            let publisher = hub.publish("live", "s", peer(0)).unwrap();
            let mut sub = hub.subscribe("live", "s", peer(1));
            let mut published = Vec::new();
            let mut got = Vec::new();
            let mut unread = 0;
            for (ts, s) in steps.iter().enumerate() {
                let ts = ts as u32;
                let frame = match s {
                    Step::Audio => audio(ts),
                    Step::Inter => inter(ts),
                    Step::Key => key(ts),
                    Step::Read => {
                        got.extend(drain(&mut sub));
                        unread = 0;
                        continue;
                    }
                };
                published.push(frame.clone());
                publisher.send(frame);
                unread += 1;
                // Stay inside the shared window (2 x 16 messages) so nothing is lost outright.
                if unread >= 30 {
                    got.extend(drain(&mut sub));
                    unread = 0;
                }
            }
            got.extend(drain(&mut sub));

            prop_assert_eq!(got.first(), Some(&PlayerEvent::Publish));
            let frames: Vec<&MediaFrame> = got.iter().filter_map(|e| match e {
                PlayerEvent::Frame(fr) => Some(fr),
                _ => None,
            }).collect();
            let dropped: u64 = got.iter().map(|e| match e {
                PlayerEvent::Dropped { frames } => *frames,
                _ => 0,
            }).sum();
            let audio_in: Vec<u32> = published.iter().filter(|fr| fr.kind == FrameKind::Audio).map(|fr| fr.timestamp).collect();
            let audio_out: Vec<u32> = frames.iter().filter(|fr| fr.kind == FrameKind::Audio).map(|fr| fr.timestamp).collect();
            prop_assert_eq!(audio_in, audio_out);
            // Video: in order, and every delivered run after a gap starts with a keyframe.
            let video_in: Vec<&MediaFrame> = published.iter().filter(|fr| fr.kind == FrameKind::Video).collect();
            let video_out: Vec<&&MediaFrame> = frames.iter().filter(|fr| fr.kind == FrameKind::Video).collect();
            let mut pos = 0usize;
            let mut last_delivered: Option<usize> = None;
            for fr in &video_out {
                let idx = (pos..video_in.len()).find(|&i| video_in[i].timestamp == fr.timestamp);
                let idx = idx.expect("video out of order or unknown");
                let contiguous = last_delivered.is_some_and(|l| l + 1 == idx);
                prop_assert!(contiguous || fr.keyframe, "video resumed on a non-keyframe");
                last_delivered = Some(idx);
                pos = idx + 1;
            }
            // Video held back before the player's first (delivered) keyframe is not counted;
            // everything not delivered after it is.
            let start = video_out.first().and_then(|first| {
                video_in.iter().position(|fr| fr.timestamp == first.timestamp)
            });
            let lost = start.map_or(0, |s| (video_in.len() - s - video_out.len()) as u64);
            prop_assert_eq!(dropped, lost);
            Ok(())
        })?;
    }
}

/// Counts `on_append` calls and reads its subscriber in place, as a direct connection does.
struct CountingSink {
    calls: std::sync::atomic::AtomicUsize,
}

use sluice_server::hub::DirectSink;

impl DirectSink for CountingSink {
    fn on_append(&self) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn direct_sink_is_called_per_append_and_detached_on_drop() {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    let hub = Hub::new(HubConfig::default());
    let sink = Arc::new(CountingSink {
        calls: Default::default(),
    });
    let mut player = hub.subscribe("live", "cam", peer(2));
    player.attach_direct(Arc::downgrade(&sink) as std::sync::Weak<dyn DirectSink>);
    let publisher = hub.publish("live", "cam", peer(1)).unwrap();
    assert_eq!(sink.calls.load(Ordering::SeqCst), 1, "publish");
    publisher.set_metadata(meta());
    publisher.send_many([vseq(), aseq(), key(0), audio(10)]);
    assert_eq!(sink.calls.load(Ordering::SeqCst), 3, "one call per batch");
    // The sink reads with try_recv_batch: everything arrives in order, nothing is lost.
    assert_eq!(
        drain(&mut player),
        vec![
            PlayerEvent::Publish,
            PlayerEvent::Metadata(meta()),
            f(vseq()),
            f(aseq()),
            f(key(0)),
            f(audio(10)),
        ]
    );
    drop(publisher);
    assert_eq!(sink.calls.load(Ordering::SeqCst), 4, "unpublish");
    assert_eq!(drain(&mut player), vec![PlayerEvent::Unpublish]);
    drop(player);
    let publisher = hub.publish("live", "cam", peer(1)).unwrap();
    publisher.send(key(0));
    assert_eq!(
        sink.calls.load(Ordering::SeqCst),
        4,
        "detached when the subscriber is dropped"
    );
    assert_eq!(Arc::strong_count(&sink), 1);
}

#[test]
fn direct_sink_is_called_on_shutdown() {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    let hub = Hub::new(HubConfig::default());
    let sink = Arc::new(CountingSink {
        calls: Default::default(),
    });
    let mut player = hub.subscribe("live", "cam", peer(2));
    player.attach_direct(Arc::downgrade(&sink) as std::sync::Weak<dyn DirectSink>);
    hub.shutdown();
    assert!(sink.calls.load(Ordering::SeqCst) >= 1);
    assert_eq!(player.try_recv_batch(&mut Vec::new()), 0);
    assert_eq!(player.closed_reason(), Some(SubscriberClosed::ShutDown));
}
