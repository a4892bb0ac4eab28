"""Load test (issue 14): the app as `make run` serves it (gunicorn, the embedded store) at 10 million price
rows, driven by simulated users signed in as traders, analysts and partners, each acting as a browser would:
the overview's render callback and latest-prices card, the nodal snapshot change, the forecasts page's fan,
the signals page's comparison of the five strategies, the catalog search, the prices API and the product API
with a sandbox key. Prints p50/p95/p99 per endpoint, errors, the cache hit rate (from /metrics) and the serving
processes' peak RSS, for two profiles:

- steady: ``--users`` (50) users each acting every 2-8 s for ``--seconds`` (300);
- ramp: open-loop arrivals at a rising rate, 20 s per step, until the mixed workload's p95 crosses 300 ms;
  prints the last rate that held.

The client runs on the same 2 cores as the server; its own CPU time is printed beside the figures.

    python bench/load.py [--profile steady|ramp|both] [--users 50] [--seconds 300] [--rows 10000000]
                         [--workers 1] [--threads 8] [--store-process] [--redis] [--rates 10,20,...]
                         [--live-loads SECONDS]

``--store-process`` serves as ``make run-store-process`` does (``python -m app.store_process``, no scheduler): a
store process holds the embedded store and the gunicorn workers it starts reach it over HTTP, so
``--workers 2`` can use both cores, the way to use both cores on the embedded store. ``--redis`` starts a
throwaway redis-server on a free loopback port (no persistence) and points the app's cache at it
(``C254_REDIS_URL``), so the workers share one cache instead of each filling its own; its CPU is counted as the
server's. ``--rates`` runs the ramp's steps at the rates given, all of them (to read the CPU a request past the
first step that fails). ``--live-loads`` (with ``--store-process``) writes the next 5-minute interval of NEM's
regions every SECONDS while the users act, through the store process as a scheduler's live pull would: what a
load costs the cache (every write raises NEM's data version) shows in the hit rate. It writes into the store, so
point ``C254_LOAD_STORE`` at a copy.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

STORE = os.environ.get("C254_LOAD_STORE") or f"chdb://{REPO / 'var' / 'bench-load'}"
PASSWORD = "load-test-password-1"  # noqa: S105 -- the bench's own throwaway accounts
ROLES = {"trader": 0.45, "analyst": 0.35, "partner": 0.20}
REGIONS = ("NSW1", "QLD1", "SA1", "TAS1", "VIC1")
P95_LIMIT_MS = 300.0


# ------------------------------------------------------------------------------------------- the store

def prepare(rows: int) -> dict:
    """Fill the store (once), the users, a sandbox key for a platform product and the baseline forecasts.
    Run in a child process: the embedded store belongs to one process at a time."""
    from bench.generate_prices import fill
    from engine import accounts
    from engine.marketplace import keys, platform
    from engine.store import Store, migrate

    store = Store(STORE)
    migrate(store)
    held = int(store.scalar("SELECT count() FROM prices") or 0)
    if held < rows:
        fill(store, rows - held)
    for role in (*ROLES, "admin"):
        email = f"{role}@load.example"
        if accounts.find_user(store, email) is None:
            accounts.create_user(store, email, role, PASSWORD)
    from engine.forecast.issue import issue_naive, stored_series

    for series in stored_series(store, min_days=30):  # the forecasts page's fans (naive runs: seconds each)
        issue_naive(store, series)
    product = min(platform.ensure_platform_products(store), key=lambda p: p.slug)
    buyer = accounts.find_user(store, "analyst@load.example")
    key = keys.issue_key(store, user_id=buyer.user_id, kind="sandbox", products=[product.product_id],
                         actor="bench", quota_calls=10_000_000, rate_per_minute=100_000)
    store.close()
    return {"rows": int(max(held, rows)), "slug": product.slug, "key": key.token}


def _prepared(rows: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--prepare", "--rows", str(rows)], cwd=REPO, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------- the server

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_process(port: int) -> subprocess.Popen:
    """A throwaway redis-server on loopback for the app's cache: nothing saved, gone when the bench ends."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("--redis needs redis-server on the PATH")
    proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                             "--protected-mode", "yes", "--loglevel", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(64).startswith(b"+PONG"):
                    return proc
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("redis-server did not start")


