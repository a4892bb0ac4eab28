"""Shared test setup: where the real data is, a fresh store per test, and the browser options."""
from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
_DATA_DIR = Path(os.environ.get("C254_DATA_DIR") or REPO_ROOT.parent / "shared" / "data").resolve()
# Minimal argon2 parameters for the whole run (engine.accounts reads this once, on import): tests sign in
# hundreds of times, and production's parameters cost tens of milliseconds and 64 MiB each.
os.environ.setdefault("C254_ARGON2_FAST", "1")
# Hypothesis draws the same examples on every run unless HYPOTHESIS_PROFILE=explore is set: a property test
# that fails in CI fails again on the next run and on a developer's machine, instead of once in a while; the
# explore profile draws fresh examples to hunt for new failures.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
_left_out: list[str] = []
_db_counter = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    # dash[testing] drives Chromium; only headless works on these machines.
    if hasattr(config.option, "headless"):
        config.option.headless = True
    # The app's guard against CPython 3.11.7's thread-unsafe ast.parse (app/ast_parse_guard.py), from the start:
    # tests parse beside the app's threads too (pytest rewriting a module's asserts, hypothesis naming a lambda).
    from app import ast_parse_guard

    ast_parse_guard.install()
    # Apps started with demo data get a quarter of it: the pages' tests need a populated store, not the two
    # years the forecast models train on (tests/test_forecast_issue.py builds its own history), and each
    # store filled with two years costs seconds.
    import engine.demo

    engine.demo.DEMO_DAYS = 92
    # Dash's test servers count up from a fixed port in every process: under pytest-xdist (make test runs two
    # workers) each worker gets ports of its own, and all of them lie below the kernel's ephemeral range
    # (32768 and up), where the port of any outgoing connection could take one first.
    from dash.testing.application_runners import BaseDashRunner

    BaseDashRunner._next_port = 30050 + 1000 * xdist_worker()
    # low descriptor numbers kept for QuickFIX's acceptor in the FIX tests (tests/support/fix_acceptor.py)
    try:
        from tests.support.fix_acceptor import LOW_DESCRIPTORS
    except ImportError:  # quickfix (a test-only dependency) not installed: no FIX tests to keep them for
        pass
    else:
        LOW_DESCRIPTORS.hold()


