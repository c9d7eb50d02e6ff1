//! Prometheus metrics (`GET /metrics`, text exposition format 0.0.4).
//!
//! Event counters (connections, handshakes, decisions, hook calls) are incremented where the
//! event happens. What the [`Registry`] already knows (streams, players, byte totals, per-stream
//! series) is computed at scrape time, so it costs nothing between scrapes.
//!
//! Per-stream series (`sluice_stream_*`, labelled `app` and `stream`) are bounded by
//! `metrics.max_stream_series` (default 1000): past it, streams are left out in name order and
//! `sluice_stream_series_omitted` says how many. A server with 10 000 streams therefore exports
//! 1000 of each per-stream series plus the totals, never an unbounded scrape.

use super::registry::{Registry, Transport};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    TextEncoder,
};
use std::sync::atomic::Ordering;

/// Default for `metrics.max_stream_series`.
pub const DEFAULT_MAX_STREAM_SERIES: usize = 1000;

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: prometheus::Registry,
    connections_total: IntCounterVec,
    connections: IntGaugeVec,
    handshakes_total: IntCounterVec,
    handshake_failures_total: IntCounterVec,
    requests_total: IntCounterVec,
    hook_calls_total: IntCounterVec,
    hook_duration: HistogramVec,
    reloads_total: IntCounterVec,
    recordings_total: IntCounterVec,
    recordings_failed_total: IntCounterVec,
    record_bytes_total: IntCounterVec,
    recordings_active: IntGaugeVec,
    started: std::time::Instant,
}

