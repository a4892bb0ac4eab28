"""Hostile input at the boundary, tried as a hostile client would: Dash callbacks posted to
``/_dash-update-component`` and every ``/api/v1`` route, with SQL, script, nonsense dates, 100,000 characters,
JSON objects and lists where text is expected. Each gets a clear 4xx or the page's own message, never a 500, and
no table changes (row counts of every table compared before and after)."""
from __future__ import annotations

import dataclasses
import io
import json
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest

from app.settings import Settings
from engine import queries
from engine.lmp.study import ControlError, check_controls
from engine.overview import check_choice, overview_view
from engine.store import write_tables

DASH_PATH = "/_dash-update-component"
ORIGIN = "http://localhost"  # the Flask test client's host: a request from a page of this site

#: What a hostile client sends where the page's controls send a name, a date or a choice.
HOSTILE = [
    "NSW1' OR 1=1--",
    "<script>alert(1)</script>",
    "2026-13-45",
    "x" * 100_000,
    "'; DROP TABLE prices; --",
    "0001-01-01",
    "9999-12-31",
    "\x00",
    {"$gt": ""},
    ["NEM", "SA1"],
    12345,
    True,
]


def client_settings() -> dict:
    """How the tests' client signs in: local mode (C254_AUTH=off) while sign-in exists, nothing before. The one
    place to change when these tests should run signed in as a role."""
    names = {f.name for f in dataclasses.fields(Settings)}
    return {"auth": False} if "auth" in names else {}


@pytest.fixture(scope="module")
def app(make_module_app, data_dir):
    """One app for the module: each test checks that hostile values change nothing, so tests can share it."""
    return make_module_app(data_dir=data_dir, secret_key="test-secret", **client_settings())


@pytest.fixture
def client(app):
    return app.server.test_client()


@pytest.fixture(scope="module")
def store(app):
    return app.server.extensions["c254"].ready_store()


@pytest.fixture
def sa_january(store):
    """SA1, 2018-01 at 30 minutes, with demand."""
    idx = pd.date_range("2017-12-31 14:00", "2018-01-31 13:30", freq="30min", tz="UTC")
    write_tables(store, {
        "prices": pd.DataFrame({"market": "NEM", "location": "SA1", "price_kind": "settlement", "interval_start": idx,
                                "interval_minutes": 30, "price": np.linspace(10, 90, len(idx)), "source": "t.csv"}),
        "demand": pd.DataFrame({"market": "NEM", "location": "SA1", "interval_start": idx, "interval_minutes": 30,
                                "demand_mw": 1500.0, "source": "t.csv"})})


def row_counts(store) -> dict[str, int]:
    """Rows of every table of the database (views and dictionaries left out: they hold no rows of their own)."""
    tables = store.query_df("SELECT name FROM system.tables WHERE database = currentDatabase() "
                            "AND engine LIKE '%MergeTree%' ORDER BY name")["name"].tolist()
    return {t: int(store.scalar(f"SELECT count() FROM `{t}`")) for t in tables}  # table names from system.tables


def _outputs(key: str) -> list[dict] | dict:
    """The outputs of a callback as the renderer names them, read off the callback map's key."""
    if not key.startswith(".."):
        ident, prop = key.rsplit(".", 1)
        return {"id": ident, "property": prop}
    parts = key[2:-2].split("...")
    return [dict(zip(("id", "property"), part.rsplit(".", 1), strict=True)) for part in parts]


def callback_key(app, *outputs: str) -> str:
    """The callback map key of the callback whose outputs include every ``id.property`` given."""
    found = [k for k in app.callback_map if all(o in k for o in outputs)]
    assert len(found) == 1, f"{outputs} name {len(found)} callbacks"
    return found[0]


