"""Scale-out (issue 14): the same code served by two gunicorn instances (two hosts behind a proxy, or two workers)
on a ClickHouse server (chDB behind ClickHouse's HTTP interface in another process, tests/support/chdb_http.py)
and a real Redis. A session signed in through one is a session in the other, and ended everywhere by a sign-out
through either; the answers one computes are the other's cache hits; a load written to the store is what both
answer next (the cache is keyed on the store's data versions, not on what a process saw).

Scheduler jobs running once per trigger across workers: tests/test_jobs.py; warming once per version between
workers sharing Redis: tests/test_caching.py."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import requests

from app.store_process import gunicorn_command
from tests.conftest import REPO_ROOT
from tests.support.ports import STORE_PROCESSES, free_port

pytestmark = pytest.mark.realdata

FLASK = str(Path(sys.executable).parent / "flask")
PRICES = "/api/v1/prices?market=NEM&location=SA1&start=2016-02-01&end=2016-03-01"
LATER = "/api/v1/prices?market=NEM&location=SA1&start=2018-01-01&end=2018-02-01"


def _flask(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([FLASK, "--app", "app.wsgi", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _ready(url: str, proc: subprocess.Popen, seconds: float = 120) -> dict:
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            answer = requests.get(f"{url}/readyz", timeout=5)
            if answer.status_code == 200:
                return answer.json()
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not become ready")


def _cache_counts(url: str) -> dict[str, float]:
    """This server's cached-answer lookups by result (summed over data classes), from its /metrics."""
    text = requests.get(f"{url}/metrics", timeout=10).text  # loopback: no sign-in needed
    counts: dict[str, float] = {}
    for result, value in re.findall(r'^c254_cache_requests_total\{[^}]*result="(\w+)"[^}]*\} (\S+)$', text, re.M):
        counts[result] = counts.get(result, 0.0) + float(value)
    return counts


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page)
    assert found, page[:500]
    return found.group(1)


def test_two_servers_on_a_clickhouse_server_and_redis_share_sessions_cache_and_data(tmp_path, redis_server,
                                                                                    data_dir):
    folder = data_dir / "markets" / "aemo" / "price_and_demand"
    store_port = free_port(STORE_PROCESSES)
    clickhouse = subprocess.Popen([sys.executable, "-m", "tests.support.chdb_http", str(store_port),
                                   str(tmp_path / "clickhouse")], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    servers: list[subprocess.Popen] = []
    try:
        assert clickhouse.stdout.readline().strip() == "ready"
        env = {**os.environ, "C254_STORE": f"http://default:@127.0.0.1:{store_port}/c254_scale?compress=false",
               "C254_REDIS_URL": redis_server.url, "C254_SECRET_KEY": "scale-out-test", "C254_DEMO": "0",
               "C254_SCHEDULER": "0", "C254_LOG_FORMAT": "text", "C254_MODELS_DIR": str(tmp_path / "models"),
               "C254_DATA_DIR": str(data_dir), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        first = re.search(r"admin account (\S+), password (\S+)", _flask(env, "store", "init"))
        assert first, "store init made no first admin"
        email, password = first.groups()
        _flask(env, "ingest", "load", "nem", str(folder / "PRICE_AND_DEMAND_201602_SA1.csv"))

        urls = []
        for name in ("a", "b"):
            port = free_port(STORE_PROCESSES)
            (tmp_path / f"metrics-{name}").mkdir()
            servers.append(subprocess.Popen(
                gunicorn_command(), cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                env={**env, "HOST": "127.0.0.1", "PORT": str(port), "WEB_WORKERS": "1", "WEB_THREADS": "2",
                     "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics-{name}")}))
            urls.append(f"http://127.0.0.1:{port}")
        a, b = urls
        for url, proc in zip(urls, servers, strict=True):
            assert _ready(url, proc)["checks"] == {"store": "ok", "migrations": "ok", "cache": "ok"}

        # Signed in through A, the browser's cookie is a session at B.
        browser = requests.Session()
        assert browser.get(f"{b}{PRICES}", timeout=30, allow_redirects=False).status_code in (302, 401)
        form = browser.get(f"{a}/login", timeout=30).text
        signed = browser.post(f"{a}/login", data={"email": email, "password": password, "csrf_token": _csrf(form)},
                              timeout=30, allow_redirects=False)
        assert signed.status_code == 302, signed.text[:500]

        # A computes the answer; B answers the same question from the shared cache, computing nothing.
        from_a = browser.get(f"{a}{PRICES}", timeout=60)
        assert from_a.status_code == 200, from_a.text[:500]
        assert len(from_a.json()["rows"]) == 29 * 48  # February 2016 in 30-minute trading intervals, NEM time
        before = _cache_counts(b)
        from_b = browser.get(f"{b}{PRICES}", timeout=60)
        assert from_b.status_code == 200, from_b.text[:500]
        assert from_b.content == from_a.content
        after = _cache_counts(b)
        assert after.get("hit", 0) > before.get("hit", 0), (before, after)
        assert after.get("miss", 0) == before.get("miss", 0), f"B computed what A had cached: {before} -> {after}"
        assert redis.Redis.from_url(redis_server.url).keys("c254:view:*")  # in Redis, not in either process

        # A load written to the store (by neither server) is what both answer next.
        empty = browser.get(f"{b}{LATER}", timeout=60)
        assert empty.status_code == 200 and empty.json()["rows"] == []
        _flask(env, "ingest", "load", "nem", str(folder / "PRICE_AND_DEMAND_201801_SA1.csv"))
        for url in urls:
            later = browser.get(f"{url}{LATER}", timeout=60)
            assert later.status_code == 200 and len(later.json()["rows"]) == 31 * 48, url  # 30-minute intervals

        # Signed out through B: the old cookie is refused at A too (the session is ended in the store).
        cookie = browser.cookies.get_dict()
        page = browser.get(f"{b}/logout", timeout=30).text
        assert browser.post(f"{b}/logout", data={"csrf_token": _csrf(page)}, timeout=30).status_code == 200
        replayed = requests.get(f"{a}{PRICES}", cookies=cookie, timeout=30, allow_redirects=False)
        assert replayed.status_code in (302, 401), replayed.status_code
    finally:
        for proc in servers:
            proc.terminate()
        errors = [proc.communicate(timeout=60)[1] for proc in servers]
        clickhouse.terminate()
        clickhouse.wait(30)
    for err in errors:
        assert "Traceback" not in err, err[-3000:]
