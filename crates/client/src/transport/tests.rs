//! Transport tests against in-process peers: a scripted RTMPT server (HTTP/1.1 over TCP), a
//! TLS server with a self-signed certificate, and a TCP listener that checks the proxy header.

use super::rtmpt::{parse_session_id, unwrap_io_error, RtmptError, RtmptOptions};
use super::tls::TlsConfig;
use super::*;
use crate::error::Stage;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[test]
fn proxy_header_bytes() {
    // Seed 000's example layout with 203.0.113.7 (TEST-NET-3): F3, size 4, the address.
    assert_eq!(
        proxy_header(Ipv4Addr::new(203, 0, 113, 7)),
        [0xF3, 0x00, 0x04, 0xCB, 0x00, 0x71, 0x07]
    );
}

#[test]
fn session_ids() {
    assert_eq!(parse_session_id(b"0123abcd\n", 256).unwrap(), "0123abcd");
    assert_eq!(parse_session_id(b"xyz\r\n\0", 256).unwrap(), "xyz");
    for bad in [&b""[..], b"\n", b"a/b\n", b"a b\n", b"\xff\n"] {
        assert!(
            matches!(parse_session_id(bad, 256), Err(RtmptError::BadSessionId)),
            "{bad:?}"
        );
    }
    assert!(parse_session_id(b"abcd", 3).is_err());
}

#[test]
fn io_errors_unwrap_tunnel_failures() {
    let e = io::Error::other(ClientError::Rtmpt(RtmptError::BadSessionId));
    assert!(matches!(
        unwrap_io_error(Stage::Play, e),
        ClientError::Rtmpt(RtmptError::BadSessionId)
    ));
    let e = io::Error::from(io::ErrorKind::ConnectionReset);
    assert!(matches!(
        unwrap_io_error(Stage::Play, e),
        ClientError::Io {
            stage: Stage::Play,
            ..
        }
    ));
}

/// What the scripted RTMPT server does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    /// Echo `/send` bodies back, answer `/idle` with the polling byte only.
    Echo,
    /// Answer every request after `/open` with 404.
    NotFound,
    /// Answer `/open` with 500.
    OpenFails,
    /// Echo, but close the connection after every reply (`Connection: close`).
    CloseEach,
    /// Echo, then 404 to every request once `/send` has been seen twice.
    EndAfterTwoSends,
}

#[derive(Debug, Default)]
struct Seen {
    paths: Vec<String>,
    connections: usize,
    sent: Vec<u8>,
}

async fn rtmpt_server(script: Script) -> (u16, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            s.lock().unwrap().connections += 1;
            tokio::spawn(serve_http(sock, script, s.clone()));
        }
    });
    (port, seen)
}

async fn serve_http(mut sock: TcpStream, script: Script, seen: Arc<Mutex<Seen>>) {
    let mut buf = Vec::new();
    loop {
        let (path, body) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                let len: usize = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                    .unwrap_or(0);
                assert!(req
                    .headers
                    .iter()
                    .any(|h| h.name == "Content-Type" && h.value == b"application/x-fcs"));
                if buf.len() >= n + len {
                    let path = req.path.unwrap().to_owned();
                    let body = buf[n..n + len].to_vec();
                    buf.drain(..n + len);
                    break (path, body);
                }
            }
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        };
        let (status, reply) = {
            let mut seen = seen.lock().unwrap();
            seen.paths.push(path.clone());
            let sends = seen
                .paths
                .iter()
                .filter(|p| p.starts_with("/send/"))
                .count();
            if path == "/open/1" {
                if script == Script::OpenFails {
                    (500, Vec::new())
                } else {
                    (200, b"s1d\n".to_vec())
                }
            } else if script == Script::NotFound
                || (script == Script::EndAfterTwoSends && sends > 2)
            {
                (404, Vec::new())
            } else if path.starts_with("/send/") {
                seen.sent.extend_from_slice(&body);
                let mut r = vec![3u8];
                r.extend_from_slice(&body);
                (200, r)
            } else if path.starts_with("/idle/") {
                (200, vec![5u8])
            } else {
                (200, vec![0u8])
            }
        };
        let close = if script == Script::CloseEach {
            "Connection: close\r\n"
        } else {
            ""
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/x-fcs\r\n{close}Content-Length: {}\r\n\r\n",
            reply.len()
        );
        if sock.write_all(head.as_bytes()).await.is_err() || sock.write_all(&reply).await.is_err() {
            return;
        }
        if script == Script::CloseEach {
            return;
        }
    }
}

fn url(scheme: &str, port: u16) -> Url {
    Url::parse(&format!("{scheme}://127.0.0.1:{port}/live/s")).unwrap()
}

