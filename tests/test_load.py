"""The shared load step: files parsed first, then written as one batch in which the file read later wins."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.store import Store
from engine.store.tables import TABLES
from ingest.base import ParseResult, concat_frames
from ingest.load import _latest_per_key, _one_series_each, write_parsed


def _frame(location: str, start: str, n: int, price: float, *, categorical: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame({
        "market": "NEM", "location": location, "price_kind": "settlement",
        "interval_start": pd.date_range(start, periods=n, freq="5min", tz="UTC"),
        "interval_minutes": np.int16(5), "price": price, "source": f"{location}-{price}.csv"})
    if categorical:
        for col in ("market", "location", "price_kind", "source"):
            frame[col] = frame[col].astype("category")
    return frame


def test_one_series_per_file_is_recognised_without_hashing_rows():
    spec = TABLES["prices"]
    regions = [_frame(r, "2024-01-01", 12, 1.0) for r in ("NSW1", "QLD1", "SA1")]
    assert _one_series_each(spec, regions)
    assert not _one_series_each(spec, [*regions, _frame("SA1", "2024-01-01 00:30", 12, 2.0)])  # same series twice
    mixed = pd.concat([regions[0], regions[1]], ignore_index=True)
    assert not _one_series_each(spec, [mixed.astype({"location": "category"})])  # two series in one frame
    backwards = regions[0].iloc[::-1].reset_index(drop=True)
    assert not _one_series_each(spec, [backwards])
    assert _one_series_each(spec, [_frame("SA1", "2024-01-01", 12, 1.0, categorical=False)])  # plain strings too


def test_frames_join_as_pandas_would_with_categories_kept():
    frames = [_frame("SA1", "2024-01-01", 3, 1.0), _frame("NSW1", "2024-02-01", 2, 2.5),
              _frame("QLD1", "2024-03-01", 2, 3.0, categorical=False)]
    frames[1]["interval_minutes"] = np.int32(30)  # a column whose type differs between frames
    joined = concat_frames(frames)
    expected = pd.concat([f.astype({c: object for c in ("market", "location", "price_kind", "source")})
                          for f in frames], ignore_index=True)
    assert list(joined.columns) == list(frames[0].columns)
    pd.testing.assert_frame_equal(joined.astype({c: object for c in ("market", "location", "price_kind", "source")}),
                                  expected)
    frames[1].loc[1, "source"] = np.nan  # a missing value stays missing when its codes are mapped
    both_categorical = concat_frames(frames[:2])
    assert list(both_categorical["location"].cat.categories) == ["NSW1", "SA1"]  # sorted, not in file order
    assert both_categorical["location"].tolist() == ["SA1"] * 3 + ["NSW1"] * 2
    assert both_categorical["source"].isna().tolist() == [False] * 4 + [True]
    assert str(both_categorical["interval_start"].dtype) == "datetime64[ns, UTC]"
    extra = frames[1].assign(note="revised")
    unlike = concat_frames([frames[0], extra])  # a column only a later frame has is kept, blank before it
    assert unlike["note"].isna().sum() == 3 and (unlike["note"].iloc[3:] == "revised").all()
    assert isinstance(unlike["location"].dtype, pd.CategoricalDtype)


def test_overlapping_files_keep_the_later_file_and_disjoint_ones_keep_every_row():
    first, revision = _frame("SA1", "2024-01-01", 12, 1.0), _frame("SA1", "2024-01-01 00:30", 12, 2.0)
    merged = _latest_per_key("prices", [first, revision])
    assert len(merged) == 18 and merged["price"].tolist() == [1.0] * 6 + [2.0] * 12
    regions = _latest_per_key("prices", [_frame(r, "2024-01-01", 12, 1.0) for r in ("NSW1", "QLD1")])
    assert len(regions) == 24 and isinstance(regions["location"].dtype, pd.CategoricalDtype)


def test_a_folder_of_region_files_loads_as_one_batch(store: Store):
    parsed = [ParseResult(source=f"{r}.csv", tables={"prices": _frame(r, "2024-01-01", 288, 50.0)}, rows_read=288)
              for r in ("NSW1", "QLD1", "SA1", "TAS1", "VIC1")]
    report = write_parsed(store, parsed)
    assert report.rows_written == 5 * 288
    assert store.scalar("SELECT uniqExact(location, interval_start) FROM prices FINAL") == 5 * 288
    assert write_parsed(store, parsed).rows_written == 0
