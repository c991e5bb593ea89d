-- The playbook: one entry per concluded experiment. The conclusion (decision, learning, signals, segments, tags,
-- notes) is fixed when the entry is written; its results live in revisions.
CREATE TABLE playbook_entries (
    id            INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL UNIQUE REFERENCES experiments (id),
    conclusion    TEXT    NOT NULL,
    concluded_at  TEXT    NOT NULL,
    concluded_by  TEXT    NOT NULL
);

-- Frozen results: revision 1 at conclusion, one more per re-analysis. A revision is never changed or removed,
-- so what a stakeholder read stays what the entry says.
CREATE TABLE playbook_revisions (
    id         INTEGER PRIMARY KEY,
    entry_id   INTEGER NOT NULL REFERENCES playbook_entries (id),
    revision   INTEGER NOT NULL,
    created_at TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    -- What lists show (outcome, primary effect, deviations), derived from the snapshot when it was written.
    summary    TEXT    NOT NULL,
    snapshot   TEXT    NOT NULL,
    UNIQUE (entry_id, revision)
);
CREATE TRIGGER playbook_revisions_immutable BEFORE UPDATE ON playbook_revisions
BEGIN
    SELECT RAISE(ABORT, 'playbook revisions are immutable');
END;
CREATE TRIGGER playbook_revisions_permanent BEFORE DELETE ON playbook_revisions
BEGIN
    SELECT RAISE(ABORT, 'playbook revisions are immutable');
END;

-- Read-only links to one entry or to a filtered playbook view. Only a SHA-256 of the token is kept.
CREATE TABLE share_links (
    id         INTEGER PRIMARY KEY,
    token_hash TEXT    NOT NULL UNIQUE,
    entry_id   INTEGER REFERENCES playbook_entries (id),
    filter     TEXT,
    label      TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    revoked_at TEXT,
    CHECK ((entry_id IS NULL) <> (filter IS NULL))
);
