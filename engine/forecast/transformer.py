"""The product's price model: a transformer encoder over day tokens, with Monte Carlo dropout for its spread.

Each token is one day of 24 hours counted back from the forecast start (so any start hour works): the day's
variance-stabilised prices, its exogenous inputs, its public-holiday flags per hour and its calendar (weekday,
hour of the first hour, season). ``window_days`` past tokens are followed by one token per forecast day whose
prices are masked (its exogenous inputs are known: the operators publish them ahead); the encoder's output at
each forecast token is read out as that day's 24 prices, so the whole horizon comes out of one pass.

Prices are stabilised as LEAR does (asinh of the median/MAD-scaled price), so negative prices and spikes
neither dominate the loss nor break the scale: each sample by the median and MAD of its own past window (as
LEAR rescales at every recalibration), the exogenous columns by those of the first fit, which later
warm-start fits keep (their learned weights assume it).

Training is reproducible: seeded, deterministic algorithms, the validation window (the last ``val_days``
before the end of the history) never shuffled into training; early stopping keeps the best epoch's weights.
``fit`` on a trained model fine-tunes it for a few epochs on the newest data instead of starting over.
"""
from __future__ import annotations

import copy
import io
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from engine.forecast.base import PRICE, Prediction

Progress = Callable[[int, int, str], None]
HOURS = 24
FORMAT = 1
#: Normal-consistent MAD, as LEAR's median/MAD scaler uses.
_MAD_NORMAL = 1.4826

#: Width 64 with 6 layers and 8 heads (8 dimensions per head) is what the issue names, sized to train on two
#: years of hours in well under the five-minute budget on one core (see bench/forecast_transformer.py).
DEFAULTS: dict = {
    "width": 64,
    "depth": 6,
    "heads": 8,
    "dropout": 0.1,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "window_days": 14,
    "batch": 32,
    "max_epochs": 120,
    "patience": 15,
    "val_days": 42,
    "stride_hours": 24,
    "samples": 200,
    "finetune_epochs": 4,
    "finetune_days": 182,
    "finetune_lr": 3e-4,
    "linear": True,
    "window_scale": True,
    "country": None,
    "subdiv": None,
    "timezone": None,
}
#: The default grid of :func:`grid_search`: tiny, so that a search stays affordable (4 fits).
DEFAULT_GRID: dict = {"width": (32, 64), "depth": (6,), "dropout": (0.1, 0.25), "lr": (1e-3,)}


class TrainingError(ValueError):
    """The history cannot train or feed the model; the message says what is wrong with it."""


@dataclass(frozen=True)
class _Scale:
    """Median/MAD of a column over the first fit's window: ``z = asinh((x - median) / mad)``."""
    median: float
    mad: float

    @classmethod
    def of(cls, values: np.ndarray) -> _Scale:
        v = values[np.isfinite(values)]
        median = float(np.median(v))
        mad = float(np.median(np.abs(v - median))) * _MAD_NORMAL
        if not mad > 0:
            mad = float(np.std(v)) or 1.0
        return cls(median, mad)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.arcsinh((x - self.median) / self.mad)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.sinh(z) * self.mad + self.median


class _Net(nn.Module):
    def __init__(self, features: int, window: int, days: int, width: int, depth: int, heads: int, dropout: float,
                 linear: bool):
        super().__init__()
        self.days = days
        tokens = window + days
        self.embed = nn.Linear(features, width)
        self.position = nn.Parameter(torch.zeros(1, tokens, width))
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, HOURS)
        # A linear map from the whole window straight to the forecast (an ARX model, as LEAR is one): with a
        # few hundred training days the encoder learns what the linear part misses instead of everything.
        self.linear = nn.Linear(features * tokens, HOURS * days) if linear else None
        nn.init.normal_(self.position, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.embed(x) + self.position)
        h = self.norm(self.encoder(h))[:, -self.days:]
        out = self.head(self.drop(h)).reshape(x.shape[0], self.days * HOURS)
        if self.linear is not None:
            out = out + self.linear(self.drop(x.flatten(1)))
        return out


def _check_frame(frame: pd.DataFrame) -> None:
    if not isinstance(frame, pd.DataFrame) or PRICE not in frame.columns:
        raise TrainingError(f"the history must be a DataFrame with a {PRICE!r} column")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise TrainingError("the history must be indexed by the hours' start times (a DatetimeIndex)")
    if len(frame) > 1:
        steps = np.diff(frame.index.asi8)
        hour = pd.Timedelta(hours=1).value
        if (steps != hour).any():
            at = frame.index[1:][steps != hour][0]
            raise TrainingError(f"the history must be hourly with no gaps or repeats; it is not at {at}")


