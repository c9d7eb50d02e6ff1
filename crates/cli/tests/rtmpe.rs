//! RTMPE (issue 6) against real peers: ffmpeg 9 (the `imageio-ffmpeg` build, which has
//! `rtmpe://`) and rtmpdump (librtmp) play `rtmpe://` from `sluice serve` while Debian's ffmpeg
//! publishes plain RTMP; ffmpeg 9 publishes over `rtmpe://` to a plain player; Sluice's own
//! client session does all three RTMPE types against the server.
//!
//! Both peers send C0 = 6 but take the signature cipher from S0, so a handshake-only server that
//! answers 8 or 9 (`ServerHandshakeConfig::rtmpe_answer`) checks our XTEA and Blowfish signature
//! encryption against theirs in both directions: the peer verifies S2 (and gives up if it does
//! not match), we verify its C2, and its first chunk must decrypt to `connect`.
//!
//! Tools that are missing make the tests fail, never skip.

mod live_support;

use bytes::BytesMut;
use live_support::{
    collect, ffmpeg, ffmpeg_play, fixture, publish, publish9, temp_dir, RawClient, Sluice,
};
use sluice_rtmp::handshake::{
    ClientHandshakeMode, HandshakeKind, RtmpeType, ServerHandshake, ServerHandshakeConfig,
};
use sluice_testkit::{ffmpeg9, ffprobe, spawn, tool, ChildGuard, FixtureOpts, ProbeResult};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// How long a player may hear nothing before it treats the stream as over.
const PLAYER_IDLE: Duration = Duration::from_secs(5);

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// `rtmpe://127.0.0.1:PORT/live/<stream>`.
fn rtmpe_url(server: &Sluice, stream: &str) -> String {
    format!("rtmpe://127.0.0.1:{}/live/{stream}", server.port)
}

/// Asserts `p` holds H.264 video with at least `min_frames` frames, and AAC audio.
fn assert_h264_aac(p: &ProbeResult, min_frames: u64, what: &str) {
    let v = p
        .video()
        .unwrap_or_else(|| panic!("{what}: no video stream in {p:?}"));
    assert_eq!(v.codec_name, "h264", "{what}: {p:?}");
    let frames = v.nb_read_frames.unwrap_or(0);
    assert!(
        frames >= min_frames,
        "{what}: {frames} video frames, expected at least {min_frames}: {p:?}"
    );
    let a = p
        .audio()
        .unwrap_or_else(|| panic!("{what}: no audio stream in {p:?}"));
    assert_eq!(a.codec_name, "aac", "{what}: {p:?}");
}

#[test]
fn ffmpeg9_plays_rtmpe_while_ffmpeg_publishes_plain() {
    let input = fixture(FixtureOpts::default());
    let server = Sluice::start();
    let dir = temp_dir();
    let out = dir.path().join("ffmpeg9-rtmpe.flv");

    let mut publisher = publish(&input, &server.url("e1"));
    server.wait_log(&["publish", "stream=e1"], Duration::from_secs(10));
    let mut player = ffmpeg_play(
        &ffmpeg9(),
        &rtmpe_url(&server, "e1"),
        &out,
        PLAYER_IDLE,
        &[],
    );

    publisher.wait_success(Duration::from_secs(30));
    player.wait_success(Duration::from_secs(30));
    assert_h264_aac(&ffprobe(path_str(&out)), 50, "ffmpeg 9 over rtmpe://");
}

#[test]
fn rtmpdump_plays_rtmpe() {
    let input = fixture(FixtureOpts::default());
    let server = Sluice::start();
    let dir = temp_dir();
    let out = dir.path().join("rtmpdump-rtmpe.flv");

    let mut publisher = publish(&input, &server.url("e2"));
    server.wait_log(&["publish", "stream=e2"], Duration::from_secs(10));
    let mut cmd = Command::new(tool("rtmpdump"));
    cmd.args(["-r", &rtmpe_url(&server, "e2"), "-v", "-m", "5", "-o"])
        .arg(&out);
    let mut player = spawn(cmd);

    publisher.wait_success(Duration::from_secs(30));
    // rtmpdump exits 0 when the publisher stops, 2 on an "incomplete" live stream: the file is
    // what matters.
    let status = player
        .wait_timeout(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("rtmpdump still running; log:\n{}", player.log()));
    assert!(
        matches!(status.code(), Some(0 | 2)),
        "rtmpdump: {status:?}\n{}",
        player.log()
    );
    assert_h264_aac(&ffprobe(path_str(&out)), 50, "rtmpdump over rtmpe://");
}

#[test]
fn ffmpeg9_publishes_over_rtmpe_and_a_plain_player_receives() {
    let input = fixture(FixtureOpts::default());
    let server = Sluice::start();
    let dir = temp_dir();
    let out = dir.path().join("plain-from-rtmpe.flv");

    let mut publisher = publish9(&input, &rtmpe_url(&server, "e3"));
    server.wait_log(&["publish", "stream=e3"], Duration::from_secs(10));
    let mut player = ffmpeg_play(&ffmpeg(), &server.url("e3"), &out, PLAYER_IDLE, &[]);

    publisher.wait_success(Duration::from_secs(30));
    player.wait_success(Duration::from_secs(30));
    assert_h264_aac(
        &ffprobe(path_str(&out)),
        50,
        "plain player of an rtmpe publisher",
    );
}

