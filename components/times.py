"""Times and durations as tables print them."""
from __future__ import annotations

import pandas as pd


def utc_time(t) -> str:
    """A UTC instant to the second, or a dash when unknown."""
    return "—" if t is None or pd.isna(t) else pd.Timestamp(t).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(start, end) -> str:
    """Seconds between two instants, or a dash when either is unknown."""
    if start is None or end is None or pd.isna(start) or pd.isna(end):
        return "—"
    return f"{(pd.Timestamp(end) - pd.Timestamp(start)).total_seconds():.1f} s"
