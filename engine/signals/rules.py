"""What the four rule strategies share: causal rolling statistics, band (enter/exit) positions, and the checks
of their prices and parameters.

Every statistic at bar t reads bars <= t only, and its value at t does not change when later bars do (sums are
accumulated in order), so a strategy's decisions on a truncated series equal the prefix of its decisions on the
full one.

Work per parameter combination is laid out combinations-first, (combos, bars), each combination's bars
contiguous: the arrays handed out are the transposed, (bars, combos), views of those — the Signals shape, in
Fortran order. (Row-major (bars, combos) work runs numpy's inner loops over a handful of combinations and is
several times slower.)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from engine.signals.base import Signals, combinations

#: legs' column names in a prices frame, in order
LEG_COLUMNS = ("price", "other")
#: a window variance below this share of the window's mean square is rounding noise (a constant window)
_VARIANCE_FLOOR = 1e-12
#: a normalised gap smaller than this is a tie (two averages of a constant stretch differ by rounding only)
GAP_TIE = 1e-9


class PrefixSums:
    """Sums over trailing windows of a 1-D series, accurate to the size of each window's own sum.

    A prefix sum over the whole series carries rounding errors of the size of everything summed so far, which
    after a few price spikes swamps the variance of a quiet window. Here the prefix sums restart every
    ``block`` bars (at least as long as the longest window, so a window spans at most two blocks), and the
    exact rounding error of each addition (Knuth's TwoSum) is summed alongside and added back."""

    def __init__(self, values: np.ndarray, longest: int, shift: float = 0.0, squared: bool = False):
        """Sums of ``values`` (minus ``shift``, squared if ``squared``) over windows up to ``longest`` bars."""
        self._bars = len(values)
        self._block = max(4096, longest)
        rows = max(1, -(-self._bars // self._block))
        # The blocks' running sums are independent chains of additions, each waiting on the one before: blocks
        # r and half + r go side by side as the real and imaginary parts of complex numbers, so that one complex
        # running sum does both chains' additions at once (the same additions, so the same sums) in about the
        # time of one; ``terms[..., j]`` holds blocks j·half … j·half + half − 1.
        half = -(-rows // 2)
        flat = np.zeros(2 * half * self._block)
        np.subtract(values, shift, out=flat[:self._bars])
        if squared:
            np.multiply(flat, flat, out=flat)
        terms = np.empty((half, self._block, 2))
        terms[..., 0] = flat[:half * self._block].reshape(half, self._block)
        terms[..., 1] = flat[half * self._block:].reshape(half, self._block)
        high = np.empty_like(terms)
        np.cumsum(terms.view(np.complex128)[..., 0], axis=1, out=high.view(np.complex128)[..., 0])
        # TwoSum of high[:, i−1] + terms[:, i] = high[:, i]: what the addition lost of the exact sum is
        # (high[:, i−1] − (high[:, i] − added)) + (terms[:, i] − added), added = high[:, i] − high[:, i−1]
        lost = np.empty_like(high)
        lost[:, 0] = high[:, 0]
        np.subtract(high[:, 1:], high[:, :-1], out=lost[:, 1:])  # added
        terms -= lost
        np.subtract(high, lost, out=lost)
        np.subtract(high[:, :-1], lost[:, 1:], out=lost[:, 1:])
        lost[:, 0] = 0.0
        lost += terms
        complex_lost = lost.view(np.complex128)[..., 0]
        np.cumsum(complex_lost, axis=1, out=complex_lost)
        # back to one row per block, in order, into the two buffers free by now
        high_rows, low_rows = flat.reshape(2 * half, self._block), terms.reshape(2 * half, self._block)
        np.concatenate((high[..., 0], high[..., 1]), out=high_rows)
        np.concatenate((lost[..., 0], lost[..., 1]), out=low_rows)
        self._high, self._low = high_rows[:rows], low_rows[:rows]
        self._high_totals, self._low_totals = self._high[:, -1].copy(), self._low[:, -1].copy()

    def window(self, lookback: int) -> np.ndarray:
        """Sum over the ``lookback`` bars ending at each bar; NaN until that many bars exist."""
        if lookback > self._block:
            raise ValueError(f"window of {lookback} bars is longer than the {self._block} these sums allow")
        high, low, size = self._high, self._low, self._block
        out = np.empty_like(high)
        body = out[:, lookback:]
        np.subtract(high[:, lookback:], high[:, :size - lookback], out=body)
        body += low[:, lookback:]
        body -= low[:, :size - lookback]
        # a window starting in the block before: the rest of that block plus this block's prefix
        head = out[1:, :lookback]
        np.subtract(self._high_totals[:-1, None], high[:-1, size - lookback:], out=head)
        head += high[1:, :lookback]
        head += self._low_totals[:-1, None]
        head -= low[:-1, size - lookback:]
        head += low[1:, :lookback]
        out[0, :lookback] = high[0, :lookback] + low[0, :lookback]
        flat = out.reshape(-1)[:self._bars]
        flat[:lookback - 1] = np.nan
        return flat


class Rolling:
    """Rolling mean and sample standard deviation (ddof 1, pandas' default) of one series, for lookbacks up to
    ``longest`` bars.

    Values are centred on the first bar's (a causal constant) to keep the sums of squares small; a window
    whose variance is below rounding noise is constant and gets a standard deviation of exactly 0."""

    def __init__(self, values: np.ndarray, longest: int):
        self._shift = float(values[0]) if len(values) else 0.0
        self._sum = PrefixSums(values, longest, self._shift)
        self._squares = PrefixSums(values, longest, self._shift, squared=True)

    def mean(self, lookback: int) -> np.ndarray:
        mean = self._sum.window(lookback)
        mean /= lookback
        mean += self._shift
        return mean

    def mean_std(self, lookback: int) -> tuple[np.ndarray, np.ndarray]:
        mean = self._sum.window(lookback)
        squares = self._squares.window(lookback)
        std = mean * mean
        std /= -lookback
        std += squares
        std /= lookback - 1
        squares *= _VARIANCE_FLOOR / lookback
        with np.errstate(invalid="ignore"):
            constant = std <= squares
        std[constant] = 0.0
        np.sqrt(std, out=std)
        mean /= lookback
        mean += self._shift
        return mean, std

    def zscore(self, values: np.ndarray, lookback: int) -> np.ndarray:
        """(value − rolling mean) / rolling std, the window ending at (and including) each bar; 0 where the
        window is constant (the value is its mean), NaN in the first ``lookback − 1`` bars."""
        z, std = self.mean_std(lookback)
        np.subtract(values, z, out=z)
        flat = std == 0
        std[flat] = 1.0
        z /= std
        z[flat] = 0.0
        return z


def carry_forward(values: np.ndarray) -> np.ndarray:
    """Each NaN replaced by the latest number before it (NaN if none)."""
    missing = np.isnan(values)
    if not missing[int(np.argmin(missing)):].any():  # NaN only before the first number: nothing to carry
        return values.copy()
    known = np.where(missing, -1, np.arange(len(values)))
    np.maximum.accumulate(known, out=known)
    return np.where(known >= 0, values[np.maximum(known, 0)], np.nan)


def run_maximum(z: np.ndarray, exit_: float) -> np.ndarray:
    """For each bar, the largest |z| of its run — the bars since the latest one where z was inside the exit band
    (|z| < ``exit_``) or changed sign — or −1 on a bar inside the band (or with no z).

    Vectorised as a running maximum of complex numbers, which numpy orders by real part first: the real part
    numbers the runs (non-decreasing), so the maximum restarts with each run; the imaginary part is |z|."""
    sign = np.sign(z)
    with np.errstate(invalid="ignore"):
        outside = np.abs(z) >= exit_
    starts = ~outside
    starts[1:] |= ~outside[:-1] | (sign[1:] != sign[:-1])
    starts[0] = True
    runs = np.empty(len(z), dtype=np.complex128)
    runs.real = np.cumsum(starts)
    runs.imag = np.where(outside, np.abs(z), -1.0)
    np.maximum.accumulate(runs, out=runs)
    return runs.imag.copy()


def band_positions(z: np.ndarray, entry: np.ndarray, exit_: float, position: np.ndarray,
                   confidence: np.ndarray) -> None:
    """Mean-reversion positions for one z-score series, one exit and several entry thresholds, written into
    ``position`` and ``confidence`` (entries, bars).

    Short once z > +entry, long once z < −entry; flat once |z| < exit or z changes sign (the series crossed
    its mean: the reversion happened, and a jump straight past the other band opens the opposite position
    there); in between, the position holds. That is, a position is held while the run's largest |z| is beyond
    the entry (``run_maximum``), on the side opposite z's sign. Confidence while positioned: |z| / (2 · entry),
    capped at 1 (0.5 at the entry threshold); 0 when flat."""
    reached = run_maximum(z, exit_)
    with np.errstate(invalid="ignore"):
        side = (z < 0).view(np.int8) - (z > 0).view(np.int8)
    size = np.abs(z, dtype=np.float32)
    np.nan_to_num(size, copy=False)
    entries = np.asarray(entry, dtype=np.float64)[:, None]
    holding = reached[None, :] > entries
    np.multiply(side[None, :], holding, out=position)
    np.multiply(size[None, :], (0.5 / entries).astype(np.float32), out=confidence)
    np.minimum(confidence, np.float32(1.0), out=confidence)
    confidence *= holding


class Decisions:
    """Positions and confidences of every parameter combination, filled group by group.

    The combinations are sorted by the strategy's group keys (its lookbacks, then the exit band) so that each
    group's rows of the (combos, bars) arrays are one contiguous slice written in place; ``arrays`` returns
    (bars, combos) views in the caller's order."""

    def __init__(self, bars: int, rows: pd.DataFrame, keys: Sequence[str]):
        self._order = np.lexsort([rows[key].to_numpy() for key in reversed(keys)])
        self.rows = rows.iloc[self._order].reset_index(drop=True)
        #: (combos, bars), sorted combinations
        self.position = np.zeros((len(rows), bars), dtype=np.int8)
        self.confidence = np.zeros((len(rows), bars), dtype=np.float32)

    def groups(self, key: str, within: slice | None = None) -> list[tuple[float, slice]]:
        """Each distinct value of ``key`` among the sorted rows ``within``, with the slice of rows that have it."""
        within = within or slice(0, len(self.rows))
        values = self.rows[key].to_numpy()[within]
        starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
        ends = np.concatenate((starts[1:], [len(values)]))
        return [(float(values[a]), slice(within.start + int(a), within.start + int(b)))
                for a, b in zip(starts, ends, strict=True)]

    def column(self, key: str, rows: slice) -> np.ndarray:
        return self.rows[key].to_numpy()[rows]

    def caller_columns(self, rows: slice) -> np.ndarray:
        """The caller's combination numbers of the sorted ``rows``."""
        return self._order[rows]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """position (bars, combos) int8 and confidence (bars, combos) float32, the caller's combination order."""
        if (self._order == np.arange(len(self._order))).all():
            return self.position.T, self.confidence.T
        back = np.argsort(self._order)
        return self.position[back].T, self.confidence[back].T


def check_prices(name: str, prices: pd.DataFrame, legs: int) -> list[np.ndarray]:
    """The legs' prices as float64 arrays; ValueError naming what is wrong with the frame."""
    if not isinstance(prices, pd.DataFrame):
        raise ValueError(f"{name}: prices must be a DataFrame with columns {LEG_COLUMNS[:legs]}, "
                         f"got {type(prices).__name__}")
    missing = [c for c in LEG_COLUMNS[:legs] if c not in prices.columns]
    if missing:
        raise ValueError(f"{name} reads {legs} price series, columns {list(LEG_COLUMNS[:legs])}: "
                         f"prices has no {missing} (it has {list(prices.columns)})")
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise ValueError(f"{name}: prices must be indexed by the start time of each bar (a DatetimeIndex), "
                         f"got {type(prices.index).__name__}")
    if len(prices) == 0:
        raise ValueError(f"{name}: prices has no bars")
    if not prices.index.is_monotonic_increasing or not prices.index.is_unique:
        raise ValueError(f"{name}: prices' bar times must be unique and increasing")
    out = []
    for column in LEG_COLUMNS[:legs]:
        try:
            values = prices[column].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}: prices[{column!r}] is not numeric ({error})") from None
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(f"{name}: prices[{column!r}] has {int(bad.sum())} missing or infinite values (first at "
                             f"{prices.index[int(np.argmax(bad))]}); fill or drop them first")
        out.append(values)
    return out


def parameter_rows(name: str, defaults: Mapping[str, float],
                   params: Mapping[str, Sequence[float] | float]) -> pd.DataFrame:
    """Every combination of the given values (in the order given; a parameter not given takes its default);
    ValueError on an unknown name, no values, or a value that is not a finite number."""
    unknown = [p for p in params if p not in defaults]
    if unknown:
        raise ValueError(f"{name} has no parameter {', '.join(map(repr, unknown))}; "
                         f"its parameters are {', '.join(defaults)}")
    given: dict[str, np.ndarray] = {}
    for param, values in params.items():
        try:
            array = np.atleast_1d(np.asarray(values, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"{name}: {param} must be numbers, got {values!r}") from None
        if array.ndim != 1 or array.size == 0:
            raise ValueError(f"{name}: {param} needs at least one value (a number or a flat list), got {values!r}")
        if not np.isfinite(array).all():
            raise ValueError(f"{name}: {param} must be finite numbers, got {values!r}")
        given[param] = array
    return combinations({**given, **{p: [v] for p, v in defaults.items() if p not in given}})


def check_bars(name: str, rows: pd.DataFrame, param: str, minimum: int) -> None:
    """A lookback must be a whole number of bars of at least ``minimum``."""
    values = rows[param].to_numpy()
    bad = (values != np.round(values)) | (values < minimum)
    if bad.any():
        raise ValueError(f"{name}: {param} must be a whole number of bars >= {minimum}, "
                         f"got {values[bad][0]:g}")


def check_range(name: str, rows: pd.DataFrame, param: str, low: float, high: float | None = None,
                low_open: bool = False) -> None:
    values = rows[param].to_numpy()
    bad = (values <= low) if low_open else (values < low)
    if high is not None:
        bad |= values > high
    if bad.any():
        bound = f"{'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}" if high is not None else "")
        raise ValueError(f"{name}: {param} must be {bound}, got {values[bad][0]:g}")


def check_bands(name: str, rows: pd.DataFrame) -> None:
    """Entry and exit z-score thresholds: entry > 0, 0 <= exit < entry."""
    check_range(name, rows, "entry", 0.0, low_open=True)
    check_range(name, rows, "exit", 0.0)
    bad = rows["exit"] >= rows["entry"]
    if bad.any():
        row = rows[bad].iloc[0]
        raise ValueError(f"{name}: exit must be below entry (|z| falls below exit after passing entry), "
                         f"got entry={row['entry']:g}, exit={row['exit']:g}")


def signals(name: str, prices: pd.DataFrame, rows: pd.DataFrame, decisions: Decisions,
            traded: np.ndarray) -> Signals:
    """The strategy's Signals, combinations in the caller's order (``rows``)."""
    position, confidence = decisions.arrays()
    return Signals(strategy=name, index=prices.index, position=position, confidence=confidence,
                   params=rows.reset_index(drop=True), traded=traded)
