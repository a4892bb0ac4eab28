"""REST API, ``/api/v1``: the same series the pages draw, for analysts' scripts."""
from __future__ import annotations

import io
import re

from flask import Blueprint, Response, jsonify, request

from app.services import services
from engine import queries
from engine.store import StoreError

api = Blueprint("api_v1", __name__, url_prefix="/api/v1")
_NAME = re.compile(r"^[A-Za-z0-9_.\-/ ]{1,64}$")


class BadRequest(ValueError):
    pass


def _arg(name: str, default: str | None = None, choices: tuple[str, ...] | None = None) -> str:
    value = request.args.get(name, default)
    if value is None or value == "":
        raise BadRequest(f"parameter {name!r} is required")
    if choices and value not in choices:
        raise BadRequest(f"parameter {name!r} must be one of {', '.join(choices)} (got {value!r})")
    if not _NAME.match(value):
        raise BadRequest(f"parameter {name!r} has characters that are not allowed")
    return value


@api.errorhandler(BadRequest)
@api.errorhandler(queries.QueryError)
def _bad_request(exc: Exception):
    return jsonify({"error": str(exc)}), 400


@api.errorhandler(StoreError)
def _store_failed(exc: Exception):
    return jsonify({"error": "the store could not answer; try again", "detail": str(exc)[:300]}), 503


@api.get("/health")
def health():
    store = services().ready_store()
    return jsonify({"status": "ok", "markets": queries.markets_with_prices(store)})


@api.get("/prices")
def prices():
    """``?market=NEM&location=SA1&start=2018-01-01&end=2018-02-01&format=csv|json[&tz=market|utc]
    [&resolution=auto|raw|hour|day][&price_kind=...]`` — start and end are dates in market time, end
    exclusive; price_kind defaults to the series the overview shows first (NEM: settlement)."""
    market = _arg("market").upper()
    location = _arg("location").upper()
    fmt = _arg("format", "json", ("json", "csv"))
    tz_choice = _arg("tz", "market", ("market", "utc"))
    resolution = _arg("resolution", "auto", queries.RESOLUTIONS)
    store = services().ready_store()
    info = queries.known_market(market)
    start, end = queries.parse_range(info, _arg("start"), _arg("end"))
    if location not in queries.price_locations(store, market):
        known = ", ".join(queries.price_locations(store, market)) or "none"
        raise BadRequest(f"no prices stored for {market} location {location!r}; stored locations: {known}")
    kinds = queries.price_kinds(store, market, location)
    kind = request.args.get("price_kind") or kinds[0]
    if kind not in kinds:
        raise BadRequest(f"no {kind!r} prices for {market} {location}; stored: {', '.join(kinds)}")
    series, res = queries.price_series(store, market, location, start, end, price_kind=kind, resolution=resolution)
    tz = info.display_zone(tz_choice)
    frame = queries.series_for_export(series, tz)
    if fmt == "csv":
        buf = io.StringIO()
        frame.to_csv(buf, index=False)
        name = f"{market}_{location}_{kind}_{request.args['start']}_{request.args['end']}.csv"
        return Response(buf.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "X-Resolution": res})
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return jsonify({"market": market, "location": location, "price_kind": kind, "timezone": tz, "resolution": res,
                    "is_demo": bool(series["is_demo"].any()), "rows": rows})


@api.get("/latest")
def latest():
    """``?market=NEM[&format=json|csv][&tz=market|utc]`` — the newest stored price of each of the market's
    series: location, price kind, interval start (ISO 8601 with offset), interval length, price, demo flag."""
    market = _arg("market").upper()
    fmt = _arg("format", "json", ("json", "csv"))
    tz_choice = _arg("tz", "market", ("market", "utc"))
    store = services().ready_store()
    info = queries.known_market(market)
    tz = info.display_zone(tz_choice)
    frame = queries.latest_prices(store, market)
    frame["interval_start"] = [t.tz_convert(tz).isoformat() for t in frame["interval_start"]]
    if fmt == "csv":
        return Response(frame.to_csv(index=False), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{market}_latest_prices.csv"'})
    return jsonify({"market": market, "timezone": tz, "rows": frame.astype(object).to_dict("records")})
