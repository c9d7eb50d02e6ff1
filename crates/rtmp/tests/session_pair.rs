//! In-memory client/server pairs over the sans-IO sessions: handshake (both forms), connect,
//! publish and play with media flowing from a publishing client, through a tiny in-test "server
//! application", to a playing client. No sockets, no clock.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_amf::Amf0Object;
use sluice_rtmp::command::{codes, ConnectResponse, PlayArgs, PublishMode};
use sluice_rtmp::handshake::{ClientHandshakeMode, HandshakeKind};
use sluice_rtmp::session::{
    ClientConfig, ClientEvent, ClientSession, ServerConfig, ServerEvent, ServerSession,
};
use sluice_rtmp::Timestamp;

/// One client and one server session joined by an in-memory pipe that delivers bytes in random
/// pieces.
struct Pair {
    client: ClientSession,
    server: ServerSession,
    rng: StdRng,
    client_events: Vec<ClientEvent>,
    server_events: Vec<ServerEvent>,
}

impl Pair {
    fn new(mode: ClientHandshakeMode, seed: u64, amf3: bool) -> Pair {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut cfg = ClientConfig::new("live", "rtmp://127.0.0.1/live");
        cfg.handshake = mode;
        if amf3 {
            cfg.connect.object_encoding = 3.0;
        }
        let client = ClientSession::new(cfg, &mut rng);
        let server = ServerSession::new(ServerConfig::default(), &mut rng);
        Pair {
            client,
            server,
            rng,
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// Move bytes both ways until neither side has anything to send; collect events.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(b) = self.client.poll_transmit() {
                moved = true;
                self.deliver_to_server(b);
            }
            while let Some(b) = self.server.poll_transmit() {
                moved = true;
                self.deliver_to_client(b);
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            if !moved {
                break;
            }
        }
    }

    fn deliver_to_server(&mut self, b: Bytes) {
        let mut rest = &b[..];
        while !rest.is_empty() {
            let n = self.rng.gen_range(1..=rest.len().min(3000));
            self.server.handle_input(&rest[..n]).expect("server input");
            rest = &rest[n..];
        }
    }

    fn deliver_to_client(&mut self, b: Bytes) {
        let mut rest = &b[..];
        while !rest.is_empty() {
            let n = self.rng.gen_range(1..=rest.len().min(3000));
            self.client.handle_input(&rest[..n]).expect("client input");
            rest = &rest[n..];
        }
    }

    fn take_server_events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.server_events)
    }

    fn take_client_events(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.client_events)
    }

    /// Run the handshake and an accepted connect.
    fn connect(&mut self) {
        self.pump();
        let evs = self.take_server_events();
        let request = evs
            .iter()
            .find_map(|e| match e {
                ServerEvent::ConnectRequest { request, command } => {
                    assert_eq!(command.app, "live");
                    Some(*request)
                }
                _ => None,
            })
            .expect("connect request");
        self.server
            .accept_connect(request, ConnectResponse::default())
            .unwrap();
        self.pump();
        assert!(self.client.is_connected());
        assert!(self
            .take_client_events()
            .iter()
            .any(|e| matches!(e, ClientEvent::Connected(_))));
    }
}

fn video(keyframe: bool, n: usize) -> Bytes {
    let mut v = vec![if keyframe { 0x17 } else { 0x27 }, 1, 0, 0, 0];
    v.extend(std::iter::repeat_n(0xAB, n));
    Bytes::from(v)
}

#[test]
fn simple_and_digest_handshakes_connect() {
    for (mode, expect_digest) in [
        (ClientHandshakeMode::Simple, false),
        (ClientHandshakeMode::Digest, true),
    ] {
        let mut p = Pair::new(mode, 7, false);
        p.connect();
        let kind = p.server.handshake_kind();
        assert_eq!(
            matches!(kind, Some(HandshakeKind::Digest(_))),
            expect_digest,
            "{kind:?}"
        );
    }
}