def xdist_worker() -> int:
    """This process's pytest-xdist worker number (0 without xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") else 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not (_DATA_DIR / "markets").is_dir():
        skip = pytest.mark.skip(reason=f"real data folder not found at {_DATA_DIR} (set C254_DATA_DIR)")
        for item in items:
            if "realdata" in item.keywords:
                item.add_marker(skip)
                _left_out.append(item.nodeid)
    browser = [i for i in items if "dash_duo" in getattr(i, "fixturenames", ())]
    if browser and not (shutil.which("chromium") and shutil.which("chromedriver")):
        raise pytest.UsageError("browser tests need Chromium: apt-get install -y chromium chromium-driver "
                                "(make test does this)")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _left_out:
        terminalreporter.write_line(
            f"LEFT OUT: {len(_left_out)} tests need the real data folder ({_DATA_DIR}), which is missing. "
            "Put ../shared/data beside the checkout or set C254_DATA_DIR to run them.", yellow=True, bold=True)


@pytest.hookimpl(optionalhook=True)  # a hook of dash[testing]; absent under -p no:dash
def pytest_setup_options():
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.add_argument("--window-size=1400,1600")
    options.add_argument("--disable-background-networking")
    options.add_argument("--disable-component-update")
    return options


@pytest.fixture(autouse=True)
def _workers_outlive_browser_tests(request: pytest.FixtureRequest):
    """dash.testing stops its server by raising SystemExit into every thread started during the test, which
    would kill the app's long-lived worker pools (the exception waits until a worker next wakes, and the task
    that wakes it is lost). Started before the test, the workers are spared."""
    if "dash_duo" in request.fixturenames:
        from engine.workers import WorkerPool

        for pool in WorkerPool.pools:
            pool.prestart()
    yield


@pytest.fixture
def dash_thread_server(request: pytest.FixtureRequest):
    """dash.testing's threaded server, stopped before the test's database goes and once its requests are over.

    Its own fixture is set up before ``make_app`` when a test names ``dash_duo`` first, so the database was
    dropped while the page still polled (``Unknown table`` in the server's threads); and dash.testing stops
    the server by raising SystemExit into every thread it started, requests in flight included. Both came out
    as unhandled thread exceptions in later tests, each traceback formatted beside whatever those tests ran."""
    import threading
    import time

    from dash.testing.application_runners import ThreadedRunner

    if "make_app" in request.fixturenames:
        request.getfixturevalue("make_app")  # set up first, so dropped after the server has stopped
    with ThreadedRunner() as server:
        yield server
        # dash_duo's teardown has quit the browser by now: no new request comes; let those in flight end
        deadline = time.monotonic() + 5
        for thread in threading.enumerate():
            if "process_request_thread" in thread.name:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))


@pytest.fixture(scope="module", autouse=True)
def _version_clock_from_the_wall():
    """Each module's version clock starts from the wall clock: engine.clock.now_ms never goes back, so a test
    that travels hours ahead (time_machine, tests/test_auth.py) would otherwise leave every later version stamp
    of the process hours ahead. Within a module it keeps going up, as its shared stores need."""
    import engine.clock

    engine.clock._last_ms = 0
    yield


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _DATA_DIR


@pytest.fixture(scope="session")
def store_dir():
    """One chDB directory for the whole test process: chDB allows one directory per process."""
    path = Path(tempfile.mkdtemp(prefix="c254-test-store-"))
    yield path
    # A process of its own deletes the directory, so the process's last test does not wait for it: after a long
    # run it holds tens of thousands of files (dropped databases keep theirs until then), which took from
    # seconds to most of a minute to delete on a busy disk.
    subprocess.Popen([sys.executable, "-c", "import shutil, sys; shutil.rmtree(sys.argv[1], ignore_errors=True)",
                      str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


@pytest.fixture
def store_url(store_dir: Path) -> str:
    """A fresh, empty database in the shared chDB directory."""
    return f"chdb://{store_dir}?database=t{os.getpid()}_{next(_db_counter)}"


@pytest.fixture
def store(request: pytest.FixtureRequest, store_dir: Path):
    """An empty database with the migrated schema: one an earlier test gave back, emptied, or else a fresh one
    with the schema copied from the process's template (see tests/support/schema_template.py). A test that
    also asks for ``store_url`` gets its database."""
    from engine.store import Store
    from tests.support.schema_template import copy_schema, give_back, reuse

    shared_url = "store_url" in request.fixturenames
    s = None if shared_url else reuse(str(store_dir))
    if s is None:
        s = Store(request.getfixturevalue("store_url") if shared_url else
                  f"chdb://{store_dir}?database=t{os.getpid()}_{next(_db_counter)}")
        copy_schema(s, str(store_dir))
    yield s
    if shared_url:  # the test may have built more on its URL (an app, other handles): not lent again
        s.command(f"DROP DATABASE IF EXISTS `{s.database}`")
        s.close()
    else:
        give_back(str(store_dir), s)


def _app_maker(store_url: str, store_dir: Path, made: list):
    """``make(**settings)``: the app on the database of ``store_url`` (scheduler off, no demo data unless
    asked); the apps made are appended to ``made`` for the caller to drop."""
    def make(**settings):
        from app.factory import create_app
        from app.settings import Settings

        if not made:  # the schema copied ahead, so the app's own migration finds nothing to do
            from engine.store import Store
            from tests.support.schema_template import copy_schema

            schema = Store(store_url)
            copy_schema(schema, str(store_dir))
            schema.close()
        # Sign-in is off (local mode, on loopback like the test client) unless a test asks for auth=True: the
        # tests of pages and the API test those; tests/test_access.py and tests/test_auth.py test the boundary.
        made.append(create_app(Settings(store_url=store_url,
                                        **{"scheduler": False, "demo": False, "auth": False, **settings})))
        return made[-1]

    return make


def _drop_apps(made: list) -> None:
    for dash_app in made:
        store = dash_app.server.extensions["c254"].store
        store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
        store.close()


@pytest.fixture(scope="module")
def module_store(store_dir: Path):
    """One empty migrated database for a whole test module (as ``store`` lends it); a module whose tests each need
    empty tables empties those it uses before each test."""
    from engine.store import Store
    from tests.support.schema_template import copy_schema, give_back, reuse

    s = reuse(str(store_dir))
    if s is None:
        s = Store(f"chdb://{store_dir}?database=t{os.getpid()}_{next(_db_counter)}")
        copy_schema(s, str(store_dir))
    yield s
    give_back(str(store_dir), s)


@pytest.fixture
def make_app(store_url: str, store_dir: Path):
    """Builds the app on this test's fresh database, and drops the database afterwards."""
    made: list = []
    yield _app_maker(store_url, store_dir, made)
    _drop_apps(made)


@pytest.fixture(scope="module")
def make_module_app(store_dir: Path):
    """``make_app`` for a whole test module: one database for the module's tests, for tests that each leave the
    store as they found it or only add what the next may find (a fresh app costs seconds)."""
    made: list = []
    yield _app_maker(f"chdb://{store_dir}?database=t{os.getpid()}_{next(_db_counter)}", store_dir, made)
    _drop_apps(made)


@pytest.fixture
def no_wait(monkeypatch):
    """Downloads retry without waiting between attempts."""
    import ingest.http_fetch
    from tenacity import wait_none

    monkeypatch.setattr(ingest.http_fetch, "RETRY_WAIT", wait_none())


@pytest.fixture
def redis_server(tmp_path: Path):
    """A redis-server of this test's own (tests/support/redis_server.py), killed at the end."""
    from tests.support.redis_server import RedisServer

    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()
    shutil.rmtree(server.socket.parent, ignore_errors=True)


@pytest.fixture
def client_as():
    """``client_as(dash_app, role)``: a test client of an app built with auth=True, signed in through the
    /login form as ``<role>@example.com`` (created on first use, password tests.support.signin.PASSWORD)."""
    from app.services import services
    from engine import accounts
    from tests.support.signin import PASSWORD, email_for, sign_in

    def make(dash_app, role: str):
        store = services(dash_app.server).ready_store()
        if accounts.find_user(store, email_for(role)) is None:
            accounts.create_user(store, email_for(role), role, PASSWORD)
        client = dash_app.server.test_client()
        answer = sign_in(client, email_for(role))
        assert answer.status_code == 302, f"signing in as {role} answered {answer.status_code}"
        return client

    return make