class TransformerModel:
    """Day-token transformer forecasting ``horizon`` hours (24 to 168) at once; see the module docstring."""
    name = "transformer"

    def __init__(self, seed: int = 0, horizon: int = 24, **settings):
        unknown = set(settings) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown transformer settings: {', '.join(sorted(unknown))}")
        if not HOURS <= int(horizon) <= 7 * HOURS:
            raise ValueError(f"horizon must be 24 to 168 hours, not {horizon}")
        self.seed = int(seed)
        self.horizon = int(horizon)
        self.settings = {**DEFAULTS, **settings}
        if self.settings["width"] % self.settings["heads"]:
            raise ValueError(f"width {self.settings['width']} is not a multiple of heads {self.settings['heads']}")
        self.target_days = math.ceil(self.horizon / HOURS)
        self.net: _Net | None = None
        self.columns: list[str] = []
        self.scales: list[_Scale] = []
        self.fits = 0
        #: What the last fit measured: validation MAE (price units), its weekly-naive MAE, epochs, seconds.
        self.metrics: dict = {}

    # ----- inputs -------------------------------------------------------------------------------------------
    @property
    def tokens(self) -> int:
        return self.settings["window_days"] + self.target_days

    def _holidays(self, local: pd.DatetimeIndex) -> np.ndarray:
        country = self.settings["country"]
        if not country:
            return np.zeros(len(local), dtype=np.float32)
        import holidays

        years = range(local.year.min(), local.year.max() + 1)
        try:
            days = holidays.country_holidays(country, subdiv=self.settings["subdiv"], years=years)
        except NotImplementedError as exc:
            raise ValueError(f"no public holidays known for {country}/{self.settings['subdiv']}: {exc}") from None
        dates = np.array(sorted(days.keys()), dtype="datetime64[D]")
        return np.isin(local.values.astype("datetime64[D]"), dates).astype(np.float32)

    def _calendar(self, index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
        """Per hour: (calendar features of a token starting at that hour, public-holiday flag)."""
        local = index
        if self.settings["timezone"] and index.tz is not None:
            local = index.tz_convert(self.settings["timezone"])
        local = local.tz_localize(None) if local.tz is not None else local
        weekday = np.eye(7, dtype=np.float32)[local.weekday]
        hour = 2 * np.pi * local.hour.to_numpy() / HOURS
        season = 2 * np.pi * local.dayofyear.to_numpy() / 365.25
        cal = np.column_stack([weekday, np.sin(hour), np.cos(hour), np.sin(season), np.cos(season)])
        return cal.astype(np.float32), self._holidays(local)

    def _arrays(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Prices (T,), scaled exogenous inputs (T, E), calendar (T, 11), holiday flags (T,)."""
        price = frame[PRICE].to_numpy(dtype=float)
        exog = np.column_stack([s.forward(frame[c].to_numpy(dtype=float))
                                for s, c in zip(self.scales[1:], self.columns, strict=True)]) \
            if self.columns else np.zeros((len(frame), 0))
        cal, hol = self._calendar(frame.index)
        return price.astype(np.float32), exog.astype(np.float32), cal, hol

    def _samples(self, arrays, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs (N, tokens, features) of forecasts starting at positions ``starts``, their targets (N, target
        hours) in the scaled space (NaN where unknown), and each sample's price scale (N, 2: median, MAD).

        With ``window_scale`` (the default) prices are scaled by the median and MAD of the sample's own past
        window, as LEAR rescales on each recalibration, so that a price level or volatility the training
        years never saw is still familiar to the network; the window's median and MAD on the fit's scale are
        then inputs of every token. Otherwise the first fit's scale serves every sample."""
        price, exog, cal, hol = arrays
        window, days = self.settings["window_days"], self.target_days
        n = len(starts)
        idx = starts[:, None] + np.arange(-window * HOURS, days * HOURS)[None, :]
        raw = price[idx].reshape(n, window + days, HOURS)
        fitted = self.scales[0]
        scale = np.empty((n, 2))
        if self.settings["window_scale"]:
            past = raw[:, :window].reshape(n, -1)
            scale[:, 0] = np.median(past, axis=1)
            scale[:, 1] = np.median(np.abs(past - scale[:, :1]), axis=1) * _MAD_NORMAL
            # a flat window would blow the scale up: never narrower than a tenth of the fitted spread
            scale[:, 1] = np.maximum(scale[:, 1], 0.1 * fitted.mad)
        else:
            scale[:] = fitted.median, fitted.mad
        p = np.arcsinh((raw - scale[:, :1, None]) / scale[:, 1:, None])
        target = p[:, window:].reshape(n, days * HOURS).copy()  # a view otherwise: the masking would zero it
        p[:, window:] = 0.0
        level = np.repeat(np.column_stack([np.arcsinh((scale[:, 0] - fitted.median) / fitted.mad),
                                           np.log(scale[:, 1] / fitted.mad)])[:, None, :], window + days, axis=1)
        e = exog[idx].reshape(n, window + days, HOURS, -1).transpose(0, 1, 3, 2).reshape(n, window + days, -1)
        h = hol[idx].reshape(n, window + days, HOURS)
        c = cal[idx[:, ::HOURS]]
        masked = np.zeros((n, window + days, 1), dtype=np.float32)
        masked[:, window:] = 1.0
        x = np.concatenate([p, e, h, c, masked, level], axis=2).astype(np.float32)
        return x, target.astype(np.float32), scale

    def _starts(self, first: int, last: int, end: int) -> np.ndarray:
        """Sample start positions in [first, last], stepping back from ``end`` by ``stride_hours`` (so the
        samples line up with the hour the history ends at, where the next forecast starts)."""
        stride = int(self.settings["stride_hours"])
        starts = np.arange(end, first - 1, -stride)[::-1]
        return starts[starts <= last]

    def _training_set(self, arrays, first: int, last: int, end: int):
        window = self.settings["window_days"] * HOURS
        starts = self._starts(max(first, window), last, end)
        if not len(starts):
            return (np.zeros((0, self.tokens, 1), np.float32), np.zeros((0, self.target_days * HOURS), np.float32),
                    np.zeros((0, 2)))
        x, y, scale = self._samples(arrays, starts)
        keep = np.isfinite(x).all(axis=(1, 2)) & np.isfinite(y).all(axis=1)
        return x[keep], y[keep], scale[keep]

    def _net(self, features: int) -> _Net:
        s = self.settings
        return _Net(features, s["window_days"], self.target_days, s["width"], s["depth"], s["heads"], s["dropout"],
                    s["linear"])

    # ----- training -----------------------------------------------------------------------------------------
    def fit(self, history: pd.DataFrame, progress: Progress | None = None) -> None:
        """Train on ``history`` (early stopping on its last ``val_days``); on a trained model, fine-tune it on
        the newest ``finetune_days`` for ``finetune_epochs`` instead."""
        _check_frame(history)
        started = time.perf_counter()
        torch.use_deterministic_algorithms(True)
        if self.net is None:
            self._first_fit(history, progress)
        else:
            self._warm_fit(history, progress)
        self.fits += 1
        self.metrics["seconds"] = round(time.perf_counter() - started, 2)
        self.metrics["window_start"] = str(history.index[0])
        self.metrics["window_end"] = str(history.index[-1])

    def _first_fit(self, history: pd.DataFrame, progress: Progress | None) -> None:
        s = self.settings
        self.columns = [c for c in history.columns if c != PRICE]
        for c in self.columns:
            if not pd.api.types.is_numeric_dtype(history[c]):
                raise TrainingError(f"exogenous column {c!r} is not numeric")
        self.scales = [_Scale.of(history[c].to_numpy(dtype=float)) for c in [PRICE, *self.columns]]
        arrays = self._arrays(history)
        end = len(history) - self.target_days * HOURS
        val_start = len(history) - s["val_days"] * HOURS
        x, y, _ = self._training_set(arrays, 0, val_start - self.target_days * HOURS, end)
        vx, vy, vlevel = self._training_set(arrays, val_start, end, end)
        if len(x) < 2 * s["batch"] or not len(vx):
            need = s["window_days"] + s["val_days"] + 2 * s["batch"] * s["stride_hours"] / HOURS
            raise TrainingError(f"too little complete history to train: {len(x)} training and {len(vx)} validation "
                                f"samples from {len(history)} hours (need about {need:.0f} days)")
        torch.manual_seed(self.seed)
        self.net = self._net(x.shape[2])
        best, best_epoch, epoch = math.inf, 0, 0
        best_state = copy.deepcopy(self.net.state_dict())
        optimiser = torch.optim.AdamW(self.net.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])
        generator = torch.Generator().manual_seed(self.seed)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        tvx, tvy = torch.from_numpy(vx), torch.from_numpy(vy)
        for epoch in range(1, s["max_epochs"] + 1):
            self._epoch(optimiser, tx, ty, generator)
            score = self._loss(tvx, tvy)
            if score < best - 1e-5:
                best, best_epoch = score, epoch
                best_state = copy.deepcopy(self.net.state_dict())
            if progress:
                progress(epoch, s["max_epochs"], f"epoch {epoch}: validation loss {score:.4f} (best {best:.4f})")
            if epoch - best_epoch >= s["patience"]:
                break
        self.net.load_state_dict(best_state)
        self.metrics = {"epochs": epoch, "best_epoch": best_epoch, "train_samples": len(x),
                        "val_samples": len(vx), **self._validation_mae(vx, vy, vlevel)}
        if progress:
            progress(s["max_epochs"], s["max_epochs"], f"trained: best epoch {best_epoch} of {epoch}")

    def _warm_fit(self, history: pd.DataFrame, progress: Progress | None) -> None:
        s = self.settings
        columns = [c for c in history.columns if c != PRICE]
        if columns != self.columns:
            raise TrainingError(f"the history's exogenous columns {columns} are not the ones the model was "
                                f"trained on {self.columns}")
        arrays = self._arrays(history)
        end = len(history) - self.target_days * HOURS
        first = max(0, len(history) - (s["finetune_days"] + s["window_days"]) * HOURS)
        x, y, _ = self._training_set(arrays, first, end, end)
        if not len(x):
            raise TrainingError("no complete recent day in the history to fine-tune on")
        optimiser = torch.optim.AdamW(self.net.parameters(), lr=s["finetune_lr"], weight_decay=s["weight_decay"])
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.fits)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        torch.manual_seed(self.seed * 1_000_003 + self.fits)
        for epoch in range(1, s["finetune_epochs"] + 1):
            self._epoch(optimiser, tx, ty, generator)
            if progress:
                progress(epoch, s["finetune_epochs"], f"fine-tuning epoch {epoch}")
        self.metrics = {"epochs": s["finetune_epochs"], "finetuned_samples": len(x)}

    def _epoch(self, optimiser, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> None:
        self.net.train()
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), self.settings["batch"]):
            batch = order[i:i + self.settings["batch"]]
            optimiser.zero_grad()
            loss = (self.net(x[batch]) - y[batch]).abs().mean()
            loss.backward()
            nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
            optimiser.step()

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.net.eval()
        with torch.no_grad():
            return float((self.net(x) - y).abs().mean())

    def _validation_mae(self, vx: np.ndarray, vy: np.ndarray, scale: np.ndarray) -> dict:
        """MAE of the best weights on the validation samples in price units, and the weekly naive's (the
        price 168 h earlier, read from the token a week back) on the same hours."""
        self.net.eval()
        with torch.no_grad():
            z = self.net(torch.from_numpy(vx)).numpy()
        actual = _unscale(vy, scale)
        mae = float(np.mean(np.abs(_unscale(z, scale) - actual)))
        window = self.settings["window_days"]
        if window >= 7:
            week_ago = vx[:, window - 7:window - 7 + self.target_days, :HOURS].reshape(len(vx), -1)
            naive = float(np.mean(np.abs(_unscale(week_ago, scale) - actual)))
        else:
            naive = math.nan
        return {"val_mae": round(mae, 4), "val_naive_mae": round(naive, 4),
                "val_rmae": round(mae / naive, 4) if naive > 0 else math.nan}

    # ----- forecasting --------------------------------------------------------------------------------------
    def predict(self, seen: pd.DataFrame, start: pd.Timestamp, hours: int = 24,
                samples: int | None = None) -> Prediction:
        """``samples`` (default the ``samples`` setting) Monte Carlo dropout passes, as one batch, over the
        window before ``start``; the point is their median. Same model, data and seed: same answer."""
        if self.net is None:
            raise RuntimeError("the transformer has not been trained (call fit first)")
        if not 1 <= hours <= self.horizon:
            raise ValueError(f"this model forecasts 1 to {self.horizon} hours, not {hours}")
        _check_frame(seen)
        start = pd.Timestamp(start)
        columns = [c for c in seen.columns if c != PRICE]
        if columns != self.columns:
            raise ValueError(f"the frame's exogenous columns {columns} are not the model's {self.columns}")
        window = self.settings["window_days"] * HOURS
        span = self.target_days * HOURS
        first = start - pd.Timedelta(hours=window)
        frame = seen.loc[(seen.index >= first) & (seen.index < start + pd.Timedelta(hours=span))]
        if len(frame) < window + hours or frame.index[0] != first or frame.index[window] != start:
            raise ValueError(f"the frame must hold the {window} hours before {start} and the {hours} "
                             "forecast hours, with no gaps")
        frame = frame.copy()
        if len(frame) < window + span:  # a horizon shorter than whole days: the rest of the last day is padded
            extra = pd.date_range(frame.index[-1] + pd.Timedelta(hours=1), periods=window + span - len(frame),
                                  freq="h")
            frame = pd.concat([frame, frame.iloc[-len(extra):].set_axis(extra)])
        frame.iloc[window:, frame.columns.get_loc(PRICE)] = np.nan
        for c in columns:
            if frame[c].iloc[window:window + hours].isna().any():
                raise ValueError(f"exogenous input {c!r} is missing for some forecast hours from {start}")
        past = frame.iloc[:window]
        frame.iloc[:window] = _fill_daily(past)
        if frame.iloc[:window].isna().any().any():
            raise ValueError(f"too many prices or inputs are missing in the {window} hours before {start}")
        arrays = self._arrays(frame.ffill())
        x, _, scale = self._samples(arrays, np.array([window]))
        n = int(samples or self.settings["samples"])
        torch.use_deterministic_algorithms(True)
        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(self.seed)
            self.net.train()  # dropout on: each copy of the input is one stochastic pass
            z = self.net(torch.from_numpy(x).expand(n, -1, -1)).numpy()
        draws = _unscale(z.astype(np.float64), scale)[:, :hours]
        return Prediction(start=start, point=np.median(draws, axis=0), samples=draws)

    # ----- artefacts ----------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The trained model as bytes: weights, settings, scaling and input columns (``torch.save``)."""
        if self.net is None:
            raise RuntimeError("the transformer has not been trained (nothing to save)")
        buffer = io.BytesIO()
        torch.save({"format": FORMAT, "seed": self.seed, "horizon": self.horizon, "settings": self.settings,
                    "columns": self.columns, "scales": [[s.median, s.mad] for s in self.scales],
                    "fits": self.fits, "metrics": self.metrics, "state": self.net.state_dict()}, buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TransformerModel:
        # weights_only: the artefact is read as tensors and plain containers, never as arbitrary pickles.
        saved = torch.load(io.BytesIO(data), weights_only=True)
        if saved.get("format") != FORMAT:
            raise ValueError(f"transformer artefact format {saved.get('format')!r} is not {FORMAT}")
        model = cls(seed=saved["seed"], horizon=saved["horizon"], **saved["settings"])
        model.columns = list(saved["columns"])
        model.scales = [_Scale(float(m), float(d)) for m, d in saved["scales"]]
        model.fits, model.metrics = int(saved["fits"]), dict(saved["metrics"])
        features = HOURS * (2 + len(model.columns)) + 14
        model.net = model._net(features)
        model.net.load_state_dict(saved["state"])
        return model


def _unscale(z: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Prices from scaled values ``z`` (N, hours) and each row's (median, MAD)."""
    return np.sinh(z) * scale[:, 1:2] + scale[:, 0:1]


def _fill_daily(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill a few missing hours of a past window with the same hour a day (or a week) earlier."""
    out = frame.copy()
    for lag in (HOURS, 7 * HOURS, 2 * HOURS):
        if not out.isna().any().any():
            break
        out = out.fillna(out.shift(lag)).fillna(out.shift(-lag))
    return out


def grid_search(history: pd.DataFrame, grid: dict | None = None, *, seed: int = 0, horizon: int = 24,
                progress: Progress | None = None, **fixed) -> tuple[dict, pd.DataFrame]:
    """Fit one model per combination of ``grid`` (width, depth, dropout, lr; :data:`DEFAULT_GRID` by default)
    with early stopping on the same validation window; return the settings of the lowest validation MAE
    and the table of every combination's validation scores, best first."""
    grid = DEFAULT_GRID if grid is None else grid
    unknown = set(grid) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown settings in the grid: {', '.join(sorted(unknown))}")
    names = list(grid)
    combos = list(_product([list(grid[n]) for n in names]))
    rows = []
    for i, values in enumerate(combos):
        settings = {**fixed, **dict(zip(names, values, strict=True))}
        if progress:
            progress(i, len(combos), f"fitting {settings}")
        model = TransformerModel(seed=seed, horizon=horizon, **settings)
        model.fit(history)
        rows.append({**dict(zip(names, values, strict=True)),
                     **{k: model.metrics[k] for k in ("val_mae", "val_rmae", "best_epoch", "seconds")}})
    if progress:
        progress(len(combos), len(combos), "grid search done")
    table = pd.DataFrame(rows).sort_values("val_mae", kind="stable").reset_index(drop=True)
    best = {**fixed, **{n: _plain(table.at[0, n]) for n in names}}
    return best, table


def _product(lists: list[list]) -> Iterable[tuple]:
    import itertools

    return itertools.product(*lists)


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
