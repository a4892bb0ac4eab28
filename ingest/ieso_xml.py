"""IESO XML reports (``http://www.theIMO.com/schema`` and ``http://www.ieso.ca/schema`` documents).

Each report names itself in the root's ``docID``. Values are read by element name whatever the namespace.
An element the schema allows to be empty (an ``<Output>`` with an ``<Hour>`` but no ``<EnergyMW>``) gives
NaN; an hour the report does not list (the rolling current-day GenOutputCapability file stops at the last
finished hour) gives no row at all, never a zero.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from lxml import etree

from engine.files import IngestError, RawFile
from ingest.base import ParseResult
from ingest.ieso_common import ONTARIO, check_date, interval_starts, parse_number, table

log = logging.getLogger(__name__)

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


def read_document(raw: RawFile) -> Any:
    """The root element of a well-formed XML report, or an error naming the line where parsing failed."""
    if not raw.data.strip():
        raise IngestError(raw.name, None, "file is empty")
    try:
        root = etree.fromstring(raw.data, _PARSER)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise IngestError(raw.name, line, f"not well-formed XML ({exc.msg})") from None
    except (etree.LxmlError, ValueError, LookupError) as exc:
        raise IngestError(raw.name, None, f"not readable XML ({exc})") from None
    if root is None:
        raise IngestError(raw.name, None, "no XML document element")
    return root


def doc_id(root: Any) -> str:
    return str(root.get("docID") or etree.QName(root).localname)


def _local(el: Any) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _child(el: Any, name: str) -> Any:
    return el.find("{*}" + name)


def _text(el: Any, name: str) -> str | None:
    found = el.find("{*}" + name)
    return None if found is None else (found.text or "")


def _required_text(source: str, el: Any, name: str) -> str:
    found = el.find("{*}" + name)
    if found is None or not (found.text or "").strip():
        raise IngestError(source, el.sourceline, f"<{_local(el)}> has no <{name}>")
    return found.text.strip()


def _whole(source: str, el: Any, name: str, upper: int) -> int:
    text = _required_text(source, el, name)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= upper:
        raise IngestError(source, el.sourceline, f"<{name}> {text!r} is not a whole number 1..{upper}")
    return int(text)


def _date(source: str, body: Any, name: str) -> np.datetime64:
    el = body.find("{*}" + name)
    if el is None or not (el.text or "").strip():
        raise IngestError(source, None, f"no <{name}> in the report body")
    return check_date(source, el.text, el.sourceline, f"<{name}>")


def _unique(source: str, seen: dict[tuple, int], key: tuple, line: int | None, what: str) -> None:
    if key in seen:
        raise IngestError(source, line, f"duplicated {what} {key} (first at line {seen[key]})")
    seen[key] = line or 0


def _body(source: str, root: Any) -> Any:
    body = root.find("{*}IMODocBody")
    if body is None:
        body = root.find("{*}DocBody")
    if body is None:
        raise IngestError(source, None, "no document body (<IMODocBody>/<DocBody>)")
    return body


# --- GenOutputCapability ----------------------------------------------------------------------------------

_GEN_SECTIONS = {
    ("Outputs", "Output"): "output_mw",
    ("Capabilities", "Capability"): "capability_mw",
    ("Capacities", "AvailCapacity"): "available_mw",
    ("Forecasts", "Forecast"): "forecast_mw",
}


def parse_gen_output_capability(raw: RawFile, root: Any = None) -> ParseResult:
    """Daily per-generator output, capability, available capacity (and forecast where published) by hour."""
    root = read_document(raw) if root is None else root
    src = raw.name
    body = _body(src, root)
    day = _date(src, body, "Date")
    records: dict[tuple[str, str, int], dict[str, float]] = {}
    read = 0
    seen: dict[tuple, int] = {}
    for gen in body.iterfind("{*}Generators/{*}Generator"):
        unit = _required_text(src, gen, "GeneratorName")
        fuel = _required_text(src, gen, "FuelType")
        for (section, item), column in _GEN_SECTIONS.items():
            for el in gen.iterfind(f"{{*}}{section}/{{*}}{item}"):
                hour = _whole(src, el, "Hour", 24)
                _unique(src, seen, (unit, item, hour), el.sourceline, "generator hour")
                value = parse_number(src, _text(el, "EnergyMW"), el.sourceline, f"{unit} {item}")
                records.setdefault((unit, fuel, hour), {})[column] = value
                read += 1
    keys = list(records)
    frame = table(
        "generation",
        src,
        {
            "unit": [k[0] for k in keys],
            "fuel": [k[1] for k in keys],
            "interval_start": interval_starts(
                np.full(len(keys), day), np.array([k[2] for k in keys], dtype="int64")
            ),
            "interval_minutes": 60,
            **{
                c: np.array([records[k].get(c, np.nan) for k in keys], dtype="float64")
                for c in _GEN_SECTIONS.values()
            },
        },
    )
    return ParseResult(src, {"generation": frame}, rows_read=read)


# --- GenOutputbyFuelHourly --------------------------------------------------------------------------------


def parse_gen_output_by_fuel(raw: RawFile, root: Any = None) -> ParseResult:
    """Hourly Ontario output by fuel type (a yearly file of days); fuel-level totals have ``unit`` = ""."""
    root = read_document(raw) if root is None else root
    src = raw.name
    days, hours, fuels, outputs = [], [], [], []
    seen: dict[tuple, int] = {}
    for daily in _body(src, root).iterfind("{*}DailyData"):
        day_text = _required_text(src, daily, "Day")
        day = check_date(src, day_text, daily.sourceline, "<Day>")
        for hourly in daily.iterfind("{*}HourlyData"):
            hour = _whole(src, hourly, "Hour", 24)
            for total in hourly.iterfind("{*}FuelTotal"):
                fuel = _required_text(src, total, "Fuel")
                _unique(src, seen, (day_text, hour, fuel), total.sourceline, "day, hour and fuel")
                energy = _child(total, "EnergyValue")
                text = None if energy is None else _text(energy, "Output")
                days.append(day)
                hours.append(hour)
                fuels.append(fuel)
                outputs.append(parse_number(src, text, total.sourceline, f"{fuel} output"))
    frame = table(
        "generation",
        src,
        {
            "unit": "",
            "fuel": fuels,
            "interval_start": interval_starts(
                np.array(days, dtype="datetime64[ns]"), np.array(hours, dtype="int64")
            ),
            "interval_minutes": 60,
            "output_mw": outputs,
        },
    )
    return ParseResult(src, {"generation": frame}, rows_read=len(fuels))


# --- IntertieScheduleFlow ---------------------------------------------------------------------------------


_TOTALS = "\x00totals"  # the zone of the report's Totals block: a name no intertie zone can have


def _intertie_entries(src: str, body: Any) -> tuple[dict[str, list], dict[str, list]]:
    """The hourly schedules and the 5-minute actual flows of every intertie zone and of the Totals block
    (zone ``_TOTALS``), as columns."""
    blocks = []
    for zone_el in body.iterfind("{*}IntertieZone"):
        zone = _required_text(src, zone_el, "IntertieZoneName")
        if zone == "Totals":
            raise IngestError(src, zone_el.sourceline, "an intertie zone may not be called 'Totals'")
        blocks.append((zone, zone_el))
    totals = body.find("{*}Totals")
    if totals is not None:
        blocks.append((_TOTALS, totals))
    sched: dict[str, list] = {"zone": [], "hour": [], "import": [], "export": []}
    flows: dict[str, list] = {"zone": [], "hour": [], "interval": [], "flow": []}
    seen: dict[tuple, int] = {}
    for zone, parent in blocks:
        for el in parent.iterfind("{*}Schedules/{*}Schedule"):
            hour = _whole(src, el, "Hour", 24)
            _unique(src, seen, (zone, "schedule", hour), el.sourceline, "intertie schedule hour")
            sched["zone"].append(zone)
            sched["hour"].append(hour)
            sched["import"].append(parse_number(src, _text(el, "Import"), el.sourceline, f"{zone} import"))
            sched["export"].append(parse_number(src, _text(el, "Export"), el.sourceline, f"{zone} export"))
        for el in parent.iterfind("{*}Actuals/{*}Actual"):
            hour = _whole(src, el, "Hour", 24)
            interval = _whole(src, el, "Interval", 12)
            _unique(src, seen, (zone, "actual", hour, interval), el.sourceline, "intertie flow interval")
            flows["zone"].append(zone)
            flows["hour"].append(hour)
            flows["interval"].append(interval)
            flows["flow"].append(parse_number(src, _text(el, "Flow"), el.sourceline, f"{zone} flow"))
    return sched, flows


def parse_intertie_schedule_flow(raw: RawFile, root: Any = None) -> ParseResult:
    """Per intertie zone: hourly scheduled import and export (``intertie_schedules``) and the 5-minute
    actual flow (``interconnector_flows.mw_flow``; IESO's sign: positive = export out of Ontario). The
    report's Totals go to ``system_totals`` as "Intertie Totals Import/Export/Flow" rather than as a
    pseudo-intertie, so summing interties never counts them twice."""
    root = read_document(raw) if root is None else root
    src = raw.name
    body = _body(src, root)
    day = _date(src, body, "Date")
    sched, flows = _intertie_entries(src, body)
    zones, flow_zones = np.array(sched["zone"], dtype=object), np.array(flows["zone"], dtype=object)
    starts = interval_starts(np.full(len(zones), day), np.array(sched["hour"], dtype="int64"))
    flow_starts = interval_starts(np.full(len(flow_zones), day), np.array(flows["hour"], dtype="int64"),
                                  np.array(flows["interval"], dtype="int64"), 5)
    imports, exports = np.array(sched["import"], dtype="float64"), np.array(sched["export"], dtype="float64")
    flow = np.array(flows["flow"], dtype="float64")

    def by_intertie(name: str, zone: np.ndarray, start: np.ndarray, minutes: int,
                    values: dict[str, np.ndarray]) -> pd.DataFrame:
        own = zone != _TOTALS
        return table(name, src, {"interconnector": zone[own], "interval_start": start[own],
                                 "interval_minutes": minutes, **{c: v[own] for c, v in values.items()}})

    total, flow_total = zones == _TOTALS, flow_zones == _TOTALS
    # (metric, starts, minutes, values) of the Totals block
    sums = [("Intertie Totals Import", starts[total], 60, imports[total]),
            ("Intertie Totals Export", starts[total], 60, exports[total]),
            ("Intertie Totals Flow", flow_starts[flow_total], 5, flow[flow_total])]
    counts = [len(values) for *_, values in sums]
    tables = {
        "intertie_schedules": by_intertie("intertie_schedules", zones, starts, 60,
                                          {"import_mw": imports, "export_mw": exports}),
        "interconnector_flows": by_intertie("interconnector_flows", flow_zones, flow_starts, 5, {"mw_flow": flow}),
        "system_totals": table("system_totals", src, {
            "location": ONTARIO,
            "metric": np.repeat(np.array([metric for metric, *_ in sums], dtype=object), counts),
            "interval_start": np.concatenate([at for _, at, _, _ in sums]),
            "interval_minutes": np.repeat(np.array([minutes for _, _, minutes, _ in sums], dtype="int64"), counts),
            "value_mw": np.concatenate([values for *_, values in sums]),
        }),
    }
    return ParseResult(src, tables, rows_read=len(zones) + len(flow_zones))


# --- PredispConstTotals / RealtimeConstTotals -------------------------------------------------------------


def parse_const_totals(raw: RawFile, root: Any = None) -> ParseResult:
    """Constrained totals (Total Energy, Total Loss, Total Load, reserves, ONTARIO DEMAND ...). Predispatch
    files give 24 hourly values per quantity, stored as "Predispatch <quantity>" so they are never read as
    the real-time figures; real-time files give the twelve 5-minute intervals of one delivery hour under the
    report's own names. The real-time ``ONTARIO DEMAND`` is also a 5-minute ``demand`` row for ONTARIO."""
    root = read_document(raw) if root is None else root
    src = raw.name
    realtime = doc_id(root) == "RealtimeConstTotals"
    body = _body(src, root)
    day = _date(src, body, "DeliveryDate")
    energies = body.find("{*}Energies")
    if energies is None:
        raise IngestError(src, None, "no <Energies> in the report")
    metrics, hours, intervals, values = [], [], [], []
    seen: dict[tuple, int] = {}
    if realtime:
        hour = _whole(src, body, "DeliveryHour", 24)
        groups = [
            (el, hour, _whole(src, el, "Interval", 12)) for el in energies.iterfind("{*}IntervalEnergy")
        ]
    else:
        groups = [
            (el, _whole(src, el, "DeliveryHour", 24), 1)
            for el in energies.iterfind("{*}HourlyConstrainedEnergy")
        ]
    for el, hour, interval in groups:
        for mq in el.iterfind("{*}MQ"):
            name = _required_text(src, mq, "MarketQuantity")
            metric = name if realtime else f"Predispatch {name}"
            _unique(src, seen, (metric, hour, interval), mq.sourceline, "quantity and interval")
            metrics.append(metric)
            hours.append(hour)
            intervals.append(interval)
            values.append(parse_number(src, _text(mq, "EnergyMW"), mq.sourceline, name))
    starts = interval_starts(
        np.full(len(hours), day), np.array(hours, dtype="int64"), np.array(intervals, dtype="int64"), 5
    )
    minutes = 5 if realtime else 60
    metric_arr = np.array(metrics, dtype=object)
    value_arr = np.array(values, dtype="float64")
    tables = {
        "system_totals": table(
            "system_totals",
            src,
            {
                "location": ONTARIO,
                "metric": metric_arr,
                "interval_start": starts,
                "interval_minutes": minutes,
                "value_mw": value_arr,
            },
        )
    }
    if realtime:
        is_demand = metric_arr == "ONTARIO DEMAND"
        tables["demand"] = table(
            "demand",
            src,
            {
                "location": ONTARIO,
                "interval_start": starts[is_demand],
                "interval_minutes": 5,
                "demand_mw": value_arr[is_demand],
            },
        )
    return ParseResult(src, tables, rows_read=len(metrics))


# --- Adequacy ---------------------------------------------------------------------------------------------


def parse_adequacy(raw: RawFile, root: Any = None) -> ParseResult:
    """Every hourly MW (or MWh) quantity of the Adequacy report, as ``system_totals``.

    The metric is the report's own element path below the body, e.g. ``ForecastSupply.Capacities``,
    ``ForecastSupply.InternalResources.Nuclear.Schedules`` (a resource block is named by its FuelType),
    ``ForecastDemand.OntarioDemand.ForecastOntDemand``. Zonal import/export blocks put their ZoneName (in
    capitals) in ``location``; everything else is ONTARIO. An hourly entry without a MW value is a flag, not
    a quantity (the report's ``<RampStatus>``: ``<Ramp>`` Y or N, whether a ramp is expected in that hour):
    such entries are counted as rejected, under their element's name.
    """
    root = read_document(raw) if root is None else root
    src = raw.name
    body = _body(src, root)
    day = _date(src, body, "DeliveryDate")
    out: dict[str, list] = {"location": [], "metric": [], "hour": [], "value": []}
    seen: dict[tuple, int] = {}
    flags: dict[str, int] = {}

    def walk(el: Any, path: tuple[str, ...], location: str) -> None:
        for child in el:
            name = _local(child)
            if not name or name in ("DeliveryDate", "FuelType", "ZoneName"):
                continue
            if _child(child, "DeliveryHour") is not None:
                hour = _whole(src, child, "DeliveryHour", 24)
                value_el = _child(child, "EnergyMW")
                if value_el is None:
                    value_el = _child(child, "EnergyMWhr")
                if value_el is None:
                    flags[name] = flags.get(name, 0) + 1
                    continue
                metric = ".".join(path)
                _unique(src, seen, (location, metric, hour), child.sourceline, "quantity and hour")
                out["location"].append(location)
                out["metric"].append(metric)
                out["hour"].append(hour)
                out["value"].append(parse_number(src, value_el.text, child.sourceline, metric))
                continue
            fuel = _text(child, "FuelType")
            zone = _text(child, "ZoneName")
            if zone is not None:
                if not zone.strip():
                    raise IngestError(src, child.sourceline, f"<{name}> has an empty <ZoneName>")
                walk(child, path, zone.strip().upper())
            elif fuel is not None:
                if not fuel.strip():
                    raise IngestError(src, child.sourceline, f"<{name}> has an empty <FuelType>")
                walk(child, (*path, fuel.strip()), location)
            else:
                walk(child, (*path, name), location)

    walk(body, (), ONTARIO)
    frame = table(
        "system_totals",
        src,
        {
            "location": out["location"],
            "metric": out["metric"],
            "interval_start": interval_starts(
                np.full(len(out["hour"]), day), np.array(out["hour"], dtype="int64")
            ),
            "interval_minutes": 60,
            "value_mw": out["value"],
        },
    )
    result = ParseResult(src, {"system_totals": frame}, rows_read=len(out["hour"]) + sum(flags.values()))
    for name, count in flags.items():
        result.reject(count, f"hourly <{name}> entries without a MW value (Y/N flags, not quantities)")
    return result


# --- Market Renewal Ontario Zonal Price (DAHourlyOntarioZonalPrice, RealtimeOntarioZonalPrice) -------------


def _ozp_tables(
    src: str,
    run: str,
    starts: np.ndarray,
    minutes: int,
    lmp: np.ndarray,
    loss: np.ndarray,
    congestion: np.ndarray,
) -> dict[str, pd.DataFrame]:
    return {
        "nodal_lmp": table(
            "nodal_lmp",
            src,
            {
                "node": ONTARIO,
                "market_run": run,
                "interval_start": starts,
                "interval_minutes": minutes,
                "lmp": lmp,
                "energy": np.round(lmp - loss - congestion, 6),
                "congestion": congestion,
                "loss": loss,
            },
        ),
        "prices": table(
            "prices",
            src,
            {
                "location": ONTARIO,
                "price_kind": f"OZP_{run}",
                "interval_start": starts,
                "interval_minutes": minutes,
                "price": lmp,
            },
        ),
    }


def _zonal_price_parts(
    src: str, elements: Any, slot: str, upper: int, names: tuple[str, str, str], what: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """(slot numbers, rows of price, loss and congestion, slots without a price) of Ontario Zonal Price
    elements: each names its hour or interval in ``<slot>`` (1..upper) and its price and parts in ``names``;
    a slot without a price is not priced yet and is left out."""
    slots, values = [], []
    seen: dict[tuple, int] = {}
    unpriced = 0
    for el in elements:
        number = _whole(src, el, slot, upper)
        _unique(src, seen, (number,), el.sourceline, what)
        price = parse_number(src, _text(el, names[0]), el.sourceline, names[0])
        if np.isnan(price):
            unpriced += 1
            continue
        slots.append(number)
        values.append([price, *(parse_number(src, _text(el, n), el.sourceline, n) for n in names[1:])])
    return np.array(slots, dtype="int64"), np.array(values, dtype="float64").reshape(-1, 3), unpriced


def parse_da_ontario_zonal_price(raw: RawFile, root: Any = None) -> ParseResult:
    """Day-ahead hourly Ontario Zonal Price with its (capped) loss and congestion parts: node ONTARIO,
    market_run DA in ``nodal_lmp``, and price_kind OZP_DA in ``prices`` (the successor of HOEP)."""
    root = read_document(raw) if root is None else root
    src = raw.name
    body = _body(src, root)
    day = _date(src, body, "DeliveryDate")
    hours, parts, unpriced = _zonal_price_parts(
        src,
        body.iterfind("{*}HourlyPriceComponents"),
        "PricingHour",
        24,
        ("ZonalPrice", "LossPriceCapped", "CongestionPriceCapped"),
        "pricing hour",
    )
    starts = interval_starts(np.full(len(hours), day), hours)
    result = ParseResult(src, _ozp_tables(src, "DA", starts, 60, *parts.T), rows_read=len(hours) + unpriced)
    result.reject(unpriced, "hours without a zonal price")
    return result


def parse_rt_ontario_zonal_price(raw: RawFile, root: Any = None) -> ParseResult:
    """Real-time 5-minute Ontario Zonal Price for one delivery hour. The report lists all twelve interval
    slots from the start of the hour and leaves the not-yet-priced ones empty: those are counted as
    rejected, not stored. The hour's <AveragePrice> is a mean of the intervals and is not stored."""
    root = read_document(raw) if root is None else root
    src = raw.name
    body = _body(src, root)
    day = _date(src, body, "DeliveryDate")
    hour = _whole(src, body, "DeliveryHour", 24)
    intervals, parts, unpriced = _zonal_price_parts(
        src, body.iterfind("{*}ZonalPrice"), "Interval", 12, ("LmpCap", "LossPriceCap", "CongPriceCap"), "interval"
    )
    starts = interval_starts(
        np.full(len(intervals), day), np.full(len(intervals), hour, dtype="int64"), intervals, 5
    )
    result = ParseResult(src, _ozp_tables(src, "RT", starts, 5, *parts.T), rows_read=len(intervals) + unpriced)
    result.reject(unpriced, "intervals not priced yet")
    return result


XML_PARSERS: dict[str, Callable[[RawFile, Any], ParseResult]] = {
    "GenOutputCapability": parse_gen_output_capability,
    "GenOutputbyFuelHourly": parse_gen_output_by_fuel,
    "IntertieScheduleFlow": parse_intertie_schedule_flow,
    "PredispConstTotals": parse_const_totals,
    "RealtimeConstTotals": parse_const_totals,
    "Adequacy2": parse_adequacy,
    "DAHourlyOntarioZonalPrice": parse_da_ontario_zonal_price,
    "RealtimeOntarioZonalPrice": parse_rt_ontario_zonal_price,
}
