//! The tools of the `sluice` binary: `publish`, `play`, `probe` and `bench`, built on
//! `sluice-client`, and `token` (signed URLs). This module holds what they share: the URL arguments, client options from
//! flags, the runtime, progress output and number formatting.

pub mod any;
pub mod bench;
pub mod bench_hls;
pub mod bench_http;
pub mod bench_publish;
pub mod bench_report;
pub mod bench_rtmfp;
pub mod play;
pub mod probe;
pub mod progress;
pub mod publish;
pub mod recorder;
pub mod stamp;
pub mod timemap;
pub mod token;

use anyhow::Context as _;
use clap::Args;
use sluice_client::{ClientOptions, RtmpeType, TlsConfig, Url};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

/// The target of a tool: a URL plus overrides for the application/stream split.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// RTMP URL: rtmp://host[:port]/app[/instance]/stream[?query]. Schemes: rtmp (TCP, port
    /// 1935), rtmps (TLS, 443), rtmpe (RTMPE encryption, 1935), rtmpt (HTTP tunnel, 80),
    /// rtmpte (RTMPE in the HTTP tunnel, 80), rtmpts (HTTP tunnel over TLS, 443), rtmfp (RTMP
    /// over RTMFP, UDP 1935). With more than
    /// two path segments the application is the first two (app/instance); use --app/--stream to
    /// split differently. Example: rtmp://127.0.0.1/live/cam
    #[arg(value_name = "URL")]
    pub url: String,
    /// Application name sent in connect, overriding the one taken from the URL.
    /// Example: --app live
    #[arg(long, value_name = "APP")]
    pub app: Option<String>,
    /// Stream name sent in publish/play, overriding the one taken from the URL (a ?query in it
    /// replaces the URL's). Example: --stream "cam?token=abc"
    #[arg(long, value_name = "NAME")]
    pub stream: Option<String>,
}

impl Target {
    /// The URL with the overrides applied; the stream name must not be empty.
    pub fn url(&self) -> anyhow::Result<Url> {
        let mut url = Url::parse(&self.url).with_context(|| format!("bad URL `{}`", self.url))?;
        if let Some(app) = &self.app {
            url = url.with_app(app.clone());
        }
        if let Some(stream) = &self.stream {
            url = url.with_stream(stream.clone());
        }
        if url.app().is_empty() {
            anyhow::bail!("bad URL `{}`: empty application name", self.url);
        }
        if url.stream().is_empty() {
            anyhow::bail!(
                "bad URL `{}`: no stream name (expected rtmp://host[:port]/app/stream, or give --stream)",
                self.url
            );
        }
        Ok(url)
    }
}

/// Transport flags shared by the tools: TLS trust (`rtmps://`, `rtmpts://`), the RTMPE type
/// (`rtmpe://`, `rtmpte://`) and the RTMP proxy header.
#[derive(Debug, Clone, Default, Args)]
pub struct TransportArgs {
    /// Send the RTMP proxy header (0xF3, as SRS does) before the handshake, announcing this
    /// IPv4 address as the real client; the server must list this machine with
    /// --trusted-proxy. Not possible over rtmpt/rtmpte/rtmpts. Example: --proxy-real-ip 203.0.113.7
    #[arg(long, value_name = "IPV4")]
    pub proxy_real_ip: Option<Ipv4Addr>,
    /// rtmps/rtmpts: trust only the certificates in this PEM file (a private CA, or the
    /// server's self-signed certificate) instead of the built-in web roots.
    /// Example: --ca-file server.pem
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// rtmps/rtmpts: do not verify the server's certificate. UNSAFE: anyone on the path can
    /// impersonate the server and read or change the stream; prefer --ca-file.
    #[arg(long, conflicts_with = "ca_file")]
    pub tls_insecure: bool,
    /// rtmpe/rtmpte: the RTMPE handshake type: 6 (Diffie-Hellman + RC4, what ffmpeg and
    /// rtmpdump send), 8 (XTEA signatures) or 9 (Blowfish signatures). RTMPE is obfuscation,
    /// not security: use rtmps:// for that.
    #[arg(long, value_name = "6|8|9", default_value_t = 6, value_parser = parse_rtmpe_type)]
    pub rtmpe_type: u8,
}

fn parse_rtmpe_type(s: &str) -> Result<u8, String> {
    match s.trim().parse::<u8>() {
        Ok(v) if RtmpeType::from_version_byte(v).is_some() => Ok(v),
        _ => Err(format!("`{s}` is not an RTMPE type: expected 6, 8 or 9")),
    }
}

impl TransportArgs {
    /// Apply the flags to `options` (reads the CA file).
    pub fn apply(&self, options: &mut ClientOptions) -> anyhow::Result<()> {
        options.proxy_real_ip = self.proxy_real_ip;
        options.rtmpe_type = RtmpeType::from_version_byte(self.rtmpe_type).unwrap_or_default();
        if let Some(path) = &self.ca_file {
            options.tls = TlsConfig::from_ca_file(path)?;
        } else if self.tls_insecure {
            options.tls = TlsConfig::insecure();
        }
        Ok(())
    }
}

