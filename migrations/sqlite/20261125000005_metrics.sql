-- The metric library: what experiments measure (see domain::stats::metrics::MetricSpec). Results read the
-- current definition; concluded experiments keep a frozen copy of their results.
CREATE TABLE metrics (
    key        TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