def post_callback(client, app, key: str, values: dict[str, object], *, origin: str | None = ORIGIN,
                  changed: str | None = None, headers: dict | None = None):
    """POST one callback request as Dash's renderer sends it; ``values`` by ``id.property``."""
    cb = app.callback_map[key]

    def deps(items):
        # a pattern-matching ALL is sent as the renderer sends it: a list of the components it matches (none here)
        return [[] if d["id"].startswith("{") else
                {"id": d["id"], "property": d["property"], "value": values.get(f"{d['id']}.{d['property']}")}
                for d in items]

    inputs = deps(cb["inputs"])
    body = {"output": key, "outputs": _outputs(key), "inputs": inputs, "state": deps(cb["state"]),
            "changedPropIds": [changed or f"{inputs[0]['id']}.{inputs[0]['property']}"]}
    sent = {"Origin": origin} if origin else {}
    return client.post(DASH_PATH, data=json.dumps(body), content_type="application/json",
                       headers={**sent, **(headers or {})})


def assert_answered(response, what: str) -> dict | None:
    """The request was answered (200) or left the page as it was (204): never an error of ours."""
    assert response.status_code in (200, 204), f"{what}: {response.status_code} {response.get_data(as_text=True)[:300]}"
    return response.get_json() if response.status_code == 200 else None


# --- the overview ---------------------------------------------------------------------------------------------

OVERVIEW_GOOD = {"ov-market.value": "NEM", "ov-location.value": "SA1", "ov-kind.value": "settlement",
                 "ov-dates.start_date": "2018-01-01", "ov-dates.end_date": "2018-01-07", "ov-tz.value": "market",
                 "ov-scale.value": "linear", "ov-download-btn.n_clicks": 1, "ov-download-latest-btn.n_clicks": 1,
                 "ov-download-stats-btn.n_clicks": 1}


def test_overview_render_with_a_good_choice_draws(client, app, sa_january):
    body = assert_answered(post_callback(client, app, callback_key(app, "ov-series.figure"), OVERVIEW_GOOD), "render")
    assert body["response"]["ov-error"]["is_open"] is False
    assert body["response"]["ov-download-btn"]["disabled"] is False
    assert body["response"]["ov-download-stats-btn"]["disabled"] is False
    latest = assert_answered(post_callback(client, app, callback_key(app, "ov-latest.children"), OVERVIEW_GOOD),
                             "latest")["response"]
    assert latest["ov-download-latest-btn"]["disabled"] is False


def test_the_overview_csv_buttons_are_disabled_while_there_is_nothing_to_download(client, app, sa_january):
    """A range with no prices, a refused value, a market with none stored: nothing to download, and the buttons
    say so instead of sending nothing when clicked."""
    key = callback_key(app, "ov-series.figure")
    for changes in ({"ov-dates.start_date": "2016-01-01", "ov-dates.end_date": "2016-01-07"},
                    {"ov-tz.value": "mars"}, {"ov-market.value": None}):
        shown = assert_answered(post_callback(client, app, key, {**OVERVIEW_GOOD, **changes}), str(changes))
        assert shown["response"]["ov-download-btn"]["disabled"] is True, changes
        assert shown["response"]["ov-download-stats-btn"]["disabled"] is True, changes
    for changes in ({"ov-market.value": "IESO", "ov-location.value": "ONTARIO"}, {"ov-tz.value": "mars"}):
        latest = assert_answered(post_callback(client, app, callback_key(app, "ov-latest.children"),
                                               {**OVERVIEW_GOOD, **changes}), str(changes))["response"]
        assert latest["ov-download-latest-btn"]["disabled"] is True, changes


