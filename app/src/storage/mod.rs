//! The storage seam: the one place that decides SQLite vs PostgreSQL, and one module per aggregate.
//!
//! `Db` is an enum over the two typed pools rather than `sqlx::Any`, whose type system cannot carry timestamps or
//! JSON. Both drivers accept `$1` placeholders, so a query is usually written once and run on either pool with
//! [`on_pool!`]; where the dialects differ, both strings stand side by side.

pub mod api_keys;
pub mod experiments;
pub mod exposures;
pub mod ingest;
pub mod login_failures;
pub mod metrics;
pub mod playbook;
pub mod profiles;
pub mod results;
pub mod sessions;
pub mod settings;
pub mod signals;
pub mod users;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// SQLite checkpoints its write-ahead log into the database file when a commit leaves more pages than this in it
/// (160 MiB, where SQLite's default is 4 MiB); the `checkpoint-wal` job copies most of it beforehand, beside the
/// ingest writer (see [`Db::dedicated_writer`]). Measured with the ingest bench: 4 MiB → 40 MiB gave a bare insert
/// of events rows 10–15 % more rows per second, 40 → 160 MiB on the ingest writer's connection the whole pipeline
/// 15–20 % more events per second with batches of 100 and with one event per shopper. The log's file keeps its largest size (this plus one group
/// of events) for reuse.
pub const WAL_CHECKPOINT_PAGES: u32 = 40_000;

/// How long a query waits for a free connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same expression on whichever pool `db` holds; the expression is type-checked once per driver.
#[macro_export]
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::storage::Db::Sqlite($pool) => $body,
            $crate::storage::Db::Postgres($pool) => $body,
        }
    };
}
pub use on_pool;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, String> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(format!(
                "unsupported DATABASE_URL '{}': use sqlite://path/to/file.db or postgres://user@host/db",
                redact_url(url)
            ))
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Hides the password of a database URL for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Db {
    /// Opens a pool for `url`. SQLite files (and their directory) are created when missing; a commit that leaves
    /// more than `checkpoint_pages` pages in the write-ahead log copies them into the database (see
    /// [`WAL_CHECKPOINT_PAGES`]).
    pub async fn connect(url: &str, max_connections: u32, checkpoint_pages: u32) -> Result<Db, sqlx::Error> {
        match Backend::from_url(url).map_err(|e| sqlx::Error::Configuration(e.into()))? {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    // WAL: readers never block the writer, and the HTTP API reads while ingestion writes.
                    .journal_mode(SqliteJournalMode::Wal)
                    // Durability choice: FULL syncs the WAL on every commit, so an acknowledged write survives
                    // power loss, not only a process crash (NORMAL would only guarantee the latter). The cost is
                    // one fsync per transaction; ingestion batches events per transaction to amortise it.
                    .synchronous(SqliteSynchronous::Full)
                    // Writers queue for the lock instead of failing at once with SQLITE_BUSY.
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .pragma("temp_store", "memory")
                    // 32 MiB of page cache per connection instead of SQLite's 2 MiB: the ingest writer updates
                    // indexes all over a large database, and with the small cache it re-read most pages through
                    // the kernel for every group it committed.
                    .pragma("cache_size", "-32768")
                    .pragma("wal_autocheckpoint", checkpoint_pages.to_string());
                if let Some(dir) = sqlite_parent_dir(url) {
                    std::fs::create_dir_all(&dir).map_err(sqlx::Error::Io)?;
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await?;
                Ok(Db::Sqlite(pool))
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url)?.application_name("intentlab");
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    /// How a transaction that writes starts. SQLite's default (deferred) transaction takes the write lock only at
    /// its first write, and in WAL mode a transaction that read first then fails at once with SQLITE_BUSY if
    /// another connection wrote meanwhile (the busy timeout does not apply); `BEGIN IMMEDIATE` queues for the
    /// write lock up front instead.
    pub fn begin_write(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "BEGIN IMMEDIATE",
            Db::Postgres(_) => "BEGIN",
        }
    }

    /// A pool of one connection to the same database, for a writer that runs all the time. SQLite drops a
    /// connection's whole page cache when another connection wrote since its last transaction, and the shared
    /// pool hands out its connections in turn: the ingest writer re-read the indexes it updates through the kernel
    /// for most groups it committed. One connection of its own keeps them cached (and its statements prepared).
    ///
    /// Its commits checkpoint past `checkpoint_pages` like every connection's. [`Db::checkpoint`] copies
    /// most of the log into the database beside it, but only a checkpoint between two of the writer's transactions
    /// can reach the log's end, which lets the next transaction write the log from its start again: with the
    /// writer's own checkpoints off, the log grew by about 60 MiB a second under sustained ingestion, without bound.
    pub async fn dedicated_writer(&self) -> Result<Db, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(pool) => Db::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with((*pool.connect_options()).clone())
                    .await?,
            ),
            Db::Postgres(pool) => Db::Postgres(
                PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with((*pool.connect_options()).clone())
                    .await?,
            ),
        })
    }

    /// Copies what it can of SQLite's write-ahead log into the database file, without waiting for readers or
    /// blocking the writer (a passive checkpoint). Nothing to do on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(pool) => sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(pool).await.map(|_| ()),
            Db::Postgres(_) => Ok(()),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self {
            Db::Sqlite(_) => &SQLITE_MIGRATIONS,
            Db::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies pending migrations (ours, then the session store's table).
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => self.migrator().run(pool).await?);
        sessions::SessionStore::new(self.clone()).migrate().await
    }

    /// Number of applied migrations, or an error naming what is missing: `/readyz` reports this.
    pub async fn check_migrations(&self) -> Result<usize, String> {
        let applied: Vec<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(pool)
                .await
        })
        .map_err(|e| format!("cannot read the migrations table: {e}"))?;
        let missing: Vec<i64> = self.migrator().iter().map(|m| m.version).filter(|v| !applied.contains(v)).collect();
        if missing.is_empty() {
            Ok(applied.len())
        } else {
            Err(format!("migrations not applied: {missing:?}; run `intentlab migrate`"))
        }
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    /// Waits for in-flight queries, then closes every connection (SQLite checkpoints its WAL on the last close).
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// `<select> IN ($1, $2, …)` for one chunk of values.
pub(crate) fn select_in<'q, DB, T>(select: &str, values: &'q [T]) -> sqlx::QueryBuilder<'q, DB>
where
    DB: sqlx::Database,
    T: sqlx::Encode<'q, DB> + sqlx::Type<DB> + Copy + 'q,
{
    let mut query = sqlx::QueryBuilder::new(format!("{select} IN "));
    push_list(&mut query, values.iter().copied());
    query
}

