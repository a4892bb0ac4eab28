-- Sessions ended by signing out. The session itself is a signed cookie, so a request that was already under
-- way when its user signed out could write the cookie back with the user still in it: a session's id is
-- recorded here at sign-out and refused from then on, whatever cookie comes back. Rows outlive any session
-- (the absolute lifetime is at most days), then expire.
CREATE TABLE IF NOT EXISTS ended_sessions
(
    session_id String,
    user_id    String,
    ended_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ended_at)
ORDER BY (session_id)
TTL toDateTime(ended_at) + INTERVAL 30 DAY;