def test_the_overview_statistics_download_as_the_store_counts_them(client, app, store, sa_january):
    import io

    data = assert_answered(post_callback(client, app, callback_key(app, "ov-download-stats.data"), OVERVIEW_GOOD),
                           "statistics CSV")["response"]["ov-download-stats"]["data"]
    assert data["filename"] == "NEM_SA1_settlement_2018-01-01_2018-01-07_statistics.csv"
    [row] = pd.read_csv(io.StringIO(data["content"])).to_dict("records")
    # market days 1-7 January 2018 are the intervals starting from 00:00 on the 1st to 23:30 on the 7th, UTC+10
    brute = store.query_df(
        "SELECT count() AS n, min(p.price) AS lo, avg(p.price) AS mean, max(p.price) AS hi, "
        "sum(p.price * d.demand_mw) / sum(d.demand_mw) AS weighted, countIf(p.price < 0) AS negative "
        "FROM prices AS p FINAL JOIN demand AS d FINAL USING (market, location, interval_start) "
        "WHERE p.interval_start >= '2017-12-31 14:00:00' AND p.interval_start < '2018-01-07 14:00:00'").iloc[0]
    assert list(row) == ["market", "location", "price_kind", "first_day (market date)", "last_day (market date)",
                         "intervals", "min_price (AUD/MWh)", "mean_price (AUD/MWh)", "max_price (AUD/MWh)",
                         "demand_weighted_mean_price (AUD/MWh)", "demand_weighted_over", "negative_intervals"]
    assert {k: v for k, v in row.items() if isinstance(v, str)} == {
        "market": "NEM", "location": "SA1", "price_kind": "settlement", "first_day (market date)": "2018-01-01",
        "last_day (market date)": "2018-01-07", "demand_weighted_over": "intervals"}
    assert (row["intervals"], row["negative_intervals"]) == (7 * 48, 0)
    assert [row[f"{s} (AUD/MWh)"] for s in ("min_price", "mean_price", "max_price", "demand_weighted_mean_price")] \
        == pytest.approx([brute["lo"], brute["mean"], brute["hi"], brute["weighted"]], rel=1e-12)
    assert brute["n"] == 7 * 48 and brute["negative"] == 0
    # a range the store cannot answer sends nothing
    body = assert_answered(post_callback(client, app, callback_key(app, "ov-download-stats.data"),
                                         {**OVERVIEW_GOOD, "ov-dates.end_date": "2017-12-01"}), "refused")
    assert body is None or body["response"] == {}


def test_overview_render_answers_hostile_values_with_its_message(client, app, store, sa_january):
    key = callback_key(app, "ov-series.figure")
    before = row_counts(store)
    for field in ("ov-market.value", "ov-location.value", "ov-kind.value", "ov-dates.start_date",
                  "ov-dates.end_date", "ov-tz.value", "ov-scale.value"):
        for value in HOSTILE:
            response = post_callback(client, app, key, {**OVERVIEW_GOOD, field: value})
            body = assert_answered(response, f"{field}={str(value)[:30]!r}")
            assert body["response"]["ov-error"]["is_open"] is True, f"{field}={str(value)[:30]!r}"
            message = body["response"]["ov-error"]["children"]
            assert len(message) < 400, f"{field}={str(value)[:30]!r}: the message repeats the value in full"
    assert row_counts(store) == before


def test_every_overview_callback_survives_hostile_values(client, app, store, sa_january):
    keys = [k for k in app.callback_map if "ov-" in k]
    before = row_counts(store)
    tried = 0
    for key in keys:
        cb = app.callback_map[key]
        for dep in cb["inputs"] + cb["state"]:
            field = f"{dep['id']}.{dep['property']}"
            if field not in OVERVIEW_GOOD or field.endswith("n_clicks"):
                continue
            for value in HOSTILE:
                assert_answered(post_callback(client, app, key, {**OVERVIEW_GOOD, field: value}),
                                f"{key} {field}={str(value)[:30]!r}")
                tried += 1
    assert tried > 6 * len(HOSTILE)
    assert row_counts(store) == before


def test_the_overview_end_date_from_the_issue_is_a_message_not_a_500(client, app, sa_january):
    key = callback_key(app, "ov-series.figure")
    for end in ("NSW1' OR 1=1--", "<script>", "2026-13-45", "9" * 100_000):
        body = assert_answered(post_callback(client, app, key, {**OVERVIEW_GOOD, "ov-dates.end_date": end}), end[:20])
        assert "end date" in body["response"]["ov-error"]["children"], end[:20]


def test_a_json_object_as_the_market_is_named_unknown(client, app, sa_january):
    key = callback_key(app, "ov-series.figure")
    body = assert_answered(post_callback(client, app, key, {**OVERVIEW_GOOD, "ov-market.value": {"a": 1}}), "object")
    assert "unknown market" in body["response"]["ov-error"]["children"]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: str(v)[:20])
def test_check_choice_refuses_each_hostile_value_as_a_date(value):
    with pytest.raises(queries.QueryError):
        check_choice(start_date=value)


