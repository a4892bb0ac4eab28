-- Accounts and the audit log (issue 10).
-- One row per user, versioned by updated_at: a change of role, password or state is an insert, and readers
-- see the latest with FINAL. The email is unique, lower-cased; engine/accounts.py checks it before a create
-- (a sort key cannot enforce it: the key is the user_id, which never changes).
CREATE TABLE IF NOT EXISTS users
(
    user_id       String,
    email         String,
    role          LowCardinality(String),
    password_hash String,
    active        Bool,
    created_at    DateTime64(3, 'UTC'),
    updated_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (user_id);

-- Who did what, when and from where: every admin action (backfills, job runs, user changes). Rows are only
-- ever added; kept for five years.
CREATE TABLE IF NOT EXISTS audit_log
(
    at      DateTime64(3, 'UTC'),
    actor   String,
    action  LowCardinality(String),
    detail  String,
    address String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at)
TTL toDateTime(at) + INTERVAL 5 YEAR;
