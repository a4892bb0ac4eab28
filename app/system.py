"""The System page's figures, read at once: request and callback latency percentiles and cache counts by data
class (this process's prometheus-client figures, or every worker's in multiprocess mode, as ``/metrics`` reads
them), job runs and failures, rows ingested by connector and table, and data age (from the store,
:mod:`engine.telemetry`), and whether the store and the cache answer.

Latency percentiles come from the histograms' cumulative buckets, interpolated within the bucket the rank
falls in, as Prometheus' ``histogram_quantile`` does: the figures on the page are the ones a Grafana panel
over ``/metrics`` would show. A percentile is given only from :data:`MIN_ANSWERS` answers on: below that it would
be the slowest answer, which buckets bound but do not give (one answer of 1.2 s read p50 1,750, p95 2,425 and
p99 2,485 ms, three points inside its 1–2.5 s bucket). The mean (the histogram's sum over its count) is exact at
any count.

Latency and cache figures cover the last :data:`WINDOW_SECONDS`, as a Grafana panel over ``rate(...[5m])`` would:
since the process started, a figure hours old barely moves however slow the last minutes were, and a page
refreshed every few seconds would show nothing new. :class:`FigureHistory` keeps the histograms' and counters'
values every :data:`SAMPLE_SECONDS` (a thread of its own from the worker's boot, and each read of the page); the
figures are the values now less those of the newest sample at least the window old, or since the process started
while it is younger than the window. Every value only grows; one that fell (a worker replaced in multiprocess
mode) is taken whole."""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.metrics_core import Metric

from app.counters import CACHE_REQUESTS, CALLBACK_SECONDS, REQUEST_SECONDS
from engine import queries, telemetry
from engine.markets import MARKETS

if TYPE_CHECKING:
    from app.services import Services

log = logging.getLogger(__name__)
QUANTILES = (0.5, 0.95, 0.99)
LATENCY_COLUMNS = ("count", "errors", "mean", "p50", "p95", "p99")
#: The fewest answers from which each percentile is given: 1 / (1 - q), the count at which the q quantile's rank
#: first falls below the slowest answer.
MIN_ANSWERS = {q: math.ceil(round(1 / (1 - q), 9)) for q in QUANTILES}
#: The same by the tables' percentile columns ("p95": 20).
MIN_ANSWERS_BY_COLUMN = {f"p{round(q * 100)}": n for q, n in MIN_ANSWERS.items()}
#: A cache failure older than this, with no read since to clear it, is no longer shown as the cache's state.
CACHE_ERROR_SHOWN_SECONDS = 300.0
#: The span the latency and cache figures cover (seconds), and how often the values are kept to cut it from.
WINDOW_SECONDS = 300.0
SAMPLE_SECONDS = 10.0
#: The families windowed: the histograms of requests and callbacks, the cache's counters.
_WINDOWED = ("c254_request_seconds", "c254_callback_seconds", "c254_cache_requests")
#: The expected delay of a dataset in a market the markets table does not name (as engine.queries assumes).
_DEFAULT_DELAY_MINUTES = 1440


@dataclass(frozen=True)
class SystemFigures:
    """Latencies in seconds; frames sorted by their first column."""
    taken_at: pd.Timestamp
    #: whose in-process figures these are: "this process" or "all workers"
    scope: str
    #: where the latency and cache figures start (the sample they are cut from: WINDOW_SECONDS before taken_at,
    #: a sampling interval more at most), or None while the process is younger (the figures are since it started)
    window_start: pd.Timestamp | None
    requests: pd.DataFrame  # route, count, errors (5xx), mean, p50, p95, p99 (NaN below MIN_ANSWERS)
    callbacks: pd.DataFrame  # callback (output id), count, errors, mean, p50, p95, p99
    cache: pd.DataFrame  # data_class, hit, miss, error, warmed, hit_rate (NaN before a user's first lookup)
    jobs: pd.DataFrame  # job, runs, succeeded, failed, cancelled, running
    ingested: pd.DataFrame  # connector, table, rows: what scheduled loads and backfills wrote, all runs
    #: market, dataset, age_seconds (NaN: nothing stored), expected_seconds, is_demo, state (age_state's)
    data_age: pd.DataFrame
    store_up: bool
    store_error: str  # why the store did not answer ("" when it did)
    cache_error: str  # the cache's last failure while it is recent and no read has worked since ("" otherwise)
    cache_error_at: pd.Timestamp | None
    #: percentile column ("p95") → the fewest answers it is given from (MIN_ANSWERS), for the page to say so
    min_answers: dict[str, int] = field(default_factory=lambda: dict(MIN_ANSWERS_BY_COLUMN))

    def export(self, table: str) -> pd.DataFrame:
        """One table of the System page as analysts download it (see the CSV exports below): "requests",
        "callbacks", "ingested" or "age"; KeyError for anything else."""
        frame, made = _EXPORTS[table]
        return made(getattr(self, frame))

    def holds(self, table: str) -> bool:
        """Whether the table has a row to download (read from its frame: the page asks this every tick)."""
        return not getattr(self, _EXPORTS[table][0]).empty


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """The ``q`` quantile (0..1) of a histogram given as (upper bound, cumulative count) pairs ending at +Inf.

    Linear within the bucket the rank falls in (its lower bound is the previous bucket's upper bound, 0 for the
    first); a rank in the +Inf bucket answers the highest finite bound, as Prometheus does. NaN when empty."""
    if not 0 <= q <= 1:
        raise ValueError(f"quantile must lie in 0..1, got {q!r}")
    ordered = sorted(buckets)
    if not ordered or not math.isinf(ordered[-1][0]):
        raise ValueError("histogram buckets must end with the +Inf bucket")
    total = ordered[-1][1]
    if total <= 0:
        return float("nan")
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, cumulative in ordered:
        if cumulative >= rank:
            if math.isinf(upper):
                return lower
            inside = cumulative - below
            return upper if inside <= 0 else lower + (upper - lower) * (rank - below) / inside
        lower, below = upper, cumulative
    return lower


