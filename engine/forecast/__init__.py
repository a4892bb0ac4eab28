"""Price forecasts: baselines (weekly naive, LEAR), the transformer, calibration to quantiles, metrics."""
