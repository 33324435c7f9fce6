//! Configuration, from flags and the environment. The README's table lists every setting.
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database URL: a SQLite file path (`sqlite://path` or a plain path) or `postgres://...`.
    /// Default: `<data dir>/casebridge.db`.
    #[arg(long, global = true, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Directory for the SQLite database and the generated token-signing key.
    #[arg(
        long,
        global = true,
        env = "CASEBRIDGE_DATA_DIR",
        default_value = "casebridge-data"
    )]
    pub data_dir: PathBuf,

    /// Directory holding `model.conf` and `policy.csv`. Default: `./policies` when it exists,
    /// else the policy built into the binary.
    #[arg(long, global = true, env = "CASEBRIDGE_POLICY_DIR")]
    pub policy_dir: Option<PathBuf>,

    /// Secret for signing access tokens (at least 32 bytes). Default: a key generated on first
    /// start and kept in `<data dir>/jwt-secret` with mode 0600.
    #[arg(
        long,
        global = true,
        env = "CASEBRIDGE_JWT_SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,

    /// Lifetime of access tokens in seconds (at most 900).
    #[arg(long, global = true, env = "CASEBRIDGE_ACCESS_TOKEN_TTL", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(30..=900))]
    pub access_token_ttl: u64,

    /// Lifetime of a session (and so of its refresh tokens) in seconds.
    #[arg(long, global = true, env = "CASEBRIDGE_SESSION_TTL", default_value_t = 12 * 3600)]
    pub session_ttl: u64,

    /// Hours a rotated API client secret keeps working beside the new one, so that a CSP can
    /// deploy the new secret without an outage (0: it stops at once). A rotation for a leaked
    /// secret ends it at once whatever this says (`?previous_secret=end`).
    #[arg(long, global = true, env = "CASEBRIDGE_CLIENT_SECRET_OVERLAP_HOURS", default_value_t = 24,
          value_parser = clap::value_parser!(u32).range(0..=168))]
    pub client_secret_overlap_hours: u32,

    /// Browser origins allowed to call the API, comma-separated. Empty: none.
    #[arg(
        long,
        global = true,
        env = "CASEBRIDGE_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub cors_origins: Vec<String>,

    /// The service's public base URL as callers reach it (`https://casebridge.example.gov.au`):
    /// names the OAuth 2.0 endpoints in the authorisation-server metadata. Unset: no metadata.
    #[arg(long, global = true, env = "CASEBRIDGE_PUBLIC_URL", value_parser = public_url)]
    pub public_url: Option<String>,

    /// Failed logins for one username, within the lockout window, that lock it.
    #[arg(long, global = true, env = "CASEBRIDGE_LOCKOUT_THRESHOLD", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub lockout_threshold: u32,

    /// The window, in seconds, within which failed logins count towards a lockout.
    #[arg(long, global = true, env = "CASEBRIDGE_LOCKOUT_WINDOW", default_value_t = 15 * 60)]
    pub lockout_window: u64,

    /// How long, in seconds, a locked username stays locked.
    #[arg(long, global = true, env = "CASEBRIDGE_LOCKOUT_DURATION", default_value_t = 15 * 60)]
    pub lockout_duration: u64,

    /// Days without a login after which an account is suspended as dormant.
    #[arg(long, global = true, env = "CASEBRIDGE_DORMANT_AFTER_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub dormant_after_days: u32,

    /// Days after which an account with no access-review decision is overdue for review.
    #[arg(long, global = true, env = "CASEBRIDGE_REVIEW_INTERVAL_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub review_interval_days: u32,

    /// Days a person's recorded training stays current; after that they are refused until
    /// their manager or a dept_admin records a new completion.
    #[arg(long, global = true, env = "CASEBRIDGE_TRAINING_VALID_DAYS", default_value_t = 365,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub training_valid_days: u32,

    /// Largest accepted request body, in bytes.
    #[arg(long, global = true, env = "CASEBRIDGE_BODY_LIMIT", default_value_t = 64 * 1024)]
    pub body_limit: usize,

    /// Rows one page of the client or case list looks at past its cursor, at most (among the
    /// rows its filters select, before the caller's row scope): the bound on a page's work,
    /// however sparse the caller's rows. A page may then hold fewer records than its limit,
    /// even none, with a `next_cursor` that goes on.
    #[arg(long, global = true, env = "CASEBRIDGE_LIST_SCAN_ROWS", default_value_t = 2000,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub list_scan_rows: i64,

    /// Days the change feed (`GET /api/v1/changes`) keeps a change. A reader whose cursor is
    /// older gets 410 `cursor_expired` and starts again from the lists.
    #[arg(long, global = true, env = "CASEBRIDGE_CHANGE_FEED_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub change_feed_days: u32,

    /// Reverse proxies whose `X-Forwarded-For` is believed, comma-separated CIDRs or
    /// addresses (`10.0.0.0/8,192.0.2.7`). A request from any other peer is recorded with the
    /// peer's own address. Empty: none, the TCP peer is the client.
    #[arg(
        long,
        global = true,
        env = "CASEBRIDGE_TRUSTED_PROXIES",
        default_value = ""
    )]
    pub trusted_proxies: TrustedProxies,

    #[command(flatten)]
    pub anonymous: AnonymousLimits,

    #[command(flatten)]
    pub limits: ServiceLimits,

    #[command(flatten)]
    pub oversight: OversightConfig,

    #[command(flatten)]
    pub privacy: PrivacyConfig,

    #[command(flatten)]
    pub tls: TlsConfig,
}

