//! Browser sessions (tower-sessions), stored in the same database as everything else so that several server
//! instances behind a load balancer share them. Delegates to the sqlx stores of `tower-sessions-sqlx-store`.

use super::Db;
use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

#[derive(Debug, Clone)]
pub enum SessionStore {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl SessionStore {
    pub fn new(db: Db) -> Self {
        match db {
            Db::Sqlite(pool) => SessionStore::Sqlite(SqliteStore::new(pool)),
            Db::Postgres(pool) => SessionStore::Postgres(PostgresStore::new(pool)),
        }
    }

    /// Creates the session table when missing (the store owns its schema).
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        match self {
            SessionStore::Sqlite(store) => store.migrate().await,
            SessionStore::Postgres(store) => store.migrate().await,
        }
    }
}

macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            SessionStore::Sqlite($store) => $call,
            SessionStore::Postgres($store) => $call,
        }
    };
}

#[async_trait]
impl session_store::SessionStore for SessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        delegate!(self, store => store.create(record).await)
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        delegate!(self, store => store.save(record).await)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        delegate!(self, store => store.load(id).await)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        delegate!(self, store => store.delete(id).await)
    }
}

#[async_trait]
impl ExpiredDeletion for SessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        delegate!(self, store => store.delete_expired().await)
    }
}
