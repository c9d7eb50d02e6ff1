//! Listeners and the server lifecycle: bind the configured addresses, accept connections (each
//! driven by [`crate::driver::serve_connection`] on the multi-threaded runtime), and shut down
//! cleanly: players are told the stream ended, connections close, then `run` returns.
//!
//! Every accepted socket first goes through [`crate::proxy::accept`] (the optional RTMP 0xF3 or
//! HAProxy PROXY header, honoured only from `proxy.trusted` peers), then, on RTMPS listeners,
//! through the TLS handshake ([`crate::tls`]), and reaches the driver with the real client
//! address. Both steps share the handshake timeout (`server.handshake_timeout_secs`).

use crate::config::Settings;
use crate::control::Transport::Rtmp;
use crate::driver::{serve_connection, serve_tcp_connection};
use crate::hub::Hub;
use crate::proxy::{self, ProxyError, ProxyLimits, ProxyPolicy, TrustedProxies, TrustedProxyError};
use crate::tls::{self, TlsError};
use crate::Context;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, error, info, warn};

/// Errors starting a server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listen address could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// Which listener (`RTMP`, `RTMPS`, ...).
        what: &'static str,
        /// The configured address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A TLS listener is configured but `tls.cert` or `tls.key` is not.
    #[error(
        "tls.rtmps_listen/tls.https_listen need both tls.cert and tls.key (--tls-cert, --tls-key)"
    )]
    TlsNotConfigured,
    /// The certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// An entry of `proxy.trusted` is invalid.
    #[error(transparent)]
    TrustedProxy(#[from] TrustedProxyError),
}

/// How a listener's connections reach the driver.
#[derive(Clone)]
enum Transport {
    /// Plain RTMP.
    Plain,
    /// RTMPS: TLS first.
    Tls(TlsAcceptor),
}

impl Transport {
    fn name(&self) -> &'static str {
        match self {
            Transport::Plain => "RTMP",
            Transport::Tls(_) => "RTMPS",
        }
    }
}

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    ctx: Arc<Context>,
    listeners: Vec<TcpListener>,
    rtmps_listeners: Vec<TcpListener>,
    tls: Option<Arc<rustls::ServerConfig>>,
    proxy: Arc<ProxyPolicy>,
    /// `[rtmfp] listen` sockets ([`crate::rtmfp`]).
    rtmfp: Vec<tokio::net::UdpSocket>,
}

async fn bind_all(what: &'static str, addrs: &[String]) -> Result<Vec<TcpListener>, ServerError> {
    let mut out = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind {
                what,
                addr: addr.clone(),
                source,
            })?;
        out.push(l);
    }
    Ok(out)
}

/// The local addresses of `listeners`.
fn addrs(listeners: &[TcpListener]) -> Vec<SocketAddr> {
    listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect()
}

/// Run `f` every `period` on the runtime (first at once) until the task is aborted.
fn spawn_every(period: Duration, f: impl Fn() + Send + 'static) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            f();
        }
    })
}