/// How many requests without valid credentials one client address may make: each leaves an
/// audit row, so this bounds how fast an anonymous caller can grow the trail.
#[derive(Debug, Clone, Args)]
pub struct AnonymousLimits {
    /// Requests per second, per client address (an IPv6 /64), that carry no valid access
    /// token: the rate the address's allowance refills at. More are refused with 429.
    #[arg(long, global = true, env = "CASEBRIDGE_ANONYMOUS_RATE", default_value_t = 2.0,
          value_parser = parse_rate)]
    pub anonymous_rate: f64,

    /// How many such requests an address may make at once (its allowance when full).
    #[arg(long, global = true, env = "CASEBRIDGE_ANONYMOUS_BURST", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub anonymous_burst: u32,

    /// Client addresses whose allowance is kept at once; addresses beyond them share one.
    #[arg(long, global = true, env = "CASEBRIDGE_ANONYMOUS_ADDRESSES", default_value_t = 65_536,
          value_parser = clap::value_parser!(u64).range(1..=16_777_216))]
    pub anonymous_addresses: u64,
}

/// How long the service waits, and how much it holds, before it answers 503 with
/// `Retry-After` instead: every wait has a bound (docs/operations.md).
#[derive(Debug, Clone, Args)]
pub struct ServiceLimits {
    /// Milliseconds a request waits for a database connection, for a short read's answer, or
    /// for the writer to start its change, before it is answered 503 (the change then never
    /// starts). While the database cannot be reached, requests are refused at once and one at
    /// a time probes it.
    #[arg(long, global = true, env = "CASEBRIDGE_DB_WAIT_MS", default_value_t = 1500,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub db_wait_ms: u64,

    /// Milliseconds a statement waits for a lock another session holds (PostgreSQL
    /// `lock_timeout`, SQLite's busy timeout) before the request is answered 503
    /// `database_busy`.
    #[arg(long, global = true, env = "CASEBRIDGE_DB_LOCK_TIMEOUT_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub db_lock_timeout_ms: u64,

    /// Seconds one PostgreSQL statement may run (`statement_timeout`); also how long a long
    /// read (a report, an export's page) may take before its request is answered 503.
    #[arg(long, global = true, env = "CASEBRIDGE_DB_STATEMENT_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub db_statement_timeout: u64,

