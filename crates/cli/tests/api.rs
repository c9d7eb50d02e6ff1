//! The JSON API (`/api/v1/`) against real peers: Debian's ffmpeg publishes an H.264 + AAC
//! fixture over RTMP, two ffmpeg RTMP players and one ffmpeg HTTP-FLV player play it; the API
//! must show the stream's codecs and size, three players and bytes moving, every client with
//! its role and transport; a kick (`DELETE /api/v1/clients/{id}`) must end exactly that
//! player (and a WebSocket-FLV player gets close 1008); a token (`SLUICE_API_TOKEN`) must guard
//! every route.
//!
//! Every process lives in a `ChildGuard`, every port is ephemeral; missing tools panic.

mod live_support;

use live_support::{
    api_get, api_wait, ffmpeg, ffmpeg_play, fixture, http_request, poll_until, temp_dir, Sluice,
};
use serde_json::Value;
use sluice_testkit::{publish_flv, ChildGuard, FixtureOpts};
use std::thread;
use std::time::Duration;

/// Codec names compared loosely: `H.264`, `h264` and `H264` are the same codec.
fn codec_is(v: &Value, want: &str) -> bool {
    let norm = |s: &str| s.replace('.', "").to_ascii_lowercase();
    v.as_str().is_some_and(|s| norm(s) == norm(want))
}

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().expect("an items array")
}

/// The clients playing `live/s` over `transport`.
fn players(clients: &Value, transport: &str) -> Vec<u64> {
    items(clients)
        .iter()
        .filter(|c| c["role"] == "player" && c["transport"] == transport && c["stream"] == "s")
        .map(|c| c["id"].as_u64().expect("a numeric id"))
        .collect()
}

fn ids(clients: &Value) -> Vec<u64> {
    items(clients)
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect()
}

fn assert_json_error(status: u16, body: &[u8], what: &str) {
    let v: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", String::from_utf8_lossy(body)));
    assert_eq!(v["error"]["status"], status, "{what}: {v}");
    assert!(v["error"]["message"].is_string(), "{what}: {v}");
}