fn counter_vec(r: &prometheus::Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Metrics with every counter at zero.
    pub fn new() -> Metrics {
        let registry = prometheus::Registry::new();
        let connections_total = counter_vec(
            &registry,
            "sluice_connections_total",
            "Connections accepted, by transport.",
            &["transport"],
        );
        let connections = IntGaugeVec::new(
            Opts::new("sluice_connections", "Open connections, by transport."),
            &["transport"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(connections.clone()))
            .expect("unique metric");
        for t in Transport::ALL {
            connections_total.with_label_values(&[t.as_str()]);
            connections.with_label_values(&[t.as_str()]);
        }
        let handshakes_total = counter_vec(
            &registry,
            "sluice_handshakes_total",
            "RTMP handshakes completed, by kind (simple, digest, rtmpe).",
            &["kind"],
        );
        let handshake_failures_total = counter_vec(
            &registry,
            "sluice_handshake_failures_total",
            "RTMP and TLS handshakes that failed, by reason.",
            &["reason"],
        );
        let requests_total = counter_vec(
            &registry,
            "sluice_requests_total",
            "Connect, publish and play requests decided, by action, result and reason.",
            &["action", "result", "reason"],
        );
        let hook_calls_total = counter_vec(
            &registry,
            "sluice_hook_calls_total",
            "HTTP hook calls, by event and result (allow, deny, error, timeout).",
            &["event", "result"],
        );
        let hook_duration = HistogramVec::new(
            HistogramOpts::new(
                "sluice_hook_duration_seconds",
                "Time from sending an HTTP hook request to its answer, by event.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["event"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(hook_duration.clone()))
            .expect("unique metric");
        let reloads_total = counter_vec(
            &registry,
            "sluice_reloads_total",
            "Configuration reloads, by result (ok, error).",
            &["result"],
        );
        let recordings_total = counter_vec(
            &registry,
            "sluice_recordings_total",
            "Recordings started.",
            &[],
        );
        let recordings_failed_total = counter_vec(
            &registry,
            "sluice_recordings_failed_total",
            "Recordings stopped by an error, by reason (io, disk_full, queue_full, dropped, too_slow).",
            &["reason"],
        );
        let record_bytes_total = counter_vec(
            &registry,
            "sluice_record_bytes_total",
            "Bytes written to recording files.",
            &[],
        );
        let recordings_active = IntGaugeVec::new(
            Opts::new("sluice_recordings_active", "Recordings being written."),
            &[],
        )
        .expect("valid metric");
        registry
            .register(Box::new(recordings_active.clone()))
            .expect("unique metric");
        recordings_total.with_label_values(&[] as &[&str]);
        record_bytes_total.with_label_values(&[] as &[&str]);
        recordings_active.with_label_values(&[] as &[&str]);
        for r in ["io", "disk_full", "queue_full", "dropped", "too_slow"] {
            recordings_failed_total.with_label_values(&[r]);
        }
        Metrics {
            registry,
            recordings_total,
            recordings_failed_total,
            record_bytes_total,
            recordings_active,
            connections_total,
            connections,
            handshakes_total,
            handshake_failures_total,
            requests_total,
            hook_calls_total,
            hook_duration,
            reloads_total,
            started: std::time::Instant::now(),
        }
    }

    /// A recording started.
    pub fn recording_started(&self) {
        self.recordings_total
            .with_label_values(&[] as &[&str])
            .inc();
        self.recordings_active
            .with_label_values(&[] as &[&str])
            .inc();
    }

    /// A recording's writer finished (closed or failed).
    pub fn recording_ended(&self) {
        self.recordings_active
            .with_label_values(&[] as &[&str])
            .dec();
    }

    /// A recording stopped with an error.
    pub fn recording_failed(&self, reason: &str) {
        self.recordings_failed_total
            .with_label_values(&[reason])
            .inc();
    }

    /// Bytes written to recordings.
    pub fn record_bytes(&self, n: u64) {
        if n > 0 {
            self.record_bytes_total
                .with_label_values(&[] as &[&str])
                .inc_by(n);
        }
    }

    /// A connection was accepted.
    pub fn connection_opened(&self, t: Transport) {
        self.connections_total
            .with_label_values(&[t.as_str()])
            .inc();
        self.connections.with_label_values(&[t.as_str()]).inc();
    }

    /// A connection closed (pass the transport it was counted under when opened).
    pub fn connection_closed(&self, t: Transport) {
        self.connections.with_label_values(&[t.as_str()]).dec();
    }

    /// A connection turned out to use another transport (RTMP → RTMPE after the handshake).
    pub fn connection_moved(&self, from: Transport, to: Transport) {
        self.connections.with_label_values(&[from.as_str()]).dec();
        self.connections.with_label_values(&[to.as_str()]).inc();
    }

    /// An RTMP handshake completed.
    pub fn handshake(&self, kind: &str) {
        self.handshakes_total.with_label_values(&[kind]).inc();
    }

    /// A handshake failed (`timeout`, `protocol`, `tls`, `tls_timeout`, `proxy`).
    pub fn handshake_failed(&self, reason: &str) {
        self.handshake_failures_total
            .with_label_values(&[reason])
            .inc();
    }

    /// A connect, publish or play was decided; `reason` is empty when accepted.
    pub fn request(&self, action: &str, accepted: bool, reason: &str) {
        let result = if accepted { "accepted" } else { "denied" };
        self.requests_total
            .with_label_values(&[action, result, reason])
            .inc();
    }

    /// An HTTP hook call finished.
    pub fn hook_call(&self, event: &str, result: &str, secs: f64) {
        self.hook_calls_total
            .with_label_values(&[event, result])
            .inc();
        self.hook_duration.with_label_values(&[event]).observe(secs);
    }

    /// A reload was attempted.
    pub fn reload(&self, ok: bool) {
        self.reloads_total
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }

    /// Time since these metrics (the server) started.
    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// The text exposition of every metric, with what `registry` knows computed now.
    pub fn render(&self, registry: &Registry, max_stream_series: usize) -> String {
        let now = prometheus::Registry::new();
        let gauge = |name: &str, help: &str, v: i64| {
            let g = IntGauge::new(name, help).expect("valid metric");
            g.set(v);
            now.register(Box::new(g)).expect("unique metric");
        };
        let counter = |name: &str, help: &str, v: u64| {
            let c = IntCounter::new(name, help).expect("valid metric");
            c.inc_by(v);
            now.register(Box::new(c)).expect("unique metric");
        };
        let streams = registry.streams();
        let clients = registry.clients();
        let (closed_in, closed_out) = registry.closed_bytes();
        let live_in: u64 = clients
            .iter()
            .map(|c| c.bytes_in.load(Ordering::Relaxed))
            .sum();
        let live_out: u64 = clients
            .iter()
            .map(|c| c.bytes_out.load(Ordering::Relaxed))
            .sum();
        gauge(
            "sluice_streams",
            "Live streams (with a publisher).",
            streams.len() as i64,
        );
        gauge(
            "sluice_players",
            "Players of live streams (RTMP and HTTP).",
            streams
                .iter()
                .map(|s| s.players.load(Ordering::Relaxed) as i64)
                .sum(),
        );
        gauge(
            "sluice_clients",
            "Registered clients.",
            clients.len() as i64,
        );
        counter(
            "sluice_received_bytes_total",
            "Bytes received from clients (updated about once a second).",
            closed_in + live_in,
        );
        counter(
            "sluice_sent_bytes_total",
            "Bytes sent to clients (updated about once a second).",
            closed_out + live_out,
        );
        let uptime =
            prometheus::Gauge::new("sluice_uptime_seconds", "Seconds since the server started.")
                .expect("valid metric");
        uptime.set(self.uptime().as_secs_f64());
        now.register(Box::new(uptime)).expect("unique metric");

        let labels = &["app", "stream"];
        let players = IntGaugeVec::new(
            Opts::new("sluice_stream_players", "Players of one stream."),
            labels,
        )
        .expect("valid metric");
        let bytes_in = IntCounterVec::new(
            Opts::new(
                "sluice_stream_received_bytes_total",
                "Media bytes received from the stream's publisher.",
            ),
            labels,
        )
        .expect("valid metric");
        let bitrate_in = IntGaugeVec::new(
            Opts::new(
                "sluice_stream_in_bytes_per_second",
                "Bytes per second from the publisher over the last 10 s.",
            ),
            labels,
        )
        .expect("valid metric");
        let bitrate_out = IntGaugeVec::new(
            Opts::new(
                "sluice_stream_out_bytes_per_second",
                "Bytes per second to all players over the last 10 s.",
            ),
            labels,
        )
        .expect("valid metric");
        let omitted = streams.len().saturating_sub(max_stream_series);
        for s in streams.iter().take(max_stream_series) {
            let l = [s.app.as_str(), s.name.as_str()];
            players
                .with_label_values(&l)
                .set(s.players.load(Ordering::Relaxed) as i64);
            bytes_in
                .with_label_values(&l)
                .inc_by(s.bytes_in.load(Ordering::Relaxed));
            // Prometheus wants base units (promtool: bytes, not bits).
            let (i, o) = s.bitrates();
            bitrate_in.with_label_values(&l).set((i / 8) as i64);
            bitrate_out.with_label_values(&l).set((o / 8) as i64);
        }
        for m in [players, bitrate_in, bitrate_out] {
            now.register(Box::new(m)).expect("unique metric");
        }
        now.register(Box::new(bytes_in)).expect("unique metric");
        gauge(
            "sluice_stream_series_omitted",
            "Streams left out of the sluice_stream_* series (metrics.max_stream_series).",
            omitted as i64,
        );
        let mut families = self.registry.gather();
        families.extend(now.gather());
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&families, &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_the_families_and_bounds_streams() {
        let m = Metrics::new();
        let r = Registry::default();
        m.connection_opened(Transport::Rtmp);
        m.request("publish", false, "token");
        m.hook_call("on_publish", "allow", 0.02);
        let p = r.add_client(1, "127.0.0.1:1".parse().unwrap(), Transport::Rtmp);
        let _a = r.add_stream("live", "a\"b", &p);
        let _b = r.add_stream("live", "c", &p);
        let text = m.render(&r, 1);
        assert!(text.contains("sluice_connections_total{transport=\"rtmp\"} 1"));
        assert!(text.contains(
            "sluice_requests_total{action=\"publish\",reason=\"token\",result=\"denied\"} 1"
        ));
        assert!(text
            .contains("sluice_hook_duration_seconds_bucket{event=\"on_publish\",le=\"0.025\"} 1"));
        assert!(text.contains("sluice_stream_players{app=\"live\",stream=\"a\\\"b\"} 0"));
        assert!(!text.contains("stream=\"c\""));
        assert!(text.contains("sluice_stream_series_omitted 1"));
        assert!(text.contains("sluice_streams 2"));
    }
}
