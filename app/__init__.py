"""Wiring: ``create_app(settings)`` builds the Dash app around one Flask server, with the store, the cache,
the REST API, the CLI and the scheduler. ``app.wsgi`` exposes ``server`` for gunicorn and ``flask --app``."""
from __future__ import annotations

import logging
from pathlib import Path

import dash
from flask import Flask
from flask_caching import Cache

from app.settings import REPO_ROOT, Settings
from engine.store import Store

log = logging.getLogger(__name__)


def _cache_config(settings: Settings) -> dict:
    if settings.redis_url:
        return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": settings.redis_url, "CACHE_DEFAULT_TIMEOUT": 300,
                "CACHE_KEY_PREFIX": "c254:"}
    return {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300, "CACHE_THRESHOLD": 2000}


def create_app(settings: Settings | None = None) -> dash.Dash:
    from app.services import EXTENSION_KEY, Services

    settings = settings or Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = Flask("c254", root_path=str(REPO_ROOT))
    server.config["SECRET_KEY"] = settings.secret_key
    cache = Cache(server, config=_cache_config(settings))
    svc = Services(settings=settings, store=Store(settings.store_url), cache=cache)
    server.extensions[EXTENSION_KEY] = svc

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
    from components.shell import shell

    app.layout = shell
    from callbacks import register_all

    register_all(app)
    from app.api import api

    server.register_blueprint(api)
    from app.cli import register_cli

    register_cli(server)
    if settings.scheduler:
        from app.scheduler import start_on_first_request

        start_on_first_request(server)
    _serve_bootstrap_css(server)
    return app


BOOTSTRAP_CSS_URL = "/vendor/bootstrap/bootstrap.min.css"


def _serve_bootstrap_css(server: Flask) -> None:
    import flask_bootstrap
    from flask import send_from_directory

    css_dir = Path(flask_bootstrap.__file__).parent / "static" / "bootstrap5" / "css"

    @server.get("/vendor/bootstrap/<path:name>")
    def bootstrap_css(name: str):
        return send_from_directory(css_dir, name, max_age=86400)
