-- Ringback's store on PostgreSQL (SPEC §10). Values the domain defines are JSON (`data`,
-- `record`, `change`), in the same shapes the embedded store writes; the columns beside
-- them are what queries select, order and lock by. `rev` counts a row's changes: a write
-- plan expects the revision it was decided from, and finds none to change (a conflict)
-- when someone else changed the row first.

CREATE TABLE callbacks (
    id               text PRIMARY KEY,            -- ULID: sorts by creation time
    customer         text NOT NULL,               -- E.164
    pending          boolean NOT NULL,
    first_missed_at  timestamptz NOT NULL,
    resolved_at      timestamptz,
    next_wake        timestamptz,                 -- next reminder or escalation, if any
    rev              bigint NOT NULL,
    data             jsonb NOT NULL
);
-- At most one pending callback per customer, however many replicas race.
CREATE UNIQUE INDEX callbacks_one_pending_per_customer ON callbacks (customer) WHERE pending;
CREATE INDEX callbacks_pending_by_age ON callbacks (first_missed_at, id) WHERE pending;
CREATE INDEX callbacks_resolved_by_time ON callbacks (resolved_at, id) WHERE NOT pending;
CREATE INDEX callbacks_due ON callbacks (next_wake) WHERE next_wake IS NOT NULL;

CREATE TABLE timeline (
    callback_id  text NOT NULL REFERENCES callbacks (id) ON DELETE CASCADE,
    seq          bigserial,
    entries      jsonb NOT NULL,                  -- the entries of one change
    PRIMARY KEY (callback_id, seq)
);

CREATE TABLE customers (
    number            text PRIMARY KEY,
    last_answered_at  timestamptz,
    rev               bigint NOT NULL
);

CREATE TABLE calls (
    call_id       text PRIMARY KEY,
    newest_event  text NOT NULL,                  -- retention keeps a call while this is kept
    rev           bigint NOT NULL,
    data          jsonb NOT NULL
);

CREATE TABLE event_dedup (
    trigger   text NOT NULL,
    call_id   text NOT NULL,
    leg       text NOT NULL,
    event_id  text NOT NULL,
    PRIMARY KEY (trigger, call_id, leg)
);

CREATE TABLE events (
    id           text PRIMARY KEY,                -- ULID: sorts by receipt
    received_at  timestamptz NOT NULL,
    record       jsonb NOT NULL,
    body         bytea NOT NULL
);

CREATE TABLE outbox (
    id               text PRIMARY KEY,
    takeable_at      timestamptz NOT NULL,        -- next attempt, or the lease's end
    next_attempt_at  timestamptz NOT NULL,
    lease_owner      text,
    lease_until      timestamptz,
    rev              bigint NOT NULL,
    data             jsonb NOT NULL
);
CREATE INDEX outbox_takeable ON outbox (takeable_at);

CREATE TABLE stored_rules (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    change  jsonb NOT NULL
);

CREATE TABLE rules_audit (
    id      text PRIMARY KEY,
    at      timestamptz NOT NULL,
    change  jsonb NOT NULL
);

CREATE TABLE unknown_chats (
    chat_id  bigint PRIMARY KEY,
    record   jsonb NOT NULL
);

CREATE TABLE digests (
    schedule    text NOT NULL,
    occurrence  timestamptz NOT NULL,
    claim       jsonb NOT NULL,
    PRIMARY KEY (schedule, occurrence)
);

-- Small named values: the Telegram offset, the schedule fingerprint, the probe.
CREATE TABLE settings (
    key    text PRIMARY KEY,
    value  text NOT NULL
);

-- Generated tokens and keys, shared by every replica.
CREATE TABLE secrets (
    name   text PRIMARY KEY,
    value  text NOT NULL
);

-- Rows that could not be read, set aside with where they came from.
CREATE TABLE quarantine (
    id        bigserial PRIMARY KEY,
    tbl       text NOT NULL,
    key       text NOT NULL,
    data      jsonb,
    reason    text NOT NULL,
    set_aside timestamptz NOT NULL DEFAULT now()
);
