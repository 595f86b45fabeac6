-- Dashboard sessions ended by logout. The session itself is a cookie; a copy of it must
-- stop working on every replica, so the ending is kept here until the session would have
-- expired anyway (`until`), then forgotten.
CREATE TABLE ended_sessions (
    id     text PRIMARY KEY,
    until  timestamptz NOT NULL
);
CREATE INDEX ended_sessions_until ON ended_sessions (until);
