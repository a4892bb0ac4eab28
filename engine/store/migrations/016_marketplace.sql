-- The data marketplace (issue 13). Partners, products, price plans, keys and subscriptions are one row per
-- thing versioned by updated_at (ReplacingMergeTree, read with FINAL): a change is an insert, and every change is
-- also a row of marketplace_audit. Usage rows are only added.

-- status: pending (registered, awaiting an admin) | active | suspended. user_id: the partner account that
-- registered it (the partner role); payout_reference: where the partner is paid (an IBAN or account id).
CREATE TABLE IF NOT EXISTS partners
(
    partner_id       String,
    organisation     String,
    contact_email    String,
    payout_reference String,
    status           LowCardinality(String),
    user_id          String,
    created_at       DateTime64(3, 'UTC'),
    updated_at       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (partner_id);

-- Who changed what in the marketplace: entity (partner | product | plan | key | subscription), its id, the
-- action and a detail (the fields changed). Only added.
CREATE TABLE IF NOT EXISTS marketplace_audit
(
    at        DateTime64(3, 'UTC'),
    actor     String,
    entity    LowCardinality(String),
    entity_id String,
    action    LowCardinality(String),
    detail    String
)
ENGINE = MergeTree
ORDER BY (entity, entity_id, at);

-- owner: 'platform' for products over our own store (source: the query they serve), or the partner_id whose
-- uploads they serve. columns_json: the declared schema [{name, type, unit}]; sample_json: sample rows.
-- status: draft | listed | delisted. version: the latest uploaded data version (0: none yet).
CREATE TABLE IF NOT EXISTS products
(
    product_id       String,
    slug             String,
    owner            String,
    title            String,
    description      String,
    markets          Array(String),
    category         LowCardinality(String),
    update_frequency LowCardinality(String),
    columns_json     String,
    sample_json      String,
    tags             Array(String),
    source           String,
    status           LowCardinality(String),
    version          UInt32,
    created_at       DateTime64(3, 'UTC'),
    updated_at       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (product_id);

-- A product's price from effective_from until its next plan: kind free | per_call | per_1000_rows | monthly;
-- price exact to a millionth (a call at 0.005, a third of a unit as 0.333333). A plan is never changed: a new
-- price is a new row from a later instant, so a past month's statement re-runs the same.
CREATE TABLE IF NOT EXISTS price_plans
(
    product_id     String,
    effective_from DateTime64(3, 'UTC'),
    kind           LowCardinality(String),
    price          Decimal(18, 6),
    currency       LowCardinality(String),
    created_by     String,
    created_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY (product_id, effective_from);

-- API keys (engine/marketplace/keys.py): the secret's SHA-256 only. kind sandbox | production; products: the
-- product ids the key is entitled to; quota_calls over the key's life (0: none) and rate_per_minute.
CREATE TABLE IF NOT EXISTS api_keys
(
    key_id          String,
    kind            LowCardinality(String),
    secret_sha256   String,
    user_id         String,
    products        Array(String),
    quota_calls     UInt64,
    rate_per_minute UInt32,
    expires_at      Nullable(DateTime64(3, 'UTC')),
    revoked_at      Nullable(DateTime64(3, 'UTC')),
    created_at      DateTime64(3, 'UTC'),
    updated_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (key_id);

CREATE TABLE IF NOT EXISTS subscriptions
(
    subscription_id String,
    product_id      String,
    user_id         String,
    start_at        DateTime64(3, 'UTC'),
    end_at          Nullable(DateTime64(3, 'UTC')),
    updated_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (subscription_id);

-- Every call of the product API (engine/marketplace/metering.py writes them in batches).
CREATE TABLE IF NOT EXISTS api_usage
(
    at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    key_id     String,
    key_kind   LowCardinality(String),
    user_id    String,
    product    LowCardinality(String),
    partner    LowCardinality(String),
    rows       UInt64,
    bytes      UInt64,
    latency_ms Float32,
    status     UInt16
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (partner, product, at);
