//! Byte vectors for the three proxy headers (hand-built from seed 000 and the PROXY protocol
//! spec), CIDR matching, the prefix-replaying stream and the async acceptor.

use super::*;
use proptest::prelude::*;
use tokio::io::AsyncWriteExt;

fn limits() -> ProxyLimits {
    ProxyLimits::default()
}

fn parse_all(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    match classify(buf) {
        Some(Start::Header(k)) => parse_header(k, buf, &limits()),
        other => panic!("not a header: {other:?}"),
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn seed_example_f3() {
    // Seed 000: F3, size 00 04, client IP C0.A8.01.67 (192.168.1.103), then the original C0 03.
    let buf = [0xF3, 0x00, 0x04, 0xC0, 0xA8, 0x01, 0x67, 0x03];
    let h = parse_all(&buf).unwrap().unwrap();
    assert_eq!(h.kind, HeaderKind::RtmpF3);
    assert_eq!(h.source, Some(sa("192.168.1.103:0")));
    assert_eq!(h.len, 7);
    assert_eq!(buf[h.len], 0x03, "C0 stays in the stream");
}

#[test]
fn f3_with_extra_bytes_and_partial_input() {
    // Size 6: 4 address bytes plus 2 extension bytes that are skipped.
    let buf = [0xF3, 0x00, 0x06, 0xCB, 0x00, 0x71, 0x07, 0xAA, 0xBB, 0x03];
    for n in 0..9 {
        assert!(parse_header(HeaderKind::RtmpF3, &buf[..n], &limits())
            .unwrap()
            .is_none());
    }
    let h = parse_all(&buf).unwrap().unwrap();
    assert_eq!(h.source, Some(sa("203.0.113.7:0")));
    assert_eq!(h.len, 9);
}

#[test]
fn f3_size_limits() {
    let e = parse_all(&[0xF3, 0x04, 0x01]).unwrap_err();
    assert!(
        matches!(
            e,
            ProxyError::F3TooLarge {
                size: 1025,
                max: 1024
            }
        ),
        "{e}"
    );
    // 1024 itself is fine (needs more bytes).
    assert!(parse_all(&[0xF3, 0x04, 0x00]).unwrap().is_none());
    for size in 0..4u8 {
        let e = parse_all(&[0xF3, 0x00, size]).unwrap_err();
        assert!(matches!(e, ProxyError::F3TooSmall { .. }), "{e}");
    }
}

#[test]
fn classify_plain_and_prefixes() {
    assert_eq!(classify(&[]), None);
    assert_eq!(classify(&[0x03]), Some(Start::Plain)); // RTMP C0
    assert_eq!(classify(&[0x06]), Some(Start::Plain)); // RTMPE C0
    assert_eq!(classify(&[0x16, 0x03, 0x01]), Some(Start::Plain)); // TLS ClientHello
    assert_eq!(classify(b"PRO"), None);
    assert_eq!(classify(b"PROXX"), Some(Start::Plain));
    assert_eq!(
        classify(b"PROXY "),
        Some(Start::Header(HeaderKind::ProxyV1))
    );
    assert_eq!(classify(b"\r\n\r\n\0"), None);
    assert_eq!(classify(b"\r\n\r\nX"), Some(Start::Plain));
    assert_eq!(
        classify(V2_SIGNATURE),
        Some(Start::Header(HeaderKind::ProxyV2))
    );
    assert_eq!(classify(&[0xF3]), Some(Start::Header(HeaderKind::RtmpF3)));
}

#[test]
fn v1_tcp4_tcp6_unknown() {
    let line = b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 1935\r\n\x03";
    let h = parse_all(line).unwrap().unwrap();
    assert_eq!(h.kind, HeaderKind::ProxyV1);
    assert_eq!(h.source, Some(sa("203.0.113.7:56324")));
    assert_eq!(h.len, line.len() - 1);

    let line = b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 443\r\n";
    let h = parse_all(line).unwrap().unwrap();
    assert_eq!(h.source, Some(sa("[2001:db8::7]:4000")));

    let h = parse_all(b"PROXY UNKNOWN\r\n").unwrap().unwrap();
    assert_eq!(h.source, None);
    assert_eq!(h.len, 15);
    let h = parse_all(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(h.source, None);

    // Incomplete line.
    assert!(parse_all(b"PROXY TCP4 1.2.3.4").unwrap().is_none());
}

#[test]
fn v1_longest_line_is_accepted() {
    // The spec's worst case: 107 bytes (UNKNOWN with two full IPv6 addresses).
    let line =
        b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_eq!(line.len(), V1_MAX_LINE);
    let h = parse_all(line).unwrap().unwrap();
    assert_eq!((h.len, h.source), (107, None));
    let tcp6 = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    let h = parse_all(tcp6).unwrap().unwrap();
    assert_eq!(h.len, 104);
}

#[test]
fn v1_errors() {
    let long = [b"PROXY ".as_slice(), &[b'A'; 120]].concat();
    assert!(matches!(
        parse_all(&long).unwrap_err(),
        ProxyError::V1LineTooLong
    ));
    assert!(matches!(
        parse_all(b"PROXY TCP4 1.2.3.4\x01 5.6.7.8 1 2\r\n").unwrap_err(),
        ProxyError::V1NotAscii
    ));
    assert!(matches!(
        parse_all(b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n").unwrap_err(),
        ProxyError::V1UnknownProtocol(p) if p == "UDP4"
    ));
    assert!(matches!(
        parse_all(b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n").unwrap_err(),
        ProxyError::V1FieldCount(3)
    ));
    assert!(matches!(
        parse_all(b"PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n").unwrap_err(),
        ProxyError::V1BadAddress(a) if a == "2001:db8::1"
    ));
    assert!(matches!(
        parse_all(b"PROXY TCP6 ::1 5.6.7.8 1 2\r\n").unwrap_err(),
        ProxyError::V1BadAddress(a) if a == "5.6.7.8"
    ));
    for port in ["65536", "+1", "", "1x", "123456"] {
        let line = format!("PROXY TCP4 1.2.3.4 5.6.7.8 {port} 2\r\n");
        assert!(
            matches!(
                parse_all(line.as_bytes()).unwrap_err(),
                ProxyError::V1BadPort(_)
            ),
            "{port:?}"
        );
    }
}

fn v2(ver_cmd: u8, fam: u8, block: &[u8]) -> Vec<u8> {
    let mut v = V2_SIGNATURE.to_vec();
    v.push(ver_cmd);
    v.push(fam);
    v.extend_from_slice(&(block.len() as u16).to_be_bytes());
    v.extend_from_slice(block);
    v
}

#[test]
fn v2_ipv4_with_tlv() {
    // PROXY, INET/STREAM: 203.0.113.7:56324 -> 192.0.2.1:1935, then a NOOP TLV (type 4, len 2).
    let block = [
        0xCB, 0x00, 0x71, 0x07, 0xC0, 0x00, 0x02, 0x01, 0xDC, 0x04, 0x07, 0x8F, 0x04, 0x00, 0x02,
        0x00, 0x00,
    ];
    let mut buf = v2(0x21, 0x11, &block);
    buf.push(0x03);
    let h = parse_all(&buf).unwrap().unwrap();
    assert_eq!(h.kind, HeaderKind::ProxyV2);
    assert_eq!(h.source, Some(sa("203.0.113.7:56324")));
    assert_eq!(h.len, 16 + 17);
    for n in 0..h.len {
        if n >= 12 {
            assert!(parse_header(HeaderKind::ProxyV2, &buf[..n], &limits())
                .unwrap()
                .is_none());
        }
    }
}

#[test]
fn v2_ipv6_local_unspec_unix() {
    let mut block = Vec::new();
    block.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
    block.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    block.extend_from_slice(&[0x0F, 0xA0, 0x01, 0xBB]);
    let h = parse_all(&v2(0x21, 0x21, &block)).unwrap().unwrap();
    assert_eq!(h.source, Some(sa("[2001:db8::7]:4000")));

    // LOCAL (health check), whatever the family: the socket address is used.
    let h = parse_all(&v2(0x20, 0x00, &[])).unwrap().unwrap();
    assert_eq!((h.source, h.len), (None, 16));
    let h = parse_all(&v2(0x20, 0x11, &[1, 2])).unwrap().unwrap();
    assert_eq!((h.source, h.len), (None, 18));
    // PROXY with AF_UNSPEC or AF_UNIX: no IP address.
    assert_eq!(
        parse_all(&v2(0x21, 0x00, &[])).unwrap().unwrap().source,
        None
    );
    let h = parse_all(&v2(0x21, 0x31, &[0; 216])).unwrap().unwrap();
    assert_eq!(h.source, None);
}

#[test]
fn v2_errors() {
    assert!(matches!(
        parse_all(&v2(0x11, 0x11, &[0; 12])).unwrap_err(),
        ProxyError::V2BadVersion(1)
    ));
    assert!(matches!(
        parse_all(&v2(0x22, 0x11, &[0; 12])).unwrap_err(),
        ProxyError::V2UnknownCommand(V2Command(2))
    ));
    assert!(matches!(
        parse_all(&v2(0x21, 0x41, &[0; 12])).unwrap_err(),
        ProxyError::V2UnknownFamily(V2Family(4))
    ));
    assert!(matches!(
        parse_all(&v2(0x21, 0x11, &[0; 11])).unwrap_err(),
        ProxyError::V2AddressTooShort {
            len: 11,
            needed: 12,
            ..
        }
    ));
    assert!(matches!(
        parse_all(&v2(0x21, 0x21, &[0; 12])).unwrap_err(),
        ProxyError::V2AddressTooShort { needed: 36, .. }
    ));
    // Length over the limit is refused from the fixed part alone.
    let mut head = V2_SIGNATURE.to_vec();
    head.extend_from_slice(&[0x21, 0x11, 0x04, 0x01]);
    assert!(matches!(
        parse_all(&head).unwrap_err(),
        ProxyError::V2TooLong {
            len: 1025,
            max: 1024
        }
    ));
}

#[test]
fn cidr_parse_and_match() {
    let t = TrustedProxies::parse(["127.0.0.1", "10.0.0.0/8", "2001:db8::/32", " ::1 "]).unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(t.contains(ip("127.0.0.1")));
    assert!(!t.contains(ip("127.0.0.2")));
    assert!(t.contains(ip("10.255.1.2")));
    assert!(!t.contains(ip("11.0.0.1")));
    assert!(t.contains(ip("2001:db8:ffff::9")));
    assert!(!t.contains(ip("2001:db9::1")));
    assert!(t.contains(ip("::1")));
    // IPv4-mapped IPv6 (dual-stack sockets) matches the IPv4 entry.
    assert!(t.contains(ip("::ffff:10.1.2.3")));
    assert!(!t.contains(ip("::ffff:11.1.2.3")));

    // Host bits are cleared; /0 matches everything of its family.
    let n: IpNet = "192.168.1.77/24".parse().unwrap();
    assert_eq!(n.to_string(), "192.168.1.0/24");
    let all: IpNet = "0.0.0.0/0".parse().unwrap();
    assert!(all.contains(ip("8.8.8.8")));
    assert!(!all.contains(ip("2001:db8::1")));
    let all6: IpNet = "::/0".parse().unwrap();
    assert!(all6.contains(ip("2001:db8::1")));
    assert!(TrustedProxies::default().is_empty());
    assert!(!TrustedProxies::default().contains(ip("127.0.0.1")));
}

#[test]
fn cidr_errors() {
    for bad in ["", "localhost", "10.0.0/8", "[::1]"] {
        assert!(
            matches!(
                TrustedProxies::parse([bad]).unwrap_err(),
                TrustedProxyError::NotAnAddress(_)
            ),
            "{bad:?}"
        );
    }
    for (bad, max) in [
        ("1.2.3.4/33", 32),
        ("1.2.3.4/", 32),
        ("1.2.3.4/+8", 32),
        ("1.2.3.4/x", 32),
        ("::1/129", 128),
        ("::1/0008", 128),
    ] {
        assert_eq!(
            TrustedProxies::parse([bad]).unwrap_err(),
            TrustedProxyError::BadPrefix {
                entry: bad.to_owned(),
                max
            }
        );
    }
}

proptest! {
    #[test]
    fn v1_tcp4_round_trip(a: [u8; 4], b: [u8; 4], sport: u16, dport: u16, tail in proptest::collection::vec(any::<u8>(), 0..32)) {
        let src = Ipv4Addr::from(a);
        let line = format!("PROXY TCP4 {src} {} {sport} {dport}\r\n", Ipv4Addr::from(b));
        let mut buf = line.as_bytes().to_vec();
        buf.extend_from_slice(&tail);
        let h = parse_all(&buf).unwrap().unwrap();
        prop_assert_eq!(h.source, Some(SocketAddr::new(src.into(), sport)));
        prop_assert_eq!(h.len, line.len());
    }

    #[test]
    fn v2_ipv6_round_trip(a: [u8; 16], b: [u8; 16], sport: u16, dport: u16, tlv in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut block = a.to_vec();
        block.extend_from_slice(&b);
        block.extend_from_slice(&sport.to_be_bytes());
        block.extend_from_slice(&dport.to_be_bytes());
        block.extend_from_slice(&tlv);
        let buf = v2(0x21, 0x21, &block);
        let h = parse_all(&buf).unwrap().unwrap();
        prop_assert_eq!(h.source, Some(SocketAddr::new(Ipv6Addr::from(a).into(), sport)));
        prop_assert_eq!(h.len, buf.len());
    }

    #[test]
    fn parsers_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..1200)) {
        for kind in [HeaderKind::RtmpF3, HeaderKind::ProxyV1, HeaderKind::ProxyV2] {
            if let Ok(Some(h)) = parse_header(kind, &buf, &limits()) {
                prop_assert!(h.len <= buf.len());
            }
        }
        let _ = classify(&buf);
    }
}

fn policy(trusted: &[&str]) -> ProxyPolicy {
    ProxyPolicy {
        trusted: TrustedProxies::parse(trusted).unwrap(),
        limits: limits(),
    }
}

/// Write `bytes` into one end of a duplex pipe, run `accept` on the other, return the result
/// and everything the returned stream reads.
async fn run_accept(
    bytes: &[u8],
    peer: &str,
    trusted: &[&str],
) -> Result<(SocketAddr, Option<HeaderKind>, Vec<u8>), ProxyError> {
    let (mut tx, rx) = tokio::io::duplex(4096);
    tx.write_all(bytes).await.unwrap();
    drop(tx);
    let a = accept(rx, sa(peer), &policy(trusted), Duration::from_secs(5)).await?;
    let mut rest = Vec::new();
    let mut s = a.stream;
    s.read_to_end(&mut rest).await.unwrap();
    Ok((a.client, a.header, rest))
}

#[tokio::test]
async fn accept_trusted_f3_keeps_c0_and_everything_after() {
    let mut bytes = vec![0xF3, 0x00, 0x04, 0xCB, 0x00, 0x71, 0x07, 0x03];
    bytes.extend((0..1536u32).map(|i| i as u8)); // C1
    let (client, kind, rest) = run_accept(&bytes, "127.0.0.1:5000", &["127.0.0.1"])
        .await
        .unwrap();
    assert_eq!(client, sa("203.0.113.7:0"));
    assert_eq!(kind, Some(HeaderKind::RtmpF3));
    assert_eq!(rest, bytes[7..]);
}

#[tokio::test]
async fn accept_plain_loses_no_byte() {
    let bytes: Vec<u8> = std::iter::once(3)
        .chain((0..3000u32).map(|i| i as u8))
        .collect();
    let (client, kind, rest) = run_accept(&bytes, "192.0.2.9:7", &[]).await.unwrap();
    assert_eq!((client, kind), (sa("192.0.2.9:7"), None));
    assert_eq!(rest, bytes);
    // A near miss of a PROXY prefix is plain too (and replayed whole).
    let (_, kind, rest) = run_accept(b"PROXX hello", "192.0.2.9:7", &[])
        .await
        .unwrap();
    assert_eq!((kind, rest.as_slice()), (None, b"PROXX hello".as_slice()));
    // Closed before any byte: an empty stream.
    let (_, kind, rest) = run_accept(b"", "192.0.2.9:7", &[]).await.unwrap();
    assert_eq!((kind, rest.len()), (None, 0));
}

#[tokio::test]
async fn accept_refuses_untrusted_and_truncated() {
    let e = run_accept(
        &[0xF3, 0x00, 0x04, 1, 2, 3, 4, 3],
        "127.0.0.1:1",
        &["10.0.0.0/8"],
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            ProxyError::Untrusted {
                kind: HeaderKind::RtmpF3
            }
        ),
        "{e}"
    );
    let e = run_accept(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "192.0.2.1:1", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProxyError::Untrusted {
                kind: HeaderKind::ProxyV1
            }
        ),
        "{e}"
    );
    let e = run_accept(&v2(0x21, 0x00, &[]), "[::1]:1", &["127.0.0.1"])
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProxyError::Untrusted {
                kind: HeaderKind::ProxyV2
            }
        ),
        "{e}"
    );
    let e = run_accept(b"PROXY TCP4 1.2", "127.0.0.1:1", &["127.0.0.1"])
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProxyError::Truncated(HeaderKind::ProxyV1)),
        "{e}"
    );
}

