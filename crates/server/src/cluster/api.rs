//! The cluster part of the JSON API and of `/metrics` (docs/API.md, docs/CLUSTER.md):
//!
//! - `GET /api/v1/cluster` → this node (`node`, `advertise`, `shared`, `registry_up`,
//!   `registry_errors`), the living nodes (`id`, `advertise`, `streams`, `players`,
//!   `last_heartbeat`) and the claims (`stream` → `node`), each list at most
//!   `cluster.max_listed` long; `503` when the registry cannot be reached.
//! - `sluice_cluster_redis_up` (1 while the last registry call succeeded) and
//!   `sluice_cluster_registry_errors_total`.

use super::Cluster;
use crate::http::api::{rfc3339, ApiError, ControlState, Json};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use std::time::{Duration, UNIX_EPOCH};

/// A node as `GET /api/v1/cluster` shows it.
#[derive(Debug, Serialize, PartialEq)]
pub struct NodeItem {
    /// Its id.
    pub id: String,
    /// Its RTMP address.
    pub advertise: String,
    /// Streams on it (published and pulled).
    pub streams: u64,
    /// Players on it.
    pub players: u64,
    /// Its last heartbeat (RFC 3339).
    pub last_heartbeat: String,
}

/// A claim: which node publishes which stream.
#[derive(Debug, Serialize, PartialEq)]
pub struct ClaimItem {
    /// `app/stream`.
    pub stream: String,
    /// The owning node's id.
    pub node: String,
}

/// `GET /api/v1/cluster`.
#[derive(Debug, Serialize, PartialEq)]
pub struct ClusterView {
    /// This node's id.
    pub node: String,
    /// This node's RTMP address.
    pub advertise: String,
    /// Whether nodes share a Redis registry (false: one node, in-memory registry).
    pub shared: bool,
    /// Whether the last registry call succeeded.
    pub registry_up: bool,
    /// Registry calls that failed so far.
    pub registry_errors: u64,
    /// Living nodes, by id.
    pub nodes: Vec<NodeItem>,
    /// Claims, by stream.
    pub claims: Vec<ClaimItem>,
}

async fn view(c: &Cluster) -> Result<ClusterView, super::RegistryError> {
    let max = c.max_listed();
    let nodes = c.registry().nodes(max).await;
    c.note(&nodes);
    let claims = c.registry().claims(max).await;
    c.note(&claims);
    Ok(ClusterView {
        node: c.node_id().to_owned(),
        advertise: c.advertise().to_owned(),
        shared: c.is_shared(),
        registry_up: c.registry_up(),
        registry_errors: c.registry_errors(),
        nodes: nodes?
            .into_iter()
            .map(|n| NodeItem {
                last_heartbeat: rfc3339(UNIX_EPOCH + Duration::from_millis(n.heartbeat_unix_ms)),
                id: n.id,
                advertise: n.advertise,
                streams: n.streams,
                players: n.players,
            })
            .collect(),
        claims: claims?
            .into_iter()
            .map(|(stream, node)| ClaimItem { stream, node })
            .collect(),
    })
}

async fn get_cluster(State(state): State<ControlState>) -> Result<Json<ClusterView>, ApiError> {
    let ctx = state.ctx()?;
    view(&ctx.cluster)
        .await
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

/// The cluster routes (merged into the API's [`endpoints`](crate::http::api)).
pub fn endpoints() -> Router<ControlState> {
    Router::new().route(
        "/api/v1/cluster",
        get(get_cluster).fallback(crate::http::api::method_not_allowed),
    )
}

/// The `sluice_cluster_*` families in the text exposition format, appended to `/metrics`.
pub fn render_metrics(c: &Cluster) -> String {
    format!(
        "# HELP sluice_cluster_redis_up 1 while the last call to the cluster registry succeeded.\n\
         # TYPE sluice_cluster_redis_up gauge\n\
         sluice_cluster_redis_up {}\n\
         # HELP sluice_cluster_registry_errors_total Calls to the cluster registry that failed.\n\
         # TYPE sluice_cluster_registry_errors_total counter\n\
         sluice_cluster_registry_errors_total {}\n",
        u8::from(c.registry_up()),
        c.registry_errors()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn the_view_lists_nodes_and_claims() {
        let mut s = crate::Settings::default();
        s.cluster.node_id = "n1".into();
        s.server.listen = vec!["127.0.0.1:1940".into()];
        let c = Arc::new(Cluster::new(&s).unwrap());
        assert_eq!(c.advertise(), "rtmp://127.0.0.1:1940");
        let _g = c.clone().claim("live", "a").await.unwrap();
        c.beat(1, 3).await;
        let v = view(&c).await.unwrap();
        assert_eq!(v.nodes.len(), 1);
        assert_eq!((v.nodes[0].id.as_str(), v.nodes[0].players), ("n1", 3));
        assert_eq!(
            v.claims,
            [ClaimItem {
                stream: "live/a".into(),
                node: "n1".into()
            }]
        );
        let m = render_metrics(&c);
        assert!(m.contains("sluice_cluster_redis_up 1\n"), "{m}");
        assert!(
            m.contains("sluice_cluster_registry_errors_total 0\n"),
            "{m}"
        );
    }
}