#[test]
fn amf3_client_gets_object_encoding_3() {
    let mut p = Pair::new(ClientHandshakeMode::Digest, 11, true);
    p.pump();
    let evs = p.take_server_events();
    let request = evs
        .iter()
        .find_map(|e| match e {
            ServerEvent::ConnectRequest { request, command } => {
                assert!(command.wants_amf3());
                Some(*request)
            }
            _ => None,
        })
        .unwrap();
    p.server
        .accept_connect(request, ConnectResponse::default())
        .unwrap();
    p.pump();
    let resp = p
        .take_client_events()
        .into_iter()
        .find_map(|e| match e {
            ClientEvent::Connected(r) => Some(r),
            _ => None,
        })
        .unwrap();
    assert_eq!(resp.object_encoding, 3.0);
}

#[test]
fn publish_and_play_with_media_flowing() {
    // Publisher.
    let mut publisher = Pair::new(ClientHandshakeMode::Digest, 1, false);
    publisher.connect();
    publisher
        .client
        .publish("stream?token=x", PublishMode::Live)
        .unwrap();
    publisher.pump();
    let evs = publisher.take_server_events();
    let (request, name) = evs
        .iter()
        .find_map(|e| match e {
            ServerEvent::PublishRequest { request, name, .. } => Some((*request, name.clone())),
            _ => None,
        })
        .expect("publish request");
    assert_eq!(name, "stream?token=x");
    assert!(evs.iter().any(|e| matches!(
        e,
        ServerEvent::FmleCommand {
            command: "FCPublish",
            ..
        }
    )));
    publisher.server.accept_publish(request).unwrap();
    publisher.pump();
    let pub_stream = publisher
        .take_client_events()
        .iter()
        .find_map(|e| match e {
            ClientEvent::PublishStarted { stream_id } => Some(*stream_id),
            _ => None,
        })
        .expect("publish started");

    // Player.
    let mut player = Pair::new(ClientHandshakeMode::Simple, 2, false);
    player.connect();
    player
        .client
        .play(PlayArgs {
            name: "stream".into(),
            start: -2.0,
            duration: -1.0,
            reset: true,
        })
        .unwrap();
    player.pump();
    let (request, play_stream) = player
        .take_server_events()
        .iter()
        .find_map(|e| match e {
            ServerEvent::PlayRequest {
                request, stream_id, ..
            } => Some((*request, *stream_id)),
            _ => None,
        })
        .expect("play request");
    player.server.accept_play(request).unwrap();
    player.pump();
    let evs = player.take_client_events();
    let codes_seen: Vec<String> = evs
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Status { info, .. } => Some(info.code.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(codes_seen, vec![codes::PLAY_RESET, codes::PLAY_START]);
    assert!(evs
        .iter()
        .any(|e| matches!(e, ClientEvent::Data { name, .. } if name == "|RtmpSampleAccess")));
    assert!(evs
        .iter()
        .any(|e| matches!(e, ClientEvent::PlayStarted { .. })));

    // Media: metadata, then 50 frames of mixed sizes (some well over the chunk size) with
    // timestamps crossing the extended-timestamp boundary.
    let mut meta = Amf0Object::new();
    meta.insert("width", 1280.0);
    publisher.client.send_data(
        pub_stream,
        Timestamp(0),
        sluice_rtmp::session::client::set_data_frame_body(meta),
    );
    let base = 0x00FF_FF00u32;
    let mut sent = Vec::new();
    for i in 0..50u32 {
        let ts = Timestamp(base.wrapping_add(i * 40));
        let size = [10usize, 500, 5000, 20000][(i % 4) as usize];
        let payload = video(i % 10 == 0, size);
        publisher.client.send_video(pub_stream, ts, payload.clone());
        sent.push((ts, payload));
        if i % 3 == 0 {
            publisher
                .client
                .send_audio(pub_stream, ts, Bytes::from_static(&[0xAF, 1, 2, 3, 4]));
        }
    }
    publisher.pump();
    // The "application": forward what the server session received to the player's session.
    let mut frames = 0;
    for e in publisher.take_server_events() {
        match e {
            ServerEvent::Video {
                timestamp, payload, ..
            } => {
                frames += 1;
                assert!(player.server.send_video(play_stream, timestamp, payload));
            }
            ServerEvent::Audio {
                timestamp, payload, ..
            } => {
                assert!(player.server.send_audio(play_stream, timestamp, payload));
            }
            ServerEvent::Data { name, payload, .. } => {
                assert_eq!(name, "@setDataFrame");
                assert!(player.server.send_data(play_stream, Timestamp(0), payload));
            }
            _ => {}
        }
    }
    assert_eq!(frames, 50);
    player.pump();
    let got: Vec<(Timestamp, Bytes)> = player
        .take_client_events()
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Video {
                timestamp, payload, ..
            } => Some((timestamp, payload)),
            _ => None,
        })
        .collect();
    assert_eq!(got, sent);

    // Unpublish: the publisher's close reaches the server as PublishStopped.
    publisher.client.close_stream(pub_stream, "stream");
    publisher.pump();
    assert!(publisher
        .take_server_events()
        .iter()
        .any(|e| matches!(e, ServerEvent::PublishStopped { .. })));
    // The player is told.
    player.server.notify_unpublish(play_stream, "stream");
    player.pump();
    let evs = player.take_client_events();
    assert!(evs.iter().any(|e| matches!(e, ClientEvent::Status { info, .. } if info.code == codes::PLAY_UNPUBLISH_NOTIFY)));
}