    /// Changes waiting for the writer at most; a change beyond them is answered 503 at once.
    #[arg(long, global = true, env = "CASEBRIDGE_WRITE_QUEUE", default_value_t = 2048,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub write_queue: u64,

    /// Seconds a request's body may take to arrive (from the end of its headers); a body
    /// still arriving then is answered 408 and its connection closed.
    #[arg(long, global = true, env = "CASEBRIDGE_BODY_READ_TIMEOUT", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub body_read_timeout: u64,

    /// Open connections the server holds at most, over all its workers (and never more than
    /// the process's file descriptor limit allows); more wait to be accepted.
    #[arg(long, global = true, env = "CASEBRIDGE_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(2..=1_000_000))]
    pub max_connections: u64,

    /// Hours a POST's Idempotency-Key is kept: a retry within them with the same key and
    /// request gets the first response back instead of applying the change again.
    #[arg(long, global = true, env = "CASEBRIDGE_IDEMPOTENCY_KEY_HOURS", default_value_t = 24,
          value_parser = clap::value_parser!(u64).range(1..=720))]
    pub idempotency_key_hours: u64,

    /// Seconds to keep trying, at start, to reach a PostgreSQL database that does not answer
    /// (started before it, or while it restarts) before giving up with its reason.
    #[arg(long, global = true, env = "CASEBRIDGE_DB_START_WAIT", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub db_start_wait: u64,

    /// Mebibytes of free disk space below which `/ready` answers 503 `disk_space_low`: the
    /// data directory's disk, and on SQLite the database's. Writes fail on a full disk; this
    /// takes the instance out of a load balancer first.
    #[arg(long, global = true, env = "CASEBRIDGE_READY_MIN_FREE_MB", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    pub ready_min_free_mb: u64,

    /// Mebibytes at the start of a SQLite database each connection reads through memory
    /// mapping (`PRAGMA mmap_size`, at most SQLite's 2048); 0 reads every page with a system
    /// call. A write by another connection empties a connection's own page cache, so each
    /// request reads its pages afresh: mapped, they are read without a call. An I/O error
    /// while reading a mapped page ends the process instead of failing the request, which is
    /// why it is off unless asked for (docs/benchmarks.md: about a fifth more reads a second).
    #[arg(long, global = true, env = "CASEBRIDGE_SQLITE_MMAP_MB", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=2048))]
    pub sqlite_mmap_mb: u64,
}

impl ServiceLimits {
    pub fn db_wait(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.db_wait_ms)
    }

    pub fn db_lock_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.db_lock_timeout_ms)
    }

    pub fn db_statement_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.db_statement_timeout)
    }

    pub fn body_read_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.body_read_timeout)
    }

    pub fn db_start_wait(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.db_start_wait)
    }

    pub fn idempotency_key_lifetime(&self) -> chrono::Duration {
        chrono::Duration::hours(self.idempotency_key_hours as i64)
    }
}

impl Default for ServiceLimits {
    fn default() -> Self {
        defaults()
    }
}

