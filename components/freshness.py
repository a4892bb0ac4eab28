"""Data freshness as pages show it: a badge per market in the navigation bar, a table on the admin page."""
from __future__ import annotations

from collections.abc import Sequence

import dash_bootstrap_components as dbc

from components.tables import data_table
from components.times import utc_time

#: Bootstrap colour of each freshness status.
COLOUR = {"fresh": "success", "delayed": "danger", "demo": "info", "empty": "secondary"}
#: The dataset a market's badge names, first found first.
_HEADLINE = ("prices", "nodal LMPs", "demand")


def freshness_badges(items: Sequence, link: str | None = None) -> list:
    """One badge per market: its headline dataset (prices first), coloured by the worst dataset of the
    market; hovering lists every dataset's age; each leads to ``link`` (the admin page's full table) when given.
    ``items`` are the engine's ``Freshness`` records."""
    by_market: dict[str, list] = {}
    for f in items:
        by_market.setdefault(f.market, []).append(f)
    rank = {d: i for i, d in enumerate(_HEADLINE)}
    badges = []
    for market, found in by_market.items():
        head = min(found, key=lambda f: rank.get(f.dataset, len(rank)))
        worst = "delayed" if any(f.status == "delayed" for f in found) else head.status
        badges.append(dbc.Badge(head.label(), color=COLOUR[worst], className="fw-normal",
                                **({"href": link} if link else {}),  # href=None makes dbc's Badge fail to render
                                title="\n".join(f.label() for f in found),
                                id={"type": "freshness", "market": market}))
    return badges or [dbc.Badge("no data loaded", color="secondary")]


def freshness_table(items: Sequence) -> dbc.Table:
    rows = [(f.market, f.dataset, utc_time(f.latest_end),
             dbc.Badge(f.label().split(": ", 1)[1], color=COLOUR[f.status])) for f in items]
    return data_table(["Market", "Dataset", "Newest interval end", "Age"], rows, table_id="admin-freshness-table")
