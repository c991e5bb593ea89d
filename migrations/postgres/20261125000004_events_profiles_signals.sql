-- Events, unified profiles and the signal library. Raw events, per-unit aggregates (profiles, profile_signals,
-- orders) and counters (ingest_stats, signal_volume) are separate tables so that analysis, models and erasure
-- can each find every row of a subject. Consent travels with every event and profile.

-- One person, however many ids they used. Cached aggregates are kept current by the ingest writer.
CREATE TABLE profiles (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    traits       JSONB   NOT NULL DEFAULT '{}'::jsonb,
    consent      JSONB   NOT NULL DEFAULT '{}'::jsonb,
    opted_out    BOOLEAN NOT NULL DEFAULT FALSE,
    channels     JSONB   NOT NULL DEFAULT '[]'::jsonb,
    first_seen   TIMESTAMPTZ NOT NULL,
    last_seen    TIMESTAMPTZ NOT NULL,
    orders       BIGINT NOT NULL DEFAULT 0,
    revenue      DOUBLE PRECISION    NOT NULL DEFAULT 0,
    -- The intent score and stage as of the profile's last event (the API decays the score to the present).
    intent_score DOUBLE PRECISION    NOT NULL DEFAULT 0,
    stage        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX profiles_stage ON profiles (stage);
CREATE INDEX profiles_last_seen ON profiles (last_seen);

-- Every id (user id, anonymous id, device id, loyalty id, …) and the profile it belongs to.
CREATE TABLE identities (
    id         TEXT    PRIMARY KEY,
    profile_id BIGINT NOT NULL REFERENCES profiles (id),
    kind       TEXT    NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL
);
CREATE INDEX identities_profile ON identities (profile_id);

-- Raw events with analytics consent; `message_id` is unique per source (the API key that sent it).
CREATE TABLE events (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source            TEXT    NOT NULL,
    message_id        TEXT    NOT NULL,
    profile_id        BIGINT NOT NULL,
    type              TEXT    NOT NULL,
    event             TEXT,
    user_id           TEXT,
    anonymous_id      TEXT,
    previous_id       TEXT,
    timestamp         TIMESTAMPTZ NOT NULL,
    received_at       TIMESTAMPTZ NOT NULL,
    channel           TEXT    NOT NULL,
    properties        JSONB   NOT NULL,
    traits            JSONB   NOT NULL,
    context           JSONB   NOT NULL,
    consent           JSONB   NOT NULL,
    schema_violations JSONB,
    UNIQUE (source, message_id)
);
CREATE INDEX events_profile_time ON events (profile_id, timestamp);
CREATE INDEX events_name_time ON events (event, timestamp);

-- Purchases (the macro conversion), de-duplicated by order id whatever the source.
CREATE TABLE orders (
    order_id   TEXT    PRIMARY KEY,
    profile_id BIGINT NOT NULL,
    source     TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    revenue    DOUBLE PRECISION,
    currency   TEXT,
    at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX orders_profile ON orders (profile_id, at);

-- The signal library: the current version of each signal; every version is kept in signal_versions.
CREATE TABLE signals (
    key        TEXT    PRIMARY KEY,
    version    BIGINT NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('active', 'deprecated')),
    spec       JSONB   NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE signal_versions (
    key        TEXT    NOT NULL REFERENCES signals (key),
    version    BIGINT NOT NULL,
    spec       JSONB   NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by TEXT    NOT NULL,
    PRIMARY KEY (key, version)
);

CREATE TABLE signal_changes (
    id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key    TEXT    NOT NULL REFERENCES signals (key),
    at     TIMESTAMPTZ NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    detail JSONB   NOT NULL
);
CREATE INDEX signal_changes_key ON signal_changes (key, at);

-- Each profile's running score per signal (see domain::signals::SignalState).
CREATE TABLE profile_signals (
    profile_id      BIGINT NOT NULL,
    signal_key      TEXT    NOT NULL,
    matches         BIGINT NOT NULL,
    last_occurrence TIMESTAMPTZ NOT NULL,
    score           DOUBLE PRECISION    NOT NULL,
    score_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (profile_id, signal_key)
);

-- Matches per signal version, day and channel: sparklines and volume checks without scanning events.
CREATE TABLE signal_volume (
    signal_key TEXT    NOT NULL,
    version    BIGINT NOT NULL,
    day        DATE       NOT NULL,
    channel    TEXT    NOT NULL,
    matches    BIGINT NOT NULL,
    PRIMARY KEY (signal_key, version, day, channel)
);

-- Ingestion counters per source and hour: accepted, duplicates, consent_dropped, opted_out,
-- schema_violations, rejected:<code>.
CREATE TABLE ingest_stats (
    source TEXT    NOT NULL,
    hour   TIMESTAMPTZ NOT NULL,
    metric TEXT    NOT NULL,
    count  BIGINT NOT NULL,
    PRIMARY KEY (source, hour, metric)
);
