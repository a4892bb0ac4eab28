-- Every data version an upload to a partner's product has claimed (engine/marketplace/data.py). ClickHouse has
-- no compare-and-set: an upload writes its claim on the next number and keeps it only if, read back, no other
-- upload claimed the same one, so uploads at the same moment in several processes never share a version.
CREATE TABLE IF NOT EXISTS partner_data_versions
(
    product_id String,
    version    UInt32,
    upload_id  String,
    claimed_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (product_id, version);
