"""The shared load step: files parsed first, then written as one batch in which the file read later wins; a
report the connector does not read is skipped and named, a bad file stops the batch."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.files import IngestError, RawFile
from engine.store import Store, StoreError
from ingest.base import Connector, ParseResult, ReportNotRead, concat_frames
from ingest.load import LoadReport, load_raw, parse_all, raw_files_at, write_parsed
from tests.support.store_faults import fail_insert_into

TEXT = ("market", "location", "price_kind", "source")


def _frame(location: str, start: str, n: int, price: float, *, categorical: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame({
        "market": "NEM", "location": location, "price_kind": "settlement",
        "interval_start": pd.date_range(start, periods=n, freq="5min", tz="UTC"),
        "interval_minutes": np.int16(5), "price": price, "source": f"{location}-{price}.csv"})
    if categorical:
        for col in TEXT:
            frame[col] = frame[col].astype("category")
    return frame


def _result(frame: pd.DataFrame) -> ParseResult:
    return ParseResult(source=frame["source"].iat[0], tables={"prices": frame}, rows_read=len(frame))


def _stored_prices(store: Store) -> pd.DataFrame:
    return store.query_df("SELECT location, interval_start, price FROM prices FINAL ORDER BY location, "
                          "interval_start")


# -- concat_frames ------------------------------------------------------------------------------------------
@pytest.fixture
def three_frames() -> list[pd.DataFrame]:
    frames = [_frame("SA1", "2024-01-01", 3, 1.0), _frame("NSW1", "2024-02-01", 2, 2.5),
              _frame("QLD1", "2024-03-01", 2, 3.0, categorical=False)]
    frames[1]["interval_minutes"] = np.int32(30)  # a column whose type differs between frames
    return frames


def test_frames_join_with_the_first_frames_columns(three_frames):
    assert list(concat_frames(three_frames).columns) == list(three_frames[0].columns)


def test_frames_join_as_pandas_would(three_frames):
    joined = concat_frames(three_frames).astype(dict.fromkeys(TEXT, object))
    expected = pd.concat([f.astype(dict.fromkeys(TEXT, object)) for f in three_frames], ignore_index=True)
    pd.testing.assert_frame_equal(joined, expected)


def test_categories_of_categorical_frames_are_joined_sorted(three_frames):
    joined = concat_frames(three_frames[:2])
    assert list(joined["location"].cat.categories) == ["NSW1", "SA1"]  # sorted, not in file order


def test_categorical_values_keep_their_order(three_frames):
    assert concat_frames(three_frames[:2])["location"].tolist() == ["SA1"] * 3 + ["NSW1"] * 2


def test_a_missing_categorical_value_stays_missing(three_frames):
    three_frames[1].loc[1, "source"] = np.nan
    assert concat_frames(three_frames[:2])["source"].isna().tolist() == [False] * 4 + [True]


def test_utc_times_stay_utc(three_frames):
    assert str(concat_frames(three_frames[:2])["interval_start"].dtype) == "datetime64[ns, UTC]"


def test_a_column_only_a_later_frame_has_is_blank_before_it(three_frames):
    unlike = concat_frames([three_frames[0], three_frames[1].assign(note="revised")])
    assert unlike["note"].tolist() == [np.nan] * 3 + ["revised"] * 2


def test_frames_with_different_columns_keep_categoricals(three_frames):
    unlike = concat_frames([three_frames[0], three_frames[1].assign(note="revised")])
    assert isinstance(unlike["location"].dtype, pd.CategoricalDtype)


# -- write_parsed: one batch, the later file wins ----------------------------------------------------------
def test_overlapping_files_keep_the_later_files_rows(store: Store):
    first, revision = _frame("SA1", "2024-01-01", 12, 1.0), _frame("SA1", "2024-01-01 00:30", 12, 2.0)
    write_parsed(store, [_result(first), _result(revision)])
    assert _stored_prices(store)["price"].tolist() == [1.0] * 6 + [2.0] * 12


def test_overlapping_files_write_each_key_once(store: Store):
    first, revision = _frame("SA1", "2024-01-01", 12, 1.0), _frame("SA1", "2024-01-01 00:30", 12, 2.0)
    assert write_parsed(store, [_result(first), _result(revision)]).rows_written == 18


@pytest.mark.parametrize("categorical", [True, False])
def test_a_folder_of_region_files_loads_as_one_batch(store: Store, categorical):
    parsed = [_result(_frame(r, "2024-01-01", 288, 50.0, categorical=categorical))
              for r in ("NSW1", "QLD1", "SA1", "TAS1", "VIC1")]
    assert write_parsed(store, parsed).rows_written == 5 * 288


def test_one_series_split_over_two_files_out_of_order_keeps_every_row(store: Store):
    later, earlier = _frame("SA1", "2024-01-02", 12, 2.0), _frame("SA1", "2024-01-01", 12, 1.0)
    write_parsed(store, [_result(later), _result(earlier)])
    assert len(_stored_prices(store)) == 24


def test_months_of_one_series_in_separate_files_are_known_unique_without_hashing_rows():
    from engine.store.tables import TABLES
    from ingest.load import _one_series_each

    spec = TABLES["prices"]
    jan, feb = _frame("SA1", "2024-01-01", 12, 1.0), _frame("SA1", "2024-02-01", 12, 1.0)
    assert _one_series_each(spec, [feb, _frame("NSW1", "2024-01-01", 12, 1.0), jan])
    touching = _frame("SA1", "2024-01-01 00:55", 12, 2.0)  # starts at jan's last interval
    assert not _one_series_each(spec, [jan, feb, touching])


def test_a_file_holding_two_series_keeps_both(store: Store):
    mixed = pd.concat([_frame("NSW1", "2024-01-01", 6, 1.0), _frame("QLD1", "2024-01-01", 6, 2.0)],
                      ignore_index=True).astype({"location": "category"})
    write_parsed(store, [_result(mixed)])
    assert _stored_prices(store).groupby("location")["price"].first().to_dict() == {"NSW1": 1.0, "QLD1": 2.0}


def test_reloading_the_same_files_writes_nothing(store: Store):
    parsed = [_result(_frame(r, "2024-01-01", 12, 50.0)) for r in ("NSW1", "SA1")]
    write_parsed(store, parsed)
    assert write_parsed(store, parsed).rows_written == 0


def test_loading_the_files_again_repairs_buckets_a_killed_load_left_short(store: Store, monkeypatch):
    parsed = [_result(_frame(r, "2024-05-01 23:00", 36, 40.0 + i)) for i, r in enumerate(("NSW1", "SA1"))]
    # killed between the rows and their buckets: nothing after that statement runs, the take-back included
    fail_insert_into(monkeypatch, "prices_hourly")
    with pytest.raises(StoreError, match="killed"):
        write_parsed(store, parsed)
    monkeypatch.undo()
    assert store.scalar("SELECT count() FROM prices FINAL") == 72
    assert store.scalar("SELECT sum(samples) FROM prices_hourly") == 0

    again = write_parsed(store, parsed)
    assert again.rows_written == 0 and again.rows_unchanged == 72
    hourly = store.query_df("SELECT location, sum(samples) AS n, sum(price_sum) AS s FROM prices_hourly "
                            "GROUP BY location ORDER BY location")
    assert hourly.to_dict("list") == {"location": ["NSW1", "SA1"], "n": [36, 36], "s": [36 * 40.0, 36 * 41.0]}
    assert store.scalar("SELECT sum(samples) FROM prices_daily") == 72


# -- rows left out, reports not read -------------------------------------------------------------------------
class _Reports(Connector):
    """Reads ``price:<value>`` files, refuses ``forecast`` ones as not read, and anything else as bad."""

    label = "test"
    market = "NEM"
    datasets = ("prices",)
    earliest = date(2000, 1, 1)

    def fetch(self, start, end, *, source=None, kind=None, session=None):
        raise NotImplementedError

    def parse(self, raw: RawFile) -> ParseResult:
        text = raw.data.decode()
        if text == "forecast":
            raise ReportNotRead(raw.name, None, "a forecast: forecasts are not read yet")
        if not text.startswith("price:"):
            raise IngestError(raw.name, 1, "not a price file")
        result = _result(_frame("SA1", "2024-01-01", 3, float(text[6:])))
        result.reject(2, "superseded rows")
        return result


_FILES = [RawFile("a.csv", b"price:1"), RawFile("f.csv", b"forecast"), RawFile("b.csv", b"price:1")]


def test_a_report_not_read_is_kept_as_an_empty_result_saying_why():
    assert [r.not_read for r in parse_all(_Reports(), _FILES)] == ["", "a forecast: forecasts are not read yet",
                                                                   ""]


def test_a_load_skips_a_report_not_read_and_loads_the_rest(store: Store):
    assert load_raw(store, _Reports(), _FILES).files == 2


def test_a_load_names_the_reports_not_read(store: Store):
    assert load_raw(store, _Reports(), _FILES).not_read == {"f.csv": "a forecast: forecasts are not read yet"}


def test_a_load_counts_rows_left_out_by_reason(store: Store):
    assert load_raw(store, _Reports(), _FILES).rejected == {"superseded rows": 4}


def test_a_bad_file_stops_the_batch(store: Store):
    with pytest.raises(IngestError, match="not a price file"):
        load_raw(store, _Reports(), [*_FILES, RawFile("bad.csv", b"junk")])


def test_a_bad_file_writes_nothing(store: Store):
    with pytest.raises(IngestError):
        load_raw(store, _Reports(), [*_FILES, RawFile("bad.csv", b"junk")])
    assert store.scalar("SELECT count() FROM prices") == 0


def test_the_summary_gives_reasons_and_files_not_read():
    report = LoadReport(files=2, rows_read=6, rows_rejected=4, rejected={"superseded rows": 4},
                        not_read={"f.csv": "a forecast"})
    assert report.summary().endswith("; rejected: 4 superseded rows; 1 file(s) not read: f.csv (a forecast)")


def test_the_summary_of_a_plain_load():
    assert LoadReport(files=1, rows_read=3, rows_written=3, by_table={"prices": 3}).summary() == (
        "files 1; rows read 3, written 3, rejected 0, unchanged 0 (written by table: prices 3)")


# -- raw_files_at --------------------------------------------------------------------------------------------
def test_raw_files_at_reads_a_folder_recursively_in_path_order(tmp_path: Path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "one.csv").write_bytes(b"1")
    (tmp_path / "a.csv").write_bytes(b"2")
    (tmp_path / ".hidden").write_bytes(b"3")
    assert raw_files_at(tmp_path) == [RawFile("a.csv", b"2"), RawFile("one.csv", b"1")]


def test_raw_files_at_an_empty_folder(tmp_path: Path):
    with pytest.raises(IngestError, match="folder holds no files"):
        raw_files_at(tmp_path)


def test_raw_files_at_a_missing_path(tmp_path: Path):
    with pytest.raises(IngestError, match="no such file or folder"):
        raw_files_at(tmp_path / "absent")


# -- nodal loads, read back as the nodal page's published basis ----------------------------------------------

def test_published_basis_ranks_in_the_store_as_pandas_would_over_every_row(store: Store):
    """The basis ranks the nodes in the store and describes only the chosen ones: the answer equals basis
    statistics over every node's prices, computed in pandas (as it was before the ranking moved to SQL)."""
    from engine import queries
    from engine.lmp.basis import basis, basis_statistics, basis_surface
    from engine.lmp.published import published_basis
    from engine.store import write_tables

    rng = np.random.default_rng(14)
    hours = pd.date_range("2025-01-01", periods=40 * 24, freq="h", tz="UTC")
    nodes = [f"N{i:02d}" for i in range(30)]
    hub = rng.normal(40, 10, len(hours))
    frames = [pd.DataFrame({"market": "PJM", "market_run": "DA", "node": node, "interval_start": hours,
                            "interval_minutes": 60, "lmp": hub + rng.normal(i / 3 - 5, 2 + i % 4, len(hours)),
                            "energy": hub, "congestion": 0.0, "loss": 0.0})
              for i, node in enumerate(nodes)]
    frames.append(pd.DataFrame({"market": "PJM", "market_run": "DA", "node": "HUB", "interval_start": hours[5:],
                                "interval_minutes": 60, "lmp": hub[5:], "energy": hub[5:], "congestion": 0.0,
                                "loss": 0.0}))
    write_tables(store, {"nodal_lmp": pd.concat(frames, ignore_index=True)})
    found = published_basis(store, "PJM", "DA", "HUB", top=7)

    frame = basis(queries.nodal_prices(store, "PJM", "DA"), "HUB")
    frame["interval_start"] = frame["interval_start"].dt.tz_convert(found.zone)
    stats = basis_statistics(frame)
    expected = stats.reindex(stats["mean"].abs().sort_values(ascending=False).index).head(7)
    assert found.nodes["node"].tolist() == expected["node"].tolist()
    pd.testing.assert_frame_equal(found.nodes.drop(columns=["label", "name", "first", "last"]),
                                  expected.reset_index(drop=True))
    spans = frame[frame["node"].isin(expected["node"])].groupby("node")["interval_start"].agg(["min", "max"])
    assert found.nodes["first"].tolist() == spans.loc[found.nodes["node"], "min"].tolist()
    assert found.nodes["last"].tolist() == spans.loc[found.nodes["node"], "max"].tolist()
    surface = basis_surface(frame[frame["node"].isin(expected["node"])], by="hour")
    pd.testing.assert_frame_equal(found.surface.sort_index(), surface.sort_index(), check_names=False)
    assert int(found.nodes["count"].iat[0]) == 31 * 24  # the last 31 days, hours with a hub price only
    with pytest.raises(KeyError, match="hub nodes not in the prices"):
        published_basis(store, "PJM", "DA", "NO-SUCH-HUB")
    with pytest.raises(KeyError, match="hub nodes not in the prices"):
        published_basis(store, "PJM", "RT", "HUB")  # a run with no prices at all
