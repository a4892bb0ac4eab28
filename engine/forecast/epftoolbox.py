"""epftoolbox's DATA.csv layout: the hour's timestamp, the price, then exogenous columns. Headers differ between
the published files (``Price``/``Prices``, an unnamed first column), so columns are read by position."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from engine.forecast.base import PRICE


@dataclass(frozen=True)
class EpfData:
    """The history frame (index: each hour's start; ``price``, ``exog1``…) and each row's time string as
    written in the file, for writing forecasts back in the file's own terms."""
    frame: pd.DataFrame
    written: pd.Series  # the file's time strings, indexed like ``frame``


def read_epftoolbox(path: str | Path) -> EpfData:
    """Read a DATA.csv in epftoolbox's layout; a clear ``ValueError`` names what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype={0: str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a CSV file ({exc})") from exc
    if raw.shape[1] < 2 or raw.empty:
        raise ValueError(f"{path}: expected a time column and a price column (epftoolbox layout), "
                         f"found {raw.shape[1]} column(s) and {len(raw)} row(s)")
    written = raw.iloc[:, 0].astype(str).str.strip()
    times = pd.to_datetime(written, errors="coerce")
    if times.isna().any():
        line = int(times.isna().to_numpy().argmax()) + 2
        raise ValueError(f"{path}, line {line}: {written.iloc[line - 2]!r} is not a timestamp")
    values = raw.iloc[:, 1:].apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & raw.iloc[:, 1:].notna()
    if bad.any().any():
        row, col = (int(i[0]) for i in bad.to_numpy().nonzero())
        raise ValueError(f"{path}, line {row + 2}: column {col + 2} ({raw.iloc[row, col + 1]!r}) is not a number")
    index = pd.DatetimeIndex(times, name="time")
    if index.has_duplicates:
        raise ValueError(f"{path}: repeated timestamp {index[index.duplicated()][0]}")
    steps = index.to_series().diff().dropna()
    if (steps != pd.Timedelta(hours=1)).any():
        where = steps[steps != pd.Timedelta(hours=1)].index[0]
        raise ValueError(f"{path}: the rows are not consecutive hours (at {where})")
    columns = [PRICE] + [f"exog{i}" for i in range(1, values.shape[1])]
    frame = pd.DataFrame(values.to_numpy(float), index=index, columns=columns)
    return EpfData(frame=frame, written=pd.Series(written.to_numpy(), index=index, name="time"))
