//! RTMPE (C0 = 6, 8, 9) over the sans-IO sessions, in memory: an RTMPE client publishes to a
//! server session, media flows through a tiny in-test "application" to an RTMPE (or plain)
//! player. Checks that the sessions keep the encryption to themselves — the application sees
//! the same events as over plain RTMP — and that the bytes on the wire really are encrypted.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_rtmp::command::{codes, ConnectResponse, PlayArgs, PublishMode};
use sluice_rtmp::handshake::{ClientHandshakeMode, DigestLayout, HandshakeKind, RtmpeType};
use sluice_rtmp::session::{
    ClientConfig, ClientEvent, ClientSession, ServerConfig, ServerEvent, ServerSession,
};
use sluice_rtmp::Timestamp;

const TYPES: [RtmpeType; 3] = [RtmpeType::Basic, RtmpeType::Xtea, RtmpeType::Blowfish];

/// One client and one server session joined by an in-memory pipe that delivers bytes in random
/// pieces, recording everything the client sent.
struct Pair {
    client: ClientSession,
    server: ServerSession,
    rng: StdRng,
    /// Drain output with `drain_transmit` (one vectored write) instead of `poll_transmit`.
    vectored: bool,
    client_wire: Vec<u8>,
    server_wire: Vec<u8>,
    client_events: Vec<ClientEvent>,
    server_events: Vec<ServerEvent>,
}

impl Pair {
    fn new(mode: ClientHandshakeMode, seed: u64, vectored: bool) -> Pair {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut cfg = ClientConfig::new("live", "rtmpe://127.0.0.1/live");
        cfg.handshake = mode;
        let client = ClientSession::new(cfg, &mut rng);
        let server = ServerSession::new(ServerConfig::default(), &mut rng);
        Pair {
            client,
            server,
            rng,
            vectored,
            client_wire: Vec::new(),
            server_wire: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    fn client_output(&mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        if self.vectored {
            self.client.drain_transmit(&mut out);
        } else {
            while let Some(b) = self.client.poll_transmit() {
                out.push(b);
            }
        }
        out
    }

    fn server_output(&mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        if self.vectored {
            self.server.drain_transmit(&mut out);
        } else {
            while let Some(b) = self.server.poll_transmit() {
                out.push(b);
            }
        }
        out
    }

    /// Move bytes both ways until neither side has anything to send; collect events.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for b in self.client_output() {
                moved = true;
                self.client_wire.extend_from_slice(&b);
                let mut rest = &b[..];
                while !rest.is_empty() {
                    let n = self.rng.gen_range(1..=rest.len().min(3000));
                    self.server.handle_input(&rest[..n]).expect("server input");
                    rest = &rest[n..];
                }
            }
            for b in self.server_output() {
                moved = true;
                self.server_wire.extend_from_slice(&b);
                let mut rest = &b[..];
                while !rest.is_empty() {
                    let n = self.rng.gen_range(1..=rest.len().min(3000));
                    self.client.handle_input(&rest[..n]).expect("client input");
                    rest = &rest[n..];
                }
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

    /// Runs the handshake and an accepted connect.
    fn connect(&mut self) {
        self.pump();
        let request = std::mem::take(&mut self.server_events)
            .into_iter()
            .find_map(|e| match e {
                ServerEvent::ConnectRequest { request, command } => {
                    assert_eq!(command.app, "live");
                    Some(request)
                }
                _ => None,
            })
            .expect("connect request");
        self.server
            .accept_connect(request, ConnectResponse::default())
            .unwrap();
        self.pump();
        assert!(self.client.is_connected());
    }

    fn take_client_events(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.client_events)
    }

    fn take_server_events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.server_events)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Bytes of C0+C1+C2 (and S0+S1+S2).
const HANDSHAKE_BYTES: usize = 1 + 2 * 1536;

#[test]
fn rtmpe_connects_and_the_wire_is_encrypted() {
    for (i, t) in TYPES.into_iter().enumerate() {
        for vectored in [false, true] {
            let mut p = Pair::new(ClientHandshakeMode::Rtmpe(t), 30 + i as u64, vectored);
            p.connect();
            let kind = Some(HandshakeKind::Rtmpe {
                rtmpe_type: t,
                layout: DigestLayout::KeyFirst,
            });
            assert_eq!(p.server.handshake_kind(), kind);
            assert_eq!(p.client.handshake_kind(), kind);
            assert_eq!(p.client_wire[0], t.version_byte());
            assert_eq!(p.server_wire[0], t.version_byte());
            // After the handshake nothing readable crosses the wire either way.
            assert!(p.client_wire.len() > HANDSHAKE_BYTES);
            assert!(p.server_wire.len() > HANDSHAKE_BYTES);
            assert!(!contains(&p.client_wire, b"connect"));
            assert!(!contains(&p.client_wire, b"live"));
            assert!(!contains(&p.server_wire, b"_result"));
            assert!(!contains(&p.server_wire, b"NetConnection.Connect.Success"));
        }
    }
    // The same exchange in plain RTMP does show them: the check above means something.
    let mut plain = Pair::new(ClientHandshakeMode::Digest, 30, false);
    plain.connect();
    assert!(contains(&plain.client_wire, b"connect"));
    assert!(contains(
        &plain.server_wire,
        b"NetConnection.Connect.Success"
    ));
}

fn video(keyframe: bool, n: usize) -> Bytes {
    let mut v = vec![if keyframe { 0x17 } else { 0x27 }, 1, 0, 0, 0];
    v.extend(std::iter::repeat_n(0xAB, n));
    Bytes::from(v)
}

/// An accepted publish on `p`; returns the publisher's message stream id.
fn start_publish(p: &mut Pair) -> u32 {
    p.connect();
    p.client.publish("stream", PublishMode::Live).unwrap();
    p.pump();
    let request = p
        .take_server_events()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::PublishRequest { request, .. } => Some(request),
            _ => None,
        })
        .expect("publish request");
    p.server.accept_publish(request).unwrap();
    p.pump();
    p.take_client_events()
        .into_iter()
        .find_map(|e| match e {
            ClientEvent::PublishStarted { stream_id } => Some(stream_id),
            _ => None,
        })
        .expect("publish started")
}

