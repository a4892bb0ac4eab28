"""Wiring: ``create_app(settings)`` builds the Dash app around one Flask server, with the store, the cache,
the REST API, the CLI and the scheduler. ``app.wsgi`` exposes ``server`` for gunicorn and ``flask --app``."""
from __future__ import annotations

import logging
from pathlib import Path

import dash
import flask_bootstrap
from dash import _callback as dash_callbacks
from werkzeug.middleware.proxy_fix import ProxyFix
from flask import Flask, send_from_directory
from flask_caching import Cache
from threadpoolctl import threadpool_limits

import callbacks  # noqa: F401 -- importing it declares every page's callbacks, taken below
from app import dash_first_request, security
from app import access, ast_parse_guard, forecasting, json_answers, logs, marketplace_api, metrics, not_found, routing
from app.api import api
from app.health import health
from app.cli import register_cli
from app.operations import Operations
from app.trigger_lock import market_lock_for
from app.scheduler import start_on_first_request
from app.warming import watch_on_first_request
from app.services import EXTENSION_KEY, Services
from app.settings import REDIS_CLIENT_OPTIONS, REPO_ROOT, Settings
from components.shell import shell
from engine.store import Store

log = logging.getLogger(__name__)
BOOTSTRAP_CSS_URL = "/vendor/bootstrap/bootstrap.min.css"


def _cache_config(settings: Settings) -> dict:
    if settings.redis_url:
        return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": settings.redis_url, "CACHE_DEFAULT_TIMEOUT": 300,
                "CACHE_KEY_PREFIX": "c254:", "CACHE_OPTIONS": dict(REDIS_CLIENT_OPTIONS)}
    return {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300, "CACHE_THRESHOLD": 2000}


def _take_page_callbacks() -> tuple[dict, list]:
    """The callbacks the page modules declared with ``dash.callback``, taken out of Dash's global registry.

    Dash hands the global registry to the first app that serves and empties it, so a second app in the same
    process (tests and benches build many) would have none. Taken once here, they are given to every app."""
    taken = (dict(dash_callbacks.GLOBAL_CALLBACK_MAP), list(dash_callbacks.GLOBAL_CALLBACK_LIST))
    dash_callbacks.GLOBAL_CALLBACK_MAP.clear()
    dash_callbacks.GLOBAL_CALLBACK_LIST.clear()
    return taken


_PAGE_CALLBACK_MAP, _PAGE_CALLBACK_LIST = _take_page_callbacks()


def create_app(settings: Settings | None = None) -> dash.Dash:
    settings = settings or Settings.from_env()
    logs.configure(settings.log_format, settings.log_level)
    # One BLAS thread per process. None of the app's matrices gains from more (a 2,000-bus PTDF takes the same
    # time on one), and under load BLAS's spinning threads fight the request threads for the cores: case118's
    # PTDF went from 2 ms to 300 ms at load average 9 with two BLAS threads, 3 ms with one.
    threadpool_limits(limits=1, user_api="blas")
    server = Flask("c254", root_path=str(REPO_ROOT))
    server.config["SECRET_KEY"] = settings.secret_key
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=n, x_proto=n, x_host=n)
    cache = Cache(server, config=_cache_config(settings))
    store = Store(settings.store_url)
    store.market_lock = market_lock_for(settings.redis_url, store)  # one batch of a market at a time across hosts
    server.extensions[EXTENSION_KEY] = Services(settings=settings, store=store, cache=cache,
                                                operations=Operations(server))

    json_answers.install()
    ast_parse_guard.install()
    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder=str(REPO_ROOT / "pages"),
        assets_folder=str(REPO_ROOT / "assets"),
        # Bootstrap's CSS comes from the installed Bootstrap-Flask package (no CDN, no vendored copy): the
        # app must look right on a machine with no network.
        external_stylesheets=[BOOTSTRAP_CSS_URL],
        suppress_callback_exceptions=True,
        title="254Carbon Market Intelligence",
        update_title=None,
    )
    dash_first_request.serialize(app)  # a worker's first requests wait for Dash's setup (plotly/dash#3971)
    app.layout = shell
    app.callback_map.update(_PAGE_CALLBACK_MAP)
    app._callback_list.extend(_PAGE_CALLBACK_LIST)
    metrics.init_app(app)  # first: a request refused by a later check is timed too
    logs.init_app(app)  # the access line and the request id on error answers, for refused requests too
    security.init_app(app)  # CSRF, origin check, headers, size limit, error pages: before any route
    access.init_app(app)  # sign-in, the role table checked on every request, the layout per user's role
    not_found.init_app(app)  # 404 for what names nothing: after the role check, and seen by metrics and logs
    server.register_blueprint(api)
    marketplace_api.init_app(server)  # the product API, partner uploads, OpenAPI; the usage meter
    server.register_blueprint(health)
    register_cli(server)
    forecasting.init_app(server)
    routing.init_app(server)
    if settings.scheduler:
        start_on_first_request(server)
    if settings.warming == "watch":
        watch_on_first_request(server)
    _serve_bootstrap_css(server)
    return app


def _serve_bootstrap_css(server: Flask) -> None:
    css_dir = Path(flask_bootstrap.__file__).parent / "static" / "bootstrap5" / "css"

    @server.get("/vendor/bootstrap/<path:name>")
    def bootstrap_css(name: str):
        return send_from_directory(css_dir, name, max_age=86400)