impl Server {
    /// Check the TLS and proxy settings, load the certificate when a TLS listener is configured,
    /// and bind every `server.listen` and `tls.rtmps_listen` address.
    pub async fn bind(settings: Settings) -> Result<Server, ServerError> {
        settings.validate()?;
        let trusted = TrustedProxies::parse(&settings.proxy.trusted)?;
        let proxy = Arc::new(ProxyPolicy {
            trusted,
            limits: ProxyLimits::default(),
        });
        let wants_tls =
            !settings.tls.rtmps_listen.is_empty() || !settings.tls.https_listen.is_empty();
        let tls = if wants_tls {
            if settings.tls.cert.is_empty() || settings.tls.key.is_empty() {
                return Err(ServerError::TlsNotConfigured);
            }
            Some(tls::load_server_config(
                Path::new(&settings.tls.cert),
                Path::new(&settings.tls.key),
            )?)
        } else {
            None
        };
        let listeners = bind_all("RTMP", &settings.server.listen).await?;
        let rtmps_listeners = bind_all("RTMPS", &settings.tls.rtmps_listen).await?;
        let rtmfp = crate::rtmfp::bind(&settings.rtmfp, &settings.server.listen).await?;
        let ctx = Arc::new(Context::new(settings));
        // HTTP/HTTPS listeners (RTMPT): bound here so errors surface; they serve until shutdown.
        let http = crate::http::bind(&ctx.settings, tls.clone()).await?;
        let bound = crate::http::api::Listeners {
            rtmp: addrs(&listeners),
            rtmps: addrs(&rtmps_listeners),
            http: http.local_addrs(),
            https: http.https_addrs(),
        };
        // Only this function sets it, once per context.
        let _ = ctx.listeners.set(bound);
        http.spawn(&ctx);
        Ok(Server {
            ctx,
            listeners,
            rtmps_listeners,
            tls,
            proxy,
            rtmfp,
        })
    }

    /// The RTMFP (UDP) addresses actually bound.
    pub fn rtmfp_addrs(&self) -> Vec<SocketAddr> {
        self.rtmfp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// The plain RTMP addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        addrs(&self.listeners)
    }

    /// The RTMPS addresses actually bound.
    pub fn rtmps_addrs(&self) -> Vec<SocketAddr> {
        addrs(&self.rtmps_listeners)
    }

    /// The TLS configuration, when a TLS listener is configured (shared with the HTTPS listener).
    pub fn tls_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls.clone()
    }

    /// The proxy-header policy every listener applies.
    pub fn proxy_policy(&self) -> Arc<ProxyPolicy> {
        self.proxy.clone()
    }

    /// The shared context (hub, settings).
    pub fn context(&self) -> Arc<Context> {
        self.ctx.clone()
    }

    /// Serve until `shutdown` completes, then close every connection and return.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let Server {
            ctx,
            listeners,
            rtmps_listeners,
            tls,
            proxy,
            rtmfp,
        } = self;
        let limit = Arc::new(Semaphore::new(ctx.settings.server.max_connections.max(1)));
        let mut accept_tasks = JoinSet::new();
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let mut all: Vec<(TcpListener, Transport)> = listeners
            .into_iter()
            .map(|l| (l, Transport::Plain))
            .collect();
        if let Some(cfg) = tls {
            let acceptor = TlsAcceptor::from(cfg);
            all.extend(
                rtmps_listeners
                    .into_iter()
                    .map(|l| (l, Transport::Tls(acceptor.clone()))),
            );
        }
        for (listener, transport) in all {
            if let Ok(a) = listener.local_addr() {
                info!(addr = %a, "{} listening", transport.name());
            }
            let acceptor = Acceptor {
                ctx: ctx.clone(),
                limit: limit.clone(),
                connections: connections.clone(),
                proxy: proxy.clone(),
                transport,
            };
            accept_tasks.spawn(acceptor.run(listener));
        }
        let mut rtmfp_tasks = JoinSet::new();
        for socket in rtmfp {
            rtmfp_tasks.spawn(crate::rtmfp::run(ctx.clone(), socket));
        }
        let summaries = {
            let ctx = ctx.clone();
            spawn_every(crate::log_throttle::WINDOW, move || {
                ctx.log_throttle.flush()
            })
        };
        // Byte count samples for the API's 10 s bitrates.
        let sampler = {
            let ctx = ctx.clone();
            spawn_every(Duration::from_secs(1), move || {
                ctx.registry.sample(std::time::Instant::now())
            })
        };
        // The load rule of the latency budget (docs/CAPACITY.md).
        let load = {
            let s = &ctx.settings.server;
            let max = if s.adaptive_batching {
                Duration::from_millis(s.overload_max_ms)
            } else {
                Duration::ZERO
            };
            tokio::spawn(crate::load::run(ctx.load.clone(), max))
        };
        // The cluster heartbeat: this node's load, and its claims renewed.
        let cluster = tokio::spawn(ctx.cluster.clone().run(Arc::downgrade(&ctx)));
        shutdown.await;
        info!("shutting down");
        cluster.abort();
        load.abort();
        summaries.abort();
        sampler.abort();
        accept_tasks.abort_all();
        ctx.begin_shutdown();
        let mut set = std::mem::take(&mut *connections.lock().await);
        let drained = tokio::time::timeout(Duration::from_secs(5), async {
            while set.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!("some connections did not close within 5 s; aborting them");
            set.abort_all();
        }
        // RTMFP loops close their sessions on the shutdown signal (briefly).
        let rtmfp_done = tokio::time::timeout(Duration::from_secs(2), async {
            while rtmfp_tasks.join_next().await.is_some() {}
        })
        .await;
        if rtmfp_done.is_err() {
            rtmfp_tasks.abort_all();
        }
        // Publishers are gone: let the recorders close their files.
        ctx.recorders.wait_idle(Duration::from_secs(5)).await;
        // Leave the cluster: other nodes may take this node's streams at once.
        ctx.cluster.leave().await;
        info!("stopped");
    }
}