async fn read_exact_within(s: &mut ClientStream, n: usize) -> io::Result<Vec<u8>> {
    let mut v = vec![0; n];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut v))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    Ok(v)
}

#[tokio::test]
async fn rtmpt_echo_round_trip_and_close() {
    for script in [Script::Echo, Script::CloseEach] {
        let (port, seen) = rtmpt_server(script).await;
        let mut s = ClientStream::open(&url("rtmpt", port), &ClientOptions::default())
            .await
            .unwrap();
        let ClientStream::Rtmpt(r) = &s else {
            panic!("not an RTMPT stream")
        };
        assert_eq!(r.session_id(), "s1d");
        s.write_all(b"hello").await.unwrap();
        s.flush().await.unwrap();
        assert_eq!(read_exact_within(&mut s, 5).await.unwrap(), b"hello");
        s.write_all(b" world").await.unwrap();
        assert_eq!(read_exact_within(&mut s, 6).await.unwrap(), b" world");
        let ClientStream::Rtmpt(r) = &s else {
            panic!("not an RTMPT stream")
        };
        assert_eq!(r.poll_delay(), 3);
        // Shutdown: the tunnel sends /close and the stream ends.
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.sent, b"hello world");
        assert_eq!(seen.paths.first().map(String::as_str), Some("/open/1"));
        let last = seen.paths.last().unwrap();
        assert!(last.starts_with("/close/s1d/"), "{last}");
        // Sequence numbers start at 1 and grow by one per request.
        for (i, p) in seen.paths.iter().skip(1).enumerate() {
            assert!(p.ends_with(&format!("/s1d/{}", i + 1)), "{p} at {i}");
        }
        if script == Script::CloseEach {
            assert_eq!(seen.connections, seen.paths.len());
        } else {
            assert_eq!(seen.connections, 1, "keep-alive: one connection");
        }
    }
}

#[tokio::test]
async fn rtmpt_errors() {
    let (port, _) = rtmpt_server(Script::OpenFails).await;
    let e = ClientStream::open(&url("rtmpt", port), &ClientOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Rtmpt(RtmptError::Status { status: 500, .. })
        ),
        "{e}"
    );
    assert_eq!(e.to_string(), "RTMPT: HTTP 500 X for POST /open/1");

    // A session the server does not know: the first read reports it.
    let (port, _) = rtmpt_server(Script::NotFound).await;
    let mut s = ClientStream::open(&url("rtmpte", port), &ClientOptions::default())
        .await
        .unwrap();
    let e = read_exact_within(&mut s, 1).await.unwrap_err();
    let e = unwrap_io_error(Stage::Handshake, e);
    assert!(
        matches!(e, ClientError::Rtmpt(RtmptError::UnknownSession { .. })),
        "{e}"
    );

    // 404 after data: the server ended the session, an ordinary end of stream.
    let (port, _) = rtmpt_server(Script::EndAfterTwoSends).await;
    let mut s = ClientStream::open(&url("rtmpt", port), &ClientOptions::default())
        .await
        .unwrap();
    s.write_all(b"a").await.unwrap();
    assert_eq!(read_exact_within(&mut s, 1).await.unwrap(), b"a");
    s.write_all(b"b").await.unwrap();
    assert_eq!(read_exact_within(&mut s, 1).await.unwrap(), b"b");
    s.write_all(b"c").await.unwrap();
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0);

    // Nothing listening.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let e = ClientStream::open(&url("rtmpt", port), &ClientOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Refused { .. }), "{e}");

    // A server that never answers: the request timeout.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut socks = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            socks.push(s);
        }
    });
    let o = ClientOptions {
        rtmpt: RtmptOptions {
            request_timeout: Duration::from_millis(200),
            ..RtmptOptions::default()
        },
        ..ClientOptions::default()
    };
    let e = ClientStream::open(&url("rtmpt", port), &o)
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::Rtmpt(RtmptError::Timeout { .. })),
        "{e}"
    );
    hold.abort();

    // The proxy header cannot go through an HTTP tunnel.
    let o = ClientOptions {
        proxy_real_ip: Some(Ipv4Addr::new(203, 0, 113, 7)),
        ..ClientOptions::default()
    };
    let e = ClientStream::open(&url("rtmpts", 1), &o).await.unwrap_err();
    assert!(
        matches!(e, ClientError::ProxyHeaderUnsupported(Scheme::Rtmpts)),
        "{e}"
    );
}

#[tokio::test]
async fn proxy_header_goes_first_on_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut b = [0u8; 8];
        s.read_exact(&mut b).await.unwrap();
        b
    });
    let o = ClientOptions {
        proxy_real_ip: Some(Ipv4Addr::new(203, 0, 113, 7)),
        ..ClientOptions::default()
    };
    let mut s = ClientStream::open(&url("rtmpe", port), &o).await.unwrap();
    assert!(matches!(s, ClientStream::Tcp(_)));
    s.write_all(&[0x06]).await.unwrap();
    let got = accept.await.unwrap();
    assert_eq!(got, [0xF3, 0x00, 0x04, 0xCB, 0x00, 0x71, 0x07, 0x06]);
}

