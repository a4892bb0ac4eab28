"""How long a cached answer may live and which loads make it stale, decided by what the query reads.

Each engine function the pages call through the app's cache is declared once in :data:`POLICIES` with its
**data class** — ``static`` (market and node metadata, 1 h), ``semi_static`` (daily aggregates and closed
months, 24 h), ``dynamic`` (recent prices, 5 min), ``realtime`` (the latest interval, 30 s) — and the parameter
naming the market it reads, if any. An answer about one market is keyed on that market's data version (raised
by the writer: :mod:`engine.store.versions`), so a NEM load leaves IESO's cached answers in place, and, if it is
declared ``forecast_runs``, on the version of the market's stored forecast runs too (raised by each stored run),
so a run leaves the market's price answers in place; an answer about no one market is keyed on the store's whole
data version. A piece that reads one market month of the market's series (``month``) is keyed on that month's
version instead of the market's, so a live load of this month's intervals leaves closed months' pieces cached; so
is a backtest over a range of market days (``range_start``), on the versions of the months it reads and of the
market's series set (which locations and kinds it holds: a default kind is the first of them).
The lifetime only bounds how long an answer lives when nothing is loaded: a load makes it stale at once either
way.

A view rarely asked twice with the same arguments (an overview range among thousands) is declared ``pieced``:
it is computed on each call from pieces that are cached (a market month of one series, semi-static once the
month is closed), which every range touching them shares. A view whose own work beyond its pieces is worth
keeping (a backtest comparison) is declared ``reads_pieces``: its answer is cached as any other, and on a miss it
is computed from cached pieces.

A function not in the table is ``dynamic`` and keyed on the whole store: unknown stays safe."""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

from engine.markets import MARKETS
from engine.store.versions import all_months_key, forecast_runs_key, month_key, month_span, series_set_key

