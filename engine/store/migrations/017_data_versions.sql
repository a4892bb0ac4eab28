-- One version per market, raised by the writer whenever a batch changes that market's series (issue 14):
-- cached answers about one market are keyed on it, so a NEM load leaves IESO's cached answers in place.
-- version: microseconds since the epoch at the change (a later change has a larger one; max() reads it).
CREATE TABLE IF NOT EXISTS data_versions
(
    market     LowCardinality(String),
    version    UInt64,
    changed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (market);