/// Client options with connect and command timeouts of `timeout_secs` and the transport flags.
pub fn client_options(
    timeout_secs: f64,
    transport: &TransportArgs,
) -> anyhow::Result<ClientOptions> {
    let t = secs(timeout_secs, "--timeout")?;
    let mut options = ClientOptions {
        connect_timeout: t,
        command_timeout: t,
        ..ClientOptions::default()
    };
    transport.apply(&mut options)?;
    Ok(options)
}

/// A positive, finite number of seconds as a duration.
pub fn secs(v: f64, flag: &str) -> anyhow::Result<Duration> {
    if !v.is_finite() || v <= 0.0 || v > 1.0e9 {
        anyhow::bail!("{flag} must be a positive number of seconds, not {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

/// A single-threaded runtime (the tools are I/O bound; `bench` chooses its own).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

/// `1.23 MB`-style byte counts.
pub fn fmt_bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.2} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} kB", n / 1e3)
    } else {
        format!("{n} B")
    }
}

/// `HH:MM:SS` for a duration.
pub fn fmt_clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// Bits per second over `elapsed` as kbit/s (0 for an empty interval).
pub fn kbps(bytes: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s <= 0.0 {
        0.0
    } else {
        bytes as f64 * 8.0 / 1000.0 / s
    }
}

/// Resolves when Ctrl-C or SIGTERM arrives (never, if no handler can be installed).
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                r = tokio::signal::ctrl_c() => {
                    if r.is_err() { std::future::pending::<()>().await }
                }
                _ = term.recv() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str, app: Option<&str>, stream: Option<&str>) -> Target {
        Target {
            url: url.into(),
            app: app.map(Into::into),
            stream: stream.map(Into::into),
        }
    }

    #[test]
    fn target_overrides_and_errors() {
        let u = target("rtmp://h/a/b/c", Some("a"), Some("b/c"))
            .url()
            .unwrap();
        assert_eq!((u.app(), u.stream()), ("a", "b/c"));
        let u = target("rtmp://h/live", None, Some("cam")).url().unwrap();
        assert_eq!(u.stream(), "cam");
        let e = target("rtmp://h/live", None, None).url().unwrap_err();
        assert!(format!("{e:#}").contains("no stream name"), "{e:#}");
        let e = target("http://h/live/x", None, None).url().unwrap_err();
        assert!(format!("{e:#}").contains("unknown URL scheme"), "{e:#}");
        let e = target("rtmp://h/live/x", Some("/"), None)
            .url()
            .unwrap_err();
        assert!(format!("{e:#}").contains("empty application"), "{e:#}");
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_bytes(999), "999 B");
        assert_eq!(fmt_bytes(1500), "1.5 kB");
        assert_eq!(fmt_bytes(2_500_000), "2.50 MB");
        assert_eq!(fmt_bytes(3_000_000_000), "3.00 GB");
        assert_eq!(fmt_clock(Duration::from_secs(3723)), "01:02:03");
        assert_eq!(kbps(1000, Duration::from_secs(1)), 8.0);
        assert_eq!(kbps(1000, Duration::ZERO), 0.0);
        assert!(secs(0.0, "--x").is_err());
        assert!(secs(f64::NAN, "--x").is_err());
        assert!(secs(-1.0, "--x").is_err());
        assert_eq!(secs(1.5, "--x").unwrap(), Duration::from_millis(1500));
        assert_eq!(
            client_options(2.0, &TransportArgs::default())
                .unwrap()
                .connect_timeout,
            Duration::from_secs(2)
        );
    }

    #[test]
    fn transport_flags() {
        let t = TransportArgs {
            proxy_real_ip: Some(Ipv4Addr::new(203, 0, 113, 7)),
            ca_file: None,
            tls_insecure: true,
            rtmpe_type: 9,
        };
        let o = client_options(1.0, &t).unwrap();
        assert_eq!(o.proxy_real_ip, Some(Ipv4Addr::new(203, 0, 113, 7)));
        assert_eq!(o.rtmpe_type, RtmpeType::Blowfish);
        assert!(o.tls.is_insecure());
        let o = client_options(1.0, &TransportArgs::default()).unwrap();
        assert!(!o.tls.is_insecure());
        assert_eq!(o.proxy_real_ip, None);
        let t = TransportArgs {
            ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..TransportArgs::default()
        };
        let e = client_options(1.0, &t).unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/ca.pem"), "{e:#}");
        assert_eq!(parse_rtmpe_type("8"), Ok(8));
        assert!(parse_rtmpe_type("7").unwrap_err().contains("6, 8 or 9"));
        assert!(parse_rtmpe_type("x").is_err());
    }
}