def test_check_choice_takes_what_the_controls_send():
    check_choice("NEM", "SA1", "settlement", "2018-01-01", "2018-01-31", "utc")
    check_choice(None, None, None, None, None, None)


@pytest.mark.parametrize("start, end", [("0001-01-01", "9999-12-31"), ("1949-12-31", "2018-01-01"),
                                        ("2018-01-01", "2101-01-02")])
def test_parse_range_refuses_dates_outside_the_plausible_range(start, end):
    with pytest.raises(queries.QueryError, match="outside"):
        queries.parse_range(queries.known_market("NEM"), start, end)


def test_a_range_may_end_after_the_last_plausible_day_which_its_exclusive_end_names():
    start, end = queries.parse_range(queries.known_market("NEM"), "2100-12-01", "2101-01-01")
    assert (start, end) == (pd.Timestamp("2100-11-30 14:00", tz="UTC"), pd.Timestamp("2100-12-31 14:00", tz="UTC"))
    with pytest.raises(queries.QueryError, match="start 2101-01-01 is outside"):
        queries.parse_range(queries.known_market("NEM"), "2101-01-01", "2101-01-02")


@pytest.mark.parametrize("day, first_hour", [("2018-11-04", 1), ("2017-10-15", 1), ("2016-10-16", 1),
                                             ("2018-11-05", 0)])
def test_a_brazil_day_whose_midnight_never_happened_starts_at_one(day, first_hour):
    # daylight saving began at 00:00 local on these days (clocks went to 01:00, UTC-2)
    start, _ = queries.parse_range(queries.known_market("BRAZIL"), day, "2019-01-01")
    local = start.tz_convert("America/Sao_Paulo")
    assert (local.date().isoformat(), local.hour) == (day, first_hour)


def test_a_brazil_range_from_a_day_without_midnight_is_answered(client, app, sa_january):
    r = client.get("/api/v1/prices?market=BRAZIL&location=SE&start=2018-11-04&end=2018-11-05")
    assert r.status_code < 500, r.get_data(as_text=True)[:300]
    key = callback_key(app, "ov-series.figure")
    assert_answered(post_callback(client, app, key, {**OVERVIEW_GOOD, "ov-market.value": "BRAZIL", "ov-location.value":
                                                     "SE", "ov-dates.start_date": "2018-11-04",
                                                     "ov-dates.end_date": "2018-11-10"}), "brazil")


def test_the_last_plausible_day_is_asked_for_without_a_message_naming_the_day_after(client, app, sa_january):
    r = client.get("/api/v1/prices?market=NEM&location=SA1&start=2100-12-01&end=2100-12-31")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    key = callback_key(app, "ov-series.figure")
    body = assert_answered(post_callback(client, app, key, {**OVERVIEW_GOOD, "ov-dates.start_date": "2100-12-01",
                                                            "ov-dates.end_date": "2100-12-31"}), "2100")
    assert "2101" not in json.dumps(body)


def test_overview_view_refuses_a_list_as_the_location(store):
    with pytest.raises(queries.QueryError, match="region must be text"):
        overview_view(store, "NEM", ["SA1"], "2018-01-01", "2018-01-02")


# --- the API ----------------------------------------------------------------------------------------------------

PRICES_GOOD = {"market": "NEM", "location": "SA1", "start": "2018-01-01", "end": "2018-01-03", "format": "json",
               "tz": "market", "resolution": "auto", "price_kind": "settlement"}
LATEST_GOOD = {"market": "NEM", "format": "json", "tz": "utc"}
API_HOSTILE = [v for v in HOSTILE if isinstance(v, str) and v != "\x00"] + ["%00", "a\nb", "{}", "[]"]


def _query(params: dict) -> str:
    return "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())


def test_api_prices_with_dates_0001_to_9999_is_a_400(client, sa_january):
    r = client.get("/api/v1/prices?market=NEM&location=NSW1&start=0001-01-01&end=9999-12-31")
    assert r.status_code == 400
    assert "outside" in r.get_json()["error"]