_Key = tuple[str, tuple[tuple[str, str], ...]]


def _values(families: Iterable[Metric]) -> dict[_Key, float]:
    """The windowed families' sample values by sample name and labels."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in families if family.name in _WINDOWED for sample in family.samples}


class FigureHistory:
    """The windowed families' values as they were, one sample per SAMPLE_SECONDS, as far back as the window
    needs; process-wide, as the figures are."""

    def __init__(self) -> None:
        self._samples: list[tuple[float, dict[_Key, float]]] = []
        self._lock = threading.Lock()
        self._sampler: threading.Thread | None = None

    def record(self, now: float, families: Iterable[Metric]) -> None:
        """Keep the values of ``families`` at ``now`` unless a sample was kept in the last SAMPLE_SECONDS; drop the
        samples no window will start from (all but the newest one at least WINDOW_SECONDS old)."""
        with self._lock:
            while self._samples and self._samples[-1][0] > now:  # the clock was set back: those are not before now
                self._samples.pop()
            if self._samples and now - self._samples[-1][0] < SAMPLE_SECONDS:
                return
            self._samples.append((now, _values(families)))
            old = [i for i, (at, _) in enumerate(self._samples) if at <= now - WINDOW_SECONDS]
            if len(old) > 1:
                del self._samples[:old[-1]]

    def baseline(self, now: float) -> tuple[float, dict[_Key, float]] | None:
        """The newest sample at least WINDOW_SECONDS before ``now``, or None while there is none."""
        with self._lock:
            old = [sample for sample in self._samples if sample[0] <= now - WINDOW_SECONDS]
        return old[-1] if old else None

    def start_sampling(self) -> None:
        """Sample in a thread of its own from now on (once per process): the window is then ready when an admin
        first opens the page, not five minutes after."""
        with self._lock:
            if self._sampler is not None and self._sampler.is_alive():
                return
            self._sampler = threading.Thread(target=self._sample_forever, name="system-figures", daemon=True)
            self._sampler.start()

    def _sample_forever(self) -> None:
        # waits on an event, not time.sleep: a test that stands in for time.sleep (engine.jobs' retries) would
        # otherwise set this thread spinning and see its waits among its own
        pause = threading.Event()
        while True:
            try:
                self.record(time.time(), _families())
            except Exception:  # monitoring's own sampling must never end the process's other work
                log.exception("system figures: could not sample the latency and cache figures")
            pause.wait(SAMPLE_SECONDS)


HISTORY = FigureHistory()


def windowed(families: Iterable[Metric], baseline: dict[_Key, float] | None) -> list[Metric]:
    """``families`` with the windowed ones' values less ``baseline``'s (a value that fell since is taken whole:
    its worker was replaced); the others as they are."""
    if baseline is None:
        return list(families)
    out = []
    for family in families:
        if family.name not in _WINDOWED:
            out.append(family)
            continue
        cut = Metric(family.name, family.documentation, family.type, family.unit)
        for sample in family.samples:
            before = baseline.get((sample.name, tuple(sorted(sample.labels.items()))), 0.0)
            value = sample.value - before if sample.value >= before else sample.value
            cut.samples.append(sample._replace(value=value))
        out.append(cut)
    return out


def _families() -> list[Metric]:
    """The in-process figures: summed over every worker's files in multiprocess mode (a fresh registry each
    time, as app/metrics.py does, so nothing is registered twice), else this process's collectors."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return list(registry.collect())
    return [family for collector in (REQUEST_SECONDS, CALLBACK_SECONDS, CACHE_REQUESTS)
            for family in collector.collect()]


