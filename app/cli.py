"""Flask CLI: ``flask --app app.wsgi ingest load CONNECTOR PATH`` and ``flask --app app.wsgi store init``."""
from __future__ import annotations

import click
from flask import Flask

from app.services import services
from engine.store import StoreError
from ingest.base import IngestError

_LOCKED_HINT = ("the embedded store is held by another process (is the app running?). chDB allows one process "
                "per store directory: stop the app, or point C254_STORE at a ClickHouse server.")


def _store_error(exc: StoreError) -> click.ClickException:
    text = str(exc)
    if "Cannot lock file" in text or "Code: 76" in text:
        return click.ClickException(_LOCKED_HINT)
    return click.ClickException(f"store error: {text}")


def register_cli(server: Flask) -> None:
    store_group = click.Group("store", help="Prepare and inspect the store.")
    ingest_group = click.Group("ingest", help="Load operators' files into the store.")

    @store_group.command("init")
    def store_init() -> None:
        """Apply migrations, and load demo data into an empty store when C254_DEMO is on."""
        try:
            store = services(server).ready_store()
            n = store.scalar("SELECT count() FROM prices")
        except StoreError as exc:
            raise _store_error(exc) from exc
        click.echo(f"store ready: {services(server).settings.store_url.split('?')[0]} ({n:,} price rows)")

    @ingest_group.command("load")
    @click.argument("connector")
    @click.argument("path", type=click.Path())
    def ingest_load(connector: str, path: str) -> None:
        """Load a file or a folder of CONNECTOR's files (e.g. nem) from PATH; all or nothing."""
        from ingest.load import load_path
        from ingest.registry import get_connector

        try:
            conn = get_connector(connector)
        except KeyError as exc:
            raise click.UsageError(str(exc.args[0])) from exc
        try:
            report = load_path(services(server).ready_store(), conn, path)
        except IngestError as exc:
            raise click.ClickException(f"nothing loaded: {exc}") from exc
        except StoreError as exc:
            raise _store_error(exc) from exc
        click.echo(report.summary())

    server.cli.add_command(store_group)
    server.cli.add_command(ingest_group)