/// A TLS echo server with a fresh self-signed certificate for 127.0.0.1 (marked as a CA when
/// `ca`, as `openssl req -x509` makes them); returns its port and the certificate as PEM.
async fn tls_server(ca: bool) -> (u16, String) {
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio_rustls::rustls::ServerConfig;
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    if ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key_pair).unwrap();
    let ck = rcgen::CertifiedKey { cert, key_pair };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let config = ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let mut b = [0u8; 64];
                while let Ok(n) = tls.read(&mut b).await {
                    if n == 0 || tls.write_all(&b[..n]).await.is_err() {
                        break;
                    }
                    let _ = tls.flush().await;
                }
            });
        }
    });
    (port, ck.cert.pem())
}

fn write_pem(pem: &str, tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-tls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("ca.pem");
    std::fs::write(&p, pem).unwrap();
    p
}

#[tokio::test]
async fn tls_pins_a_self_signed_ca_certificate_from_the_ca_file() {
    let (port, pem) = tls_server(true).await;
    let ca = write_pem(&pem, &format!("pin{port}"));
    let o = ClientOptions {
        tls: TlsConfig::from_ca_file(&ca).unwrap(),
        ..ClientOptions::default()
    };
    let mut s = ClientStream::open(&url("rtmps", port), &o).await.unwrap();
    s.write_all(b"pin").await.unwrap();
    s.flush().await.unwrap();
    assert_eq!(read_exact_within(&mut s, 3).await.unwrap(), b"pin");
    // The name is still checked.
    let e = ClientStream::open(
        &Url::parse(&format!("rtmps://localhost:{port}/live/s")).unwrap(),
        &o,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("NotValidForName"), "{e}");
    // Another CA file does not pin it.
    let (_, other) = tls_server(true).await;
    let o = ClientOptions {
        tls: TlsConfig::from_ca_file(&write_pem(&other, &format!("other{port}"))).unwrap(),
        ..ClientOptions::default()
    };
    let e = ClientStream::open(&url("rtmps", port), &o)
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Tls { .. }), "{e}");
    std::fs::remove_dir_all(ca.parent().unwrap()).ok();
}

#[tokio::test]
async fn tls_trust_modes() {
    let (port, pem) = tls_server(false).await;
    let u = url("rtmps", port);

    // The default roots do not know a self-signed certificate.
    let e = ClientStream::open(&u, &ClientOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Tls { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("TLS handshake with 127.0.0.1:{port} failed: ")),
        "{msg}"
    );
    assert!(msg.contains("certificate"), "{msg}");

    // Trusting it through a CA file.
    let dir = std::env::temp_dir().join(format!("sluice-tls-t-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pem).unwrap();
    let o = ClientOptions {
        tls: TlsConfig::from_ca_file(&ca).unwrap(),
        ..ClientOptions::default()
    };
    let mut s = ClientStream::open(&u, &o).await.unwrap();
    assert!(matches!(s, ClientStream::Tls(_)));
    s.write_all(b"ping").await.unwrap();
    s.flush().await.unwrap();
    assert_eq!(read_exact_within(&mut s, 4).await.unwrap(), b"ping");
    std::fs::remove_dir_all(&dir).ok();

    // Not verifying at all.
    let o = ClientOptions {
        tls: TlsConfig::insecure(),
        ..ClientOptions::default()
    };
    let mut s = ClientStream::open(&u, &o).await.unwrap();
    s.write_all(b"x").await.unwrap();
    s.flush().await.unwrap();
    assert_eq!(read_exact_within(&mut s, 1).await.unwrap(), b"x");

    // A name the certificate does not carry fails even with the CA trusted.
    let o = ClientOptions {
        tls: TlsConfig::from_ca_file(&{
            let d =
                std::env::temp_dir().join(format!("sluice-tls-n-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            let p = d.join("ca.pem");
            std::fs::write(&p, &pem).unwrap();
            p
        })
        .unwrap(),
        ..ClientOptions::default()
    };
    let e = ClientStream::open(
        &Url::parse(&format!("rtmps://localhost:{port}/live/s")).unwrap(),
        &o,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ClientError::Tls { .. }), "{e}");

    // A plain TCP server on an rtmps:// URL: the TLS handshake fails, no hang.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        if let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(&[0x03; 1537]).await;
        }
    });
    let e = ClientStream::open(&url("rtmps", plain), &ClientOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Tls { .. }), "{e}");
}
