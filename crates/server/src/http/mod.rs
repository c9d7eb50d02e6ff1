//! The HTTP listener: one axum [`Router`] served over plain HTTP (`http.listen`) and over TLS
//! (`tls.https_listen`, same certificate as RTMPS), composed in [`router`] from one small
//! router per feature:
//! - [`crate::rtmpt`]: the RTMPT tunnel (`/open`, `/send`, `/idle`, `/close`, `/fcs/ident*`);
//! - [`flv`]: HTTP-FLV and WebSocket-FLV (`/{app}/{stream}.flv`), with CORS ([`cors`]) and
//!   the sans-IO live FLV muxer ([`flv_live`]); live fragmented MP4 on the same route
//!   (`/{app}/{stream}.mp4`, [`mp4_live`]); what both share ([`live`]);
//! - [`hls`]: HLS / LL-HLS playlists on the same route (`/{app}/{stream}.m3u8`) and their
//!   segments (`/{app}/{stream}/hls/...`), from one session per stream ([`hls_session`]);
//! - [`api`]: the JSON control API (`/api/v1/...`, `api.enabled`) and [`metrics`] (`/metrics`,
//!   `metrics.enabled`), both behind the access rule of [`access`].
//!
//! - [`console`]: the built-in web page (`/`, `/play/{app}/{stream}`, `/console/*`,
//!   `http.console`).
//!
//! Static paths win over the media route's parameters, so an application named `open`, `send`,
//! `idle`, `close` or `fcs` cannot be played over HTTP (nor `api` with a stream named `v1`, while
//! the API is on, nor `console` with a stream named like one of the page's files, while the page
//! is on).
//!
//! Connections are served by hyper directly (not `axum::serve`) for three reasons: TLS
//! listeners share the code; each request gets the client's socket address as
//! [`ConnectInfo<SocketAddr>`] for logs; and HTTP/1.1 response header names are written in title
//! case (`Content-Length`), because librtmp (rtmpdump) finds the body length with a
//! case-sensitive search for `Content-` (RFC 9110 §5.1 makes names case-insensitive; that parser
//! does not). hyper-util's automatic builder speaks HTTP/1.1 and HTTP/2 (RFC 9113): on TLS the
//! protocol is chosen by ALPN (`h2`, `http/1.1`; `h2` is offered when `http.http2` is on), on
//! plain HTTP a client may start HTTP/2 with prior knowledge. HTTP/2 names are lower case by
//! definition; title case applies to HTTP/1.1 only. WebSockets work over HTTP/1.1 upgrades
//! (RFC 6455) and HTTP/2 extended CONNECT (RFC 8441).
//!
//! Limits: connections count against `server.max_connections` (a separate pool from RTMP's),
//! request headers must arrive within [`HttpLimits::header_read_timeout`], TLS handshakes within
//! `server.handshake_timeout_secs`; request bodies and sessions are bounded per route
//! ([`crate::rtmpt::RtmptConfig`]); media players are bounded by the hub's per-player policy.

pub mod access;
pub mod api;
pub mod console;
pub mod cors;
pub(crate) mod direct;
mod direct_head;
mod direct_ws;
pub mod flv;
pub mod flv_live;
pub mod hls;
pub mod hls_session;
pub mod live;
pub mod live_out;
pub mod metrics;
pub mod mp4_live;
pub mod recordings;
pub mod stall;

use crate::config::{HttpSection, Settings};
use crate::rtmpt::{self, RtmptConfig, RtmptState, SessionTable};
use crate::server::ServerError;
use crate::Context;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;
use tracing::{debug, error, info, warn};

