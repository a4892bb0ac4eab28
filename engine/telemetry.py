"""The operating figures kept in the store, read at once for monitoring (``/metrics``, the System page).

What the store records is counted from the store, not from counters in one process: job runs and rows written
(``job_runs``), when each job last ended each way, stored rows per table, data age per market and dataset,
forecasts issued, signals recorded, FIX orders by state, marketplace API calls by status and their metered rows,
and the marketplace's revenue this month so far. Every web worker and the scheduler write to the same store, so
these figures are the same whichever process answers the scrape.

They are what the store holds now, not tallies of events: a backfill that replaces demo signals, or a job run
expiring from ``job_runs`` after its year, lowers them. ``/metrics`` therefore gives them as gauges."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from engine import queries
from engine.marketplace.views import revenue_to_date
from engine.store import Store

#: name → (SQL, label columns, value column); each answers a few rows at most
_COUNTS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "job_runs": ("SELECT job, status, count() AS n FROM job_runs FINAL GROUP BY job, status",
                 ("job", "status"), "n"),
    # a run in progress is a state, not an outcome; its timestamp would be its start, so it is left out
    "job_last_finished": ("SELECT job, status, toFloat64(max(finished_at)) AS n FROM job_runs FINAL "
                          "WHERE status != 'running' AND finished_at IS NOT NULL GROUP BY job, status",
                          ("job", "status"), "n"),
    "rows_written": ("SELECT job, sum(rows_written) AS n FROM job_runs FINAL GROUP BY job", ("job",), "n"),
    "rows_ingested": ("SELECT connector, table, sum(rows) AS n FROM job_runs FINAL ARRAY JOIN "
                      "mapKeys(rows_by_table) AS table, mapValues(rows_by_table) AS rows WHERE connector != '' "
                      "GROUP BY connector, table", ("connector", "table"), "n"),
    "stored_rows": ("SELECT table, sum(rows) AS n FROM system.parts WHERE database = currentDatabase() AND active "
                    "GROUP BY table", ("table",), "n"),
    "forecasts_issued": ("SELECT market, model, count() AS n FROM forecast_runs GROUP BY market, model",
                         ("market", "model"), "n"),
    "signals_recorded": ("SELECT market, strategy, count() AS n FROM signals FINAL GROUP BY market, strategy",
                         ("market", "strategy"), "n"),
    "orders": ("SELECT state, count() AS n FROM orders FINAL GROUP BY state", ("state",), "n"),
    "api_calls": ("SELECT toString(status) AS status, key_kind, count() AS n FROM api_usage "
                  "GROUP BY status, key_kind", ("status", "key_kind"), "n"),
    "api_rows": ("SELECT key_kind, sum(rows) AS n FROM api_usage WHERE status = 200 GROUP BY key_kind",
                 ("key_kind",), "n"),
}


@dataclass(frozen=True)
class Figures:
    """Each count as a frame of its label columns and ``value``; data age as market, dataset, seconds, is_demo
    (the newest interval is demo data, which no connector updates)."""
    counts: dict[str, pd.DataFrame]
    data_age: pd.DataFrame


def store_figures(store: Store, freshness: list[queries.Freshness], now: pd.Timestamp | None = None) -> Figures:
    """The counts, and each dataset's age at ``now``. ``freshness``: the datasets' newest interval ends as the
    caller holds them, cached (``queries.dataset_freshness`` reads every row of each series table: 0.2 s at ten
    million prices, 0.74 s at a network's nodal prices, too much for each scrape and each refresh of the System
    page); the ages are taken at ``now``, not when those ends were read."""
    now = now or pd.Timestamp.now(tz="UTC")
    counts = {}
    for name, (sql, labels, value) in _COUNTS.items():
        frame = store.query_df(sql)
        counts[name] = pd.DataFrame({**{c: frame[c].astype(str) for c in labels},
                                     "value": frame[value].astype(float)})
    age = pd.DataFrame({"market": [f.market for f in freshness], "dataset": [f.dataset for f in freshness],
                        "seconds": [(now - f.latest_end).total_seconds() if f.latest_end is not None else float("nan")
                                    for f in freshness],
                        "is_demo": [f.is_demo for f in freshness]})
    return Figures(counts, age)


def revenue_month_to_date(store: Store, now: pd.Timestamp | None = None) -> pd.DataFrame:
    """The marketplace's revenue this UTC month so far as part, currency, amount: for ``/metrics`` alone (it makes
    the month's statements, which the System page, reading store_figures every few seconds, does not show)."""
    made = revenue_to_date(store, now)
    return pd.DataFrame({"part": [part for part, _ in made], "currency": [cur for _, cur in made],
                         "amount": [float(v) for v in made.values()]}, columns=["part", "currency", "amount"])
