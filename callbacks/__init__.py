"""Callbacks, one module per page, each declaring its callbacks at module level with ``dash.callback``:
importing this package registers them all, and ``app.factory`` hands them to every app it builds."""
from __future__ import annotations

from callbacks import (  # noqa: F401 -- imported to register their callbacks
    admin, admin_marketplace, forecasts, marketplace, nodal, overview, partner, shell, signals, system)

