"""Models that learn from the store register a trainer here; the scheduler runs every one once a night.

A trainer is ``callable(store) -> rows written`` (a model module calls :func:`register_trainer` when it is
imported). The registry is in the engine, not the app, so that a model in the engine can register itself
without importing the layer above it (see docs/architecture.md).
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from engine.jobs import JobRun
from engine.store import Store

log = logging.getLogger(__name__)

Trainer = Callable[[Store], int]

#: name -> trainer; each run is recorded in job_runs as "train:<name>".
TRAINERS: dict[str, Trainer] = {}


def register_trainer(name: str, train: Trainer) -> None:
    TRAINERS[name] = train


def train_all(store: Store, trainers: dict[str, Trainer] | None = None) -> list[JobRun]:
    """Run every trainer (the registered ones by default); each run is recorded, a failing one never stops
    the others."""
    runs = []
    for name, train in list((TRAINERS if trainers is None else trainers).items()):
        run = JobRun(job=f"train:{name}", market="")
        run.save(store)
        try:
            run.rows_written = int(train(store))
            run.finish(store, "succeeded")
        except Exception as exc:  # recorded and visible on the admin page; the next trainer still runs
            log.exception("training %s failed", name)
            run.finish(store, "failed", f"{type(exc).__name__}: {exc}")
        runs.append(run)
    return runs
