"""Callbacks, one module per page; ``register_all`` attaches them to an app instance."""
from __future__ import annotations

import dash


def register_all(app: dash.Dash) -> None:
    from callbacks import admin, nodal, overview, shell

    shell.register(app)
    overview.register(app)
    admin.register(app)
    nodal.register(app)
