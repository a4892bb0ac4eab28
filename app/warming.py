"""Warming: the views users open first are computed before anyone asks, at start and whenever a market's data
changes.

The hot views are the ones a page computes when opened with no link arguments, for each market: the overview's
default choice, series and latest prices, the month pieces (engine.overview.recent_pieces) that any range
within the latest quarter of each location's prices is cut from (the overview's and the prices API's), the
forecasts page's default choice, issue times, fan and accuracy, the nodal page's published basis and congestion
patterns of its first run and hub, the signals page's panels for its default choice, and the navigation bar's
freshness. Each is asked
for exactly as the page's layout and callbacks ask (same function, same arguments), so the page then finds it
in the cache. ``VersionWatch`` warms every market once, then each market whose data version moves (a load, a
backfill: whatever invalidated its cached answers, engine.caching), within ``WATCH_SECONDS``, and the forecasts
page's default view when a market's stored forecast runs move; the others' cached answers are still valid. The
nodal study solves grid files, not the store, into its own per-process cache: each watching process solves its
default network once, after its first warming.

Where (Settings.warming): "loads", the process that runs the scheduler, from its start (one process: make run;
with Redis, the cache every worker reads); "watch", a web worker whose cache is its own while another process
loads (app.store_process's, without Redis), from its boot (app.scheduler.start_at_boot; at its first request
under another server); "off", a process whose cache no page reads
(that store process). With Redis, every watching worker sees the same versions move and the cache is shared, so
each market's version is warmed by the worker that claims it first (``RedisWarmingClaims``), not by all."""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable

from flask import Flask

from app.services import counted_as_warming, services
from app.settings import REDIS_CLIENT_OPTIONS
from engine import overview, queries
from engine.caching import DATA_CLASSES
from engine.forecast import views as forecast_views
from engine.lmp.patterns import recent_patterns
from engine.lmp.published import published_basis
from engine.lmp.study import default_network, grid_folder, networks_in, studies
from engine.signals import views as signal_views
from engine.store.versions import SERIES, market_versions, split_key

log = logging.getLogger(__name__)
WATCH_KEY = "c254_version_watch"
#: How often a watching worker reads the markets' data versions (seconds): a load is warmed within this. Through
#: the store process the read costs nothing until its write counts move (engine.store.writes).
WATCH_SECONDS = 2.0
_watch_lock = threading.Lock()


def warms_after_loads(server: Flask) -> bool:
    """Whether the process running the scheduler warms (Settings.warming "loads")."""
    return services(server).settings.warming == "loads"


def warm(server: Flask, moved: Iterable[str] | None = None) -> int:
    """Compute the hot views whose data versions ``moved`` (engine.store.versions keys; None: every market
    with prices): a market's overview views when its series moved; the freshness badges and the forecasts page's
    default view either way (a market's stored runs moving makes only those stale). The number of views asked
    for. A view that fails is logged and skipped: warming never stops anything."""
    started, asked = time.perf_counter(), 0
    with server.app_context(), counted_as_warming():
        svc = services(server)

        def ask(fn, *args) -> object | None:
            nonlocal asked
            asked += 1
            try:
                return svc.cached(fn, *args)
            except Exception as exc:
                log.warning("warming %s%r failed: %s", fn.__qualname__, args, exc)
                return None

        ask(queries.dataset_freshness)
        default = ask(overview.initial_choice, None, None, None, None, None)
        if moved is not None:
            wanted = sorted({market for market, what in map(split_key, moved) if what == SERIES})
        else:
            wanted = list(default.market.offered) if default else []
        for market in wanted:
            choice = ask(overview.initial_choice, market, None, None, None, None)
            if choice is None or choice.dates is None:
                continue
            location, kind = choice.location.chosen, choice.kind.chosen
            ask(overview.locations, market, location)
            ask(overview.price_kinds, market, location, kind)
            ask(overview.series_dates, market, location, kind, choice.dates.start, choice.dates.end)
            ask(overview.overview_view, market, location, choice.dates.start, choice.dates.end, "market", kind)
            ask(overview.latest_view, market, "market")
            for place in choice.location.offered:  # the month pieces any recent range of any location is cut from
                kinds = ask(overview.price_kinds, market, place, None)
                dates = ask(overview.series_dates, market, place, kinds.chosen, None, None) \
                    if kinds is not None and kinds.chosen else None
                if dates is not None:
                    for fn, args in overview.recent_pieces(market, place, kinds.chosen, dates.last):
                        ask(fn, *args)
        _forecasts_page(ask)
        _nodal_page(ask, None if moved is None else set(wanted))
        _signals_page(ask, None if moved is None else set(wanted))
    log.info("warmed %d views in %.1f s", asked, time.perf_counter() - started)
    return asked


