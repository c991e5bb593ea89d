-- Experiments. The configuration a person edits is one JSON document (`spec`); status and lifecycle
-- timestamps are columns because queries filter and sort on them.
CREATE TABLE experiments (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key          TEXT        NOT NULL UNIQUE,
    status       TEXT        NOT NULL CHECK (status IN ('draft', 'running', 'stopped', 'concluded')),
    spec         JSONB       NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    started_at   TIMESTAMPTZ,
    stopped_at   TIMESTAMPTZ,
    concluded_at TIMESTAMPTZ
);

-- Every change to an experiment: who, when, what (shown on the experiment page).
CREATE TABLE experiment_changes (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id BIGINT      NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    at            TIMESTAMPTZ NOT NULL,
    actor         TEXT        NOT NULL,
    action        TEXT        NOT NULL,
    detail        JSONB       NOT NULL
);
CREATE INDEX experiment_changes_experiment ON experiment_changes (experiment_id, at);

-- Installation-wide settings, one row per name (e.g. the global holdout).
CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
