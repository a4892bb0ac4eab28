"""Fresh test databases without replaying the migrations each time.

Migrating an empty database runs every migration in turn (about 140 statements, some of which build a table
only for a later one to rebuild it), which costs a test that needs a fresh store about two seconds. A test
process migrates one template database once; a fresh database then gets the template's final tables (their
``CREATE`` statements as ClickHouse reports them, with the template's name replaced), the rows migrations
wrote (the markets, the applied-migrations log), and last the materialized views, so copying rows does not
run them. The migration tests themselves (tests/test_store.py) start from an empty database and run the real
runner."""
from __future__ import annotations

import os
import threading

from engine.store import Store, migrate

_LATER = ("MaterializedView", "View", "LiveView", "WindowView", "Dictionary")  # made after the rows are copied
_lock = threading.Lock()
_templates: dict[str, tuple[str, list[tuple[str, str, str]]]] = {}


def _template(store_dir: str) -> tuple[str, list[tuple[str, str, str]]]:
    """(template database, [(name, engine, create statement)]) for the chDB directory ``store_dir``."""
    with _lock:
        if store_dir not in _templates:
            name = f"schema_template_{os.getpid()}"
            template = Store(f"chdb://{store_dir}?database={name}")
            migrate(template)
            objects = template.query_df(
                "SELECT name, engine, create_table_query FROM system.tables WHERE database = {d:String} "
                "ORDER BY name", {"d": name})
            _templates[store_dir] = (name, list(objects.itertuples(index=False, name=None)))
        return _templates[store_dir]


def copy_schema(store: Store, store_dir: str) -> None:
    """Give ``store`` (a fresh, empty database in the chDB directory ``store_dir``) the migrated schema."""
    name, objects = _template(store_dir)
    def local(create: str) -> str:  # the template's name as a qualifier and as a dictionary's source database
        return create.replace(f"{name}.", f"`{store.database}`.").replace(f"DB '{name}'", f"DB '{store.database}'")

    tables = [(t, q) for t, e, q in objects if e not in _LATER]
    for _table, create in tables:
        store.command(local(create))
    for table, _create in tables:
        if store.scalar(f"SELECT count() FROM `{name}`.`{table}`"):  # names from system.tables, not input
            store.command(f"INSERT INTO `{table}` SELECT * FROM `{name}`.`{table}`")
    for _view, engine, create in sorted(objects, key=lambda o: o[1] == "Dictionary"):
        if engine in _LATER:
            store.command(local(create))


def migrated_url(store_dir, database: str) -> str:
    """The store URL of database ``database`` in the chDB directory ``store_dir``, its schema copied in, for a
    test module that builds its app itself (the app's migration then finds nothing to do)."""
    url = f"chdb://{store_dir}?database={database}"
    store = Store(url)
    copy_schema(store, str(store_dir))
    store.close()
    return url