def serve(port: int, workers: int, threads: int, redis_url: str | None = None,
          store_port: int | None = None) -> subprocess.Popen:
    """The app on ``port``: gunicorn as the Procfile's web line runs it, or (``store_port`` given) the store
    process of ``make run-store-process`` on ``store_port``, which starts that same line with its workers pointed
    at itself."""
    env = {**os.environ, "C254_STORE": STORE, "C254_SCHEDULER": "0", "C254_DEMO": "0", "C254_AUTH": "1",
           "C254_SECRET_KEY": "load-test-secret", "C254_LOG_LEVEL": "WARNING", "C254_DATA_DIR":
           os.environ.get("C254_DATA_DIR", str(REPO.parent / "shared" / "data"))}
    if redis_url:
        env["C254_REDIS_URL"] = redis_url
    if workers > 1:  # /metrics sums the workers' counters (as app.store_process serves them), else one worker's
        metrics = REPO / "var" / "bench-load-prometheus"
        shutil.rmtree(metrics, ignore_errors=True)
        metrics.mkdir(parents=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
    # The Procfile's line, as `make run` serves (and app.store_process starts it): the same flags, keep-alive too.
    from app.store_process import gunicorn_command

    env.update({"WEB_WORKERS": str(workers), "WEB_THREADS": str(threads), "HOST": "127.0.0.1", "PORT": str(port),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    cmd = gunicorn_command()
    if store_port is not None:
        env["C254_STORE_PORT"] = str(store_port)
        cmd = [sys.executable, "-m", "app.store_process"]
    with open(REPO / "var" / "bench-load.log", "w") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    for _ in range(240):
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        if proc.poll() is not None:  # it stopped (a refused setting, say): its last line says why
            said = [line for line in (REPO / "var" / "bench-load.log").read_text().splitlines() if line.strip()]
            raise SystemExit(f"the app stopped before it was ready: {said[-1] if said else 'no output'}")
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("the app did not become ready; see var/bench-load.log")


def _tree(pid: int) -> list[int]:
    """``pid`` and every process below it (the store process, its gunicorn master, the master's workers)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids += _tree(int(child))
    return pids


def peak_rss(proc: subprocess.Popen, *others: subprocess.Popen) -> str:
    """The server processes' peak RSS (VmHWM; the master, its workers, the store process), as said in a report:
    the largest process's, and the peaks of all of them summed (a bound on their total: each peaked at its own
    time). The target (1.5 GB) is the serving processes' memory, so the sum is the figure to read beside it."""
    pids = [pid for p in (proc, *others) for pid in _tree(p.pid)]
    peaks = []
    for pid in pids:
        status = Path(f"/proc/{pid}/status")
        if status.exists():
            found = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
            if found:
                peaks.append(int(found.group(1)) / 1024)
    if not peaks:
        return "unknown"
    return f"{sum(peaks):,.0f} MB summed over {len(peaks)} processes (largest {max(peaks):,.0f} MB)"


def cpu_seconds(*procs: subprocess.Popen) -> dict[int, float]:
    """CPU time (user + system) of each serving process so far: the gunicorn master, its workers and the store
    process, so a step's cost per request, and how close its busiest process came to a whole core, can be told
    apart from the wall-clock noise of a shared machine."""
    pids = [pid for p in procs for pid in _tree(p.pid)]
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return out


# ------------------------------------------------------------------------------------------- the users

class User:
    """One signed-in browser: a session, the app's callback map, and the actions of its role."""

    def __init__(self, base: str, role: str, prepared: dict, rng: random.Random):
        self.base, self.role, self.prepared, self.rng = base, role, prepared, rng
        self.http = requests.Session()
        self.http.headers["Origin"] = base
        login = self.http.get(f"{base}/login", timeout=30).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
        answer = self.http.post(f"{base}/login", data={"email": f"{role}@load.example", "password": PASSWORD,
                                                      "csrf_token": token}, allow_redirects=False, timeout=30)
        if answer.status_code != 302:
            raise RuntimeError(f"sign-in as {role} answered {answer.status_code}")
        self.deps = self.http.get(f"{base}/_dash-dependencies", timeout=30).json()

    def actions(self) -> list:
        if self.role == "partner":
            return [self.catalog, self.catalog, self.product_api]
        return [self.overview, self.overview, self.latest, self.nodal, self.forecast, self.signals, self.catalog,
                self.prices_api, self.product_api]

    def act(self) -> tuple[str, float, int, str]:
        """(endpoint, ms, HTTP status, why there was no answer): 599 and the exception's name when none came."""
        action = self.rng.choice(self.actions())
        started = time.perf_counter()
        try:
            status, reason = action(), ""
        except requests.RequestException as exc:
            status, reason = 599, type(exc).__name__
        return action.__name__, (time.perf_counter() - started) * 1000, status, reason

    # -- callbacks
    def _callback(self, output_part: str, values: dict) -> int:
        dep = next(d for d in self.deps if output_part in d["output"])
        key = dep["output"]

        def fill(items):
            return [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                    for i in items]

        outputs = ([{"id": p.rpartition(".")[0], "property": p.rpartition(".")[2]} for p in key.strip(".")
                    .split("...")] if key.startswith("..") else
                   {"id": key.rpartition(".")[0], "property": key.rpartition(".")[2]})
        inputs = fill(dep["inputs"])
        body = {"output": key, "outputs": outputs, "inputs": inputs, "state": fill(dep.get("state", [])),
                "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}
        return self.http.post(f"{self.base}/_dash-update-component", json=body, timeout=60).status_code

    def _dates(self) -> tuple[str, str]:
        span = self.rng.choice((7, 14, 14, 31, 92))
        end = np.datetime64("2026-10-31") - np.timedelta64(self.rng.randrange(0, 60), "D")
        return str(end - np.timedelta64(span - 1, "D")), str(end)

    def overview(self) -> int:
        start, end = self._dates()
        return self._callback("ov-series.figure", {
            "ov-market.value": "NEM", "ov-location.value": self.rng.choice(REGIONS), "ov-kind.value": "settlement",
            "ov-dates.start_date": start, "ov-dates.end_date": end, "ov-tz.value": "market",
            "ov-scale.value": "linear"})

    def latest(self) -> int:
        return self._callback("ov-latest.children", {"ov-market.value": "NEM", "ov-tz.value": "market"})

    def nodal(self) -> int:
        return self._callback("nd-map.figure", {
            "nd-network.value": "scigrid-de", "nd-colour.value": self.rng.choice(("lmp", "congestion", "basis")),
            "nd-hub.value": "__load_weighted__", "nd-range.value": "fixed", "nd-losses.value": [],
            "nd-snapshot.value": self.rng.randrange(24), "nd-whatif.data": None})

    def forecast(self) -> int:
        return self._callback("fc-fan.figure", {
            "fc-market.value": "NEM", "fc-location.value": self.rng.choice(REGIONS), "fc-model.value": "naive",
            "fc-issued.value": None, "fc-horizon.value": 24, "fc-tz.value": "market",
            "fc-scale.value": "linear"})

    def signals(self) -> int:
        from engine.signals.views import BOOK_FIELDS

        start, end = self._dates()
        values = {"sg-market.value": "NEM", "sg-location.value": self.rng.choice(REGIONS), "sg-other.value": None,
                  "sg-dates.start_date": start, "sg-dates.end_date": end}
        values.update({f"sg-book-{name.replace('_', '-')}.value": field[3] for name, field in BOOK_FIELDS.items()})
        return self._callback("sg-compare.figure", values)

    def catalog(self) -> int:
        return self._callback("mk-results.children", {
            "mk-search.value": self.rng.choice(("", "prices", "NEM 5-minute", "demand", "hourly")),
            "mk-market.value": None, "mk-category.value": None, "mk-price.value": None, "mk-frequency.value": None})

    # -- the APIs
    def prices_api(self) -> int:
        start, end = self._dates()
        return self.http.get(f"{self.base}/api/v1/prices", params={
            "market": "NEM", "location": self.rng.choice(REGIONS), "start": start, "end": end}, timeout=60).status_code

    def product_api(self) -> int:
        return requests.get(f"{self.base}/api/v1/products/{self.prepared['slug']}/data",
                            headers={"Authorization": f"Bearer {self.prepared['key']}"}, timeout=60).status_code


def _users(base: str, n: int, prepared: dict, seed: int = 7) -> list[User]:
    rng = random.Random(seed)  # noqa: S311 -- simulated users' choices, not secrets
    roles = rng.choices(list(ROLES), weights=list(ROLES.values()), k=n)
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda i: User(base, roles[i], prepared, random.Random(seed + i)),  # noqa: S311
                             range(n)))


# ------------------------------------------------------------------------------------------- measuring

class Record:
    def __init__(self):
        self.lock = threading.Lock()
        self.ms: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        # the errors by endpoint, status and, when no answer came, the exception's name
        self.statuses: dict[tuple[str, int, str], int] = defaultdict(int)

    def add(self, name: str, ms: float, status: int, reason: str = "") -> None:
        with self.lock:
            self.ms[name].append(ms)
            if status >= 400 and status != 429:
                self.errors[name] += 1
                self.statuses[name, status, reason] += 1

    def error_kinds(self) -> str:
        """The errors by endpoint and HTTP status (599: no answer, named by the exception), e.g. "nodal 500 x1",
        "overview 599 ConnectionError x1"."""
        with self.lock:
            return ", ".join(f"{name} {status}{' ' + reason if reason else ''} x{n}"
                             for (name, status, reason), n in sorted(self.statuses.items()))

    def p(self, name: str | None, q: float) -> float:
        values = [v for vs in self.ms.values() for v in vs] if name is None else self.ms[name]
        return float(np.percentile(values, q)) if values else float("nan")

    def count(self) -> int:
        return sum(len(v) for v in self.ms.values())


def cache_counts(base: str) -> tuple[float, float]:
    """(hits, misses) so far, from /metrics (read from this machine: allowed without signing in)."""
    text = requests.get(f"{base}/metrics", timeout=30).text
    hits = sum(float(v) for v in re.findall(r'c254_cache_requests_total\{[^}]*result="hit"[^}]*\} (\S+)', text))
    misses = sum(float(v) for v in re.findall(r'c254_cache_requests_total\{[^}]*result="miss"[^}]*\} (\S+)', text))
    return hits, misses


class LiveLoads:
    """Writes the next 5-minute interval of NEM's regions every ``every`` seconds through the store process on
    ``store_port``, as a live pull does (the writer's whole path: change check, aggregates, data versions)."""

    def __init__(self, store_port: int, every: float):
        from app.store_process import worker_store_url
        from engine.store import Store

        self.store = Store(worker_store_url(STORE, store_port))
        self.every, self.loads, self.ms = every, 0, []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="live-loads", daemon=True)

    def __enter__(self) -> LiveLoads:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()
        self.store.close()

    def _run(self) -> None:
        import pandas as pd

        from engine.store import write_tables

        first = pd.Timestamp.now(tz="UTC").floor("5min")
        while not self.stopped.wait(self.every):
            # the next 5-minute interval each time (loads come faster than the clock's intervals): new rows, as a
            # live pull brings
            start = first + pd.Timedelta(minutes=5 * self.loads)
            frame = pd.DataFrame({"market": "NEM", "location": list(REGIONS), "price_kind": "settlement",
                                  "interval_start": start, "interval_minutes": 5,
                                  "price": np.round(np.random.default_rng(self.loads).normal(80, 30, len(REGIONS)), 2),
                                  "source": "bench-live"})
            started = time.perf_counter()
            write_tables(self.store, {"prices": frame})
            self.ms.append((time.perf_counter() - started) * 1000)
            self.loads += 1


