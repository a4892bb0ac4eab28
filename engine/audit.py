"""The audit log: who did what, when and from which address, for every admin action (``audit_log``, migration
010). Rows are only added. Callers name the actor and address (the app from the signed-in session, the CLI as
"cli"); this module only stores and lists them."""
from __future__ import annotations

import pandas as pd

from engine.clock import now_ms
from engine.queries import iso_times
from engine.spreadsheet_cells import safe_frame
from engine.store import Store

#: The actions recorded, as the admin page shows them.
BACKFILL_STARTED = "backfill started"
BACKFILL_CANCELLED = "backfill cancelled"
JOB_RUN_NOW = "job run now"
USER_CREATED = "user created"
ROLE_CHANGED = "role changed"
USER_DISABLED = "user disabled"
PASSWORD_SET = "password set"  # noqa: S105 -- the name of an action, not a password

#: Every record, newest first; ``recent`` bounds it, the export reads it whole.
_NEWEST_FIRST = "SELECT at, actor, action, detail, address FROM audit_log ORDER BY at DESC"

# Generous bounds that still keep one record from filling the table with whatever a client sent.
_LIMITS = {"actor": 320, "action": 64, "detail": 2000, "address": 64}


def _text(value: object, limit: int) -> str:
    return ("" if value is None else str(value))[:limit]


def record(store: Store, actor: object, action: object, detail: object = "", address: object = "") -> None:
    """Add one record, stamped now (UTC). Texts are cut to their column's bound, never refused: an action
    that happened is recorded whatever its detail holds."""
    values = {name: _text(value, _LIMITS[name]) for name, value in
              (("actor", actor), ("action", action), ("detail", detail), ("address", address))}
    store.command(
        "INSERT INTO audit_log (at, actor, action, detail, address) VALUES ({at:DateTime64(3, 'UTC')}, "
        "{actor:String}, {action:String}, {detail:String}, {address:String})",
        {"at": now_ms().to_pydatetime(), **values})


def recent(store: Store, limit: int = 100) -> pd.DataFrame:
    """The newest ``limit`` records, newest first: at (UTC), actor, action, detail, address."""
    limit = max(1, min(int(limit), 10_000))
    return store.query_df(_NEWEST_FIRST + " LIMIT {n:UInt32}", {"n": limit})


def log_export(store: Store) -> pd.DataFrame:
    """Every stored record, newest first, as an admin downloads it: the time as ISO 8601 in UTC with the offset
    and the millisecond it was stamped with (the header names the zone), then who, what, detail and address.
    Unbounded, unlike ``recent``: a compliance copy that stopped at some count would look complete and not be."""
    log = store.query_df(_NEWEST_FIRST)
    # Actors and details hold what people typed (names, emails, form values): kept from running as formulas.
    return safe_frame(pd.DataFrame({"at (UTC)": iso_times(log["at"], "UTC"),
                                    **{column: log[column].to_numpy()
                                       for column in ("actor", "action", "detail", "address")}}))