#[test]
fn rejected_publish_and_play_reach_the_client() {
    let mut p = Pair::new(ClientHandshakeMode::Digest, 5, false);
    p.connect();
    p.client.publish("taken", PublishMode::Live).unwrap();
    p.pump();
    let request = p
        .take_server_events()
        .iter()
        .find_map(|e| match e {
            ServerEvent::PublishRequest { request, .. } => Some(*request),
            _ => None,
        })
        .unwrap();
    p.server
        .reject_publish(request, codes::PUBLISH_BAD_NAME, "already publishing")
        .unwrap();
    p.pump();
    assert!(p.take_client_events().iter().any(|e| matches!(
        e,
        ClientEvent::StreamFailed { info, .. } if info.code == codes::PUBLISH_BAD_NAME
    )));
    // Answering twice is local misuse, reported as such.
    assert!(p.server.accept_publish(request).is_err());
}

#[test]
fn acknowledgements_flow_when_window_is_crossed() {
    let mut p = Pair::new(ClientHandshakeMode::Digest, 9, false);
    p.connect();
    p.client.publish("s", PublishMode::Live).unwrap();
    p.pump();
    let request = p
        .take_server_events()
        .iter()
        .find_map(|e| match e {
            ServerEvent::PublishRequest { request, .. } => Some(*request),
            _ => None,
        })
        .unwrap();
    p.server.accept_publish(request).unwrap();
    p.pump();
    let sid = p
        .take_client_events()
        .iter()
        .find_map(|e| match e {
            ClientEvent::PublishStarted { stream_id } => Some(*stream_id),
            _ => None,
        })
        .unwrap();
    // The server announced a 2 500 000-byte window; the client's own acks are for bytes it
    // receives, so here we check the server acknowledges the client's 3 MB of video.
    p.server_events.clear();
    for i in 0..100u32 {
        p.client
            .send_video(sid, Timestamp(i * 40), video(i == 0, 30_000));
        p.pump();
    }
    assert!(p.server.bytes_received() > 2_500_000);
    let acks: Vec<u32> = p
        .take_client_events()
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Acknowledgement(n) => Some(*n),
            _ => None,
        })
        .collect();
    assert!(!acks.is_empty(), "the server must acknowledge the window");
}

/// Connect, publish `name` and return the publishing stream id on both sides.
fn start_publish(p: &mut Pair, name: &str) -> u32 {
    p.client.publish(name, PublishMode::Live).unwrap();
    p.pump();
    let request = p
        .take_server_events()
        .iter()
        .find_map(|e| match e {
            ServerEvent::PublishRequest { request, .. } => Some(*request),
            _ => None,
        })
        .expect("publish request");
    p.server.accept_publish(request).unwrap();
    p.pump();
    p.take_client_events()
        .iter()
        .find_map(|e| match e {
            ClientEvent::PublishStarted { stream_id } => Some(*stream_id),
            _ => None,
        })
        .expect("publish started")
}