def latency_table(families: Iterable[Metric], metric: str, by: str) -> pd.DataFrame:
    """Per value of the label ``by``: answers, 5xx answers, the mean and the QUANTILES of the histogram ``metric``
    (summed over its other labels: method, status); a quantile is NaN below its :data:`MIN_ANSWERS`."""
    buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    counts: dict[str, float] = defaultdict(float)
    sums: dict[str, float] = defaultdict(float)
    errors: dict[str, float] = defaultdict(float)
    for family in families:
        if family.name != metric:
            continue
        for sample in family.samples:
            key = sample.labels.get(by, "")
            if sample.name.endswith("_bucket"):
                buckets[key][float(sample.labels["le"])] += sample.value
            elif sample.name.endswith("_count"):
                counts[key] += sample.value
                if sample.labels.get("status") == "5xx":
                    errors[key] += sample.value
            elif sample.name.endswith("_sum"):
                sums[key] += sample.value
    rows = []
    for key in sorted(buckets):
        pairs = sorted(buckets[key].items())
        if counts[key] <= 0:  # a label set made but never observed (multiprocess files keep them)
            continue
        count = counts[key]
        rows.append({by: key, "count": int(count), "errors": int(errors[key]), "mean": sums[key] / count,
                     **{f"p{round(q * 100)}": histogram_quantile(q, pairs) if count >= MIN_ANSWERS[q] else math.nan
                        for q in QUANTILES}})
    return pd.DataFrame(rows, columns=[by, *LATENCY_COLUMNS])


def cache_table(families: Iterable[Metric]) -> pd.DataFrame:
    """Cache answers by data class: hits, misses, errors, the answers warming computed ahead of any request,
    and the hit rate among hits and misses (users' lookups: warming's are not among them)."""
    results = ("hit", "miss", "error", "warmed")
    found: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(results, 0.0))
    for family in families:
        if family.name != "c254_cache_requests":
            continue
        for sample in family.samples:
            result = sample.labels.get("result")
            if sample.name.endswith("_total") and result in results:
                found[sample.labels["data_class"]][result] += sample.value
    frame = pd.DataFrame([{"data_class": name, **values} for name, values in sorted(found.items())],
                         columns=["data_class", *results])
    answered = frame["hit"] + frame["miss"]
    frame["hit_rate"] = (frame["hit"] / answered.where(answered > 0)).astype(float)
    return frame


def ingested_table(rows_ingested: pd.DataFrame) -> pd.DataFrame:
    """Rows written per connector and table, from ``Figures.counts["rows_ingested"]`` (connector, table, value),
    by connector then table."""
    out = pd.DataFrame({"connector": rows_ingested["connector"].astype(str),
                        "table": rows_ingested["table"].astype(str), "rows": rows_ingested["value"].astype("int64")})
    return out.sort_values(["connector", "table"], ignore_index=True)


def job_table(job_runs: pd.DataFrame) -> pd.DataFrame:
    """Runs per job and their outcomes, from ``Figures.counts["job_runs"]`` (job, status, value)."""
    outcomes = ["succeeded", "failed", "cancelled", "running"]
    if job_runs.empty:
        return pd.DataFrame(columns=["job", "runs", *outcomes])
    wide = job_runs.pivot_table(index="job", columns="status", values="value", aggfunc="sum", fill_value=0)
    wide = wide.reindex(columns=sorted(set(wide.columns) | set(outcomes)), fill_value=0)
    out = pd.DataFrame({"job": wide.index.astype(str), "runs": wide.sum(axis=1).astype(int).to_numpy()})
    for outcome in outcomes:
        out[outcome] = wide[outcome].astype(int).to_numpy()
    return out.sort_values("job").reset_index(drop=True)