/// Limits of the HTTP listener itself (routes have their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Most simultaneous HTTP connections (plain and TLS together); more are closed at accept.
    /// Default `server.max_connections` (10 000).
    pub max_connections: usize,
    /// Time a client has to send a complete request head. Default 30 s.
    pub header_read_timeout: Duration,
    /// Time a client has to complete the TLS handshake. Default `server.handshake_timeout_secs`
    /// (10 s).
    pub tls_handshake_timeout: Duration,
    /// Serve HTTP/2 besides HTTP/1.1. Default `http.http2` (true).
    pub http2: bool,
    /// A write that makes no progress for this long closes the connection ([`stall`]).
    /// Default `http.write_stall_timeout_secs` (30 s).
    pub write_stall_timeout: Duration,
    /// Serve plain HTTP/1.x media players (bodies and WebSockets) from the publisher's task ([`direct`]). Default
    /// `http.direct_write` (true).
    pub direct_write: bool,
}

impl HttpLimits {
    /// The limits these settings imply.
    pub fn from_settings(settings: &Settings) -> HttpLimits {
        HttpLimits {
            max_connections: settings.server.max_connections.max(1),
            header_read_timeout: Duration::from_secs(30),
            tls_handshake_timeout: Duration::from_secs(
                settings.server.handshake_timeout_secs.max(1),
            ),
            http2: settings.http.http2,
            write_stall_timeout: Duration::from_secs(settings.http.write_stall_timeout_secs.max(1)),
            direct_write: settings.http.direct_write,
        }
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits::from_settings(&Settings::default())
    }
}

/// The HTTP features a listener serves; `None` is a disabled feature.
#[derive(Debug, Clone, Default)]
pub struct Features {
    /// The RTMPT tunnel (`http.rtmpt`).
    pub rtmpt: Option<RtmptState>,
    /// HTTP-FLV and WebSocket-FLV (`http.flv`).
    pub flv: Option<flv::FlvState>,
    /// HLS / LL-HLS (`http.hls`).
    pub hls: Option<hls::HlsState>,
    /// The JSON API (`api.enabled`).
    pub api: Option<api::ControlState>,
    /// `/metrics` (`metrics.enabled`).
    pub metrics: Option<api::ControlState>,
    /// The web page (`http.console`).
    pub console: Option<api::ControlState>,
}

impl Features {
    /// The features `ctx`'s settings turn on (starts the RTMPT session sweeper when RTMPT is on).
    pub fn from_context(ctx: &Arc<Context>) -> Features {
        let settings = &ctx.settings;
        let rtmpt = settings.http.rtmpt.then(|| {
            let table = Arc::new(SessionTable::new(RtmptConfig::from_settings(
                &settings.http,
            )));
            tokio::spawn(rtmpt::sweep_loop(
                Arc::downgrade(&table),
                ctx.shutdown.subscribe(),
            ));
            RtmptState {
                ctx: Arc::downgrade(ctx),
                table,
            }
        });
        let flv = settings.http.flv.then(|| flv::FlvState {
            ctx: Arc::downgrade(ctx),
            cfg: Arc::new(flv::FlvRouteConfig::from_settings(&settings.http)),
        });
        let control = api::ControlState {
            ctx: Arc::downgrade(ctx),
        };
        let hls = settings.http.hls.then(|| hls::HlsState::new(ctx));
        Features {
            rtmpt,
            flv,
            hls,
            api: settings.api.enabled.then(|| control.clone()),
            metrics: settings.metrics.enabled.then(|| control.clone()),
            console: settings.http.console.then_some(control),
        }
    }
}

/// The HTTP router for a server: every enabled feature merged into one [`Router`].
///
/// `cors_origins` applies to the media routes. Paths no feature claims answer 404.
pub fn router(features: Features, cors_origins: &[String]) -> Router {
    let Features {
        rtmpt,
        flv,
        hls,
        api,
        metrics,
        console,
    } = features;
    let mut r = Router::new();
    if let Some(state) = rtmpt {
        r = r.merge(rtmpt::routes(state));
    }
    if flv.is_some() || hls.is_some() {
        let media = flv::MediaState {
            flv,
            hls: hls.clone(),
        };
        r = r.merge(flv::routes(media, cors_origins));
    }
    if let Some(state) = hls {
        r = r.merge(hls::routes(state, cors_origins));
    }
    if let Some(state) = api {
        r = r.merge(recordings::routes(state.clone()));
        r = r.merge(api::routes(state));
    }
    if let Some(state) = metrics {
        r = r.merge(metrics::routes(state));
    }
    if let Some(state) = console {
        r = r.merge(console::routes(state));
    }
    r
}

