//! HTTP-FLV over the TLS HTTP listener (`tls.https_listen`): curl negotiates HTTP/2 by ALPN
//! (`h2`) and HTTP/1.1 when asked, both get the FLV; a tokio-tungstenite client reads
//! WebSocket-FLV over TLS (WSS) with the certificate verified against a CA made here (rcgen).

mod live_support;

use futures_util::StreamExt;
use live_support::{ffmpeg, fixture, temp_dir, Sluice};
use sluice_flv::{FlvDemuxer, FlvEvent};
use sluice_testkit::{free_port, publish_flv, run, tool, wait_for_port, FixtureOpts};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;

/// A CA and a `localhost`/127.0.0.1 certificate it signed, as PEM files in `dir`; returns the
/// certificate, key and CA paths.
fn ca_and_leaf(dir: &Path) -> (String, String, rustls::pki_types::CertificateDer<'static>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let leaf = params.signed_by(&key, &ca, &ca_key).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, leaf.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (
        cert_path.display().to_string(),
        key_path.display().to_string(),
        ca.der().clone(),
    )
}

/// Counts the FLV tags in `bytes` (a cut-off last tag is ignored); panics unless it is an FLV.
fn flv_tags(bytes: &[u8]) -> usize {
    let mut buf = bytes::BytesMut::from(bytes);
    let mut d = FlvDemuxer::new();
    let mut header = false;
    let mut tags = 0;
    while let Some(ev) = d.decode(&mut buf).expect("a well-formed FLV") {
        match ev {
            FlvEvent::Header(_) => header = true,
            FlvEvent::Tag(_) => tags += 1,
        }
    }
    assert!(header, "an FLV header");
    tags
}

/// `curl` of `url` for 2 s with `proto` (`--http2` or `--http1.1`); returns the HTTP version
/// curl used, the response headers and the body.
fn curl(url: &str, proto: &str, dir: &Path) -> (String, String, Vec<u8>) {
    let body = dir.join(format!("body{proto}.flv"));
    let heads = dir.join(format!("head{proto}.txt"));
    let mut cmd = Command::new(tool("curl"));
    cmd.args([
        "-sk",
        proto,
        "--max-time",
        "2",
        "-w",
        "%{http_version}",
        "-D",
    ])
    .arg(&heads)
    .arg("-o")
    .arg(&body)
    .arg(url);
    let out = run(cmd, Duration::from_secs(30));
    // 28 = the --max-time ended the (endless) live response.
    assert_eq!(
        out.status.code(),
        Some(28),
        "curl {proto} {url}:\n{}",
        out.log
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        std::fs::read_to_string(&heads).unwrap_or_default(),
        std::fs::read(&body).unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listener_serves_http_flv_over_h2_and_http1_and_wss() {
    let dir = temp_dir();
    let (cert, key, ca) = ca_and_leaf(dir.path());
    let https = free_port();
    let listen = format!("127.0.0.1:{https}");
    let (server, _http) = Sluice::start_with_http(&[
        ("SLUICE_TLS_HTTPS_LISTEN", &listen),
        ("SLUICE_TLS_CERT", &cert),
        ("SLUICE_TLS_KEY", &key),
    ]);
    assert!(wait_for_port(https, Duration::from_secs(10)), "HTTPS port");
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(20)));
    let _publisher = publish_flv(&ffmpeg(), &input, &server.url("t"));
    server.wait_log(&["publish", "stream=t"], Duration::from_secs(20));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let url = format!("https://127.0.0.1:{https}/live/t.flv");
    let d = dir.path().to_owned();
    let u = url.clone();
    let (h2, h1) =
        tokio::task::spawn_blocking(move || (curl(&u, "--http2", &d), curl(&u, "--http1.1", &d)))
            .await
            .unwrap();
    assert_eq!(h2.0, "2", "ALPN h2: {}", h2.1);
    assert!(h2.1.contains("content-type: video/x-flv"), "{}", h2.1);
    assert!(flv_tags(&h2.2) > 10);
    assert_eq!(h1.0, "1.1");
    // HTTP/1.1 keeps the title-case header names RTMPT's librtmp clients need.
    assert!(h1.1.contains("Content-Type: video/x-flv"), "{}", h1.1);
    assert!(flv_tags(&h1.2) > 10);

    // WSS, the certificate verified against our CA.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", https))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with a verified certificate");
    let (mut ws, resp) =
        tokio_tungstenite::client_async(format!("wss://localhost:{https}/live/t.flv"), tls)
            .await
            .expect("WSS upgrade");
    assert_eq!(resp.status(), 101);
    let mut bytes = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, ws.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Binary(b) = m.expect("a message") {
            bytes.extend_from_slice(&b);
        }
    }
    assert!(flv_tags(&bytes) > 10, "WSS carried the FLV");
    drop(server);
}
