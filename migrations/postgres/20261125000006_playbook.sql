-- The playbook: one entry per concluded experiment. The conclusion (decision, learning, signals, segments, tags,
-- notes) is fixed when the entry is written; its results live in revisions.
CREATE TABLE playbook_entries (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id BIGINT      NOT NULL UNIQUE REFERENCES experiments (id),
    conclusion    JSONB       NOT NULL,
    concluded_at  TIMESTAMPTZ NOT NULL,
    concluded_by  TEXT        NOT NULL
);

-- Frozen results: revision 1 at conclusion, one more per re-analysis. A revision is never changed or removed,
-- so what a stakeholder read stays what the entry says.
CREATE TABLE playbook_revisions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id   BIGINT      NOT NULL REFERENCES playbook_entries (id),
    revision   INTEGER     NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by TEXT        NOT NULL,
    reason     TEXT        NOT NULL,
    -- What lists show (outcome, primary effect, deviations), derived from the snapshot when it was written.
    summary    JSONB       NOT NULL,
    snapshot   JSONB       NOT NULL,
    UNIQUE (entry_id, revision)
);
CREATE FUNCTION playbook_revisions_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'playbook revisions are immutable';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER playbook_revisions_immutable BEFORE UPDATE OR DELETE ON playbook_revisions
    FOR EACH ROW EXECUTE FUNCTION playbook_revisions_immutable();

-- Read-only links to one entry or to a filtered playbook view. Only a SHA-256 of the token is kept.
CREATE TABLE share_links (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash TEXT        NOT NULL UNIQUE,
    entry_id   BIGINT REFERENCES playbook_entries (id),
    filter     JSONB,
    label      TEXT        NOT NULL,
    created_by TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    CHECK ((entry_id IS NULL) <> (filter IS NULL))
);
