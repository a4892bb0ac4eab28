"""Dash's answers written by orjson in one pass (app/json_answers.py): the same text plotly's own path writes,
for every kind of value the pages put in an answer, and the path Dash takes once the app is made."""
from __future__ import annotations

import datetime
import decimal
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from dash import dash_table, dcc, html
from plotly.io.json import to_json_plotly

from app import json_answers

TIMES = pd.date_range("2026-03-01", periods=4, freq="30min", tz="Australia/Brisbane")
PRICES = np.array([85.5, np.nan, -1000.0, 1.25e4])
TABLE = html.Table([html.Tr([html.Td("NSW1"), html.Td(f"{85.5:,.2f}")])], className="table")

VALUES = {
    "figure of arrays": {"data": [{"type": "scattergl", "x": np.array(["2026-03-01T00:00:00"] * 4), "y": PRICES,
                                   "customdata": np.column_stack([np.full(4, "bus"), np.arange(4).astype(str),
                                                                  PRICES.round(1)]).astype(object),
                                   "marker": {"color": np.arange(4), "size": np.array([True, False, True, True])}}],
                         "layout": {"title": {"text": "price </script><b>"}}},
    "pandas columns": {"x": pd.Series(TIMES), "y": pd.Series(PRICES), "text": pd.Series(["a", None, "c", "d"]),
                       "index": TIMES, "plain index": pd.Index(["NSW1", "QLD1"]), "ints": pd.Series([1, 2, 3])},
    "numpy arrays": {"slice": PRICES[::2], "times": TIMES.to_numpy(dtype="datetime64[s]"),
                     "float32": np.array([0.1, 0.2], dtype=np.float32), "float16": np.array([0.1], dtype=np.float16)},
    "scalars": {"ts": pd.Timestamp("2026-03-01 00:30", tz="Australia/Brisbane"), "nat": pd.NaT,
                "money": decimal.Decimal("12.50"), "day": datetime.date(2026, 3, 1), "nan": float("nan"),
                "neg": -0.0, "big": 2**60, "keys": {1: "one", 2.5: "two"}},
    "components": html.Div([html.H5("Latest prices"), TABLE,
        dcc.Graph(figure={"data": [{"x": np.arange(3), "y": pd.Series([1.0, 2.0, np.nan])}]}),
        dash_table.DataTable(data=pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_dict("records"))]),
    "a plotly figure": go.Figure(go.Scatter(x=TIMES, y=PRICES, name="RRP")),
    "callback answer": {"multi": True, "response": {"ov-series": {"figure": {"data": [{"x": pd.Series(TIMES)}]}},
                                                    "ov-note": {"children": [TABLE, "A < B"]}}},
}


@pytest.mark.parametrize("name", list(VALUES))
def test_an_answer_is_the_text_plotly_writes(name):
    value = VALUES[name]
    assert json_answers.dumps(value) == to_json_plotly(value)


@pytest.mark.parametrize("scalar", [np.float32(0.1), np.int64(7), np.datetime64("2026-03-01T00:30"), np.bool_(True)])
def test_a_numpy_scalar_is_written_as_plotlys_fast_path_writes_it(scalar):
    # plotly writes one two ways: as orjson does (an answer of types orjson knows, this one) or widened by its
    # own walk (an answer holding a component too); orjson's way is kept whatever else the answer holds.
    assert json_answers.dumps({"v": scalar}) == to_json_plotly({"v": scalar})
    assert json_answers.dumps({"v": scalar, "c": html.Br()}) == to_json_plotly({"v": scalar,
                                                                                "c": html.Br().to_plotly_json()})


def test_a_value_it_does_not_know_goes_plotlys_way_unchanged():
    value = {"masked": np.ma.masked, "x": [1, 2]}
    assert json_answers.dumps(value) == to_json_plotly(value)

    class Opaque:
        pass

    with pytest.raises(TypeError):  # as plotly's path fails on it
        json_answers.dumps({"x": Opaque()})


def test_dash_sends_its_answers_written_so(make_app):
    import dash._callback

    client = make_app().server.test_client()
    assert dash._callback.to_json is json_answers.dumps
    layout = client.get("/_dash-layout")
    assert layout.status_code == 200 and json.loads(layout.data)["type"]


def test_rows_are_written_as_pandas_writes_them():
    frame = pd.DataFrame({
        "interval_start": pd.date_range("2026-10-25", periods=4, freq="5min", tz="UTC").insert(4, pd.NaT),
        "local": pd.date_range("2026-03-01 00:30", periods=5, freq="30min", tz="Australia/Brisbane"),
        "naive": pd.date_range("2026-01-01", periods=5, freq="D"),
        "interval_minutes": [5, 5, 5, 5, 5],
        "price": [54.14, -1000.0, np.nan, 1.25e4, 0.1],
        "count": pd.array([1, None, 3, 4, 5], dtype="Int64"),
        "name": ["NSW1", None, "a\"b</", "é", ""]})
    written = json_answers.rows_json(frame)
    assert json.loads(written) == json.loads(frame.to_json(orient="records", date_format="iso"))
    typical = frame[["interval_start", "interval_minutes", "price"]].dropna()
    assert json_answers.rows_json(typical).decode() == typical.to_json(orient="records", date_format="iso")
    assert json_answers.rows_json(frame.iloc[0:0]) == b"[]"
