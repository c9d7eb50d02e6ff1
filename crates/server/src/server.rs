//! Listeners and the server lifecycle: bind the configured addresses, accept connections (each
//! driven by [`crate::driver::serve_connection`] on the multi-threaded runtime), and shut down
//! cleanly: players are told the stream ended, connections close, then `run` returns.

use crate::config::Settings;
use crate::driver::serve_connection;
use crate::hub::Hub;
use crate::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    ctx: Arc<Context>,
    listeners: Vec<TcpListener>,
}

impl Server {
    /// Bind every `server.listen` address.
    pub async fn bind(settings: Settings) -> std::io::Result<Server> {
        let mut listeners = Vec::new();
        for addr in &settings.server.listen {
            let l = TcpListener::bind(addr).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))
            })?;
            listeners.push(l);
        }
        let ctx = Arc::new(Context::new(settings));
        Ok(Server { ctx, listeners })
    }

    /// The addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The shared context (hub, settings).
    pub fn context(&self) -> Arc<Context> {
        self.ctx.clone()
    }

    /// Serve until `shutdown` completes, then close every connection and return.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let Server { ctx, listeners } = self;
        for l in &listeners {
            if let Ok(a) = l.local_addr() {
                info!(addr = %a, "RTMP listening");
            }
        }
        let limit = Arc::new(Semaphore::new(ctx.settings.server.max_connections.max(1)));
        let mut accept_tasks = JoinSet::new();
        let connections = Arc::new(tokio::sync::Mutex::new(JoinSet::new()));
        for listener in listeners {
            let ctx = ctx.clone();
            let limit = limit.clone();
            let connections = connections.clone();
            accept_tasks.spawn(async move {
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
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        warn!(peer = %peer, "connection refused: max_connections reached");
                        drop(sock);
                        continue;
                    };
                    let _ = sock.set_nodelay(true);
                    let ctx = ctx.clone();
                    let mut set = connections.lock().await;
                    // Reap finished connection tasks so the set does not grow without bound.
                    while set.try_join_next().is_some() {}
                    set.spawn(async move {
                        serve_connection(sock, peer, ctx).await;
                        drop(permit);
                    });
                }
            });
        }
        shutdown.await;
        info!("shutting down");
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
        info!("stopped");
    }
}

impl Context {
    /// A context for these settings.
    pub fn new(settings: Settings) -> Context {
        let hub = Hub::new(settings.hub_config());
        let session_config = settings.session_config();
        let (shutdown, _) = tokio::sync::watch::channel(false);
        Context {
            settings,
            session_config,
            hub,
            next_id: std::sync::atomic::AtomicU64::new(1),
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
    }
}