/// Connect and play `name`; returns the server-side play stream id.
fn start_play(p: &mut Pair, name: &str) -> u32 {
    p.client
        .play(PlayArgs {
            name: name.into(),
            start: -2.0,
            duration: -1.0,
            reset: true,
        })
        .unwrap();
    p.pump();
    let (request, sid) = p
        .take_server_events()
        .iter()
        .find_map(|e| match e {
            ServerEvent::PlayRequest {
                request, stream_id, ..
            } => Some((*request, *stream_id)),
            _ => None,
        })
        .expect("play request");
    p.server.accept_play(request).unwrap();
    p.pump();
    assert!(p
        .take_client_events()
        .iter()
        .any(|e| matches!(e, ClientEvent::PlayStarted { .. })));
    sid
}

fn statuses(evs: &[ClientEvent]) -> Vec<String> {
    evs.iter()
        .filter_map(|e| match e {
            ClientEvent::Status { info, .. } => Some(info.code.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn amf3_client_publishes_and_plays_with_type_17_commands() {
    let mut publisher = Pair::new(ClientHandshakeMode::Digest, 21, true);
    publisher.connect();
    let sid = start_publish(&mut publisher, "s");
    publisher
        .client
        .send_video(sid, Timestamp(0), video(true, 100));
    publisher.pump();
    assert!(publisher
        .take_server_events()
        .iter()
        .any(|e| matches!(e, ServerEvent::Video { .. })));
    let mut player = Pair::new(ClientHandshakeMode::Digest, 22, true);
    player.connect();
    start_play(&mut player, "s");
}

#[test]
fn pause_and_unpause_hold_video_until_a_keyframe() {
    let mut p = Pair::new(ClientHandshakeMode::Simple, 31, false);
    p.connect();
    let sid = start_play(&mut p, "s");
    let client_sid = sid;
    p.client.send_stream_command(
        client_sid,
        &sluice_rtmp::command::Command::Pause {
            pause: true,
            position_ms: 0.0,
        },
    );
    p.pump();
    assert!(p
        .take_server_events()
        .iter()
        .any(|e| matches!(e, ServerEvent::Pause { paused: true, .. })));
    assert_eq!(statuses(&p.take_client_events()), vec![codes::PAUSE_NOTIFY]);
    assert!(!p.server.send_video(sid, Timestamp(0), video(true, 10)));
    assert!(!p
        .server
        .send_audio(sid, Timestamp(0), Bytes::from_static(&[0xAF, 1])));
    p.client.send_stream_command(
        client_sid,
        &sluice_rtmp::command::Command::Pause {
            pause: false,
            position_ms: 0.0,
        },
    );
    p.pump();
    assert_eq!(
        statuses(&p.take_client_events()),
        vec![codes::UNPAUSE_NOTIFY]
    );
    // After unpausing, inter frames wait for the next keyframe; audio flows at once.
    assert!(!p.server.send_video(sid, Timestamp(40), video(false, 10)));
    assert!(p
        .server
        .send_audio(sid, Timestamp(40), Bytes::from_static(&[0xAF, 1])));
    assert!(p.server.send_video(sid, Timestamp(80), video(true, 10)));
    assert!(p.server.send_video(sid, Timestamp(120), video(false, 10)));
}

#[test]
fn receive_video_false_stops_video_only() {
    let mut p = Pair::new(ClientHandshakeMode::Simple, 41, false);
    p.connect();
    let sid = start_play(&mut p, "s");
    p.client
        .send_stream_command(sid, &sluice_rtmp::command::Command::ReceiveVideo(false));
    p.pump();
    assert!(p.take_server_events().iter().any(|e| matches!(
        e,
        ServerEvent::ReceiveChanged {
            audio: true,
            video: false,
            ..
        }
    )));
    assert!(!p.server.send_video(sid, Timestamp(0), video(true, 10)));
    assert!(p
        .server
        .send_audio(sid, Timestamp(0), Bytes::from_static(&[0xAF, 1])));
    p.client
        .send_stream_command(sid, &sluice_rtmp::command::Command::ReceiveVideo(true));
    p.pump();
    assert!(!p.server.send_video(sid, Timestamp(40), video(false, 10)));
    assert!(p.server.send_video(sid, Timestamp(80), video(true, 10)));
}

#[test]
fn get_stream_length_and_checkbw_are_answered() {
    let mut p = Pair::new(ClientHandshakeMode::Digest, 51, false);
    p.connect();
    let t = p.client.call(
        sluice_rtmp::command::CommandMessage::new("getStreamLength", 0.0).with_arg("s"),
        true,
    );
    p.pump();
    let request = p
        .take_server_events()
        .iter()
        .find_map(|e| match e {
            ServerEvent::StreamLengthRequest { request, name } => {
                assert_eq!(name, "s");
                Some(*request)
            }
            _ => None,
        })
        .expect("stream length request");
    p.server.respond_stream_length(request, 12.5).unwrap();
    p.pump();
    let evs = p.take_client_events();
    let response = evs
        .iter()
        .find_map(|e| match e {
            ClientEvent::CallResult {
                transaction_id,
                ok: true,
                response,
            } if *transaction_id == t => Some(response.clone()),
            _ => None,
        })
        .expect("getStreamLength result");
    assert_eq!(response.args.first().and_then(|v| v.as_f64()), Some(12.5));
    let t = p.client.call(
        sluice_rtmp::command::CommandMessage::new("_checkbw", 0.0),
        true,
    );
    p.pump();
    assert!(p.take_client_events().iter().any(
        |e| matches!(e, ClientEvent::CallResult { transaction_id, ok: true, .. } if *transaction_id == t)
    ));
}

#[test]
fn answering_with_the_wrong_kind_keeps_the_request() {
    let mut p = Pair::new(ClientHandshakeMode::Digest, 61, false);
    p.connect();
    p.client.publish("s", PublishMode::Live).unwrap();
    p.pump();
    let request = p
        .take_server_events()
        .iter()
        .find_map(|e| match e {
            ServerEvent::PublishRequest { request, .. } => Some(*request),
            _ => None,
        })
        .unwrap();
    // A play answer to a publish request is local misuse: refused, and the request stays.
    assert!(p.server.accept_play(request).is_err());
    p.server.accept_publish(request).unwrap();
    p.pump();
    assert!(p
        .take_client_events()
        .iter()
        .any(|e| matches!(e, ClientEvent::PublishStarted { .. })));
}

/// Media a client sends while its publish awaits the application's decision (a hook round
/// trip) is held, then delivered in order after `NetStream.Publish.Start`.
#[test]
fn media_sent_before_the_publish_is_accepted_is_held_then_delivered() {
    let mut p = Pair::new(ClientHandshakeMode::Digest, 11, false);
    p.connect();
    p.client.publish("early", PublishMode::Live).unwrap();
    p.pump();
    let (request, stream_id) = p
        .take_server_events()
        .iter()
        .find_map(|e| match e {
            ServerEvent::PublishRequest {
                request, stream_id, ..
            } => Some((*request, *stream_id)),
            _ => None,
        })
        .expect("publish request");
    for i in 0..3u32 {
        p.client.send_video(
            stream_id,
            Timestamp(i * 40),
            video(i == 0, 100 + i as usize),
        );
    }
    p.pump();
    assert!(
        !p.take_server_events()
            .iter()
            .any(|e| matches!(e, ServerEvent::Video { .. })),
        "nothing is delivered before the decision"
    );
    p.server.accept_publish(request).unwrap();
    p.pump();
    let sizes: Vec<usize> = p
        .take_server_events()
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Video { payload, .. } => Some(payload.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, [105, 106, 107]);
}

/// A client that floods a stream whose publish is still pending hits a typed limit.
#[test]
fn held_media_is_bounded() {
    let mut p = Pair::new(ClientHandshakeMode::Simple, 12, false);
    p.connect();
    p.client.publish("flood", PublishMode::Live).unwrap();
    p.pump();
    let stream_id = p
        .take_server_events()
        .iter()
        .find_map(|e| match e {
            ServerEvent::PublishRequest { stream_id, .. } => Some(*stream_id),
            _ => None,
        })
        .expect("publish request");
    let limit = ServerConfig::default().max_held_publish_bytes;
    let mut sent = 0;
    while sent <= limit {
        p.client
            .send_video(stream_id, Timestamp::ZERO, video(false, 60_000));
        sent += 60_000;
    }
    let mut err = None;
    while let Some(b) = p.client.poll_transmit() {
        if let Err(e) = p.server.handle_input(&b) {
            err = Some(e);
            break;
        }
    }
    assert!(
        matches!(err, Some(sluice_rtmp::session::SessionError::HeldMediaLimit { limit: l, .. }) if l == limit),
        "{err:?}"
    );
}