/// The TLS configuration of the HTTPS listener: the server's, with ALPN `h2` (when `http2`)
/// and `http/1.1` (RFC 7301; RTMPS keeps its own configuration, without ALPN).
pub fn https_tls_config(base: &rustls::ServerConfig, http2: bool) -> Arc<rustls::ServerConfig> {
    let mut cfg = base.clone();
    cfg.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Arc::new(cfg)
}

/// Bound, not yet serving, HTTP and HTTPS listeners.
#[derive(Debug)]
pub struct HttpListeners {
    plain: Vec<TcpListener>,
    tls: Vec<TcpListener>,
    tls_config: Option<Arc<rustls::ServerConfig>>,
}

/// Bind `http.listen` and, when `tls` is given, `tls.https_listen`.
///
/// A bind failure is an error, except on the untouched default address (`0.0.0.0:8080`): then
/// the server runs without HTTP and says so in a warning, so that a busy port 8080 does not keep
/// an RTMP-only server from starting.
pub async fn bind(
    settings: &Settings,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<HttpListeners, ServerError> {
    let is_default = settings.http.listen == HttpSection::default().listen;
    let mut plain = Vec::with_capacity(settings.http.listen.len());
    for addr in &settings.http.listen {
        match TcpListener::bind(addr).await {
            Ok(l) => plain.push(l),
            Err(source) if is_default => {
                warn!(addr = %addr, error = %source, "HTTP (RTMPT) disabled: cannot listen on the default address; set http.listen or --http");
            }
            Err(source) => {
                return Err(ServerError::Bind {
                    what: "HTTP",
                    addr: addr.clone(),
                    source,
                })
            }
        }
    }
    let mut tls_listeners = Vec::with_capacity(settings.tls.https_listen.len());
    if !settings.tls.https_listen.is_empty() {
        if tls.is_none() {
            return Err(ServerError::TlsNotConfigured);
        }
        for addr in &settings.tls.https_listen {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind {
                    what: "HTTPS",
                    addr: addr.clone(),
                    source,
                })?;
            tls_listeners.push(l);
        }
    }
    Ok(HttpListeners {
        plain,
        tls: tls_listeners,
        tls_config: tls,
    })
}