@pytest.mark.parametrize("route, good", [("/api/v1/prices", PRICES_GOOD), ("/api/v1/latest", LATEST_GOOD)])
def test_every_api_parameter_refuses_hostile_values_with_a_400(client, store, sa_january, route, good):
    assert client.get(f"{route}?{_query(good)}").status_code == 200
    before = row_counts(store)
    for name in good:
        for value in API_HOSTILE:
            r = client.get(f"{route}?{_query({**good, name: value})}")
            what = f"{route} {name}={value[:30]!r}"
            assert r.status_code == 400, f"{what}: {r.status_code} {r.get_data(as_text=True)[:200]}"
            assert len(r.get_json()["error"]) < 400, f"{what}: the message repeats the value in full"
    assert row_counts(store) == before


def test_api_health_answers(client):
    assert client.get("/api/v1/health").status_code == 200


# --- the nodal page ---------------------------------------------------------------------------------------------

NODAL_GOOD = {"nd-network.value": "case14", "nd-colour.value": "lmp", "nd-hub.value": "__load_weighted__",
              "nd-range.value": "fixed", "nd-losses.value": [], "nd-snapshot.value": 3, "nd-whatif.data": None,
              "nd-wi-branch.value": "1", "nd-wi-limit.value": 50, "nd-wi-out.value": [],
              "nd-selected.data": {"kind": "bus", "id": "1"}, "nd-map.clickData": None, "nb-run.value": "PJM|DA",
              "nb-hub.value": "X", "nd-network.id": "nd-network", "nd-wi-apply.n_clicks": 1,
              "nd-dl-nodes-btn.n_clicks": 1, "nd-dl-series-btn.n_clicks": 1, "nd-dl-binding-btn.n_clicks": 1}
NODAL_HOSTILE = [*HOSTILE, {"branch": {"x": 1}, "limit": "abc"}, {"points": "x"}, {"points": [{"customdata": {}}]},
                 -10**30, 3.5]


@pytest.mark.realdata
def test_nodal_render_answers_hostile_values_with_its_message(client, app, store):
    key = callback_key(app, "nd-map.figure")
    assert_answered(post_callback(client, app, key, NODAL_GOOD), "good")
    before = row_counts(store)
    for field in ("nd-network.value", "nd-colour.value", "nd-hub.value", "nd-range.value", "nd-losses.value",
                  "nd-whatif.data"):
        for value in NODAL_HOSTILE:
            body = assert_answered(post_callback(client, app, key, {**NODAL_GOOD, field: value}),
                                   f"{field}={str(value)[:30]!r}")
            assert body["response"]["nd-error"]["is_open"] is True, f"{field}={str(value)[:30]!r}"
    assert row_counts(store) == before


@pytest.mark.realdata
def test_every_nodal_callback_survives_hostile_values(client, app, store):
    keys = [k for k in app.callback_map if "nd-" in k or "nb-" in k]
    before = row_counts(store)
    tried = 0
    for key in keys:
        cb = app.callback_map[key]
        fields = [f"{d['id']}.{d['property']}" for d in cb["inputs"] + cb["state"]]
        for field in fields:
            if field.endswith(("n_clicks", ".id")):
                continue
            for value in NODAL_HOSTILE:
                assert_answered(post_callback(client, app, key, {**NODAL_GOOD, field: value},
                                              changed=f"{cb['inputs'][0]['id']}.{cb['inputs'][0]['property']}"),
                                f"{key} {field}={str(value)[:30]!r}")
                tried += 1
    assert tried > 10 * len(NODAL_HOSTILE)
    assert row_counts(store) == before


