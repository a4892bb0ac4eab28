"""Fresh test databases without replaying the migrations each time.

Migrating an empty database runs every migration in turn (about 140 statements, some of which build a table
only for a later one to rebuild it), which costs a test that needs a fresh store about two seconds. A test
process migrates one template database once; a fresh database then gets the template's final tables (their
``CREATE`` statements as ClickHouse reports them, with the template's name replaced), the rows migrations
wrote (the markets, the applied-migrations log), and last the materialized views, so copying rows does not
run them. The migration tests themselves (tests/test_store.py) start from an empty database and run the real
runner.

Copying still costs about half a second of CPU (a ``CREATE TABLE`` per table), so the ``store`` fixture lends a
database a finished test gave back instead: ``reuse`` empties it with one ``TRUNCATE ALL TABLES`` and puts the
template's rows back, after checking that its tables are still exactly the template's (a database whose test
made, dropped or altered one is dropped instead)."""
from __future__ import annotations

import contextlib
import os
import threading

from engine.store import Store, StoreError, migrate

_LATER = ("MaterializedView", "View", "LiveView", "WindowView", "Dictionary")  # made after the rows are copied
_lock = threading.Lock()
_templates: dict[str, tuple[str, list[tuple[str, str, str]]]] = {}
_filled: dict[str, list[str]] = {}  # per chDB directory: the template's tables that hold rows
_given_back: dict[str, list[Store]] = {}  # per chDB directory: the stores of finished tests, to lend again


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
            _filled[store_dir] = [t for t, e, _q in _templates[store_dir][1] if e not in _LATER and  # names from
                                  template.scalar(f"SELECT count() FROM `{name}`.`{t}`")]  # system.tables, not input
        return _templates[store_dir]


def copy_schema(store: Store, store_dir: str) -> None:
    """Give ``store`` (a fresh, empty database in the chDB directory ``store_dir``) the migrated schema."""
    name, objects = _template(store_dir)
    def local(create: str) -> str:  # the template's name as a qualifier and as a dictionary's source database
        return create.replace(f"{name}.", f"`{store.database}`.").replace(f"DB '{name}'", f"DB '{store.database}'")

    tables = [(t, q) for t, e, q in objects if e not in _LATER]
    for _table, create in tables:
        store.command(local(create))
    for table in _filled[store_dir]:
        store.command(f"INSERT INTO `{table}` SELECT * FROM `{name}`.`{table}`")
    for _view, engine, create in sorted(objects, key=lambda o: o[1] == "Dictionary"):
        if engine in _LATER:
            store.command(local(create))


def give_back(store_dir: str, store: Store) -> None:
    """Keep the database of a finished test to lend again (``reuse`` checks and empties it first)."""
    with _lock:
        _given_back.setdefault(str(store_dir), []).append(store)


def reuse(store_dir: str) -> Store | None:
    """A store given back, emptied to the template's state (schema and rows); None when there is none. One
    whose tables differ from the template's is dropped and the next is tried."""
    name, objects = _template(str(store_dir))
    while True:
        with _lock:
            spare = _given_back.get(str(store_dir))
            if not spare:
                return None
            store = spare.pop()
        try:
            found = store.query_df("SELECT name, create_table_query FROM system.tables WHERE database = "
                                   "{d:String}", {"d": store.database})
        except StoreError:  # the test dropped its database: a fresh one is made instead
            found = None
        # the statements with each database's own name taken out (the template's are about the template; copying
        # quoted it in places)
        def bare(create: str, database: str) -> str:
            return create.replace(f"`{database}`", "").replace(database, "")

        mine = {} if found is None else {t: bare(q, store.database) for t, q in found.itertuples(index=False,
                                                                                                 name=None)}
        if mine == {t: bare(q, name) for t, _e, q in objects}:
            store.command(f"TRUNCATE ALL TABLES FROM `{store.database}`")
            for table in _filled[str(store_dir)]:
                store.command(f"INSERT INTO `{table}` SELECT * FROM `{name}`.`{table}`")
            for dictionary in (t for t, e, _q in objects if e == "Dictionary"):  # loaded ones hold the old rows
                store.command(f"SYSTEM RELOAD DICTIONARY `{store.database}`.`{dictionary}`")
            # A new handle on the emptied database: the engine keeps facts per Store object (the writer's
            # markets known to hold no demo rows), which were true of the last test's rows, not of these.
            store.close()
            return Store(store.dsn)
        with contextlib.suppress(StoreError):
            store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
        store.close()


def migrated_url(store_dir, database: str) -> str:
    """The store URL of database ``database`` in the chDB directory ``store_dir``, its schema copied in, for a
    test module that builds its app itself (the app's migration then finds nothing to do)."""
    url = f"chdb://{store_dir}?database={database}"
    store = Store(url)
    copy_schema(store, str(store_dir))
    store.close()
    return url
