"""Figures sent as plain dicts reach plotly.js as written: what they name must be what plotly.js draws."""
from __future__ import annotations

import numpy as np
import pandas as pd

from components.figures import heatmap_figure
from components.nodal_figures import network_map

BLUE, RED = "rgb(49,54,149)", "rgb(165,0,38)"  # RdYlBu_r's ends: low prices blue, high red


def test_the_price_heatmap_is_blue_to_red_as_named_and_says_where_it_is_clipped():
    grid = pd.DataFrame(np.arange(48.0).reshape(2, 24), index=["2026-01-01", "2026-01-02"], columns=range(24))
    trace = heatmap_figure(grid, title="NEM SA1", tz_label="NEM time (UTC+10)", currency="AUD")["data"][0]
    scale = trace["colorscale"]
    assert isinstance(scale, list), "plotly.js knows no '_r' names: it drew its default scale instead"
    assert (scale[0][0], scale[0][1], scale[-1][0], scale[-1][1]) == (0.0, BLUE, 1.0, RED)
    assert "98th" in trace["colorbar"]["title"]["text"]


def test_the_nodal_map_colours_low_prices_blue_and_high_red():
    nodes = pd.DataFrame({"bus": ["1", "2"], "lmp": [20.0, 40.0], "energy": [30.0, 30.0], "congestion": [-10.0, 10.0],
                          "loss": [0.0, 0.0], "basis": [-10.0, 10.0]})
    coords = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]}, index=["1", "2"])
    branches = pd.DataFrame({"from_bus": ["1"], "to_bus": ["2"]}, index=["l1"])
    flows = pd.DataFrame({"branch": ["l1"], "flow_mw": [50.0], "limit_mw": [100.0]})
    figure = network_map(nodes, coords, branches, flows, field="lmp", centre=30.0, span=10.0, geographic=False,
                        title="case")
    marker = next(t for t in figure["data"] if t.get("name") == "nodes")["marker"]
    scale = marker["colorscale"]
    assert isinstance(scale, list), "plotly.js knows no '_r' names: it drew its default scale instead"
    assert scale[0][1] == "rgb(5,48,97)" and scale[-1][1] == "rgb(103,0,31)"  # RdBu_r: dark blue to dark red