def steady(base: str, users: list[User], seconds: float) -> Record:
    record, stop = Record(), time.monotonic() + seconds

    def run(user: User) -> None:
        time.sleep(user.rng.uniform(0, 8))
        while time.monotonic() < stop:
            try:
                record.add(*user.act())
            except requests.RequestException as exc:
                record.add("failed", 0.0, 599, type(exc).__name__)
            time.sleep(user.rng.uniform(2, 8))

    threads = [threading.Thread(target=run, args=(u,), daemon=True) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return record


RAMP_RATES = (10, 20, 30, 40, 50, 60, 70, 80, 100, 120)


def ramp(base: str, users: list[User], procs: tuple[subprocess.Popen, ...], step_seconds: float = 20.0,
         rates: tuple[int, ...] | None = None) -> list[tuple[float, Record]]:
    """Open-loop: requests start at ``rate`` per second whatever the answers' speed, from a pool big enough
    that a slow answer never holds the next one back. Stops after the first step whose p95 crosses the limit,
    unless ``rates`` names the steps to run."""
    steps = []
    pool = ThreadPoolExecutor(128)
    for rate in rates or RAMP_RATES:
        record = Record()
        cpu_before, cache_before = cpu_seconds(*procs), cache_counts(base)
        gap, next_at, stop = 1.0 / rate, time.monotonic(), time.monotonic() + step_seconds
        futures = []
        i = 0
        while next_at < stop:
            user = users[i % len(users)]
            i += 1
            futures.append(pool.submit(lambda u, r=record: r.add(*u.act()), user))
            next_at += gap
            time.sleep(max(0.0, next_at - time.monotonic()))
        for f in futures:
            try:
                f.result(timeout=120)
            except Exception as exc:
                record.add("failed", 0.0, 599, type(exc).__name__)
        steps.append((rate, record))
        if record.errors:
            print(f"  {rate:>4} req/s errors: {record.error_kinds()}", flush=True)
        used = {pid: t - cpu_before.get(pid, 0.0) for pid, t in cpu_seconds(*procs).items()}
        hits, misses = (after - before for after, before in zip(cache_counts(base), cache_before, strict=True))
        print(f"  {rate:>4} req/s offered: {record.count() / step_seconds:6.1f} served/s, "
              f"p95 {record.p(None, 95):7.0f} ms, errors {sum(record.errors.values())}, server CPU "
              f"{1000 * sum(used.values()) / max(record.count(), 1):.0f} ms/request, busiest process "
              f"{max(used.values(), default=0.0) / step_seconds:.0%} of a core, cache hit rate "
              f"{hits / (hits + misses) if hits + misses else float('nan'):.0%}, load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        if rates is None and record.p(None, 95) > P95_LIMIT_MS:
            break
    pool.shutdown(wait=True)
    return steps


def report(title: str, record: Record, seconds: float, hit_rate: float, rss: str, client_cpu: float) -> None:
    print(f"\n{title}: {record.count():,} requests in {seconds:.0f} s ({record.count() / seconds:.1f}/s), "
          f"errors {sum(record.errors.values())}, cache hit rate {hit_rate:.0%}, server peak RSS {rss}, "
          f"client CPU {client_cpu:.0f} s")
    if record.errors:
        print(f"  errors by status: {record.error_kinds()}")
    print(f"  {'endpoint':<24}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name in sorted(record.ms):
        print(f"  {name:<24}{len(record.ms[name]):>7}{record.p(name, 50):>9.0f}{record.p(name, 95):>9.0f}"
              f"{record.p(name, 99):>9.0f}{record.errors.get(name, 0):>8}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=("steady", "ramp", "both"), default="both")
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--store-process", action="store_true",
                    help="the workers reach the embedded store through a store process (engine/store/server.py)")
    ap.add_argument("--redis", action="store_true",
                    help="the app's cache on a throwaway redis-server, shared by the workers")
    ap.add_argument("--rates", type=lambda text: tuple(int(r) for r in text.split(",")),
                    help="the ramp's rates (requests/s, comma-separated), every one run")
    ap.add_argument("--live-loads", type=float, metavar="SECONDS",
                    help="with --store-process: write NEM's newest interval every SECONDS during the steady profile")
    ap.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.live_loads and not args.store_process:
        ap.error("--live-loads writes through the store process: add --store-process")
    if args.prepare:
        print(json.dumps(prepare(args.rows)))
        return
    (REPO / "var").mkdir(exist_ok=True)
    prepared = _prepared(args.rows)
    port = _free_port()
    cache = redis_process(_free_port()) if args.redis else None
    redis_url = f"redis://127.0.0.1:{cache.args[cache.args.index('--port') + 1]}/0" if cache is not None else None
    store_port = _free_port() if args.store_process else None
    try:
        server = serve(port, args.workers, args.threads, redis_url, store_port)
    except BaseException:
        if cache is not None:
            cache.terminate()
        raise
    rss_of = (server,) if cache is None else (server, cache)
    base = f"http://127.0.0.1:{port}"
    try:
        users = _users(base, args.users, prepared)
        print(f"store {prepared['rows']:,} price rows; {len(users)} users signed in "
              f"({', '.join(f'{r} {sum(u.role == r for u in users)}' for r in ROLES)}); "
              f"gunicorn {args.workers} worker(s) x {args.threads} threads"
              + (" through a store process" if args.store_process else " on the embedded store")
              + (", the cache on Redis" if cache is not None else ", the cache in process"))
        for user in users[:3]:  # the first answers of each kind (the nodal day solves once), not measured
            for action in user.actions():
                action()
        if args.profile in ("steady", "both"):
            before, cpu0 = cache_counts(base), resource.getrusage(resource.RUSAGE_SELF)
            started = time.monotonic()
            live = LiveLoads(store_port, args.live_loads) if args.live_loads else contextlib.nullcontext()
            with live:
                record = steady(base, users, args.seconds)
            elapsed = time.monotonic() - started
            if args.live_loads:
                print(f"live loads: {live.loads} of NEM's next 5-minute interval, one every {args.live_loads:g} s "
                      f"(median {np.median(live.ms) if live.ms else float('nan'):.0f} ms each)")
            after, cpu1 = cache_counts(base), resource.getrusage(resource.RUSAGE_SELF)
            hits, misses = after[0] - before[0], after[1] - before[1]
            report(f"steady: {len(users)} users acting every 2-8 s", record, elapsed,
                   hits / (hits + misses) if hits + misses else float("nan"), peak_rss(*rss_of),
                   (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime))
        if args.profile in ("ramp", "both"):
            print("\ncapacity ramp (mixed workload, open loop, 20 s per step):")
            steps = ramp(base, users, rss_of, rates=args.rates)
            held = 0
            for rate, rec in steps:  # the last rate before the first step that failed
                if rec.p(None, 95) > P95_LIMIT_MS:
                    capacity = f"{held} requests/s"
                    break
                held = rate
            else:  # every step held: the capacity lies past the ramp's last rate
                capacity = f"at least {held} requests/s (no step crossed the limit; --rates runs higher ones)"
            print(f"capacity: {capacity}, p95 at or under {P95_LIMIT_MS:.0f} ms "
                  f"(server peak RSS {peak_rss(*rss_of)})")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if cache is not None:
            cache.terminate()
            cache.wait(timeout=30)


if __name__ == "__main__":
    main()