/// The privacy of client files: consents, complaints, requests, disposal, and the keys that
/// seal what a copy of the database must not reveal.
#[derive(Debug, Clone, Args)]
pub struct PrivacyConfig {
    /// The purposes a client may consent to, comma-separated. A row scope `consented` in the
    /// policy reaches the clients with a current consent to
    /// `share_basic_profile_with_divisions`.
    #[arg(
        long,
        global = true,
        env = "CASEBRIDGE_CONSENT_PURPOSES",
        value_delimiter = ',',
        default_value = "share_basic_profile_with_divisions"
    )]
    pub consent_purposes: Vec<String>,

    /// Days from receiving a privacy complaint to its response being due.
    #[arg(long, global = true, env = "CASEBRIDGE_COMPLAINT_RESPONSE_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=365))]
    pub complaint_response_days: u32,

    /// Days from receiving a client's request for access to, or correction of, their file to
    /// its answer being due (the statutory period).
    #[arg(long, global = true, env = "CASEBRIDGE_REQUEST_RESPONSE_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=365))]
    pub request_response_days: u32,

    /// The key of the HMAC-SHA256 hashes of disposed client ids in disposal certificates.
    /// Instances sharing a database must share it. Default: a key generated on first use and
    /// kept in `<data dir>/disposal-key` with mode 0600.
    #[arg(
        long,
        global = true,
        env = "CASEBRIDGE_DISPOSAL_KEY",
        hide_env_values = true
    )]
    pub disposal_key: Option<String>,

    /// The data keys that seal Medicare numbers, tax file numbers and TOTP secrets in the
    /// database: comma-separated, each 32 bytes in base64, oldest first (the last seals new
    /// values). Instances sharing a database must share them. Default: keys kept in
    /// `<data dir>/data-keys` with mode 0600, the first generated on first start and the next
    /// added by `casebridge keys rotate-data-key`.
    #[arg(
        long,
        global = true,
        env = "CASEBRIDGE_DATA_KEY",
        hide_env_values = true
    )]
    pub data_key: Option<String>,

    /// Start with signing, disposal or data keys other than those the database was served
    /// with before, and remember them from now on. Without it such a start is refused: an
    /// instance given another data directory would otherwise make keys of its own, refuse the
    /// others' tokens and seal values they cannot open.
    #[arg(long, global = true, env = "CASEBRIDGE_ACCEPT_NEW_KEYS")]
    pub accept_new_keys: bool,
}

/// TLS served by the service itself, for a department that terminates TLS at the service
/// rather than at a load balancer. Both files or neither.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsConfig {
    /// PEM file of the server's certificate chain, leaf first.
    #[arg(long, global = true, env = "CASEBRIDGE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM file of the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, global = true, env = "CASEBRIDGE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.tls_cert.is_some()
    }
}

/// Breach response and oversight settings.
#[derive(Debug, Clone, Args)]
pub struct OversightConfig {
    /// The agency named in breach notifications.
    #[arg(
        long,
        global = true,
        env = "CASEBRIDGE_AGENCY_NAME",
        default_value = "The Department"
    )]
    pub agency_name: String,

    /// How people reach the agency's privacy officer (named in breach notifications).
    #[arg(
        long,
        global = true,
        env = "CASEBRIDGE_PRIVACY_CONTACT",
        default_value = "the Privacy Officer of the Department"
    )]
    pub privacy_contact: String,

    /// Days from becoming aware of a suspected breach to the end of its assessment.
    #[arg(long, global = true, env = "CASEBRIDGE_BREACH_ASSESSMENT_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=365))]
    pub breach_assessment_days: u32,

    /// The department's time zone (IANA name): working hours and days are judged in it.
    #[arg(
        long,
        global = true,
        env = "CASEBRIDGE_TIME_ZONE",
        default_value = "Australia/Sydney"
    )]
    pub time_zone: chrono_tz::Tz,

    /// Working hours, local time, `HH-HH`: requests outside them on any day, or on a weekend,
    /// are reported for review.
    #[arg(long, global = true, env = "CASEBRIDGE_WORKING_HOURS", default_value = "7-19",
          value_parser = parse_hours)]
    pub working_hours: (u32, u32),

    /// Working days, comma-separated (`mon,tue,...` or ranges such as `mon-fri`).
    #[arg(
        long,
        global = true,
        env = "CASEBRIDGE_WORKING_DAYS",
        default_value = "mon-fri"
    )]
    pub working_days: WorkingDays,

    /// A user reading more distinct clients in a day than this many times their own median
    /// day of the previous 30 days...
    #[arg(
        long,
        global = true,
        env = "CASEBRIDGE_UNUSUAL_CLIENTS_FACTOR",
        default_value_t = 3.0
    )]
    pub unusual_clients_factor: f64,

    /// ...and more than this many, is reported.
    #[arg(
        long,
        global = true,
        env = "CASEBRIDGE_UNUSUAL_CLIENTS_FLOOR",
        default_value_t = 20
    )]
    pub unusual_clients_floor: usize,

    /// Refused requests by one account (or one username or address) within an hour that make
    /// an attempted access violation.
    #[arg(long, global = true, env = "CASEBRIDGE_DENIAL_BURST", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(2..))]
    pub denial_burst: u32,

    /// Days without a request after which an account's next request is reported.
    #[arg(long, global = true, env = "CASEBRIDGE_DORMANT_REPORT_DAYS", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub dormant_report_days: u32,

    /// Basic-profile searches in a day whose results were never opened that make fishing.
    #[arg(long, global = true, env = "CASEBRIDGE_FISHING_SEARCHES", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub fishing_searches: u32,

    /// A URL that receives every alert as JSON (POST) as it is raised, retried with backoff.
    /// Default: none (alerts are only listed at `GET /api/v1/alerts`).
    #[arg(long, global = true, env = "CASEBRIDGE_ALERT_WEBHOOK_URL")]
    pub alert_webhook_url: Option<String>,

    /// The key of the HMAC-SHA256 signature each delivery carries in
    /// `X-Casebridge-Signature: sha256=<hex>` (at least 32 characters; required with the URL).
    #[arg(
        long,
        global = true,
        env = "CASEBRIDGE_ALERT_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub alert_webhook_secret: Option<String>,

    /// The append-only file each instance writes its audit chain's head to (and the log),
    /// every few seconds and at shutdown, for `casebridge audit verify --anchors` to find
    /// rows lost from the database. Keep it off the database's disk. Default:
    /// `<data dir>/audit-anchors.jsonl`.
    #[arg(long, global = true, env = "CASEBRIDGE_ANCHOR_FILE")]
    pub anchor_file: Option<PathBuf>,

    /// Seconds between anchors (when the chain has grown).
    #[arg(long, global = true, env = "CASEBRIDGE_ANCHOR_EVERY", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=10))]
    pub anchor_every: u64,

    /// Address of a listener of its own serving Prometheus metrics at `GET /metrics`
    /// (requests by route and status with latencies, the writer's batches and queue, the
    /// database pools, alerts raised). Default: none, no metrics served. Bind it to an
    /// address only the monitoring system reaches.
    #[arg(long, global = true, env = "CASEBRIDGE_METRICS_BIND")]
    pub metrics_bind: Option<String>,
}