def _forecasts_page(ask: Callable[..., object | None]) -> None:
    """The forecasts page opened with no link arguments: its choice and issue times, the newest run's fan over the
    first horizon in market time, and the accuracy over the longest window, as its layout and callbacks ask."""
    forecasts = ask(forecast_views.initial_choice, None, None, None)
    if forecasts is None or not forecasts.market.chosen:
        return
    market, location, model = forecasts.market.chosen, forecasts.location.chosen, forecasts.model.chosen
    times = ask(forecast_views.issue_times, market, location, model, None, "market")
    if times is not None and times.chosen:
        ask(forecast_views.issue_times, market, location, model, times.chosen, "market")
        ask(forecast_views.forecast_view, market, location, model, times.chosen, forecast_views.HORIZONS[0],
            "market")
    ask(forecast_views.accuracy_view, market, location, forecast_views.WINDOWS[-1])


def _nodal_page(ask: Callable[..., object | None], moved: set[str] | None) -> None:
    """The nodal page's published prices as it opens: the runs, the first run's hubs, its basis to the first hub
    and its congestion patterns (at start, or when the series of that run's market moved)."""
    # keyed on the whole store's version, which any write moves (a stored forecast run too): asked each time
    runs = ask(queries.nodal_runs)
    ask(queries.demo_nodal_markets)
    if not runs:
        return
    market, run = runs[0]
    if moved is not None and market not in moved:  # only other markets' series, or stored forecast runs, moved
        return
    hubs = ask(queries.nodal_hubs, market)
    if hubs is not None and len(hubs):
        ask(published_basis, market, run, hubs["node"].iloc[0])
    ask(recent_patterns, market, run)


def _signals_page(ask: Callable[..., object | None], moved: set[str] | None) -> None:
    """The signals page opened with no link arguments: its choice, the default strategy's prices, the strategies
    side by side, the parameter heatmap, the walk-forward and the live record (a second or more each when cold),
    for the account and metric the page opens with (when that market's series moved, or at start)."""
    choice = ask(signal_views.initial_choice, None, None, None, None, None, None)
    if choice is None or not choice.location.chosen or choice.dates is None or not choice.strategy.chosen:
        return
    market, location, strategy = choice.market.chosen, choice.location.chosen, choice.strategy.chosen
    if moved is not None and market not in moved:
        return
    start, end = choice.dates.start, choice.dates.end
    book = {name: default for name, (_, _, _, default) in signal_views.BOOK_FIELDS.items()}
    metric, window = signal_views.OPENING_METRIC, signal_views.OPENING_WINDOW
    ask(signal_views.backtest_prices, market, location, None, start, end, strategy)
    ask(signal_views.comparison_view, market, location, None, start, end, book)
    ask(signal_views.heatmap_view, market, location, None, start, end, strategy, book, metric)
    ask(signal_views.walk_forward_view, market, location, None, start, end, strategy, window, book, metric, "market")
    ask(signal_views.live_view, market, location, "market")


def warm_default_study(server: Flask) -> None:
    """The network the nodal page opens on, solved over its day into this process's studies (engine.lmp.study):
    grid files, not the store, so each process solves it once, whichever worker warms the store's views. A
    failure is logged: the page says why when it opens the study, and the warming thread goes on."""
    try:
        folder = grid_folder(services(server).settings.data_dir)
        name = default_network(networks_in(folder))
        if name is not None:
            studies.open(folder, name)
    except Exception as exc:
        log.warning("warming the default nodal study failed: %s", exc)