@pytest.mark.realdata
def test_the_days_binding_lines_download_as_each_snapshots_table(client, app):
    """The CSV holds every snapshot's binding lines, each snapshot's rows those (and in the order) the page lists
    at that snapshot, for the study shown: here a what-if that squeezes line 1 to 30 MW, so it binds; without the
    what-if, case14 as published has no binding line and the CSV is its header alone."""
    from callbacks.nodal import open_study
    key = callback_key(app, "nd-dl-binding.data")
    squeezed = {"branch": "1", "limit": 30.0, "out": False}
    data = assert_answered(post_callback(client, app, key, {**NODAL_GOOD, "nd-whatif.data": squeezed}),
                           "binding CSV")["response"]["nd-dl-binding"]["data"]
    assert data["filename"] == "case14_binding_lines.csv"
    frame = pd.read_csv(io.StringIO(data["content"]), dtype={"snapshot": str, "branch": str})
    assert list(frame.columns) == ["snapshot", "branch", "from_bus", "to_bus", "flow_mw", "limit_mw",
                                   "shadow_price ($/MWh)"]  # the unit the page's tables and figures label
    with app.server.app_context():
        study = open_study("case14", squeezed, [])
        plain = open_study("case14", None, [])
    assert "1" in set(frame["branch"]) and len(frame) == len(study.result.binding)
    for snapshot in study.result.snapshots:
        page = study.binding_at(snapshot)
        mine = frame.loc[frame["snapshot"] == str(snapshot)]
        assert mine["branch"].tolist() == page["branch"].astype(str).tolist(), snapshot
        np.testing.assert_allclose(mine["shadow_price ($/MWh)"], page["shadow_price"], rtol=1e-9)
        np.testing.assert_allclose(mine["flow_mw"].abs(), mine["limit_mw"], rtol=1e-6)  # at their limit
    assert list(frame["snapshot"].drop_duplicates()) == [str(s) for s in study.result.snapshots
                                                         if str(s) in set(frame["snapshot"])]  # in the day's order
    data = assert_answered(post_callback(client, app, key, NODAL_GOOD), "plain CSV")["response"]["nd-dl-binding"]
    assert len(pd.read_csv(io.StringIO(data["data"]["content"]))) == len(plain.result.binding)


@pytest.mark.parametrize("controls", [
    {"name": {"a": 1}}, {"hub": ["1"]}, {"field": "<script>"}, {"scale": 1}, {"losses": "losses"},
    {"index": "3"}, {"index": True}, {"whatif": {"branch": "1", "limit": "inf"}}, {"whatif": {"evil": 1}},
    {"whatif": {"branch": "1", "limit": float("nan")}}, {"selected": {"kind": "bus"}}, {"click": "x"},
    {"run": "PJM|DA|x"}, {"name": "x" * 129}, {"out": "out"}, {"limit": [1]},
], ids=lambda c: str(c)[:30])
def test_check_controls_refuses_what_no_control_sends(controls):
    with pytest.raises(ControlError):
        check_controls(**controls)


def test_check_controls_takes_what_the_controls_send():
    check_controls(name="case14", field="basis", hub="__load_weighted__", scale="data", losses=["losses"], index=0,
                   whatif={"branch": "3", "limit": 12.5, "out": False}, branch="3", limit="12.5", out=["out"],
                   selected={"kind": "line", "id": "3"}, click={"points": [{"customdata": ["bus", "1"]}]},
                   run="PJM|DA")


# --- the admin page's backfill form -------------------------------------------------------------------------------

ADMIN_GOOD = {"bf-connector.value": "nem", "bf-kind.value": "price_and_demand", "bf-dates.start_date": "2018-01-01",
              "bf-dates.end_date": "2018-01-31", "bf-source.value": "no-such-folder", "bf-run-id.data": None,
              "bf-start.n_clicks": 1}


def test_backfill_form_refuses_hostile_values_with_its_message(client, app, store):
    key = callback_key(app, "bf-message.children")
    before = row_counts(store)
    for field in ("bf-connector.value", "bf-kind.value", "bf-dates.start_date", "bf-dates.end_date",
                  "bf-source.value"):
        for value in [*HOSTILE, "../../etc", "/etc", "~root"]:
            body = assert_answered(post_callback(client, app, key, {**ADMIN_GOOD, field: value},
                                                 changed="bf-start.n_clicks"), f"{field}={str(value)[:30]!r}")
            assert body["response"]["bf-message"]["is_open"] is True, f"{field}={str(value)[:30]!r}"
            assert "bf-run-id" not in body["response"], f"{field}={str(value)[:30]!r} started a backfill"
    assert row_counts(store) == before