/// Where alerts are delivered, and the key that signs them.
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub secret: String,
}

impl OversightConfig {
    /// The configured webhook, if any; an error for half or a weak configuration.
    pub fn webhook(&self) -> anyhow::Result<Option<Webhook>> {
        match (&self.alert_webhook_url, &self.alert_webhook_secret) {
            (None, None) => Ok(None),
            (Some(url), Some(secret)) => {
                anyhow::ensure!(
                    url.starts_with("https://") || url.starts_with("http://"),
                    "CASEBRIDGE_ALERT_WEBHOOK_URL must be an http(s) URL"
                );
                anyhow::ensure!(
                    secret.len() >= 32,
                    "CASEBRIDGE_ALERT_WEBHOOK_SECRET must be at least 32 characters"
                );
                Ok(Some(Webhook {
                    url: url.clone(),
                    secret: secret.clone(),
                }))
            }
            _ => anyhow::bail!(
                "set both CASEBRIDGE_ALERT_WEBHOOK_URL and CASEBRIDGE_ALERT_WEBHOOK_SECRET, or neither"
            ),
        }
    }
}

/// The days of the week that are working days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingDays([bool; 7]);

impl WorkingDays {
    pub fn includes(self, day: chrono::Weekday) -> bool {
        self.0[day.num_days_from_monday() as usize]
    }
}

