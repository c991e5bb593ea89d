//! Playbook entries, their immutable revisions, and share links. Concluding writes the entry, its first revision,
//! the experiment's new status and its history line in one transaction.

use super::experiments::{NewChange, HISTORY_SQL};
use super::{on_pool, Db};
use crate::domain::playbook::{
    Conclusion, PlaybookEntry, PlaybookQuery, Reading, Revision, ShareLink, ShareScope, Snapshot,
};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: i64,
    conclusion: Json<Conclusion>,
    concluded_at: DateTime<Utc>,
    concluded_by: String,
    revision: i32,
    summary: Json<Reading>,
}

impl From<EntryRow> for PlaybookEntry {
    fn from(row: EntryRow) -> Self {
        PlaybookEntry {
            id: row.id,
            reading: row.summary.0,
            conclusion: row.conclusion.0,
            concluded_at: row.concluded_at,
            concluded_by: row.concluded_by,
            revision: row.revision as u32,
        }
    }
}

/// Each entry with its latest revision's reading.
const ENTRIES: &str = "SELECT e.id, e.conclusion, e.concluded_at, e.concluded_by, r.revision, r.summary \
     FROM playbook_entries e JOIN playbook_revisions r ON r.entry_id = e.id \
     WHERE r.revision = (SELECT MAX(revision) FROM playbook_revisions WHERE entry_id = e.id)";

/// A revision to write.
pub struct NewRevision<'a> {
    pub snapshot: &'a Snapshot,
    pub reading: &'a Reading,
    pub reason: &'a str,
    pub actor: &'a str,
    pub at: DateTime<Utc>,
}

const INSERT_REVISION: &str = "INSERT INTO playbook_revisions (entry_id, revision, created_at, created_by, reason, \
     summary, snapshot) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Writes the entry and its first revision, and marks the stopped experiment concluded. Conflicts when the
