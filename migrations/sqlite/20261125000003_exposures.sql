-- First exposure of each unit to each experiment: what analysis counts. Written in batches by the exposure
-- writer; a repeated exposure of the same unit changes nothing. The attributes sent with the first assignment
-- are kept for segment breakdowns.
CREATE TABLE exposures (
    experiment_id    INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    unit_id          TEXT    NOT NULL,
    variation_index  INTEGER NOT NULL,
    first_exposed_at TEXT    NOT NULL,
    attributes       TEXT    NOT NULL,
    PRIMARY KEY (experiment_id, unit_id)
);