#[test]
fn streams_clients_and_kicks_with_rtmp_and_http_flv_players() {
    let opts = FixtureOpts::default().with_duration(Duration::from_secs(60));
    let (width, height) = (opts.width, opts.height);
    let input = fixture(opts);
    let (server, http) = Sluice::start_with_http(&[]);
    let dir = temp_dir();
    let _publisher = publish_flv(&ffmpeg(), &input, &server.url("s"));

    // The stream with its codecs, from the publisher's sequence headers.
    let streams = api_wait(
        &server,
        http,
        "/api/v1/streams",
        Duration::from_secs(20),
        |v| {
            items(v)
                .first()
                .is_some_and(|s| !s["video"].is_null() && !s["audio"].is_null())
        },
    );
    let s = &items(&streams)[0];
    assert_eq!(
        (&s["app"], &s["name"]),
        (&Value::from("live"), &Value::from("s"))
    );
    assert!(codec_is(&s["video"]["codec"], "H.264"), "{s:#}");
    assert!(codec_is(&s["audio"]["codec"], "AAC"), "{s:#}");
    assert_eq!(s["video"]["width"], width, "{s:#}");
    assert_eq!(s["video"]["height"], height, "{s:#}");
    assert_eq!(s["audio"]["sample_rate"], 44_100, "{s:#}");
    assert_eq!(s["audio"]["channels"], 2, "{s:#}");
    assert_eq!(s["publisher"]["transport"], "rtmp", "{s:#}");
    assert_eq!(s["publisher"]["ip"], "127.0.0.1", "{s:#}");
    assert!(
        s["since"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{s:#}"
    );
    let publisher_id = s["publisher"]["client_id"]
        .as_u64()
        .expect("a publisher id");

    // Two RTMP players and one HTTP-FLV player.
    let idle = Duration::from_secs(10);
    let mut rtmp_players: Vec<ChildGuard> = (0..2)
        .map(|i| {
            let out = dir.path().join(format!("rtmp{i}.flv"));
            ffmpeg_play(&ffmpeg(), &server.url("s"), &out, idle, &[])
        })
        .collect();
    let http_url = format!("http://127.0.0.1:{http}/live/s.flv");
    let mut http_player = ffmpeg_play(
        &ffmpeg(),
        &http_url,
        &dir.path().join("http.flv"),
        idle,
        &[],
    );

    let streams = api_wait(
        &server,
        http,
        "/api/v1/streams/live/s",
        Duration::from_secs(20),
        |s| {
            s["players"] == 3
                && s["bytes_in"].as_u64() > Some(0)
                && s["bytes_out"].as_u64() > Some(0)
                && s["bitrate_in"].as_u64() > Some(0)
                && s["bitrate_out"].as_u64() > Some(0)
        },
    );
    eprintln!("stream with three players: {streams:#}");

    let clients = api_wait(
        &server,
        http,
        "/api/v1/clients",
        Duration::from_secs(10),
        |c| players(c, "rtmp").len() == 2 && players(c, "http-flv").len() == 1,
    );
    eprintln!("clients: {clients:#}");
    assert_eq!(items(&clients).len(), 4, "{clients:#}");
    let publisher = api_get(http, &format!("/api/v1/clients/{publisher_id}"));
    assert_eq!(publisher["role"], "publisher", "{publisher:#}");
    assert_eq!(publisher["transport"], "rtmp", "{publisher:#}");
    assert_eq!(publisher["app"], "live", "{publisher:#}");
    assert!(publisher["bytes_in"].as_u64() > Some(0), "{publisher:#}");
    let http_id = players(&clients, "http-flv")[0];
    // Bytes to the players move.
    let before: Vec<u64> = items(&clients)
        .iter()
        .map(|c| c["bytes_out"].as_u64().unwrap())
        .collect();
    let clients = api_wait(
        &server,
        http,
        "/api/v1/clients",
        Duration::from_secs(10),
        |c| {
            let now: Vec<u64> = items(c)
                .iter()
                .map(|c| c["bytes_out"].as_u64().unwrap())
                .collect();
            items(c).iter().filter(|c| c["role"] == "player").count() == 3
                && now.len() == before.len()
                && now.iter().zip(&before).filter(|(a, b)| a > b).count() >= 3
        },
    );

    // Kick the first RTMP player: that ffmpeg ends, everyone else goes on.
    let rtmp_ids = players(&clients, "rtmp");
    let kicked = rtmp_ids[0];
    let kept = rtmp_ids[1];
    let (status, head, body) =
        http_request(http, "DELETE", &format!("/api/v1/clients/{kicked}"), "");
    assert_eq!(status, 200, "{head}{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v, serde_json::json!({ "kicked": kicked }));
    // Which guard is the kicked one: the one that exits.
    let exited = poll_until(
        Duration::from_secs(15),
        "an RTMP player exiting after the kick",
        || {
            let gone: Vec<usize> = (0..2).filter(|&i| !rtmp_players[i].is_running()).collect();
            if gone.is_empty() {
                Err("both still running".to_string())
            } else {
                Ok(gone)
            }
        },
        || format!("server log:\n{}", server.log()),
    );
    assert_eq!(
        exited.len(),
        1,
        "exactly one RTMP player exited: {exited:?}"
    );
    let survivor = 1 - exited[0];
    let clients = api_wait(
        &server,
        http,
        "/api/v1/clients",
        Duration::from_secs(10),
        |c| !ids(c).contains(&kicked),
    );
    let now = ids(&clients);
    for id in [publisher_id, kept, http_id] {
        assert!(now.contains(&id), "client {id} is still there: {clients:#}");
    }
    // The others keep playing for a while.
    let kept_bytes = api_get(http, &format!("/api/v1/clients/{kept}"))["bytes_out"]
        .as_u64()
        .unwrap();
    thread::sleep(Duration::from_secs(3));
    assert!(
        rtmp_players[survivor].is_running(),
        "{}",
        rtmp_players[survivor].log()
    );
    assert!(http_player.is_running(), "{}", http_player.log());
    let kept_now = api_get(http, &format!("/api/v1/clients/{kept}"))["bytes_out"]
        .as_u64()
        .unwrap();
    assert!(
        kept_now > kept_bytes,
        "the other RTMP player still receives media"
    );
    let s = api_get(http, "/api/v1/streams/live/s");
    assert_eq!(s["players"], 2, "{s:#}");

    // Kick the HTTP-FLV player: its ffmpeg ends too.
    let (status, _, _) = http_request(http, "DELETE", &format!("/api/v1/clients/{http_id}"), "");
    assert_eq!(status, 200);
    assert!(
        http_player.wait_timeout(Duration::from_secs(15)).is_some(),
        "the HTTP-FLV player did not end after its kick: {}",
        http_player.log()
    );
    assert!(rtmp_players[survivor].is_running());

    // Unknown ids, bad ids, unknown streams and paths: JSON errors.
    for (method, path, status) in [
        ("GET", "/api/v1/clients/999999", 404),
        ("DELETE", "/api/v1/clients/999999", 404),
        ("GET", &*format!("/api/v1/clients/{kicked}"), 404),
        ("GET", "/api/v1/clients/abc", 400),
        ("GET", "/api/v1/streams/live/none", 404),
        ("GET", "/api/v1/nothing", 404),
        ("POST", "/api/v1/clients", 405),
    ] {
        let (got, head, body) = http_request(http, method, path, "");
        assert_eq!(got, status, "{method} {path}: {head}");
        assert!(
            head.contains("Content-Type: application/json"),
            "{method} {path}: {head}"
        );
        assert_json_error(status, &body, &format!("{method} {path}"));
    }

    // What the server is.
    let info = api_get(http, "/api/v1/info");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"), "{info:#}");
    assert_eq!(info["streams"], 1, "{info:#}");
    assert_eq!(
        info["listeners"]["rtmp"],
        serde_json::json!([format!("127.0.0.1:{}", server.port)]),
        "{info:#}"
    );
    assert_eq!(
        info["listeners"]["http"],
        serde_json::json!([format!("127.0.0.1:{http}")]),
        "{info:#}"
    );
    assert!(info["uptime_secs"].is_u64(), "{info:#}");
    drop(rtmp_players.remove(survivor));
}

#[test]
fn a_token_is_required_when_set() {
    let (server, http) = Sluice::start_with_http(&[("SLUICE_API_TOKEN", "s3cret")]);
    for path in [
        "/api/v1/info",
        "/api/v1/clients",
        "/api/v1/clients/1",
        "/metrics",
    ] {
        let (status, head, body) = http_request(http, "GET", path, "");
        assert_eq!(status, 401, "{path}: {head}");
        assert!(head.contains("Www-Authenticate: Bearer"), "{path}: {head}");
        assert_json_error(401, &body, path);
        let (status, head, _) = http_request(http, "GET", path, "Authorization: Bearer wrong\r\n");
        assert_eq!(status, 401, "{path}: {head}");
    }
    let (status, head, body) = http_request(
        http,
        "GET",
        "/api/v1/info",
        "Authorization: Bearer s3cret\r\n",
    );
    assert_eq!(status, 200, "{head}");
    let info: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(info["clients"], 0, "{info:#}");
    let (status, _, body) = http_request(
        http,
        "GET",
        "/api/v1/clients/1",
        "Authorization: Bearer s3cret\r\n",
    );
    assert_eq!(status, 404);
    assert_json_error(404, &body, "unknown client with the token");
    let (status, _, _) = http_request(http, "GET", "/metrics", "Authorization: Bearer s3cret\r\n");
    assert_eq!(status, 200);
    drop(server);
}

/// A WebSocket-FLV player is a `ws-flv` client; a kick closes its WebSocket with 1008.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kicked_ws_flv_player_gets_close_1008() {
    use futures_util::StreamExt;
    use tokio::task::block_in_place;
    use tokio_tungstenite::tungstenite::Message;

    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(30)));
    let (server, http) = Sluice::start_with_http(&[]);
    let _publisher = publish_flv(&ffmpeg(), &input, &server.url("w"));
    block_in_place(|| {
        api_wait(
            &server,
            http,
            "/api/v1/streams/live/w",
            Duration::from_secs(20),
            |s| !s["video"].is_null(),
        )
    });
    let url = format!("ws://127.0.0.1:{http}/live/w.flv");
    let (mut ws, resp) = tokio_tungstenite::connect_async(&url)
        .await
        .unwrap_or_else(|e| panic!("WebSocket connect to {url}: {e}"));
    assert_eq!(resp.status(), 101);
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a first message in time");
    assert!(matches!(first, Some(Ok(Message::Binary(_)))), "{first:?}");
    let clients = block_in_place(|| {
        api_wait(
            &server,
            http,
            "/api/v1/clients",
            Duration::from_secs(10),
            |c| items(c).iter().any(|c| c["transport"] == "ws-flv"),
        )
    });
    let player = items(&clients)
        .iter()
        .find(|c| c["transport"] == "ws-flv")
        .unwrap();
    assert_eq!(
        (&player["role"], &player["stream"]),
        (&Value::from("player"), &Value::from("w"))
    );
    let id = player["id"].as_u64().unwrap();
    let (status, _, _) =
        block_in_place(|| http_request(http, "DELETE", &format!("/api/v1/clients/{id}"), ""));
    assert_eq!(status, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let code = loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no close frame after the kick: {other:?}"),
        }
    };
    assert_eq!(code, Some(1008));
    block_in_place(|| {
        api_wait(
            &server,
            http,
            "/api/v1/clients",
            Duration::from_secs(10),
            |c| !ids(c).contains(&id),
        )
    });
}
