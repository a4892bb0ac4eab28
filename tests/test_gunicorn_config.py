"""The gunicorn master's checks and set-up before it forks (app/gunicorn_config.py): several workers on the embedded
store, which only one process may open, are refused with a message saying what works; a setting the app cannot
take stops it with gunicorn's own error line; and with no PROMETHEUS_MULTIPROC_DIR given, several workers get a
directory of the master's for prometheus-client's multiprocess mode, so a scrape on either sums both
(`WEB_WORKERS=4 make run` on a server, as README shows it, not only the store process); a directory given is
emptied of a previous run's files; the master's own is removed at exit."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from gunicorn.config import Config

from app import gunicorn_config
from app.store_process import gunicorn_command
from tests.conftest import REPO_ROOT
from tests.support.ports import STORE_PROCESSES, free_port


def _master(workers: int) -> types.SimpleNamespace:
    cfg = Config()
    cfg.set("workers", workers)
    return types.SimpleNamespace(cfg=cfg)


SERVER_STORE = "http://default:@clickhouse.internal:8123/c254"


@pytest.fixture
def own_dirs(monkeypatch):
    # set, then deleted: so the variable is recorded as it was, and what on_starting sets goes after the test (a
    # delenv of an unset variable records nothing, and later tests in this process ran in multiprocess mode)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    monkeypatch.setenv("C254_STORE", SERVER_STORE)  # several workers need a store they can share
    monkeypatch.setattr(gunicorn_config, "_OWN_METRICS_DIR", [])
    return gunicorn_config._OWN_METRICS_DIR


def test_several_workers_get_a_fresh_directory_of_the_masters_removed_at_exit(own_dirs):
    gunicorn_config.on_starting(_master(workers=2))
    made = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert made.is_dir() and not any(made.iterdir())
    assert own_dirs == [str(made)]
    (made / "histogram_123.db").write_bytes(b"\0")
    gunicorn_config.on_exit(_master(workers=2))
    assert not made.exists()


def test_one_worker_keeps_its_metrics_in_process(own_dirs):
    gunicorn_config.on_starting(_master(workers=1))
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    assert own_dirs == []


def test_a_given_directory_is_emptied_of_the_last_runs_files_and_kept(own_dirs, monkeypatch, tmp_path):
    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_4711.db").write_bytes(b"\0")
    (given / "histogram_4712.db").write_bytes(b"\0")
    (given / "README").write_text("the operator's")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    gunicorn_config.on_starting(_master(workers=4))
    assert sorted(p.name for p in given.iterdir()) == ["README"]
    gunicorn_config.on_exit(_master(workers=4))
    assert given.is_dir() and own_dirs == []
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "not-yet"))
    gunicorn_config.on_starting(_master(workers=2))
    assert (tmp_path / "not-yet").is_dir()


@pytest.mark.parametrize("store", ["chdb:///srv/c254/store", ""])
def test_several_workers_on_the_embedded_store_are_refused_before_any_starts(own_dirs, monkeypatch, store):
    """chDB lets one process open a store: a second worker failed every request it took (one 503 in two).
    Refused with gunicorn's "Error: ..." and exit 1, naming the ways that work; unset is the embedded default."""
    monkeypatch.setenv("C254_STORE", store)
    with pytest.raises(RuntimeError, match=r"^2 workers cannot share the embedded store chdb://.*`make run-store-"
                                           r"process`, or point C254_STORE at a ClickHouse server\.$"):
        gunicorn_config.on_starting(_master(workers=2))
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ and own_dirs == []
    gunicorn_config.on_starting(_master(workers=1))  # the default: one worker and threads


def test_a_bad_setting_stops_the_master_with_gunicorns_own_error_line(own_dirs, monkeypatch):
    monkeypatch.setenv("C254_SESSION_MAX_HOURS", "-1")
    with pytest.raises(RuntimeError, match=r"^C254_SESSION_MAX_HOURS must be a number above 0, got '-1'$"):
        gunicorn_config.on_starting(_master(workers=1))