impl std::str::FromStr for WorkingDays {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let day = |name: &str| {
            name.trim()
                .parse::<chrono::Weekday>()
                .map(|day| day.num_days_from_monday() as usize)
                .map_err(|_| format!("{name:?} is not a day of the week"))
        };
        let mut days = [false; 7];
        for part in text.split(',') {
            let (first, last) = match part.split_once('-') {
                Some((first, last)) => (day(first)?, day(last)?),
                None => (day(part)?, day(part)?),
            };
            if first > last {
                return Err(format!("{part:?} runs backwards"));
            }
            days[first..=last].iter_mut().for_each(|day| *day = true);
        }
        Ok(WorkingDays(days))
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed: networks (CIDRs) or single
/// addresses, comma-separated. Empty: none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::str::FromStr for TrustedProxies {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let network = |part: &str| {
            part.parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|network| network.trunc())
                .map_err(|_| format!("{part:?} is neither a CIDR (10.0.0.0/8) nor an IP address"))
        };
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(network)
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|rate| rate.is_finite() && *rate > 0.0)
        .ok_or_else(|| format!("{text:?} is not a positive number of requests per second"))
}

fn parse_hours(text: &str) -> Result<(u32, u32), String> {
    let (start, end) = text
        .split_once('-')
        .ok_or_else(|| "expected HH-HH, such as 7-19".to_owned())?;
    let hour = |text: &str| {
        text.trim()
            .parse::<u32>()
            .ok()
            .filter(|hour| *hour <= 24)
            .ok_or_else(|| format!("{text:?} is not an hour from 0 to 24"))
    };
    let (start, end) = (hour(start)?, hour(end)?);
    if start >= end {
        return Err("the working day must end after it starts".to_owned());
    }
    Ok((start, end))
}

/// A group of settings at its documented defaults (and any `CASEBRIDGE_*` variables set).
fn defaults<T: Args>() -> T {
    #[derive(clap::Parser)]
    struct Defaults<T: Args> {
        #[command(flatten)]
        settings: T,
    }
    <Defaults<T> as clap::Parser>::parse_from(["casebridge"]).settings
}

impl Default for OversightConfig {
    fn default() -> Self {
        defaults()
    }
}

impl Default for AnonymousLimits {
    fn default() -> Self {
        defaults()
    }
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        defaults()
    }
}

impl Config {
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            self.data_dir
                .join("casebridge.db")
                .to_string_lossy()
                .into_owned()
        })
    }

    pub fn cors_origins(&self) -> impl Iterator<Item = &str> {
        self.cors_origins
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
    }
}

/// Creates `dir` (and its parents) readable by the service's user alone: it holds client data
/// and the signing key.
/// The data directory holds the keys: it is the service's account's alone (0700), made so
/// at start if it was not.
pub fn secure_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    create_private_dir(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("restricting {}", dir.display()))?;
            tracing::warn!(
                was = format!("{:o}", mode & 0o777),
                "the data directory was open to other accounts; it is 0700 now"
            );
        }
    }
    Ok(())
}

pub fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", dir.display()))?;
    }
    Ok(())
}

/// An absolute `http` or `https` URL with no path beyond `/`, query or fragment, kept without
/// its trailing slash.
fn public_url(text: &str) -> Result<String, String> {
    let uri: actix_web::http::Uri = text
        .parse()
        .map_err(|_| "must be a URL such as https://casebridge.example.gov.au".to_owned())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let bare = matches!(uri.path(), "" | "/") && uri.query().is_none() && !text.contains('#');
    if !scheme_ok || uri.authority().is_none() || !bare {
        return Err("must be an http(s) URL with a host and nothing after it".to_owned());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::public_url;

    #[test]
    fn a_public_url_is_an_http_origin_kept_without_its_trailing_slash() {
        assert_eq!(
            public_url("https://casebridge.example.gov.au/").as_deref(),
            Ok("https://casebridge.example.gov.au")
        );
        assert_eq!(
            public_url("http://127.0.0.1:8080").as_deref(),
            Ok("http://127.0.0.1:8080")
        );
        for refused in [
            "casebridge.example.gov.au",
            "ftp://casebridge.example.gov.au",
            "https://casebridge.example.gov.au/api?x=1",
            "https://casebridge.example.gov.au/#top",
            "https://casebridge.example.gov.au/base",
        ] {
            assert!(public_url(refused).is_err(), "{refused}");
        }
    }
}