class RedisWarmingClaims:
    """Which worker warms a market's data version when the workers share Redis: the first to claim it. A claim
    lasts as long as the dynamic answers it warms are kept (engine.caching.DATA_CLASSES), so a worker starting
    later than that warms again. Redis unreachable: every worker warms, as without claims (the cache is then
    each worker's fallback), and that is logged once."""

    def __init__(self, url: str):
        import redis

        self.redis = redis.Redis.from_url(url, **REDIS_CLIENT_OPTIONS)
        self.me = f"{socket.gethostname()}:{os.getpid()}"
        self.seconds = DATA_CLASSES["dynamic"]
        self._failing = False

    @staticmethod
    def key(market: str, version: int) -> str:
        return f"c254:warming:{market}:{version}"

    def claim(self, versions: dict[str, int]) -> list[str]:
        """The keys of ``versions`` (a market or its forecast runs, engine.store.versions: version) this worker
        is to warm."""
        import redis

        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for market, version in versions.items():
                    pipe.set(self.key(market, version), self.me, nx=True, ex=self.seconds)
                won = pipe.execute()
        except redis.RedisError as exc:
            if not self._failing:
                log.warning("warming: cannot reach Redis to share the warming, this worker warms everything: %s",
                            exc)
            self._failing = True
            return sorted(versions)
        self._failing = False
        return sorted(market for market, first in zip(versions, won, strict=True) if first)


class VersionWatch:
    """Warms every market once, then each market whose data version moves, in a thread of this process: for a
    web worker whose cache is its own while another process loads (Settings.warming "watch"), as the process
    that loads warms after each load. Failures (the store unreachable) are logged once and retried."""

    def __init__(self, server: Flask):
        self.server = server
        url = services(server).settings.redis_url
        self.claims = RedisWarmingClaims(url) if url else None
        self.every = WATCH_SECONDS
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="cache-warming-watch", daemon=True)
        self._failing = False

    def start(self) -> VersionWatch:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()

    def _versions(self) -> dict[str, int] | None:
        try:
            with self.server.app_context():
                found = dict(market_versions(services(self.server).ready_store()))
        except Exception as exc:
            if not self._failing:
                log.warning("warming: could not read the markets' data versions: %s", exc)
            self._failing = True
            return None
        self._failing = False
        return found

    def _warm(self, versions: dict[str, int] | None) -> None:
        """Warm the markets of ``versions`` (None: every market), those this worker claims when claims are shared."""
        if self.claims is None or versions is None:
            warm(self.server, None if versions is None else sorted(versions))
            return
        mine = self.claims.claim(versions)
        if mine:
            warm(self.server, mine)
        log.debug("warming %s; %s warmed by another worker", mine, sorted(set(versions) - set(mine)))

    def _run(self) -> None:
        seen = self._versions()  # before warming: a load landing meanwhile is warmed again on the next look
        self._warm(None if self.claims is None else seen)
        warm_default_study(self.server)
        while not self.stopped.wait(self.every):
            now = self._versions()
            if now is None:
                continue
            moved = {m: version for m, version in now.items() if seen is None or seen.get(m) != version}
            seen = now
            if moved:
                self._warm(moved)


def start_watch(server: Flask) -> None:
    """Start this process's ``VersionWatch``, once."""
    with _watch_lock:
        if WATCH_KEY not in server.extensions:
            server.extensions[WATCH_KEY] = VersionWatch(server).start()


def watch_on_first_request(server: Flask) -> None:
    """Start this process's ``VersionWatch`` at its first request, for a server that does not start it as it boots
    (app.scheduler.start_at_boot); never in the CLI."""
    @server.before_request
    def _start_watch() -> None:
        if WATCH_KEY not in server.extensions:
            start_watch(server)