/// experiment was concluded, or left the stopped state, in the meantime.
pub async fn conclude(
    db: &Db,
    experiment_id: i64,
    conclusion: &Conclusion,
    revision: NewRevision<'_>,
    change: NewChange<'_>,
) -> Result<i64, AppError> {
    let concluded = on_pool!(db, pool => async {
        let mut tx = pool.begin_with(db.begin_write()).await?;
        let moved = sqlx::query(
            "UPDATE experiments SET status = 'concluded', concluded_at = $1, updated_at = $1 \
             WHERE id = $2 AND status = 'stopped'",
        )
        .bind(revision.at).bind(experiment_id).execute(&mut *tx).await?;
        if moved.rows_affected() == 0 {
            return Ok(None);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO playbook_entries (experiment_id, conclusion, concluded_at, concluded_by) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(experiment_id).bind(Json(conclusion)).bind(revision.at).bind(revision.actor)
        .fetch_one(&mut *tx).await?;
        sqlx::query(INSERT_REVISION)
            .bind(id).bind(1_i32).bind(revision.at).bind(revision.actor).bind(revision.reason)
            .bind(Json(revision.reading)).bind(Json(revision.snapshot))
            .execute(&mut *tx).await?;
        sqlx::query(HISTORY_SQL)
            .bind(experiment_id).bind(revision.at).bind(change.actor).bind(change.action).bind(Json(&change.detail))
            .execute(&mut *tx).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some(id))
    }.await);
    match concluded {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(AppError::conflict("the experiment changed meanwhile: only a stopped experiment concludes")),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(AppError::conflict("the experiment is concluded already"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Appends the next revision; returns its number.
pub async fn add_revision(db: &Db, entry_id: i64, revision: NewRevision<'_>) -> Result<u32, AppError> {
    let added = on_pool!(db, pool => async {
        let mut tx = pool.begin_with(db.begin_write()).await?;
        let latest: Option<i32> =
            sqlx::query_scalar("SELECT MAX(revision) FROM playbook_revisions WHERE entry_id = $1")
                .bind(entry_id).fetch_one(&mut *tx).await?;
        let next = latest.unwrap_or(0) + 1;
        sqlx::query(INSERT_REVISION)
            .bind(entry_id).bind(next).bind(revision.at).bind(revision.actor).bind(revision.reason)
            .bind(Json(revision.reading)).bind(Json(revision.snapshot))
            .execute(&mut *tx).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(next)
    }.await);
    match added {
        Ok(next) => Ok(next as u32),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(AppError::conflict("another re-analysis of this entry was saved at the same moment; try again"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Every entry with its latest reading, newest first.
pub async fn entries(db: &Db) -> Result<Vec<PlaybookEntry>, AppError> {
    let sql = format!("{ENTRIES} ORDER BY e.concluded_at DESC, e.id DESC");
    let rows: Vec<EntryRow> = on_pool!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(PlaybookEntry::from).collect())
}

pub async fn entry(db: &Db, id: i64) -> Result<Option<PlaybookEntry>, AppError> {
    let sql = format!("{ENTRIES} AND e.id = $1");
    let row: Option<EntryRow> = on_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?;
    Ok(row.map(PlaybookEntry::from))
}

pub async fn entry_of_experiment(db: &Db, experiment_id: i64) -> Result<Option<i64>, AppError> {
    let sql = "SELECT id FROM playbook_entries WHERE experiment_id = $1";
    Ok(on_pool!(db, pool => sqlx::query_scalar(sql).bind(experiment_id).fetch_optional(pool).await)?)
}

/// Oldest first.
pub async fn revisions(db: &Db, entry_id: i64) -> Result<Vec<Revision>, AppError> {
    let sql = "SELECT revision, created_at, created_by, reason FROM playbook_revisions WHERE entry_id = $1 \
               ORDER BY revision";
    let rows: Vec<(i32, DateTime<Utc>, String, String)> =
        on_pool!(db, pool => sqlx::query_as(sql).bind(entry_id).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|(revision, created_at, created_by, reason)| Revision {
            revision: revision as u32,
            created_at,
            created_by,
            reason,
        })
        .collect())
}

pub async fn snapshot(db: &Db, entry_id: i64, revision: u32) -> Result<Option<Snapshot>, AppError> {
    let sql = "SELECT snapshot FROM playbook_revisions WHERE entry_id = $1 AND revision = $2";
    let row: Option<Json<Snapshot>> = on_pool!(db, pool =>
        sqlx::query_scalar(sql).bind(entry_id).bind(revision as i32).fetch_optional(pool).await)?;
    Ok(row.map(|s| s.0))
}

/// Every entry's latest snapshot (for the signal leaderboard).
pub async fn latest_snapshots(db: &Db) -> Result<Vec<(i64, Snapshot)>, AppError> {
    let sql = "SELECT r.entry_id, r.snapshot FROM playbook_revisions r \
               WHERE r.revision = (SELECT MAX(revision) FROM playbook_revisions WHERE entry_id = r.entry_id)";
    let rows: Vec<(i64, Json<Snapshot>)> = on_pool!(db, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(|(id, s)| (id, s.0)).collect())
}

#[derive(sqlx::FromRow)]
struct ShareLinkRow {
    id: i64,
    entry_id: Option<i64>,
    filter: Option<Json<PlaybookQuery>>,
    label: String,
    created_by: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ShareLinkRow> for ShareLink {
    fn from(row: ShareLinkRow) -> Self {
        // The table's CHECK guarantees exactly one of the two.
        let scope = match (row.entry_id, row.filter) {
            (Some(id), _) => ShareScope::Entry(id),
            (None, filter) => ShareScope::View(filter.map(|f| f.0).unwrap_or_default()),
        };
        ShareLink {
            id: row.id,
            scope,
            label: row.label,
            created_by: row.created_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
        }
    }
}

const SHARE_COLUMNS: &str = "id, entry_id, filter, label, created_by, created_at, expires_at, revoked_at";

pub struct NewShareLink<'a> {
    pub token_hash: &'a str,
    pub scope: &'a ShareScope,
    pub label: &'a str,
    pub actor: &'a str,
    pub at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_share_link(db: &Db, link: NewShareLink<'_>) -> Result<ShareLink, AppError> {
    let sql = format!(
        "INSERT INTO share_links (token_hash, entry_id, filter, label, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {SHARE_COLUMNS}"
    );
    let (entry_id, filter) = match link.scope {
        ShareScope::Entry(id) => (Some(*id), None),
        ShareScope::View(filter) => (None, Some(Json(filter))),
    };
    let row: ShareLinkRow = on_pool!(db, pool => sqlx::query_as(&sql)
        .bind(link.token_hash).bind(entry_id).bind(filter).bind(link.label).bind(link.actor)
        .bind(link.at).bind(link.expires_at)
        .fetch_one(pool).await)?;
    Ok(row.into())
}

/// Newest first.
pub async fn share_links(db: &Db) -> Result<Vec<ShareLink>, AppError> {
    let sql = format!("SELECT {SHARE_COLUMNS} FROM share_links ORDER BY created_at DESC, id DESC");
    let rows: Vec<ShareLinkRow> = on_pool!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(ShareLink::from).collect())
}

pub async fn share_link_by_hash(db: &Db, token_hash: &str) -> Result<Option<ShareLink>, AppError> {
    let sql = format!("SELECT {SHARE_COLUMNS} FROM share_links WHERE token_hash = $1");
    let row: Option<ShareLinkRow> =
        on_pool!(db, pool => sqlx::query_as(&sql).bind(token_hash).fetch_optional(pool).await)?;
    Ok(row.map(ShareLink::from))
}

/// Revokes a link; false when there is no such link. Revoking twice keeps the first time.
pub async fn revoke_share_link(db: &Db, id: i64, at: DateTime<Utc>) -> Result<bool, AppError> {
    let sql = "UPDATE share_links SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2";
    let revoked = on_pool!(db, pool =>
        sqlx::query(sql).bind(at).bind(id).execute(pool).await.map(|done| done.rows_affected()))?;
    Ok(revoked > 0)
}