#[tokio::test]
async fn accept_v2_ipv6_and_local() {
    let mut block = Vec::new();
    block.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
    block.extend_from_slice(&[0; 16]);
    block.extend_from_slice(&[0x0F, 0xA0, 0x07, 0x8F]);
    let mut bytes = v2(0x21, 0x21, &block);
    bytes.push(0x03);
    let (client, kind, rest) = run_accept(&bytes, "[::1]:9", &["::1"]).await.unwrap();
    assert_eq!(client, sa("[2001:db8::7]:4000"));
    assert_eq!(kind, Some(HeaderKind::ProxyV2));
    assert_eq!(rest, [0x03]);

    let mut bytes = v2(0x20, 0x00, &[]);
    bytes.push(0x03);
    let (client, _, rest) = run_accept(&bytes, "127.0.0.1:9", &["127.0.0.0/8"])
        .await
        .unwrap();
    assert_eq!(client, sa("127.0.0.1:9"));
    assert_eq!(rest, [0x03]);
}

#[tokio::test]
async fn accept_times_out() {
    let (mut tx, rx) = tokio::io::duplex(64);
    // Half a PROXY v1 prefix, then silence.
    tx.write_all(b"PRO").await.unwrap();
    let e = accept(
        rx,
        sa("127.0.0.1:1"),
        &policy(&[]),
        Duration::from_millis(100),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ProxyError::Timeout(_)), "{e}");
}

#[tokio::test]
async fn prefixed_writes_pass_through() {
    let (a, mut b) = tokio::io::duplex(64);
    let mut p = Prefixed::new(Bytes::from_static(b"xy"), a);
    p.write_all(b"hello").await.unwrap();
    p.flush().await.unwrap();
    let mut got = [0u8; 5];
    b.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"hello");
    let mut two = [0u8; 2];
    p.read_exact(&mut two).await.unwrap();
    assert_eq!(&two, b"xy");
    let (rest, _) = p.into_parts();
    assert!(rest.is_empty());
}