/// One listener's accept loop.
struct Acceptor {
    ctx: Arc<Context>,
    limit: Arc<Semaphore>,
    connections: Arc<Mutex<JoinSet<()>>>,
    proxy: Arc<ProxyPolicy>,
    transport: Transport,
}

impl Acceptor {
    async fn run(self, listener: TcpListener) {
        loop {
            let (sock, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = self.limit.clone().try_acquire_owned() else {
                if self.ctx.log_throttle.allow("max_connections") {
                    warn!(peer = %peer, "connection refused: max_connections reached");
                }
                drop(sock);
                continue;
            };
            let _ = sock.set_nodelay(true);
            let conn = Connection {
                ctx: self.ctx.clone(),
                proxy: self.proxy.clone(),
                transport: self.transport.clone(),
                _permit: permit,
            };
            let mut set = self.connections.lock().await;
            // Reap finished connection tasks so the set does not grow without bound.
            while set.try_join_next().is_some() {}
            set.spawn(conn.serve(sock, peer));
        }
    }
}

/// What one accepted socket needs before it reaches the driver.
struct Connection {
    ctx: Arc<Context>,
    proxy: Arc<ProxyPolicy>,
    transport: Transport,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    /// Proxy header, then TLS (RTMPS), then the driver with the real client address.
    ///
    /// Each stage's future is boxed on its own: a task's size is that of its largest state, and
    /// the TLS stage (a rustls connection inline) would otherwise make every plain-TCP player's
    /// task as large as an RTMPS one for its whole life.
    async fn serve(self, sock: TcpStream, peer: SocketAddr) {
        let timeout = Duration::from_secs(self.ctx.settings.server.handshake_timeout_secs.max(1));
        let accepted = match Box::pin(proxy::accept(sock, peer, &self.proxy, timeout)).await {
            Ok(a) => a,
            Err(e) => {
                log_proxy_error(&self.ctx, peer, self.transport.name(), &e);
                return;
            }
        };
        let client = accepted.client;
        if let Some(kind) = accepted.header {
            debug!(peer = %client, proxy = %peer, header = %kind, "proxy header accepted");
        }
        match &self.transport {
            Transport::Plain if self.ctx.settings.server.direct_write => {
                let (prefix, tcp) = accepted.stream.into_parts();
                Box::pin(serve_tcp_connection(tcp, prefix, client, self.ctx)).await
            }
            Transport::Plain => {
                let plain = serve_connection(accepted.stream, client, self.ctx, Rtmp);
                Box::pin(plain).await
            }
            Transport::Tls(acceptor) => {
                let tls = serve_tls(acceptor.clone(), accepted.stream, client, timeout, self.ctx);
                Box::pin(tls).await
            }
        }
    }
}

/// RTMPS: the TLS handshake (bounded by `timeout`), then the driver.
async fn serve_tls(
    acceptor: TlsAcceptor,
    stream: proxy::Prefixed<TcpStream>,
    client: SocketAddr,
    timeout: Duration,
    ctx: Arc<Context>,
) {
    let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        // Port probes and health checks connect and close without a byte.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            debug!(peer = %client, error = %e, "closed before completing the TLS handshake");
            return;
        }
        Ok(Err(e)) => {
            ctx.metrics.handshake_failed("tls");
            if ctx.log_throttle.allow("tls handshake failed") {
                warn!(peer = %client, error = %e, "TLS handshake failed");
            }
            return;
        }
        Err(_) => {
            if ctx.log_throttle.allow("tls handshake timeout") {
                warn!(peer = %client, ?timeout, "TLS handshake timed out");
            }
            return;
        }
    };
    serve_connection(tls, client, ctx, crate::control::Transport::Rtmps).await
}

