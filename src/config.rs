//! Settings, from command-line flags or environment variables (flags win), with defaults that serve a local
//! SQLite installation. Everything configurable is here, and the README's configuration table mirrors it.

use clap::Args;
use std::net::SocketAddr;

#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// Database: sqlite://path/to/file.db (created if missing) or postgres://user:password@host/db.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/intentlab.db", global = true)]
    pub database_url: String,

    /// Address the HTTP server listens on.
    #[arg(long, env = "INTENTLAB_ADDR", default_value = "127.0.0.1:3000", global = true)]
    pub addr: SocketAddr,

    /// Directory with the built browser assets (pkg/ and public files).
    #[arg(long, env = "INTENTLAB_SITE_ROOT", default_value = "target/site", global = true)]
    pub site_root: String,

    /// The URL people use to reach intentlab; when it starts with https://, session cookies are marked Secure.
    #[arg(long, env = "INTENTLAB_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Maximum database connections in the pool.
    #[arg(long, env = "INTENTLAB_DB_MAX_CONNECTIONS", default_value_t = 10, global = true)]
    pub db_max_connections: u32,

    /// SQLite: the write-ahead log's size, in 4 KiB pages, at which a commit copies it into the database file so
    /// that it starts over. Larger: faster sustained ingestion, more disk for the log.
    #[arg(long, env = "INTENTLAB_SQLITE_CHECKPOINT_PAGES", default_value_t = app::storage::WAL_CHECKPOINT_PAGES, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub sqlite_checkpoint_pages: u32,

    /// Sessions end after this many days without activity.
    #[arg(long, env = "INTENTLAB_SESSION_IDLE_DAYS", default_value_t = 7, global = true)]
    pub session_idle_days: i64,

    /// Sessions end this many days after sign-in, however active (fractions allowed: 0.5 is twelve hours).
    #[arg(long, env = "INTENTLAB_SESSION_MAX_DAYS", default_value_t = 30.0, value_parser = positive_days, global = true)]
    pub session_max_days: f64,

    /// Sign-in attempts a minute one client address may make, whatever their outcome (beyond: 429).
    #[arg(long, env = "INTENTLAB_SIGN_IN_PER_MINUTE", default_value_t = app::auth::limits::PER_CLIENT_PER_MINUTE, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub sign_in_per_minute: u32,

    /// Reverse proxies (IP addresses, comma-separated) whose X-Forwarded-Proto and X-Forwarded-For are believed:
    /// how a request arrived (https: HSTS and Secure cookies) and from which client (sign-in limits).
    #[arg(long, env = "INTENTLAB_TRUSTED_PROXIES", value_delimiter = ',', global = true)]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// A MaxMind-format City or Country database (.mmdb): ingestion derives country, region and city from
    /// `context.ip` with it (the address itself is never stored).
    #[arg(long, env = "INTENTLAB_GEOIP_DB", global = true)]
    pub geoip_db: Option<String>,

    /// Log filter (tracing's EnvFilter syntax); RUST_LOG takes precedence when set.
    #[arg(long, env = "INTENTLAB_LOG", default_value = "info,sqlx=warn", global = true)]
    pub log: String,
}

impl Settings {
    /// Settings for a server run inside another program (tests, benchmarks, the demo's page benchmark): a free
    /// port on loopback, no public URL, quiet logs.
    pub fn in_process(database_url: &str, site_root: &str) -> Settings {
        Settings {
            database_url: database_url.to_string(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            site_root: site_root.to_string(),
            public_url: None,
            db_max_connections: 10,
            sqlite_checkpoint_pages: app::storage::WAL_CHECKPOINT_PAGES,
            session_idle_days: 7,
            session_max_days: 30.0,
            trusted_proxies: Vec::new(),
            sign_in_per_minute: app::auth::limits::PER_CLIENT_PER_MINUTE,
            geoip_db: None,
            log: "warn".into(),
        }
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.as_deref().is_some_and(|url| url.starts_with("https://"))
    }
}

fn positive_days(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(days) if days.is_finite() && days > 0.0 && days <= 3650.0 => Ok(days),
        _ => Err(format!("{text:?} is not a number of days between 0 and 3650")),
    }
}

pub fn init_tracing(default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default_filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr so that commands printing results (an API key) keep stdout clean.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
