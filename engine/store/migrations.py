"""Versioned schema migrations: ``migrations/NNN_name.sql`` files applied in order, each recorded once."""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from engine.store.client import Store, StoreError
from engine.store.engines import is_replicated, replicated_engines
from engine.store.tables import market_day_start, market_month, market_year

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
# Migrations are append-only, but 001 was once edited in place (its daily view fed from the hourly table, as
# 006 makes it anyway). Stores made with that text are the same once 006 has run, so its checksum is accepted.
_EARLIER_CHECKSUMS = {1: frozenset({"1ad24f865ef67056"})}
# ${MARKET_DAY_START(column)}, ${MARKET_MONTH(column)} and ${MARKET_YEAR(column)}: a column's market-local
# day, month or year as SQL (the markets' zones are spelled out once, in tables.MARKET_ZONES).
_CALENDAR_SQL = {"MARKET_DAY_START": market_day_start, "MARKET_MONTH": market_month, "MARKET_YEAR": market_year}
_MARKET_CALENDAR = re.compile(r"\$\{(" + "|".join(_CALENDAR_SQL) + r")\((\w+)\)\}")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self, database: str, *, replicated: bool = False) -> list[str]:
        """The migration's statements for ``database``; ``replicated``: for a database of the Replicated engine
        (see ``replicated_engines``)."""
        text = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        text = text.replace("${DB}", database)
        text = _MARKET_CALENDAR.sub(lambda m: _CALENDAR_SQL[m.group(1)](m.group(2)), text)
        if replicated:
            text = replicated_engines(text)
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", text) if s.strip()]


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise StoreError(f"migration file {path.name!r} is not named NNN_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"two migrations share a version: {versions}")
    return found


def applied_versions(store: Store) -> dict[int, str]:
    df = store.query_df("SELECT version, checksum FROM schema_migrations FINAL ORDER BY version")
    if df.empty:
        return {}
    return dict(zip(df["version"].astype(int), df["checksum"], strict=True))


def pending_migrations(store: Store, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """The migrations not yet applied, by name (NNN_name)."""
    exists = store.scalar("SELECT count() FROM system.tables WHERE database = currentDatabase() "
                          "AND name = 'schema_migrations'")
    done = applied_versions(store) if exists else {}
    return [f"{m.version:03d}_{m.name}" for m in discover(directory) if m.version not in done]


def migrate(store: Store, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied now.

    A migration that was applied and later edited is refused: schema history is append-only. In a Replicated
    database every table is created on a Replicated engine (``replicated_engines``); the checksums recorded are
    of the migration files, the same either way.
    """
    replicated = is_replicated(store)
    ledger = ("CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, checksum String, "
              "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version")
    store.command(replicated_engines(ledger) if replicated else ledger)
    done = applied_versions(store)
    applied_now = []
    for mig in discover(directory):
        if mig.version in done:
            if done[mig.version] not in {mig.checksum, *_EARLIER_CHECKSUMS.get(mig.version, ())}:
                raise StoreError(
                    f"migration {mig.version:03d}_{mig.name} changed after it was applied; add a new migration"
                )
            continue
        log.info("applying migration %03d_%s%s", mig.version, mig.name, " (replicated)" if replicated else "")
        for stmt in mig.statements(store.database, replicated=replicated):
            store.command(stmt)
        store.command(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ({v:UInt32}, {n:String}, {c:String})",
            {"v": mig.version, "n": mig.name, "c": mig.checksum},
        )
        applied_now.append(mig.version)
    return applied_now
