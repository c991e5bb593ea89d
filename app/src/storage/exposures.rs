//! Exposures: the first time each unit saw each experiment.

use super::{on_pool, Db};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::types::Json;

#[derive(Debug, Clone)]
pub struct Exposure {
    pub experiment_id: i64,
    pub unit_id: String,
    pub variation_index: usize,
    pub at: DateTime<Utc>,
    pub attributes: Map<String, Value>,
}

/// Rows per INSERT: well under SQLite's and PostgreSQL's bind-parameter limits (6 per row).
const ROWS_PER_STATEMENT: usize = 1000;

/// Inserts a batch in one transaction; units already exposed keep their first exposure.
pub async fn insert_batch(db: &Db, batch: &[Exposure]) -> Result<(), AppError> {
    on_pool!(db, pool => async {
        let mut tx = pool.begin_with(db.begin_write()).await?;
        let recorded_at = Utc::now();
        for chunk in batch.chunks(ROWS_PER_STATEMENT) {
            let mut query = sqlx::QueryBuilder::new(
                "INSERT INTO exposures (experiment_id, unit_id, variation_index, first_exposed_at, attributes, recorded_at) ",
            );
            query.push_values(chunk, |mut row, e| {
                row.push_bind(e.experiment_id)
                    .push_bind(&e.unit_id)
                    .push_bind(e.variation_index as i32)
                    .push_bind(e.at)
                    .push_bind(Json(&e.attributes))
                    .push_bind(recorded_at);
            });
            query.push(" ON CONFLICT (experiment_id, unit_id) DO NOTHING");
            query.build().execute(&mut *tx).await?;
        }
        tx.commit().await
    }.await)?;
    Ok(())
}

/// Exposed units per variation index.
pub async fn counts(db: &Db, experiment_id: i64) -> Result<Vec<(i32, i64)>, AppError> {
    let sql = "SELECT variation_index, COUNT(*) FROM exposures WHERE experiment_id = $1 GROUP BY variation_index ORDER BY variation_index";
    Ok(on_pool!(db, pool => sqlx::query_as(sql).bind(experiment_id).fetch_all(pool).await)?)
}
