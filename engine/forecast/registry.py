"""The model registry: every trained forecast model, recorded once (``forecast_models``, migration 012) with
its settings, data window, validation metrics and training time, its weights in an artefact file under the
app's ``var/models/`` folder. Rows are only added; a newer training is a new version.

The artefact is written (atomically) before its row, so a row always names a whole file; its SHA-256 is
checked on load, so a truncated or swapped file is refused rather than loaded.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from engine.clock import now_ms
from engine.store import Store

MODELS_FOLDER = "models"
_COLUMNS = ("model_id, market, location, kind, version, settings, window_start, window_end, metrics, "
            "artefact_path, artefact_sha256, trained_at, seconds")
# Versions are numbered max + 1; only the serving process records models, and this lock keeps two of its
# threads from taking the same number.
_version_lock = threading.Lock()


class RegistryError(ValueError):
    """A model cannot be recorded or loaded; the message says why."""


@dataclass(frozen=True)
class ModelRecord:
    model_id: str
    market: str
    location: str
    kind: str
    version: int
    settings: dict
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    metrics: dict
    artefact_path: Path
    artefact_sha256: str
    trained_at: pd.Timestamp
    seconds: float


def models_dir(var_dir: str | Path) -> Path:
    """Where the artefacts live: the ``models`` folder of the app's var folder."""
    return Path(var_dir) / MODELS_FOLDER


def _utc(value: Any, name: str) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise RegistryError(f"{name} {stamp} has no time zone; the registry keeps UTC instants")
    return stamp.tz_convert("UTC")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def record_model(store: Store, folder: str | Path, *, market: str, location: str, kind: str, artefact: bytes,
                 settings: dict, window_start: Any, window_end: Any, metrics: dict, seconds: float,
                 trained_at: Any = None) -> ModelRecord:
    """Write ``artefact`` under ``folder`` (the models folder, :func:`models_dir`) and record the model as the
    next version of (market, location, kind); return its record."""
    for name, value in (("market", market), ("location", location), ("kind", kind)):
        if not isinstance(value, str) or not value.strip():
            raise RegistryError(f"{name} must be a non-empty text, not {value!r}")
    if not isinstance(artefact, bytes | bytearray) or not artefact:
        raise RegistryError("the model artefact is empty")
    start, end = _utc(window_start, "window_start"), _utc(window_end, "window_end")
    if end < start:
        raise RegistryError(f"the data window ends ({end}) before it starts ({start})")
    trained = _utc(trained_at, "trained_at") if trained_at is not None else now_ms()
    settings_json = json.dumps(settings, sort_keys=True, default=str)
    metrics_json = json.dumps(metrics, sort_keys=True, default=str)
    digest = hashlib.sha256(artefact).hexdigest()
    model_id = uuid.uuid4().hex
    with _version_lock:
        version = int(store.scalar(
            "SELECT max(version) FROM forecast_models WHERE market = {m:String} AND location = {l:String} "
            "AND kind = {k:String}", {"m": market, "l": location, "k": kind}) or 0) + 1
        path = (Path(folder) / _safe(market) / _safe(location) / f"{_safe(kind)}-v{version}-{model_id[:12]}.pt")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(artefact)
        os.replace(partial, path)
        path = path.resolve()
        try:
            store.command(
                f"INSERT INTO forecast_models ({_COLUMNS}) VALUES ({{id:String}}, {{m:String}}, {{l:String}}, "  # noqa: S608 -- fixed column list; values bound
                "{k:String}, {v:UInt32}, {s:String}, {ws:DateTime64(3, 'UTC')}, {we:DateTime64(3, 'UTC')}, "
                "{mt:String}, {p:String}, {h:String}, {at:DateTime64(3, 'UTC')}, {sec:Float64})",
                {"id": model_id, "m": market, "l": location, "k": kind, "v": version, "s": settings_json,
                 "ws": start.to_pydatetime(), "we": end.to_pydatetime(), "mt": metrics_json, "p": str(path),
                 "h": digest, "at": trained.to_pydatetime(), "sec": float(seconds)})
        except Exception:
            path.unlink(missing_ok=True)  # no row, no file: nothing half-recorded
            raise
    return ModelRecord(model_id, market, location, kind, version, json.loads(settings_json), start, end,
                       json.loads(metrics_json), path, digest, trained, float(seconds))


def _record(row: pd.Series) -> ModelRecord:
    seconds = float(row["seconds"])
    return ModelRecord(str(row["model_id"]), str(row["market"]), str(row["location"]), str(row["kind"]),
                       int(row["version"]), json.loads(row["settings"]), pd.Timestamp(row["window_start"]),
                       pd.Timestamp(row["window_end"]), json.loads(row["metrics"]), Path(row["artefact_path"]),
                       str(row["artefact_sha256"]), pd.Timestamp(row["trained_at"]),
                       seconds if math.isfinite(seconds) else math.nan)


def latest_model(store: Store, market: str, location: str, kind: str) -> ModelRecord | None:
    """The newest version of (market, location, kind), or None when none was trained."""
    rows = model_versions(store, market, location, kind, limit=1)
    return rows[0] if rows else None


def model_versions(store: Store, market: str, location: str, kind: str, limit: int = 100) -> list[ModelRecord]:
    """The recorded versions of (market, location, kind), newest first."""
    df = store.query_df(
        f"SELECT {_COLUMNS} FROM forecast_models WHERE market = {{m:String}} AND location = {{l:String}} "  # noqa: S608 -- fixed column list; values bound
        "AND kind = {k:String} ORDER BY version DESC LIMIT {n:UInt32}",
        {"m": market, "l": location, "k": kind, "n": max(1, int(limit))})
    return [_record(row) for _, row in df.iterrows()]


def recorded_models(store: Store, limit: int = 100) -> list[ModelRecord]:
    """Every recorded model of every series and kind, the newest trained first."""
    df = store.query_df(
        f"SELECT {_COLUMNS} FROM forecast_models ORDER BY trained_at DESC, version DESC LIMIT {{n:UInt32}}",  # noqa: S608 -- fixed column list; values bound
        {"n": max(1, int(limit))})
    return [_record(row) for _, row in df.iterrows()]


def _transformer(data: bytes):
    from engine.forecast.transformer import TransformerModel  # torch is heavy: imported when a model is loaded

    return TransformerModel.from_bytes(data)


#: kind -> how its artefact becomes a model again.
LOADERS: dict[str, Callable[[bytes], Any]] = {"transformer": _transformer}


def load_model(record: ModelRecord) -> Any:
    """The model a record names, from its artefact (checked against the recorded SHA-256)."""
    loader = LOADERS.get(record.kind)
    if loader is None:
        raise RegistryError(f"no loader for models of kind {record.kind!r} (known: {', '.join(sorted(LOADERS))})")
    try:
        data = Path(record.artefact_path).read_bytes()
    except OSError as exc:
        raise RegistryError(f"model {record.model_id} (v{record.version}): artefact unreadable: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != record.artefact_sha256:
        raise RegistryError(f"model {record.model_id} (v{record.version}): artefact {record.artefact_path} does "
                            "not match its recorded checksum")
    return loader(data)