impl HttpListeners {
    /// The plain HTTP addresses bound.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.plain
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The HTTPS addresses bound.
    pub fn https_addrs(&self) -> Vec<SocketAddr> {
        self.tls
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Start serving on the runtime: one accept task per listener and the RTMPT session
    /// sweeper. They stop when the server shuts down (`ctx.shutdown`) or its context is dropped;
    /// they hold the context only weakly. RTMPT connections themselves end through the driver's
    /// own shutdown handling.
    pub fn spawn(self, ctx: &Arc<Context>) {
        if self.plain.is_empty() && self.tls.is_empty() {
            return;
        }
        let settings = &ctx.settings;
        let limits = HttpLimits::from_settings(settings);
        let app = router(Features::from_context(ctx), &settings.http.cors_origins);
        let pool = Arc::new(Semaphore::new(limits.max_connections));
        let acceptor = self
            .tls_config
            .map(|c| TlsAcceptor::from(https_tls_config(&c, settings.http.http2)));
        let listeners = self
            .plain
            .into_iter()
            .map(|l| (l, None))
            .chain(self.tls.into_iter().map(|l| (l, acceptor.clone())));
        for (listener, tls) in listeners {
            if let Ok(a) = listener.local_addr() {
                let what = if tls.is_some() { "HTTPS" } else { "HTTP" };
                info!(
                    addr = %a,
                    rtmpt = settings.http.rtmpt,
                    flv = settings.http.flv,
                    api = settings.api.enabled,
                    metrics = settings.metrics.enabled,
                    console = settings.http.console,
                    "{what} listening"
                );
            }
            let accept = AcceptLoop {
                app: app.clone(),
                limits: limits.clone(),
                pool: pool.clone(),
                tls,
                shutdown: ctx.shutdown.subscribe(),
            };
            tokio::spawn(accept.run(listener));
        }
    }
}

/// One HTTP(S) listener's accept loop.
struct AcceptLoop {
    app: Router,
    limits: HttpLimits,
    pool: Arc<Semaphore>,
    tls: Option<TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
}

impl AcceptLoop {
    async fn run(mut self, listener: TcpListener) {
        loop {
            let accepted = tokio::select! {
                r = listener.accept() => r,
                r = self.shutdown.changed() => {
                    if r.is_err() || *self.shutdown.borrow() {
                        return;
                    }
                    continue;
                }
            };
            let (sock, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    error!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = self.pool.clone().try_acquire_owned() else {
                warn!(peer = %peer, "HTTP connection refused: max_connections reached");
                continue;
            };
            let _ = sock.set_nodelay(true);
            let app = self.app.clone();
            let limits = self.limits.clone();
            let shutdown = self.shutdown.clone();
            match self.tls.clone() {
                None => {
                    tokio::spawn(async move {
                        serve_plain(sock, peer, app, &limits, shutdown).await;
                        drop(permit);
                    });
                }
                Some(acceptor) => {
                    tokio::spawn(async move {
                        let hs = limits.tls_handshake_timeout;
                        match tokio::time::timeout(hs, acceptor.accept(sock)).await {
                            Ok(Ok(tls)) => serve_http(tls, peer, app, &limits, shutdown).await,
                            Ok(Err(e)) => {
                                debug!(peer = %peer, error = %e, "HTTPS TLS handshake failed")
                            }
                            Err(_) => debug!(peer = %peer, "HTTPS TLS handshake timed out"),
                        }
                        drop(permit);
                    });
                }
            }
        }
    }
}

/// Serve a plain connection: a media request [`direct`] takes is served there, anything else
/// by hyper ([`serve_http`]).
async fn serve_plain(
    sock: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: &HttpLimits,
    shutdown: watch::Receiver<bool>,
) {
    // Each path's future is boxed on its own: the task lives as long as the connection, and a
    // direct player's would otherwise be as large as hyper's connection state (~2.7 KB).
    if limits.direct_write {
        match direct_head::sniff(&sock, limits.header_read_timeout).await {
            direct_head::Sniff::Take(taken) => {
                let stall = limits.write_stall_timeout;
                return Box::pin(direct::serve(sock, taken, peer, app, stall, shutdown)).await;
            }
            direct_head::Sniff::Gone => return,
            direct_head::Sniff::Hyper => {}
        }
    }
    Box::pin(serve_http(sock, peer, app, limits, shutdown)).await;
}

/// Serve HTTP/1.1 or HTTP/2 requests on one connection until the client closes it or the
/// server shuts down (then the requests in flight are finished first).
async fn serve_http<S>(
    io: S,
    peer: SocketAddr,
    app: Router,
    limits: &HttpLimits,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        // A `Router` is always ready, so `call` needs no `poll_ready` first.
        async move { app.call(req).await }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .title_case_headers(true)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol();
    if !limits.http2 {
        builder = builder.http1_only();
    }
    let io = stall::StallGuard::new(io, limits.write_stall_timeout);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let res = tokio::select! {
        r = conn.as_mut() => r,
        _ = async {
            // Wait for the flag to turn true (or the server to go away).
            while !*shutdown.borrow_and_update() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = res {
        debug!(peer = %peer, error = %e, "HTTP connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// A minimal HTTP/1.1 client: one request, the status code, the raw head and the body.
    async fn post(stream: &mut TcpStream, path: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-fcs\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut req = head.into_bytes();
        req.extend_from_slice(body);
        stream.write_all(&req).await.unwrap();
        read_response(stream).await
    }

    /// One response: the status code, the raw head and the body (by `Content-Length`).
    pub(in crate::http) async fn read_response(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed mid-response");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
        let status: u16 = head[9..12].parse().unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        let mut body = buf[head_end..].to_vec();
        while body.len() < len {
            let mut chunk = vec![0u8; len - body.len()];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            body.extend_from_slice(&chunk[..n]);
        }
        (status, head, body)
    }

    /// A client that stops reading an endless response is cut after the write-stall timeout,
    /// and the connection's task ends (real hyper connection over an in-memory pipe).
    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_closed() {
        use axum::body::Body;
        let endless = Router::new().route(
            "/endless",
            axum::routing::get(|| async {
                let chunks = endless_stream();
                Body::from_stream(chunks)
            }),
        );
        let (server_end, mut client) = tokio::io::duplex(16 * 1024);
        let limits = HttpLimits {
            max_connections: 1,
            header_read_timeout: Duration::from_secs(30),
            tls_handshake_timeout: Duration::from_secs(10),
            http2: false,
            write_stall_timeout: Duration::from_secs(30),
            direct_write: false,
        };
        let (_tx, shutdown) = watch::channel(false);
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let served = tokio::spawn(async move {
            serve_http(server_end, peer, endless, &limits, shutdown).await;
        });
        client
            .write_all(b"GET /endless HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        // Never read: the pipe fills, the write stalls, the connection ends after 30 s.
        let t0 = tokio::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(120), served)
            .await
            .expect("the stalled connection was not closed")
            .unwrap();
        assert!(
            t0.elapsed() >= Duration::from_secs(30),
            "{:?}",
            t0.elapsed()
        );
    }

    /// 1 KiB chunks for ever.
    fn endless_stream(
    ) -> impl futures_core::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
        struct Endless;
        impl futures_core::Stream for Endless {
            type Item = Result<bytes::Bytes, std::io::Error>;
            fn poll_next(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Self::Item>> {
                std::task::Poll::Ready(Some(Ok(bytes::Bytes::from_static(&[0u8; 1024]))))
            }
        }
        Endless
    }

    /// A context for `settings` with its HTTP listener serving; its address.
    pub(in crate::http) async fn start(settings: Settings) -> (Arc<Context>, SocketAddr) {
        let ctx = Arc::new(Context::new(settings));
        let l = bind(&ctx.settings, None).await.unwrap();
        let addr = l.local_addrs()[0];
        assert!(l.https_addrs().is_empty());
        l.spawn(&ctx);
        (ctx, addr)
    }

    fn settings() -> Settings {
        let mut s = Settings::default();
        s.http.listen = vec!["127.0.0.1:0".into()];
        s.http.rtmpt_max_sessions = 1;
        s.http.rtmpt_max_request_bytes = 2000;
        s
    }

    #[tokio::test]
    async fn rtmpt_over_http_open_send_idle_close() {
        let (ctx, addr) = start(settings()).await;
        let mut c = TcpStream::connect(addr).await.unwrap();

        let (status, head, _) = post(&mut c, "/fcs/ident2", &[0]).await;
        assert_eq!(status, 404);
        assert!(head.contains("Content-Type: application/x-fcs"), "{head}");

        let (status, head, body) = post(&mut c, "/open/1", &[0]).await;
        assert_eq!(status, 200);
        assert!(head.starts_with("HTTP/1.1 200 "));
        assert!(head.contains("Content-Length: 17\r\n"), "{head}");
        assert!(
            head.contains("Content-Type: application/x-fcs\r\n"),
            "{head}"
        );
        assert_eq!(body.len(), 17);
        assert_eq!(body[16], b'\n');
        let sid = std::str::from_utf8(&body[..16]).unwrap().to_owned();

        // Session limit (1).
        let (status, _, _) = post(&mut c, "/open/1", &[0]).await;
        assert_eq!(status, 503);

        // C0 + C1 (version 3, zero time, zero version, 1528 bytes): the reply, maybe after an
        // idle poll, starts with S0 = 3 and brings S0 S1 S2 (3073 bytes) in all.
        let mut c0c1 = vec![3u8];
        c0c1.extend(std::iter::repeat_n(0u8, 1536));
        let (status, _, body) = post(&mut c, &format!("/send/{sid}/0"), &c0c1).await;
        assert_eq!(status, 200);
        assert_eq!(body[0], 1, "polling byte while data flows");
        let mut got = body[1..].to_vec();
        let mut seq = 1;
        while got.len() < 3073 && seq < 50 {
            let (status, _, body) = post(&mut c, &format!("/idle/{sid}/{seq}"), &[0]).await;
            assert_eq!(status, 200);
            got.extend_from_slice(&body[1..]);
            seq += 1;
        }
        assert_eq!(got.len(), 3073);
        assert_eq!(got[0], 3);

        // Body limit (2000 bytes) → 413 (hyper then closes that connection).
        let mut c2 = TcpStream::connect(addr).await.unwrap();
        let (status, _, _) = post(&mut c2, &format!("/send/{sid}/{seq}"), &[0u8; 2001]).await;
        assert_eq!(status, 413);
        // Bad sequence number → 400; unknown session → 404.
        let mut c2 = TcpStream::connect(addr).await.unwrap();
        let (status, _, _) = post(&mut c2, &format!("/idle/{sid}/x"), &[0]).await;
        assert_eq!(status, 400);
        let (status, _, _) = post(&mut c2, "/idle/0123456789abcdef/1", &[0]).await;
        assert_eq!(status, 404);
        let (status, _, _) = post(&mut c2, "/nothing/here", &[0]).await;
        assert_eq!(status, 404);

        // GET is not RTMPT.
        c2.write_all(b"GET /open/1 HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let (status, _, _) = read_response(&mut c2).await;
        assert_eq!(status, 405);

        let (status, _, body) = post(&mut c2, &format!("/close/{sid}/99"), &[0]).await;
        assert_eq!(status, 200);
        assert_eq!(body, [0]);
        let (status, _, _) = post(&mut c2, &format!("/idle/{sid}/100"), &[0]).await;
        assert_eq!(status, 404);
        let (status, _, _) = post(&mut c2, &format!("/close/{sid}/101"), &[0]).await;
        assert_eq!(status, 404);
        // The slot is free again.
        let (status, _, _) = post(&mut c2, "/open/1", &[0]).await;
        assert_eq!(status, 200);
        ctx.begin_shutdown();
    }

    #[tokio::test]
    async fn rtmpt_can_be_disabled_and_bind_errors_are_typed() {
        let mut s = settings();
        s.http.rtmpt = false;
        let (ctx, addr) = start(s).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        let (status, _, _) = post(&mut c, "/open/1", &[0]).await;
        assert_eq!(status, 404);
        ctx.begin_shutdown();

        // An explicit address that cannot be bound is an error.
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut s = settings();
        s.http.listen = vec![taken.local_addr().unwrap().to_string()];
        assert!(matches!(
            bind(&s, None).await,
            Err(ServerError::Bind { what: "HTTP", .. })
        ));
        // HTTPS without a certificate is an error.
        let mut s = settings();
        s.tls.https_listen = vec!["127.0.0.1:0".into()];
        assert!(matches!(
            bind(&s, None).await,
            Err(ServerError::TlsNotConfigured)
        ));
        assert_eq!(HttpLimits::default().max_connections, 10_000);
    }

    /// hyper closes a keep-alive connection whose request body was left unread; ffmpeg sends
    /// the head and the one-byte body of `/open` in separate writes and then reuses the
    /// connection, so every route must read its body.
    #[tokio::test]
    async fn keep_alive_survives_a_late_body() {
        let (ctx, addr) = start(settings()).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        for path in ["/fcs/ident2", "/open/1", "/fcs/ident"] {
            let head = format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n");
            c.write_all(head.as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
            c.write_all(&[0]).await.unwrap();
            let (status, head, _) = read_response(&mut c).await;
            assert!(status == 200 || status == 404, "{path}: {head}");
            assert!(!head.contains("Connection: close"), "{path}: {head}");
        }
        ctx.begin_shutdown();
    }

    #[tokio::test]
    async fn listeners_stop_at_shutdown() {
        let (ctx, addr) = start(settings()).await;
        ctx.begin_shutdown();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(TcpStream::connect(addr).await.is_err());
    }
}
