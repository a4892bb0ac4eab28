-- Every trained forecast model (issue 11): one row per training, never changed afterwards. The weights live
-- in an artefact file under the app's var/models/ folder (artefact_path, checked against artefact_sha256 on
-- load); the row keeps what made it: settings, the data window it saw, its validation metrics and the time
-- it took. engine/forecast/registry.py numbers the versions of a (market, location, kind) from 1.
CREATE TABLE IF NOT EXISTS forecast_models
(
    model_id        String,
    market          LowCardinality(String),
    location        LowCardinality(String),
    kind            LowCardinality(String),
    version         UInt32,
    settings        String,
    window_start    DateTime64(3, 'UTC'),
    window_end      DateTime64(3, 'UTC'),
    metrics         String,
    artefact_path   String,
    artefact_sha256 String,
    trained_at      DateTime64(3, 'UTC'),
    seconds         Float64
)
ENGINE = MergeTree
ORDER BY (market, location, kind, version);