/// One log line per connection refused before the RTMP handshake.
fn log_proxy_error(ctx: &Context, peer: SocketAddr, listener: &str, e: &ProxyError) {
    let kind = match e {
        ProxyError::Untrusted { .. } => "proxy header from an untrusted peer",
        ProxyError::Io(_) => "",
        _ => "connection closed before the RTMP handshake",
    };
    if !kind.is_empty() && !ctx.log_throttle.allow(kind) {
        return;
    }
    match e {
        ProxyError::Untrusted { kind } => warn!(
            peer = %peer,
            header = %kind,
            listener,
            "proxy header refused: peer is not a trusted proxy (proxy.trusted); connection closed"
        ),
        ProxyError::Io(_) => {
            debug!(peer = %peer, listener, error = %e, "connection lost before the first byte")
        }
        _ => {
            warn!(peer = %peer, listener, error = %e, "connection closed before the RTMP handshake")
        }
    }
}

impl Context {
    /// A context for these settings.
    ///
    /// # Panics
    /// If `[access]`, `[hooks]` or `[cluster]` is invalid: [`Settings::validate`] checks them
    /// first.
    pub fn new(settings: Settings) -> Context {
        let metrics = std::sync::Arc::new(crate::control::Metrics::new());
        let app = crate::app::App::new(&settings, metrics.clone())
            .expect("access and hooks settings are checked by Settings::validate");
        let hub = Hub::new(settings.hub_config());
        let live = arc_swap::ArcSwap::from_pointee(crate::reload::Live::new(settings.clone()));
        let log_throttle = crate::log_throttle::LogThrottle::new(settings.log.repeat_limit);
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let cluster = std::sync::Arc::new(
            crate::cluster::Cluster::new(&settings)
                .expect("cluster settings are checked by Settings::validate"),
        );
        Context {
            settings,
            live,
            loader: std::sync::Mutex::new(None),
            hub,
            shared_objects: crate::shared_objects::SharedObjects::default(),
            recorders: crate::record::Recorders::default(),
            log_throttle,
            relays: crate::relay::Relays::default(),
            cluster,
            registry: crate::control::Registry::default(),
            metrics,
            app: arc_swap::ArcSwap::from_pointee(app),
            listeners: std::sync::OnceLock::new(),
            next_id: std::sync::atomic::AtomicU64::new(1),
            load: std::sync::Arc::default(),
            shutdown,
        }
    }

    /// A fresh connection id.
    pub fn next_connection_id(&self) -> u64 {
        self.next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Tell every connection to wind down (players get UnpublishNotify first).
    pub fn begin_shutdown(&self) {
        let _ = self.shutdown.send(true);
        // Direct RTMP connections wait on their registry entry's notification, not on the
        // watch (see `driver::direct`): the flag is set first, so each sees it on waking.
        self.registry.wake_all();
    }
}