def age_table(data_age: pd.DataFrame) -> pd.DataFrame:
    """Data age per market and dataset beside the delay after which the market's dataset counts as late."""
    expected = [60.0 * (MARKETS[m].expected_delay(d) if m in MARKETS else _DEFAULT_DELAY_MINUTES)
                for m, d in zip(data_age["market"], data_age["dataset"], strict=True)]
    out = pd.DataFrame({"market": data_age["market"].astype(str), "dataset": data_age["dataset"].astype(str),
                        "age_seconds": data_age["seconds"].astype(float),
                        "expected_seconds": pd.Series(expected, dtype=float, index=data_age.index),
                        "is_demo": data_age["is_demo"].astype(bool)}).reset_index(drop=True)
    out["state"] = [age_state(a, e, d) for a, e, d in zip(out["age_seconds"], out["expected_seconds"],
                                                           out["is_demo"], strict=True)]
    return out


def age_state(age_seconds: float, expected_seconds: float, is_demo: bool) -> str:
    """"demo" (no connector updates it, so it is never late), "empty", "late" or "on time"."""
    if is_demo:
        return "demo"
    if math.isnan(age_seconds):
        return "empty"
    return "late" if age_seconds > expected_seconds else "on time"


# ------------------------------------------------------------------------------------------------ CSV exports
# Each table of the System page as analysts download it: the numbers unrounded, each header naming its unit.

def latency_export(latency: pd.DataFrame, by: str) -> pd.DataFrame:
    """Answers, 5xx answers, the mean and the latency percentiles in milliseconds per route or callback (a
    percentile empty below its MIN_ANSWERS)."""
    return pd.DataFrame({by: latency[by].astype(str), "answers": latency["count"].astype("int64"),
                         "answers_5xx": latency["errors"].astype("int64"),
                         **{f"{p} (ms)": latency[p].astype(float) * 1000 for p in LATENCY_COLUMNS[2:]}})


def ingested_export(ingested: pd.DataFrame) -> pd.DataFrame:
    """Rows written per connector and table."""
    return ingested.rename(columns={"rows": "rows_written"})


def age_export(age: pd.DataFrame) -> pd.DataFrame:
    """Each market's datasets: the age of its newest stored interval end and the delay after which it is late,
    in hours (empty when nothing is stored), and its state."""
    return pd.DataFrame({"market": age["market"], "dataset": age["dataset"],
                         "age (h)": age["age_seconds"].astype(float) / 3600,
                         "late after (h)": age["expected_seconds"].astype(float) / 3600, "state": age["state"]})


#: Each downloadable table → the SystemFigures frame it is made from, and how.
_EXPORTS = {"requests": ("requests", lambda frame: latency_export(frame, "route")),
            "callbacks": ("callbacks", lambda frame: latency_export(frame, "callback")),
            "ingested": ("ingested", ingested_export), "age": ("data_age", age_export)}


def read_figures(svc: Services, now: float | None = None) -> SystemFigures:
    """Everything the System page draws. Never raises for an outage: a store that does not answer is
    reported as down (with its error) and its figures are left empty."""
    now = time.time() if now is None else now
    HISTORY.start_sampling()
    everything = _families()
    HISTORY.record(now, everything)
    since = HISTORY.baseline(now)
    families = windowed(everything, since[1] if since else None)
    jobs, age = job_table(pd.DataFrame(columns=["job", "status", "value"])), age_table(
        pd.DataFrame({"market": [], "dataset": [], "seconds": [], "is_demo": []}))
    ingested = ingested_table(pd.DataFrame(columns=["connector", "table", "value"]))
    store_up, store_error = True, ""
    try:
        # the newest interval ends cached until a write (keyed on the data version), the ages taken now
        stored = telemetry.store_figures(svc.ready_store(), svc.monitored(queries.dataset_freshness))
    except Exception as exc:  # monitoring must show an outage, not fail with it
        log.warning("system figures: the store could not answer: %s", exc)
        store_up, store_error = False, f"{type(exc).__name__}: {exc}"
    else:
        jobs, age = job_table(stored.counts["job_runs"]), age_table(stored.data_age)
        ingested = ingested_table(stored.counts["rows_ingested"])
    recent = bool(svc.cache_error) and now - svc.cache_error_at <= CACHE_ERROR_SHOWN_SECONDS
    return SystemFigures(
        taken_at=pd.Timestamp(now, unit="s", tz="UTC"),
        scope="all workers" if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else "this process",
        window_start=pd.Timestamp(since[0], unit="s", tz="UTC") if since else None,
        requests=latency_table(families, "c254_request_seconds", "route"),
        callbacks=latency_table(families, "c254_callback_seconds", "callback"),
        cache=cache_table(families), jobs=jobs, ingested=ingested, data_age=age, store_up=store_up,
        store_error=store_error,
        cache_error=svc.cache_error if recent else "",
        cache_error_at=pd.Timestamp(svc.cache_error_at, unit="s", tz="UTC") if recent else None)
