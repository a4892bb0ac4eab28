"""REST API, ``/api/v1``: the same series the pages draw, for analysts' scripts.

Every parameter is checked here, before the store is asked anything: names by ``queries.checked_name``, dates by
``queries.parse_range``, the rest against their few choices. A bad one is a 400 saying which and why."""
from __future__ import annotations

import io
import logging

import orjson
from flask import Blueprint, Response, g, jsonify, request

from app import json_answers
from app.query_params import unknown_parameter
from app.services import services
from engine import overview, queries
from engine.store import MigrationsPending, StoreError

log = logging.getLogger(__name__)
api = Blueprint("api_v1", __name__, url_prefix="/api/v1")


class BadRequest(ValueError):
    pass


def _only(*taken: str) -> None:
    if problem := unknown_parameter(*taken):
        raise BadRequest(problem)


def _arg(name: str, default: str | None = None, choices: tuple[str, ...] | None = None) -> str:
    """A parameter that must be present (or defaulted): one of ``choices`` when given, else shaped like a name."""
    value = request.args.get(name, default)
    if value is None or value == "":
        raise BadRequest(f"parameter {name!r} is required")
    if choices:
        if value not in choices:
            raise BadRequest(f"parameter {name!r} must be one of {', '.join(choices)} (got {queries.shown(value)})")
        return value
    try:
        return queries.checked_name(value, f"parameter {name!r}")
    except queries.QueryError as exc:
        raise BadRequest(f"{exc} (characters that are not allowed)") from exc


@api.errorhandler(BadRequest)
@api.errorhandler(queries.QueryError)
def _bad_request(exc: Exception):
    return jsonify({"error": str(exc)}), 400


@api.errorhandler(StoreError)
def _store_failed(exc: Exception):
    # The store's own message can name tables and SQL: it goes to the log, the client gets the request id.
    request_id = g.get("request_id", "")
    log.error("request %s: the store failed: %s", request_id, exc)
    if isinstance(exc, MigrationsPending):  # an operator's step, not a fault: say which step
        error = "the store is not set up yet: an operator runs `flask --app app.wsgi store init`"
    else:
        error = "the store could not answer; try again"
    return jsonify({"error": error, "request_id": request_id}), 503


@api.get("/health")
def health():
    _only()
    store = services().ready_store()
    return jsonify({"status": "ok", "markets": queries.markets_with_prices(store)})


@api.get("/prices")
def prices():
    """``?market=NEM&location=SA1&start=2018-01-01&end=2018-02-01&format=csv|json[&tz=market|utc]
    [&resolution=auto|raw|hour|day][&price_kind=...]`` — start and end are dates in market time, end
    exclusive; price_kind defaults to the series the overview shows first (NEM: settlement)."""
    _only("market", "location", "start", "end", "format", "tz", "resolution", "price_kind")
    market = _arg("market").upper()
    location = _arg("location").upper()
    fmt = _arg("format", "json", ("json", "csv"))
    tz_choice = _arg("tz", "market", ("market", "utc"))
    resolution = _arg("resolution", "auto", queries.RESOLUTIONS)
    svc = services()
    info = queries.known_market(market)
    start_day, end_day = _arg("start"), _arg("end")
    start, end = queries.parse_range(info, start_day, end_day)
    # The same cached answers and month pieces the overview reads (app.services, engine.caching).
    read = svc.reader()  # one lookup of the market's data version for the whole answer
    stored = read(overview.locations, market).offered
    if location not in stored:
        raise BadRequest(f"no prices stored for {market} location {location!r}; stored locations: "
                         f"{', '.join(stored) or 'none'}")
    kinds = read(overview.price_kinds, market, location).offered
    kind = _arg("price_kind", kinds[0] if kinds else None)
    if kind not in kinds:
        raise BadRequest(f"no {kind!r} prices for {market} {location}; stored: {', '.join(kinds)}")
    if resolution == "raw":  # refused before it is read: a long raw answer holds a worker for seconds
        queries.check_raw_answer(svc.ready_store(), market, location, kind, start, end)
    series, res = queries.pieced_series(read, market, location, start, end, price_kind=kind,
                                        resolution=resolution) or \
        queries.price_series(svc.ready_store(), market, location, start, end, price_kind=kind, resolution=resolution)
    tz = info.display_zone(tz_choice)
    frame = queries.series_for_export(series, tz)
    if fmt == "csv":
        buf = io.StringIO()
        frame.to_csv(buf, index=False)
        name = f"{market}_{location}_{kind}_{start_day}_{end_day}.csv"
        return Response(buf.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "X-Resolution": res})
    # Written by orjson: the standard library's encoder took a third of a cached month's answer time.
    head = orjson.dumps({"market": market, "location": location, "price_kind": kind, "timezone": tz,
                         "resolution": res, "is_demo": bool(series["is_demo"].any())})
    return Response(head[:-1] + b',"rows":' + json_answers.rows_json(frame) + b"}", mimetype="application/json")


@api.get("/latest")
def latest():
    """``?market=NEM[&format=json|csv][&tz=market|utc]`` — the newest stored price of each of the market's
    series: location, price kind, interval start (ISO 8601 with offset), interval length, price, demo flag."""
    _only("market", "format", "tz")
    market = _arg("market").upper()
    fmt = _arg("format", "json", ("json", "csv"))
    tz_choice = _arg("tz", "market", ("market", "utc"))
    store = services().ready_store()
    info = queries.known_market(market)
    tz = info.display_zone(tz_choice)
    frame = queries.latest_for_export(queries.latest_prices(store, market), tz)
    if fmt == "csv":
        return Response(frame.to_csv(index=False), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{market}_latest_prices.csv"'})
    return jsonify({"market": market, "timezone": tz, "rows": frame.astype(object).to_dict("records")})