/// Appends `($1, $2, …)` binding `values`, the list of an `IN`; callers pass at least one value (`IN ()` is not
/// SQL).
pub(crate) fn push_list<'q, DB, T>(query: &mut sqlx::QueryBuilder<'q, DB>, values: impl IntoIterator<Item = T>)
where
    DB: sqlx::Database,
    T: sqlx::Encode<'q, DB> + sqlx::Type<DB> + 'q,
{
    query.push("(");
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    query.push(")");
}

fn sqlite_parent_dir(url: &str) -> Option<std::path::PathBuf> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()).map(|p| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_url_scheme() {
        assert_eq!(Backend::from_url("sqlite://data/x.db"), Ok(Backend::Sqlite));
        assert_eq!(Backend::from_url("postgres://u@h/db"), Ok(Backend::Postgres));
        assert_eq!(Backend::from_url("postgresql://u@h/db"), Ok(Backend::Postgres));
        let err = Backend::from_url("mysql://root:secret@h/db").unwrap_err();
        assert!(err.contains("mysql://root:***@h/db"), "{err}");
    }

    #[test]
    fn sqlite_directories_are_found() {
        assert_eq!(sqlite_parent_dir("sqlite://data/x.db?mode=rwc"), Some("data".into()));
        assert_eq!(sqlite_parent_dir("sqlite:x.db"), None);
        assert_eq!(sqlite_parent_dir("sqlite::memory:"), None);
    }
}
