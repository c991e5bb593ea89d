-- Experiments. The configuration a person edits is one JSON document (`spec`); status and lifecycle
-- timestamps are columns because queries filter and sort on them.
CREATE TABLE experiments (
    id           INTEGER PRIMARY KEY,
    key          TEXT    NOT NULL UNIQUE,
    status       TEXT    NOT NULL CHECK (status IN ('draft', 'running', 'stopped', 'concluded')),
    spec         TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    started_at   TEXT,
    stopped_at   TEXT,
    concluded_at TEXT
);

-- Every change to an experiment: who, when, what (shown on the experiment page).
CREATE TABLE experiment_changes (
    id            INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    at            TEXT    NOT NULL,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    detail        TEXT    NOT NULL
);
CREATE INDEX experiment_changes_experiment ON experiment_changes (experiment_id, at);

-- Installation-wide settings, one row per name (e.g. the global holdout).
CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