/// An accepted play on `p`; returns the server side's message stream id.
fn start_play(p: &mut Pair) -> u32 {
    p.connect();
    p.client
        .play(PlayArgs {
            name: "stream".into(),
            start: -2.0,
            duration: -1.0,
            reset: true,
        })
        .unwrap();
    p.pump();
    let (request, stream_id) = p
        .take_server_events()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::PlayRequest {
                request, stream_id, ..
            } => Some((request, stream_id)),
            _ => None,
        })
        .expect("play request");
    p.server.accept_play(request).unwrap();
    p.pump();
    let codes_seen: Vec<String> = p
        .take_client_events()
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Status { info, .. } => Some(info.code),
            _ => None,
        })
        .collect();
    assert_eq!(codes_seen, vec![codes::PLAY_RESET, codes::PLAY_START]);
    stream_id
}

/// Publishes 40 frames (sizes from 10 bytes to several chunks) through `publisher` and forwards
/// them to `player`; checks the player gets exactly what was sent.
fn media_flows(publisher: &mut Pair, player: &mut Pair) {
    let pub_stream = start_publish(publisher);
    let play_stream = start_play(player);
    let mut sent = Vec::new();
    for i in 0..40u32 {
        let ts = Timestamp(i * 40);
        let payload = video(i % 10 == 0, [10usize, 300, 5000, 70000][(i % 4) as usize]);
        publisher.client.send_video(pub_stream, ts, payload.clone());
        publisher
            .client
            .send_audio(pub_stream, ts, Bytes::from_static(&[0xAF, 1, 2, 3]));
        sent.push((ts, payload));
    }
    publisher.pump();
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
            _ => {}
        }
    }
    assert_eq!(frames, 40);
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
    // Acknowledgements count the decrypted stream, byte for byte what was encrypted.
    assert!(publisher.server.bytes_received() > 40 * 5000);
}