def test_make_run_with_two_workers_on_the_embedded_store_says_why_and_exits(tmp_path):
    env = {**os.environ, "C254_STORE": f"chdb://{tmp_path / 'store'}", "WEB_WORKERS": "2",
           "PORT": str(free_port(STORE_PROCESSES)),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(gunicorn_command(), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"Error: 2 workers cannot share the embedded store chdb://{tmp_path / 'store'}" in done.stderr
    assert not (tmp_path / "store").exists()


def _healthz_counted(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=30).text  # loopback: no sign-in needed
    found = re.search(r'^c254_request_seconds_count\{[^}]*route="/healthz"[^}]*\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.slow
def test_two_workers_with_no_directory_given_report_the_same_sums(tmp_path):
    store_port, port = free_port(STORE_PROCESSES), free_port(STORE_PROCESSES)
    clickhouse = subprocess.Popen([sys.executable, "-m", "tests.support.chdb_http", str(store_port),
                                   str(tmp_path / "clickhouse")], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({"C254_STORE": f"http://default:@127.0.0.1:{store_port}/c254_metrics?compress=false",
                "C254_SECRET_KEY": "metrics-test", "C254_DEMO": "0", "C254_SCHEDULER": "0", "C254_WARMING": "off",
                "C254_LOG_FORMAT": "text", "HOST": "127.0.0.1", "PORT": str(port), "WEB_WORKERS": "2",
                "WEB_THREADS": "2", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    web, log = None, tmp_path / "web.log"
    try:
        assert clickhouse.stdout.readline().strip() == "ready"
        done = subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "app.wsgi", "store", "init"],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        # its log to a file: a pipe read only at the end fills after some hundreds of access lines and blocks a
        # worker mid-request
        with log.open("w") as log_file:
            web = subprocess.Popen(gunicorn_command(), cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                                   stderr=log_file)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert web.poll() is None, log.read_text()[-3000:]
            try:
                if requests.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the app did not become ready"
            time.sleep(0.3)
        workers = [int(p) for p in Path(f"/proc/{web.pid}/task/{web.pid}/children").read_text().split()]
        if len(workers) == 1:  # bash -c exec: the shell became gunicorn, so these are the workers already
            workers = [int(p) for p in Path(f"/proc/{workers[0]}/task/{workers[0]}/children").read_text().split()]
        assert len(workers) == 2

        def written() -> list[Path]:
            """The workers' histogram files, wherever they are (a worker's /proc environ is the master's at exec,
            before on_starting set the variable)."""
            temp = Path(tempfile.gettempdir())
            return [f for pid in workers for f in temp.glob(f"c254-metrics-*/histogram_{pid}.db")]

        sent = 0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(20):  # until both workers have answered some (the kernel hands each connection to either)
                assert set(pool.map(lambda _: requests.get(f"{url}/healthz", timeout=60).status_code,
                                    range(40))) == {200}
                sent += 40
                if len(written()) == 2:
                    break
        files = written()
        assert len(files) == 2 and files[0].parent == files[1].parent, files  # one directory, both workers' files
        made = files[0].parent
        # whichever worker answers the scrape, it counts every worker's requests (the readiness probe's not)
        assert [_healthz_counted(url) for _ in range(6)] == [sent] * 6
    finally:
        if web is not None:
            web.terminate()
            web.wait(timeout=60)
            assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
        clickhouse.terminate()
        clickhouse.wait(30)
    assert not Path(made).exists()  # the master removed its directory at exit


class _Log:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, message: str, *args) -> None:
        self.errors.append(message % args)


@pytest.mark.parametrize(("store", "kept"), [("chdb:///srv/c254/store", 1), (SERVER_STORE, 2)])
def test_a_worker_added_to_a_running_master_is_refused_on_the_embedded_store(monkeypatch, store, kept):
    """SIGTTIN or `gunicornc -c "worker add"` sets the master's count; on chDB the extra process could open
    nothing, so the count is put back and the log says why."""
    monkeypatch.setenv("C254_STORE", store)
    master = types.SimpleNamespace(_num_workers=2, log=_Log())
    gunicorn_config.nworkers_changed(master, 2, 1)
    assert master._num_workers == kept
    assert bool(master.log.errors) == (kept == 1)
    if master.log.errors:
        assert master.log.errors[0].startswith("not adding a worker: chDB lets one process open the embedded store")
    master = types.SimpleNamespace(_num_workers=3, log=_Log())
    gunicorn_config.nworkers_changed(master, 3, None)  # the count set at start is on_starting's to judge
    assert master._num_workers == 3 and master.log.errors == []


def test_each_app_gets_a_control_socket_of_its_own_unless_one_is_set(own_dirs, tmp_path):
    """gunicorn 24+ listens for gunicornc on one socket per user by default: a second app took the first's."""
    cfg = Config()
    cfg.set("bind", ["127.0.0.1:8064"])
    gunicorn_config.on_starting(types.SimpleNamespace(cfg=cfg))
    if "control_socket" not in cfg.settings:  # a gunicorn before control sockets: nothing to name
        return
    default = cfg.settings["control_socket"].default
    assert cfg.control_socket == os.path.join(os.path.dirname(default), "c254-127.0.0.1-8064.ctl")
    cfg.set("bind", ["unix:" + "/run/" + "a-very-long-directory-name/" * 4 + "c254.sock"])
    cfg.set("control_socket", default)
    gunicorn_config.on_starting(types.SimpleNamespace(cfg=cfg))
    assert re.fullmatch(r"c254-[0-9a-f]{16}\.ctl", os.path.basename(cfg.control_socket))  # short enough to bind
    cfg.set("control_socket", str(tmp_path / "operators.ctl"))
    gunicorn_config.on_starting(types.SimpleNamespace(cfg=cfg))
    assert cfg.control_socket == str(tmp_path / "operators.ctl")


LEFT_RUNNING = """
import sys
from engine import jobs
from engine.store import Store, migrate

store = Store(sys.argv[1])
migrate(store)
run = jobs.JobRun(job="backfill:nem", market="NEM", connector="nem")
run.save(store)  # and this process ends with the run 'running', as one killed mid-backfill does
print(run.run_id, flush=True)
store.close()
"""

READ_RUN = """
import sys
from engine import jobs
from engine.store import Store

run = jobs.get_run(Store(sys.argv[1]), sys.argv[2])
print(f"{run['status']}|{run['error']}", flush=True)
"""


@pytest.mark.slow
def test_a_worker_starts_its_scheduler_catch_up_and_warming_as_it_boots(tmp_path):
    """`make run` and nobody opens the app: the worker's boot starts the scheduler (the operators' pulls run on
    schedule), marks the runs a stopped process left, and warms the hot views. All three waited for the first
    request before."""
    url = f"chdb://{tmp_path / 'store'}"
    env = {**os.environ, "C254_STORE": url, "C254_SECRET_KEY": "boot-test", "C254_DEMO": "0", "C254_SCHEDULER": "1",
           "C254_LOG_FORMAT": "text", "HOST": "127.0.0.1", "PORT": str(free_port(STORE_PROCESSES)),
           "WEB_WORKERS": "1", "WEB_THREADS": "2",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    left = subprocess.run([sys.executable, "-c", LEFT_RUNNING, url], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert left.returncode == 0, left.stderr[-2000:]
    run_id = left.stdout.strip().splitlines()[-1]
    log = tmp_path / "web.log"
    with log.open("w") as log_file:
        web = subprocess.Popen(gunicorn_command(), cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=log_file)
    try:
        deadline = time.monotonic() + 120
        while not ("scheduler started with" in log.read_text() and "warmed" in log.read_text()):
            assert web.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        web.terminate()
        web.wait(timeout=60)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert "/healthz" not in text and "GET " not in text  # no request reached it
    # read in a process of its own: chDB lets a process open one directory, and this one holds the suite's store
    read = subprocess.run([sys.executable, "-c", READ_RUN, url, run_id], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert read.returncode == 0, read.stderr[-2000:]
    assert read.stdout.strip().splitlines()[-1] == "failed|interrupted: the process running it stopped"