def test_cancelling_a_hostile_run_id_cancels_nothing(client, app):
    key = callback_key(app, "bf-message.children")
    for value in HOSTILE:
        body = assert_answered(post_callback(client, app, key, {**ADMIN_GOOD, "bf-run-id.data": value},
                                             changed="bf-cancel.n_clicks"), str(value)[:30])
        assert "No backfill" in body["response"]["bf-message"]["children"], str(value)[:30]


def test_running_a_hostile_job_id_runs_nothing(client, app, store):
    key = callback_key(app, "admin-job-message.children")
    before = row_counts(store)
    for value in [*HOSTILE, "backfill:nem"]:
        ident = {"job": value, "type": "job-run-now"}
        body = {"output": key, "outputs": _outputs(key), "state": [],
                "inputs": [[{"id": ident, "property": "n_clicks", "value": 1}]],
                "changedPropIds": [json.dumps(ident, separators=(",", ":"), sort_keys=True) + ".n_clicks"]}
        r = client.post(DASH_PATH, data=json.dumps(body), content_type="application/json", headers={"Origin": ORIGIN})
        if isinstance(value, dict | list):  # no id of the page's holds one: refused before the callback runs
            assert r.status_code == 400 and "names another component" in r.get_json()["error"], str(value)[:30]
            continue
        answer = assert_answered(r, str(value)[:30])
        if answer is not None:
            assert "Started" not in json.dumps(answer["response"]), str(value)[:30]
    assert row_counts(store) == before


@pytest.mark.parametrize(("ident", "changed"), [
    ({"type": "job-run-now"}, None),  # the pattern's wildcard key missing: the callback read ctx.triggered_id["job"]
    ({"type": "junk", "job": "nem_p5min"}, None),  # another pattern's id
    ({"type": "job-run-now", "job": "nem_p5min", "extra": 1}, None),
    ({"type": "job-run-now", "job": "nem_p5min"}, '{"type":"junk"}.n_clicks'),  # fired by no input of the request
])
def test_a_pattern_callback_named_with_ids_of_another_pattern_is_a_400_that_runs_nothing(client, app, store, ident,
                                                                                         changed):
    key = callback_key(app, "admin-job-message.children")
    before = row_counts(store)
    body = {"output": key, "outputs": _outputs(key), "state": [],
            "inputs": [[{"id": ident, "property": "n_clicks", "value": 1}]],
            "changedPropIds": [changed or json.dumps(ident, separators=(",", ":"), sort_keys=True) + ".n_clicks"]}
    r = client.post(DASH_PATH, data=json.dumps(body), content_type="application/json", headers={"Origin": ORIGIN})
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    assert r.get_json()["error"].startswith(("'inputs' names another component", "'changedPropIds' may name only"))
    assert row_counts(store) == before


def test_a_plain_callback_named_with_another_components_id_is_a_400(client, app):
    key = callback_key(app, "bf-kind.options")
    body = {"output": key, "outputs": _outputs(key), "changedPropIds": ["ov-market.value"],
            "inputs": [{"id": "ov-market", "property": "value", "value": "nem"}]}
    r = client.post(DASH_PATH, data=json.dumps(body), content_type="application/json", headers={"Origin": ORIGIN})
    assert r.status_code == 400
    assert "names another component than the callback's bf-connector.value" in r.get_json()["error"]


def test_the_backfill_forms_list_of_datasets_survives_hostile_connectors(client, app):
    key = callback_key(app, "bf-kind.options")
    assert assert_answered(post_callback(client, app, key, ADMIN_GOOD), "nem")["response"]["bf-kind"]["value"] \
        == "price_and_demand"
    for value in [*HOSTILE, -1, 1e308, {}, [[1]]]:
        body = assert_answered(post_callback(client, app, key, {**ADMIN_GOOD, "bf-connector.value": value}),
                               str(value)[:30])
        assert body["response"]["bf-kind"] == {"options": [], "value": None}, str(value)[:30]


# --- any callback, and requests no page sends ----------------------------------------------------------------------

