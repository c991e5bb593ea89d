-- The metric library: what experiments measure (see domain::stats::metrics::MetricSpec). Results read the
-- current definition; concluded experiments keep a frozen copy of their results.
CREATE TABLE metrics (
    key        TEXT PRIMARY KEY,
    spec       JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by TEXT NOT NULL
);