#: A month named by its first day, as the month pieces take it
_MONTH_DAY = re.compile(r"\d{4}-(0[1-9]|1[0-2])-01")
#: A market day, as the pages send it
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: A range of more months than this is keyed on its whole market (no backtest reads decades: its own limits refuse
#: them), so a hostile range costs no key per month.
_MOST_KEYED_MONTHS = 360

#: data class → lifetime in seconds
DATA_CLASSES: dict[str, int] = {"static": 3600, "semi_static": 86400, "dynamic": 300, "realtime": 30}


@dataclass(frozen=True)
class Policy:
    data_class: str
    market: str | None = None  # the parameter naming the market read (None: reads several or none in particular)
    # The parameter holding the end date, in market time, of the range read: a range ending before the first
    # day of the market's current month reads closed months only, and is semi-static.
    range_end: str | None = None
    # Answered afresh on each call from pieces that are cached (the function takes ``read``, through which it
    # asks for them): the call's own answer is not kept, since it is rarely asked twice (a range among
    # thousands), while its pieces are shared by every range that touches them.
    pieced: bool = False
    # Cached whole like any answer, but computed on a miss from pieces read through ``read`` (which it takes):
    # its own range is rarely asked twice, the months it is cut from often are.
    reads_pieces: bool = False
    # The parameter carrying the version of everything the call reads (the marketplace catalog's, which the
    # caller looks up): the answer is keyed on its arguments alone, no data version looked up for it.
    version_arg: str | None = None
    # Reads the market's stored forecast runs (forecast_runs, forecast_values): keyed on their version as well.
    forecast_runs: bool = False
    # The parameter naming the one market month (its first day, ISO) that the call reads of the market's series:
    # keyed on that month's version (engine.store.versions.month_key), not on the whole market's.
    month: str | None = None
    # Reads the market's series (prices, demand, ...: what the writer's loads change). False for a call that
    # reads only the stored forecast runs, which a price load leaves as they were.
    series: bool = True
    # Reads which price series the market holds (its locations, their kinds), not their values: keyed on the
    # market's series set, raised when a load brings a new one, not on every load.
    series_set: bool = False
    # With ``range_end``, the parameter holding the first market day (ISO) of a range read, both inclusive: the
    # call reads the series of those days' months (and the day before, which an as-issued forecast reaches back
    # to) and the market's series set, and is keyed on their versions.
    range_start: str | None = None

    def __post_init__(self):
        if self.data_class not in DATA_CLASSES:
            raise ValueError(f"unknown data class {self.data_class!r}; known: {', '.join(DATA_CLASSES)}")
        if not self.series and not self.forecast_runs:
            raise ValueError("a policy reading neither the series nor the forecast runs would never go stale")
        if self.range_start and not self.range_end:
            raise ValueError("range_start names a range's first day: range_end must name its last")


DEFAULT = Policy("dynamic")

#: module.qualname of an engine function → what it reads
POLICIES: dict[str, Policy] = {
    # the overview
    "engine.overview.initial_choice": Policy("dynamic", "market"),
    # which series the market holds, from the daily aggregate: a load of known series leaves them
    "engine.overview.locations": Policy("static", "market", series_set=True),
    "engine.overview.price_kinds": Policy("static", "market", series_set=True),
    "engine.overview.series_dates": Policy("dynamic", "market"),
    "engine.overview.overview_view": Policy("dynamic", "market", range_end="end_date", pieced=True),
    # the pieces overview ranges (and the prices API's) are cut from: a market month of one series; a closed
    # month is semi-static
    "engine.queries.month_prices": Policy("dynamic", "market", range_end="month", month="month"),
    "engine.queries.month_hours": Policy("dynamic", "market", range_end="month", month="month"),
    # what a range's series is checked against, from the daily aggregate
    "engine.queries.price_locations": Policy("static", "market", series_set=True),
    "engine.queries.price_kinds": Policy("static", "market", series_set=True),
    "engine.overview.latest_view": Policy("realtime", "market"),
    # every page's navigation bar
    "engine.queries.dataset_freshness": Policy("realtime"),
    # published nodal prices
    "engine.queries.nodal_runs": Policy("static"),
    "engine.queries.demo_nodal_markets": Policy("static"),
    "engine.queries.nodal_hubs": Policy("static", "market"),
    "engine.lmp.published.published_basis": Policy("dynamic", "market"),
    "engine.lmp.patterns.recent_patterns": Policy("dynamic", "market"),
    # forecasts (a stored run raises the version of its market's runs)
    "engine.forecast.views.initial_choice": Policy("dynamic", "market", forecast_runs=True),
    "engine.forecast.views.locations": Policy("static", "market", forecast_runs=True),
    "engine.forecast.views.models": Policy("dynamic", "market", forecast_runs=True),
    "engine.forecast.views.issue_times": Policy("dynamic", "market", forecast_runs=True),
    "engine.forecast.views.forecast_view": Policy("dynamic", "market", forecast_runs=True),
    "engine.forecast.views.accuracy_view": Policy("semi_static", "market", forecast_runs=True),
    # signals: backtests read a chosen closed or open range of prices and the stored forecasts (the forecast
    # strategy), so they are keyed on the runs' version too; those of a range on its months' versions. The lists
    # of locations read which series the market holds, as the overview's do.
    "engine.signals.views.initial_choice": Policy("dynamic", "market", forecast_runs=True),
    "engine.signals.views.locations": Policy("static", "market", series_set=True),
    "engine.signals.views.other_locations": Policy("static", "market", series_set=True),
    "engine.signals.views.stored_dates": Policy("dynamic", "market", forecast_runs=True),
    "engine.signals.views.backtest_prices": Policy("dynamic", "market", range_end="end_date", reads_pieces=True,
                                                   forecast_runs=True, range_start="start_date"),
    "engine.signals.views.comparison_view": Policy("dynamic", "market", range_end="end_date", reads_pieces=True,
                                                   forecast_runs=True, range_start="start_date"),
    "engine.signals.views.heatmap_view": Policy("dynamic", "market", range_end="end_date", reads_pieces=True,
                                                forecast_runs=True, range_start="start_date"),
    "engine.signals.views.walk_forward_view": Policy("dynamic", "market", range_end="end_date", reads_pieces=True,
                                                     forecast_runs=True, range_start="start_date"),
    # the as-issued forecasts of a market month, which backtests' ranges are cut from
    # (they read the stored runs alone: a price load leaves them in place)
    "engine.signals.series.month_issued_hours": Policy("dynamic", "market", range_end="month", forecast_runs=True,
                                                       series=False),
    "engine.signals.views.live_view": Policy("realtime", "market", forecast_runs=True),
    "engine.signals.views.live_signal": Policy("realtime", "market", forecast_runs=True),
    # the marketplace's catalog, keyed on the catalog's version (products, plans, partners), not the series'
    "engine.marketplace.views.catalog_cards": Policy("dynamic", version_arg="version"),
    "engine.marketplace.views.catalog_choices": Policy("dynamic", version_arg="version"),
}


@dataclass(frozen=True)
class Classified:
    data_class: str
    market: str | None  # the market whose version keys the answer; None: the whole store's
    forecast_runs: bool = False  # also keyed on the version of the market's stored forecast runs
    months: tuple[str, ...] = ()  # the market months (YYYY-MM) of the series read: keyed on their versions
    series: bool = True  # reads the market's series (False: its stored forecast runs alone)
    series_set: bool = False  # reads which price series the market holds: keyed on its series set's version

    @property
    def timeout(self) -> int:
        return DATA_CLASSES[self.data_class]

    @property
    def version_keys(self) -> tuple[str | None, ...]:
        """The data versions the answer is keyed on (engine.store.versions): (None,) for the whole store's."""
        if self.market is None:
            return (None,)
        keys: tuple[str, ...] = ()
        if self.series:
            # a change not placed in months (demo rows dropped) raises all_months_key: it may remove series too
            narrower = ((*(month_key(self.market, m) for m in self.months),)
                        + ((series_set_key(self.market),) if self.series_set else ()))
            keys = (*narrower, all_months_key(self.market)) if narrower else (self.market,)
        return (*keys, forecast_runs_key(self.market)) if self.forecast_runs else keys


def name_of(fn: Any) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def pieced(fn: Any) -> bool:
    """Whether ``fn`` is answered afresh from cached pieces (it then takes a ``read`` argument)."""
    return POLICIES.get(name_of(fn), DEFAULT).pieced


def reads_pieces(fn: Any) -> bool:
    """Whether ``fn``'s cached answer is computed, on a miss, from pieces (it then takes a ``read`` argument)."""
    return POLICIES.get(name_of(fn), DEFAULT).reads_pieces


def versioned_by_argument(fn: Any) -> bool:
    """Whether ``fn``'s arguments carry the version of all it reads (no data version is looked up for it)."""
    return POLICIES.get(name_of(fn), DEFAULT).version_arg is not None


def classify(fn: Any, args: tuple, kwargs: dict, now: pd.Timestamp | None = None) -> Classified:
    """The data class and keying market of the call ``fn(store, *args, **kwargs)``."""
    policy = POLICIES.get(name_of(fn), DEFAULT)
    if policy.market is None and policy.range_end is None:
        return Classified(policy.data_class, None)
    try:
        bound = inspect.signature(fn).bind_partial(None, *args, **kwargs).arguments
    except TypeError:  # the call itself is wrong; let the function say so
        return Classified(policy.data_class, None)
    market = bound.get(policy.market) if policy.market else None
    known = market if isinstance(market, str) and market in MARKETS else None
    data_class = policy.data_class
    if policy.range_end and known and _closed(bound.get(policy.range_end), known, now):
        data_class = "semi_static"
    months: tuple[str, ...] = ()
    series_set = policy.series_set
    if known and policy.month:
        month = _month(bound.get(policy.month))
        months = (month,) if month else ()
    elif known and policy.range_start:
        months = _range_months(bound.get(policy.range_start), bound.get(policy.range_end))
        series_set = bool(months)  # a range not understood: keyed on the whole market
    return Classified(data_class, known, policy.forecast_runs, months, policy.series, series_set)


def _month(value: object) -> str | None:
    """``YYYY-MM`` of a month named by its first day (ISO text or a date); None for anything else (the call is
    then keyed on its whole market, and the function says what is wrong with the month)."""
    if isinstance(value, date):
        value = value.isoformat()
    return value[:7] if isinstance(value, str) and _MONTH_DAY.fullmatch(value) else None


def _range_months(start: object, end: object) -> tuple[str, ...]:
    """``YYYY-MM`` of each month from the day before the market day ``start`` to ``end`` (ISO text or dates, both
    inclusive); () for anything else (the call is then keyed on its whole market, and says what is wrong)."""
    try:  # a datetime is a date too: its day is the day meant (and a date and a datetime do not compare)
        first, last = (date(value.year, value.month, value.day) if isinstance(value, date) else
                       date.fromisoformat(value) if isinstance(value, str) and _DAY.fullmatch(value) else None
                       for value in (start, end))
    except ValueError:
        return ()
    if first is None or last is None or last < first or first == date.min:
        return ()
    first = first - timedelta(days=1)
    if (last.year - first.year) * 12 + last.month - first.month >= _MOST_KEYED_MONTHS:  # a key per month of it
        return ()
    return tuple(month_span(first, last))


def _closed(end: object, market: str, now: pd.Timestamp | None) -> bool:
    """Whether a range ending at the market date ``end`` holds closed months only."""
    if isinstance(end, date):
        end = end.isoformat()
    if not isinstance(end, str):
        return False
    try:
        end_day = pd.Timestamp(end[:10])
    except ValueError:
        return False
    today = (now or pd.Timestamp.now(tz="UTC")).tz_convert(MARKETS[market].timezone)
    return end_day < pd.Timestamp(today.year, today.month, 1)  # strict: an inclusive end on the 1st is open
