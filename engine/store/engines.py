"""Table engines as the store's database needs them: on a ClickHouse database of the Replicated engine, every
MergeTree-family table on its Replicated counterpart (docs/deploy.md, "A cluster")."""
from __future__ import annotations

import re

from engine.store.client import Store

#: A MergeTree-family engine a statement creates a table with, not already a Replicated one.
_LOCAL_ENGINE = re.compile(
    r"\bENGINE\s*=\s*((?:Replacing|Aggregating|Summing|Collapsing|VersionedCollapsing|Graphite|Coalescing)?MergeTree)\b",
    re.IGNORECASE)


def replicated_engines(sql: str) -> str:
    """``sql`` with each table it creates on a MergeTree-family engine created on that engine's Replicated
    counterpart, its arguments kept: ``ReplacingMergeTree(batch_id)`` becomes
    ``ReplicatedReplacingMergeTree(batch_id)``.

    Open-source ClickHouse keeps a plain ``MergeTree`` table in a Replicated database as a table of each replica's
    own: the statement reaches every replica, the rows do not. Named without a Keeper path and replica name, a
    Replicated engine takes the server's defaults (``/clickhouse/tables/{uuid}/{shard}`` and ``{replica}``), the
    form a Replicated database asks for; a table rebuilt under a new name (migration 008) gets its own path."""
    return _LOCAL_ENGINE.sub(lambda m: f"ENGINE = Replicated{m.group(1)}", sql)


def is_replicated(store: Store) -> bool:
    """Whether the store's database is of ClickHouse's Replicated engine (created so by the operator, see
    docs/deploy.md): its DDL then reaches every replica, and its tables must be Replicated to share their rows."""
    engine = store.scalar("SELECT engine FROM system.databases WHERE name = currentDatabase()")
    return engine == "Replicated"


def for_database(store: Store, sql: str) -> str:
    """The CREATE TABLE statement ``sql`` with the engines ``store``'s database needs: as written, or
    ``replicated_engines(sql)`` in a Replicated database. For a table made at run time (a data product's)."""
    return replicated_engines(sql) if is_replicated(store) else sql