#: One of each kind of value a control never sends: a callback must answer them with its message or leave the page
#: as it was, never fail.
ODD_VALUES = [["NEM", None, 3], {"a": 1}, -1e308, "9999-99-99"]


def test_every_callback_survives_odd_values_in_each_input_and_state(client, app):
    """Each input and state of every callback of the app (pattern-matching ids aside: their own tests send them)
    given each odd value in turn, the rest unset: answered 200, 204, or a 4xx that says what is wrong."""
    tried = 0
    for key, cb in app.callback_map.items():
        if "{" in key or any(isinstance(d["id"], dict) or d["id"].startswith("{") for d in cb["inputs"] + cb["state"]):
            continue
        for d in cb["inputs"] + cb["state"]:
            for value in ODD_VALUES:
                r = post_callback(client, app, key, {f"{d['id']}.{d['property']}": value},
                                  changed=f"{d['id']}.{d['property']}" if d in cb["inputs"] else None)
                what = f"{key} with {d['id']}.{d['property']}={value!r}"
                assert r.status_code < 500, f"{what}: {r.status_code} {r.get_data(as_text=True)[:300]}"
                if r.status_code >= 400:
                    assert r.get_json()["error"], what
                tried += 1
    assert tried > 500


@pytest.mark.parametrize(("body", "said"), [
    ({"inputs": [{"id": "bf-connector", "property": "value", "value": "nem"}]}, "'outputs' must name"),
    ({"outputs": [], "inputs": [{"id": "bf-connector", "property": "value", "value": "nem"}]}, "'outputs' must name"),
    ({"outputs": "OUTPUTS", "inputs": []}, "'inputs' must be a list of this callback's 1 inputs"),
    ({"outputs": "OUTPUTS", "inputs": 5}, "'inputs' must be a list"),
    ({"outputs": "OUTPUTS", "inputs": ["bf-connector.value"]}, "'inputs' names another component"),
    ({"outputs": "OUTPUTS", "inputs": [{"id": "bf-connector"}]}, "'inputs' names another component"),
    ({"outputs": "OUTPUTS", "inputs": [{"id": "bf-connector", "property": "value"}], "state": [1]},
     "'state' must be a list of this callback's 0 state"),
    ({"outputs": "OUTPUTS", "inputs": [{"id": "bf-connector", "property": "value"}], "changedPropIds": 5},
     "'changedPropIds' must be a list"),
    # the right shape naming other outputs: Dash's own check refuses it, as the sender's error
    ({"outputs": [{"id": "bf-kind", "property": "options"}, {"id": "bf-message", "property": "children"}],
      "inputs": [{"id": "bf-connector", "property": "value", "value": "nem"}]},
     "does not match the callback it names: Output does not match"),
])
def test_a_callback_request_of_another_shape_is_a_400_that_says_what_is_wrong(client, app, body, said):
    key = callback_key(app, "bf-kind.options")
    if body.get("outputs") == "OUTPUTS":
        body = {**body, "outputs": _outputs(key)}
    r = client.post(DASH_PATH, data=json.dumps({"output": key, **body}), content_type="application/json",
                    headers={"Origin": ORIGIN})
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    assert said in r.get_json()["error"]


@pytest.mark.parametrize("path", ["", "NOPE", "'; DROP TABLE prices; --", "x" * 10_000])
def test_the_page_router_asked_for_a_path_that_is_no_path_is_a_400(client, app, path):
    key = callback_key(app, "_pages_content.children")
    r = post_callback(client, app, key, {"_pages_location.pathname": path, "_pages_location.search": ""})
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    assert "no page of this site has the path" in r.get_json()["error"]


def test_a_script_of_a_library_the_site_does_not_serve_is_a_404(client):
    r = client.get("/_dash-component-suites/no_such_library/x.js")
    assert r.status_code == 404
    assert "no such script" in r.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/login", "/api/v1/partner/products/some-product/data"])
def test_a_multipart_form_with_a_part_without_a_name_is_a_400(client, path):
    body = b"--B\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--B--\r\n"
    r = client.post(path, data=body, content_type="multipart/form-data; boundary=B", headers={"Origin": ORIGIN})
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    assert "has no name" in r.get_data(as_text=True)