#[test]
fn sluice_client_session_speaks_every_rtmpe_type_to_the_server() {
    let input = fixture(FixtureOpts::default());
    let server = Sluice::start();
    let mut publisher = publish(&input, &server.url("e4"));
    server.wait_log(&["publish", "stream=e4"], Duration::from_secs(10));

    for t in [RtmpeType::Basic, RtmpeType::Xtea, RtmpeType::Blowfish] {
        let mut client = RawClient::connect(server.addr(), |cfg| {
            cfg.handshake = ClientHandshakeMode::Rtmpe(t);
        });
        client.wait_connected();
        assert!(
            matches!(
                client.session.handshake_kind(),
                Some(HandshakeKind::Rtmpe { rtmpe_type, .. }) if rtmpe_type == t
            ),
            "{:?}",
            client.session.handshake_kind()
        );
        client.play("e4");
        let got = collect(&mut client, Duration::from_secs(10), |c| {
            c.video_frames().count() >= 10
        });
        assert!(
            got.video_frames().count() >= 10,
            "{t:?}: {} video frames",
            got.video_frames().count()
        );
    }
    publisher.wait_success(Duration::from_secs(30));
}

/// What a handshake-only RTMPE server saw of one peer.
struct Seen {
    /// The peer's C0.
    c0: u8,
    /// Whether its C2 carried the right (type-encrypted) signature.
    c2_verified: Option<bool>,
    /// Decrypted bytes after C2.
    plain: Vec<u8>,
}

/// Accepts one connection on `listener`, answers its RTMPE handshake with S0 = `answer`, and
/// decrypts what follows C2 until an AMF0 `connect` appears or time runs out.
fn handshake_only(listener: &TcpListener, answer: RtmpeType, peer: &mut ChildGuard) -> Seen {
    let deadline = Instant::now() + Duration::from_secs(20);
    listener.set_nonblocking(true).unwrap();
    let mut stream: TcpStream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline && peer.is_running(),
                    "peer never connected; log:\n{}",
                    peer.log()
                );
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    let mut rng = rand::thread_rng();
    let config = ServerHandshakeConfig {
        rtmpe_answer: Some(answer),
        ..ServerHandshakeConfig::default()
    };
    let mut hs = ServerHandshake::with_config(config, &mut rng);
    let mut buf = BytesMut::new();
    let mut c0 = None;
    let mut read = [0u8; 8192];
    let mut cipher = None;
    let mut plain = Vec::new();
    while Instant::now() < deadline {
        let n = match stream.read(&mut read) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        };
        c0 = c0.or(read.first().copied());
        buf.extend_from_slice(&read[..n]);
        if cipher.is_none() {
            hs.handle_input(&mut buf, &mut rng)
                .unwrap_or_else(|e| panic!("handshake: {e}; peer log:\n{}", peer.log()));
            if let Some(out) = hs.poll_transmit() {
                stream.write_all(&out).unwrap();
            }
            cipher = hs.take_cipher();
        }
        if let Some(c) = cipher.as_mut() {
            c.decrypt(&mut buf[..]);
            plain.extend_from_slice(&buf.split());
            if contains(&plain, b"\x02\x00\x07connect") {
                break;
            }
        }
    }
    assert_eq!(
        hs.kind().and_then(|k| match k {
            HandshakeKind::Rtmpe { rtmpe_type, .. } => Some(rtmpe_type),
            _ => None,
        }),
        Some(answer)
    );
    Seen {
        c0: c0.unwrap_or(0),
        c2_verified: hs.c2_verified(),
        plain,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn ffmpeg9_player(port: u16) -> ChildGuard {
    let mut cmd = Command::new(ffmpeg9());
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "verbose"]);
    cmd.args(["-rw_timeout", "5000000", "-i"]);
    cmd.arg(format!("rtmpe://127.0.0.1:{port}/live/sig"));
    cmd.args(["-f", "null", "-"]);
    spawn(cmd)
}

fn rtmpdump_player(port: u16) -> ChildGuard {
    let mut cmd = Command::new(tool("rtmpdump"));
    cmd.args(["-r", &format!("rtmpe://127.0.0.1:{port}/live/sig")]);
    cmd.args(["-v", "-m", "5", "-o", "/dev/null"]);
    spawn(cmd)
}

/// Starts a peer that plays `rtmpe://127.0.0.1:PORT/live/sig`.
type StartPeer = fn(u16) -> ChildGuard;

#[test]
fn peers_agree_on_xtea_and_blowfish_signatures() {
    // librtmp implements type 8 only (its type 9 code is compiled out); ffmpeg both.
    let cases: [(&str, StartPeer, RtmpeType); 5] = [
        ("ffmpeg 9", ffmpeg9_player, RtmpeType::Basic),
        ("ffmpeg 9", ffmpeg9_player, RtmpeType::Xtea),
        ("ffmpeg 9", ffmpeg9_player, RtmpeType::Blowfish),
        ("rtmpdump", rtmpdump_player, RtmpeType::Basic),
        ("rtmpdump", rtmpdump_player, RtmpeType::Xtea),
    ];
    for (name, start, answer) in cases {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut peer = start(port);
        let seen = handshake_only(&listener, answer, &mut peer);
        assert_eq!(seen.c0, 6, "{name} asks for type 6");
        assert_eq!(
            seen.c2_verified,
            Some(true),
            "{name}'s C2 signature for S0 = {}; log:\n{}",
            answer.version_byte(),
            peer.log()
        );
        assert!(
            contains(&seen.plain, b"\x02\x00\x07connect"),
            "{name} with S0 = {}: no connect in {} decrypted bytes; log:\n{}",
            answer.version_byte(),
            seen.plain.len(),
            peer.log()
        );
    }
}
