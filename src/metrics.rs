//! The process's Prometheus metrics, served on a listener of their own when
//! `CASEBRIDGE_METRICS_BIND` is set (never under `/api/v1`, never audited). They name routes,
//! statuses and kinds, never a client, a user or a value. Counters are the process's: one
//! process is one instance.
use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Pool {
    pool: &'static str,
    state: &'static str,
}

type Latencies = Family<Route, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    requests: Family<Request, Counter>,
    latency: Latencies,
    batch_jobs: Histogram,
    queue_depth: Gauge,
    connections: Family<Pool, Gauge>,
    alerts: Family<Kind, Counter>,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("casebridge");
    let requests = Family::<Request, Counter>::default();
    registry.register(
        "http_requests",
        "Requests answered, by method, route template and status",
        requests.clone(),
    );
    let latency = Latencies::new_with_constructor(latency_histogram);
    registry.register(
        "http_request_duration_seconds",
        "Seconds from a request's arrival to its response's head, by method and route template",
        latency.clone(),
    );
    let batch_jobs = Histogram::new(exponential_buckets(1.0, 2.0, 10));
    registry.register(
        "writer_batch_jobs",
        "Changes and audit rows committed together per writer batch",
        batch_jobs.clone(),
    );
    let queue_depth = Gauge::default();
    registry.register(
        "writer_queue_depth",
        "Changes and audit rows waiting for the writer",
        queue_depth.clone(),
    );
    let connections = Family::<Pool, Gauge>::default();
    registry.register(
        "database_connections",
        "Database connections by pool (read, write) and state (idle, in_use)",
        connections.clone(),
    );
    let alerts = Family::<Kind, Counter>::default();
    registry.register(
        "alerts_raised",
        "Alerts raised, by kind (lockout, denial_burst, restricted_client_read, ...)",
        alerts.clone(),
    );
    Metrics {
        registry,
        requests,
        latency,
        batch_jobs,
        queue_depth,
        connections,
        alerts,
    }
});

/// Counts an answered request. `route` is its template (a bounded set), never its path.
pub fn request_answered(method: &str, route: &str, status: u16, seconds: f64) {
    let method = match method {
        "GET" | "HEAD" | "POST" | "PATCH" | "PUT" | "DELETE" | "OPTIONS" => method,
        _ => "other",
    };
    let metrics = &*METRICS;
    metrics
        .requests
        .get_or_create(&Request {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        })
        .inc();
    metrics
        .latency
        .get_or_create(&Route {
            method: method.to_owned(),
            route: route.to_owned(),
        })
        .observe(seconds);
}

pub fn writer_batch(jobs: usize) {
    METRICS.batch_jobs.observe(jobs as f64);
}

pub fn alert_raised(kind: &str) {
    METRICS
        .alerts
        .get_or_create(&Kind {
            kind: kind.to_owned(),
        })
        .inc();
}

/// What the metrics read from the running service when they are scraped.
pub struct Now {
    pub queue_depth: usize,
    /// (pool, connections open, idle).
    pub pools: Vec<(&'static str, u32, u32)>,
}

/// The metrics in Prometheus's text format, with the gauges read now.
pub fn encode(now: Now) -> anyhow::Result<String> {
    let metrics = &*METRICS;
    metrics.queue_depth.set(now.queue_depth as i64);
    for (pool, open, idle) in now.pools {
        for (state, count) in [("idle", idle), ("in_use", open.saturating_sub(idle))] {
            metrics
                .connections
                .get_or_create(&Pool { pool, state })
                .set(i64::from(count));
        }
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics.registry)?;
    Ok(text)
}
