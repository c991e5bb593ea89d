-- What the events of one device repeat in their context (device, user agent, campaign, location, locale, library)
-- is stored once, in `event_contexts`, instead of in every event row: it was two thirds of an event's bytes.
-- `events.context` keeps what is the event's own (page, screen, referrer); `events.context_id` points at the
-- rest. Events stored before this migration have no `context_id` and all of their context in `events.context`.
-- `digest` is the SHA-256 of the shared context's JSON text, which identifies it. Contexts hold personal data
-- (a city, a user agent): erasing a person's events must also delete the contexts no other event points at.
CREATE TABLE event_contexts (
    id      INTEGER PRIMARY KEY,
    digest  BLOB    NOT NULL UNIQUE,
    context TEXT    NOT NULL
);
ALTER TABLE events ADD COLUMN context_id INTEGER;