#[test]
fn media_flows_between_rtmpe_publishers_and_players_of_every_type() {
    for (i, t) in TYPES.into_iter().enumerate() {
        let seed = 100 + 10 * i as u64;
        let mut publisher = Pair::new(ClientHandshakeMode::Rtmpe(t), seed, i == 1);
        let mut player = Pair::new(ClientHandshakeMode::Rtmpe(t), seed + 1, i != 1);
        media_flows(&mut publisher, &mut player);
        // The big frames never appear in clear on the player's wire.
        assert!(!contains(&player.server_wire, &[0xAB; 64]));
    }
}

#[test]
fn rtmpe_publisher_feeds_a_plain_player_and_back() {
    let mut publisher = Pair::new(ClientHandshakeMode::Rtmpe(RtmpeType::Basic), 200, false);
    let mut player = Pair::new(ClientHandshakeMode::Simple, 201, true);
    media_flows(&mut publisher, &mut player);
    assert!(
        contains(&player.server_wire, &[0xAB; 64]),
        "plain stays plain"
    );

    let mut publisher = Pair::new(ClientHandshakeMode::Digest, 202, true);
    let mut player = Pair::new(ClientHandshakeMode::Rtmpe(RtmpeType::Blowfish), 203, false);
    media_flows(&mut publisher, &mut player);
}

#[test]
fn whole_client_flight_in_one_read_is_decrypted_from_the_right_byte() {
    // The client's C0+C1, then C2 glued to its first encrypted chunks, reach the server in a
    // single handle_input: the bytes behind C2 must be decrypted with the fresh keystream.
    let mut rng = StdRng::seed_from_u64(300);
    let mut cfg = ClientConfig::new("live", "rtmpe://127.0.0.1/live");
    cfg.handshake = ClientHandshakeMode::Rtmpe(RtmpeType::Xtea);
    let mut client = ClientSession::new(cfg, &mut rng);
    let mut server = ServerSession::new(ServerConfig::default(), &mut rng);

    let c0c1 = client.poll_transmit().unwrap();
    server.handle_input(&c0c1).unwrap();
    let mut s = Vec::new();
    while let Some(b) = server.poll_transmit() {
        s.extend_from_slice(&b);
    }
    // S0+S1+S2 and nothing else: the server sends nothing more before C2.
    assert_eq!(s.len(), HANDSHAKE_BYTES);
    client.handle_input(&s).unwrap();
    let mut flight = Vec::new();
    while let Some(b) = client.poll_transmit() {
        flight.extend_from_slice(&b);
    }
    assert!(flight.len() > 1536, "C2 plus the encrypted connect");
    server.handle_input(&flight).unwrap();
    let mut saw_connect = false;
    while let Some(e) = server.poll_event() {
        saw_connect |= matches!(e, ServerEvent::ConnectRequest { .. });
    }
    assert!(saw_connect);
}

#[test]
fn an_rtmpe_server_keeps_128_byte_chunks_and_a_plain_one_announces_its_size() {
    // ffmpeg publishing over RTMPE corrupts its own chunk size when it echoes a Set Chunk Size
    // (see session/conn.rs): an RTMPE server sends none.
    let mut rtmpe = Pair::new(ClientHandshakeMode::Rtmpe(RtmpeType::Basic), 400, false);
    rtmpe.connect();
    let (ours, theirs) = rtmpe.server.chunk_sizes();
    assert_eq!(ours, 128);
    assert_eq!(
        theirs,
        ClientConfig::new("a", "b").chunk_size,
        "the client still announces"
    );

    let mut plain = Pair::new(ClientHandshakeMode::Digest, 400, false);
    plain.connect();
    assert_eq!(
        plain.server.chunk_sizes().0,
        ServerConfig::default().chunk_size
    );
    assert_ne!(ServerConfig::default().chunk_size, 128);
}
