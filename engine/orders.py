"""Orders: what a trader asked to send, and what the counterparty's ExecutionReports made of it (``orders``,
migration 015), plus the admin switch without which nothing is sent (``order_routing``).

An order is born ``pending`` (checked and stored, not yet on the wire), becomes ``sent`` when the FIX session
writes its NewOrderSingle, and then follows the reports: ``new``, ``partially filled``, ``filled``,
``rejected`` (by the counterparty, a session-level Reject of our message, or by us when routing was switched
off or the session stayed down before it could go out) or ``cancelled``. Rows are versioned by ``updated_at``:
each change is an insert, read back with FINAL. An order refused because routing is off is never stored.

A cancel: an open order (``new`` or ``partially filled``) asked to be cancelled becomes ``cancel requested``
(stored, not yet on the wire), ``pending cancel`` once the session writes its OrderCancelRequest, and
``cancelled`` by the counterparty's report; an OrderCancelReject (or a Reject of the request) puts it back as it
was, with the reason in its text. An order still ``pending`` is cancelled here at once: nothing was sent.

The position in a symbol is what the fills made it: filled buys less filled sells (``holding``). The live signal
asks for a target position; ``toward`` is the order that takes the holding there (none when it is there)."""
from __future__ import annotations

import datetime as dt
import logging
import math
import re
import uuid
from dataclasses import asdict, dataclass, replace

import pandas as pd

from engine.clock import now_ms
from engine.fix.messages import ExecutionReport
from engine.markets import MARKETS
from engine.queries import iso_times
from engine.spreadsheet_cells import safe_frame
from engine.store import Store

log = logging.getLogger(__name__)

STATES = ("pending", "sent", "new", "partially filled", "cancel requested", "pending cancel", "filled", "rejected",
          "cancelled")
FINAL_STATES = frozenset({"filled", "rejected", "cancelled"})
#: States an order may be cancelled from (``pending``: here, before it is sent; the others over FIX).
CANCELLABLE = frozenset({"pending", "new", "partially filled"})
#: A cancel asked for or on its way: the order is still live at the counterparty until it is answered.
CANCELLING = frozenset({"cancel requested", "pending cancel"})
#: Position differences below this are rounding, not an order (quantities are MWh to three decimals).
QUANTITY_TOLERANCE = 1e-6
SIDES = ("buy", "sell")
ORD_TYPES = ("market", "limit")
#: An order not sent within this long (the session was down) is rejected by us rather than sent late.
PENDING_TIMEOUT_SECONDS = 120.0
#: A symbol as FIX carries it: printable ASCII, no field separator.
_SYMBOL = re.compile(r"[\x21-\x7e]{1,64}")
_COLUMNS = ("cl_ord_id", "order_id", "symbol", "side", "quantity", "ord_type", "price", "state", "filled_qty",
            "avg_price", "text", "source", "created_by", "created_at", "sent_at", "updated_at")
_TYPES = {"cl_ord_id": "String", "order_id": "String", "symbol": "String", "side": "String",
          "quantity": "Float64", "ord_type": "String", "price": "Nullable(Float64)", "state": "String",
          "filled_qty": "Float64", "avg_price": "Nullable(Float64)", "text": "String", "source": "String",
          "created_by": "String", "created_at": "DateTime64(3, 'UTC')", "sent_at": "Nullable(DateTime64(3, 'UTC'))",
          "updated_at": "DateTime64(3, 'UTC')"}


class OrderError(ValueError):
    """An order that cannot be made; the message says which field is wrong and may be shown to the user."""


class RoutingOff(RuntimeError):
    """Order routing is switched off: nothing is sent, and the order is not stored."""


@dataclass(frozen=True)
class Order:
    cl_ord_id: str
    symbol: str
    side: str
    quantity: float
    ord_type: str
    price: float | None
    state: str = "pending"
    filled_qty: float = 0.0
    avg_price: float | None = None
    order_id: str = ""
    text: str = ""
    source: str = ""
    created_by: str = ""
    created_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


def new_order(symbol: object, side: object, quantity: object, ord_type: object = "market", price: object = None,
              source: object = "", created_by: object = "") -> Order:
    """A checked order in state ``pending`` with a fresh ClOrdID; OrderError naming the bad field otherwise.
    Prices may be negative (electricity); a quantity is MWh (or the contract's unit), above zero."""
    if not isinstance(symbol, str) or not _SYMBOL.fullmatch(symbol.strip()):
        raise OrderError("Symbol must be 1 to 64 printable characters without spaces.")
    if side not in SIDES:
        raise OrderError(f"Side must be one of: {', '.join(SIDES)}.")
    if ord_type not in ORD_TYPES:
        raise OrderError(f"Order type must be one of: {', '.join(ORD_TYPES)}.")
    qty = _number(quantity, "Quantity")
    if qty is None or qty <= 0:
        raise OrderError("Quantity must be a number above zero.")
    limit = _number(price, "Price")
    if ord_type == "limit" and limit is None:
        raise OrderError("A limit order needs a price.")
    if ord_type == "market" and limit is not None:
        raise OrderError("A market order takes no price.")
    now = now_ms().to_pydatetime()
    return Order(cl_ord_id=f"C254-{now:%Y%m%d}-{uuid.uuid4().hex[:12]}", symbol=symbol.strip(), side=side,
                 quantity=qty, ord_type=ord_type, price=limit, source=str(source or "")[:500],
                 created_by=str(created_by or "")[:320], created_at=now)


def _number(value: object, name: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise OrderError(f"{name} must be a number.")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise OrderError(f"{name} must be a number.") from None
    if not math.isfinite(number) or abs(number) >= 1e12:
        raise OrderError(f"{name} must be a finite number of sensible size.")
    return number


def save(store: Store, order: Order) -> Order:
    """Store ``order`` as its latest version (stamped now) and return it so stamped."""
    stamped = replace(order, updated_at=now_ms().to_pydatetime())
    values = asdict(stamped)
    store.command(f"INSERT INTO orders ({', '.join(_COLUMNS)}) VALUES "  # noqa: S608 -- fixed column list; values are bound
                  f"({', '.join(f'{{{c}:{_TYPES[c]}}}' for c in _COLUMNS)})", values)
    return stamped


def _order(row: dict) -> Order:
    def when(value: object) -> dt.datetime | None:
        return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()

    def num(value: object) -> float | None:
        return None if value is None or pd.isna(value) else float(value)

    return Order(cl_ord_id=str(row["cl_ord_id"]), symbol=str(row["symbol"]), side=str(row["side"]),
                 quantity=float(row["quantity"]), ord_type=str(row["ord_type"]), price=num(row["price"]),
                 state=str(row["state"]), filled_qty=float(row["filled_qty"]), avg_price=num(row["avg_price"]),
                 order_id=str(row["order_id"]), text=str(row["text"]), source=str(row["source"]),
                 created_by=str(row["created_by"]), created_at=when(row["created_at"]),
                 sent_at=when(row["sent_at"]), updated_at=when(row["updated_at"]))


def _find(store: Store, where: str, params: dict) -> list[Order]:
    df = store.query_df(f"SELECT {', '.join(_COLUMNS)} FROM orders FINAL WHERE {where} ORDER BY created_at",  # noqa: S608 -- fixed clauses from this module; values are bound
                        params, columns_if_empty=False)
    return [_order(row) for row in df.to_dict("records")]


def get(store: Store, cl_ord_id: str) -> Order | None:
    found = _find(store, "cl_ord_id = {c:String}", {"c": cl_ord_id})
    return found[0] if found else None


#: The most orders one read returns.
MAX_ORDERS = 10_000


def orders(store: Store, limit: int = 100) -> pd.DataFrame:
    """The newest ``limit`` orders (at most MAX_ORDERS), newest first: ClOrdID, the counterparty's OrderID,
    symbol, side, quantity, type, limit price, state, filled quantity, average fill price, the counterparty's
    text, what asked for it, who sent it, created, sent and last update (UTC)."""
    limit = max(1, min(int(limit), MAX_ORDERS))
    return store.query_df(
        "SELECT cl_ord_id, order_id, symbol, side, quantity, ord_type, price, state, filled_qty, avg_price, text, "
        "source, created_by, created_at, sent_at, updated_at FROM orders FINAL ORDER BY created_at DESC "
        "LIMIT {n:UInt32}", {"n": limit})


def orders_export(found: pd.DataFrame, tz: str, tz_label: str) -> pd.DataFrame:
    """``orders`` as a trader downloads the blotter: times in ``tz`` (ISO 8601 with the offset; the headers name
    the zone as ``tz_label``), unrounded quantities and prices, and the currency of the prices where the symbol
    names a market we carry (``NEM.SA1``; "" otherwise: a symbol typed by hand may name any contract)."""
    zone = f"({tz_label})"
    market = found["symbol"].astype(str).str.split(".", n=1).str[0]
    currency = market.map({m: info.currency for m, info in MARKETS.items()}).fillna("")

    def number(column: str) -> object:  # a Nullable column's NULL (a market order's limit price) as NaN
        return found[column].astype("float64").to_numpy()

    # A symbol typed by hand and the counterparty's text are kept from running as formulas.
    return safe_frame(pd.DataFrame({
        "cl_ord_id": found["cl_ord_id"].to_numpy(), "order_id": found["order_id"].to_numpy(),
        "symbol": found["symbol"].to_numpy(), "side": found["side"].to_numpy(), "quantity": number("quantity"),
        "ord_type": found["ord_type"].to_numpy(), "limit_price": number("price"), "state": found["state"].to_numpy(),
        "filled_qty": number("filled_qty"), "avg_fill_price": number("avg_price"), "currency": currency.to_numpy(),
        "text": found["text"].to_numpy(), "source": found["source"].to_numpy(),
        "created_by": found["created_by"].to_numpy(),
        f"created_at {zone}": iso_times(found["created_at"], tz), f"sent_at {zone}": iso_times(found["sent_at"], tz),
        f"updated_at {zone}": iso_times(found["updated_at"], tz),
    }))


# ------------------------------------------------------------------------------------------- the switch

def routing_enabled(store: Store) -> bool:
    """Whether an admin has switched order routing on (off until one does)."""
    return bool(store.scalar("SELECT argMax(enabled, changed_at) FROM order_routing HAVING count() > 0"))


def set_routing_enabled(store: Store, enabled: bool, changed_by: str) -> None:
    store.command("INSERT INTO order_routing (enabled, changed_by, changed_at) VALUES ({e:Bool}, {b:String}, "
                  "{t:DateTime64(3, 'UTC')})", {"e": bool(enabled), "b": str(changed_by)[:320],
                                                 "t": now_ms().to_pydatetime()})


def submit(store: Store, order: Order) -> Order:
    """Store a new order for the FIX session to send; RoutingOff (and nothing stored) while routing is off."""
    if not routing_enabled(store):
        raise RoutingOff("Order routing is off: an admin must switch it on before orders can be sent.")
    if order.state != "pending":
        raise OrderError(f"only a new order can be submitted, not one in state {order.state!r}")
    return save(store, order)


def request_cancel(store: Store, cl_ord_id: object) -> Order:
    """Ask for an order to be cancelled: a pending one is cancelled here (it never left), an open one waits for
    the FIX session to send its OrderCancelRequest. OrderError naming why when it cannot be cancelled;
    RoutingOff (nothing changed) while routing is off."""
    if not isinstance(cl_ord_id, str) or not cl_ord_id.strip():
        raise OrderError("Name the order to cancel by its ClOrdID.")
    order = get(store, cl_ord_id.strip())
    if order is None:
        raise OrderError(f"No order {cl_ord_id.strip()[:64]!r} is known.")
    if not routing_enabled(store):
        raise RoutingOff("Order routing is off: an admin must switch it on before an order can be cancelled.")
    if order.state == "pending":
        return save(store, replace(order, state="cancelled", text="cancelled before it was sent"))
    if order.state not in CANCELLABLE:
        why = ("it has not been acknowledged yet; try again in a moment" if order.state == "sent" else
               f"it is {order.state}")
        raise OrderError(f"Order {order.cl_ord_id} cannot be cancelled: {why}.")
    return save(store, replace(order, state="cancel requested"))


def _resumed(order: Order) -> str:
    """The state an order whose cancel failed goes back to."""
    return "partially filled" if order.filled_qty > 0 else "new"


# ------------------------------------------------------------------------------------------- positions

@dataclass(frozen=True)
class Position:
    """What the orders hold in a symbol: ``holding`` is filled buys less filled sells (MWh), ``working`` what
    orders not yet finished may still add (the unfilled rest, buys less sells)."""

    symbol: str
    holding: float
    working: float


def position(store: Store, symbol: str) -> Position:
    row = store.query_df(
        "SELECT sumIf(filled_qty, side = 'buy') - sumIf(filled_qty, side = 'sell') AS holding, "
        "sumIf(greatest(quantity - filled_qty, 0) * if(side = 'buy', 1, -1), state NOT IN {final:Array(String)}) "
        "AS working FROM orders FINAL WHERE symbol = {s:String}",
        {"s": symbol, "final": sorted(FINAL_STATES)})
    if row.empty:
        return Position(symbol, 0.0, 0.0)
    return Position(symbol, float(row.iat[0, 0] or 0.0), float(row.iat[0, 1] or 0.0))


@dataclass(frozen=True)
class TargetOrder:
    """The order that takes a symbol's holding to ``target`` (MWh, signed: short below zero): ``order`` holds
    ``new_order``'s fields, None when there is nothing to send, and then ``reason`` says why."""

    symbol: str
    target: float
    holding: float
    working: float
    order: dict | None
    reason: str


def toward(store: Store, symbol: str, target: float, source: str = "") -> TargetOrder:
    """The market order from the current holding to ``target``. None while an order in the symbol is still
    working (its fills would be counted twice) and when the holding is already the target."""
    if not math.isfinite(target):
        raise OrderError("The target position must be a finite number.")
    held = position(store, symbol)
    difference = round(target - held.holding, 3)
    order, reason = None, ""
    if abs(held.working) > QUANTITY_TOLERANCE:
        reason = (f"An order in {symbol} is still working ({held.working:+g} MWh unfilled): wait for it to finish "
                  "or cancel it.")
    elif abs(difference) <= QUANTITY_TOLERANCE:
        reason = f"The holding in {symbol} is already the target ({target:+g} MWh): there is nothing to send."
    else:
        order = {"symbol": symbol, "side": "buy" if difference > 0 else "sell", "quantity": abs(difference),
                 "ord_type": "market", "source": source[:500]}
    return TargetOrder(symbol, target, held.holding, held.working, order, reason)


# ----------------------------------------------------------------------------- what the FIX session changes

_STATUS_STATE = {"0": "new", "1": "partially filled", "2": "filled", "4": "cancelled", "6": "pending cancel",
                 "8": "rejected", "A": "sent", "C": "cancelled", "D": "new"}
#: What a report may say while we wait on a cancel without ending the wait (a fill of part of the rest).
_STILL_OPEN = frozenset({"sent", "new", "partially filled"})


class StoreOrders:
    """The order book the FIX session works from: the orders waiting to go out, and the changes its messages
    bring, all in the store."""

    def __init__(self, store: Store, pending_timeout: float = PENDING_TIMEOUT_SECONDS):
        self.store = store
        self.pending_timeout = pending_timeout

    def pending(self) -> list[Order]:
        """Orders to send now. With routing switched off, or once too old to send, they are rejected instead."""
        waiting = _find(self.store, "state = 'pending'", {})
        if not waiting:
            return []
        enabled = routing_enabled(self.store)
        now = now_ms().to_pydatetime()
        ready = []
        for order in waiting:
            if not enabled:
                save(self.store, replace(order, state="rejected", text="routing was switched off before it was sent"))
            elif order.created_at and (now - order.created_at).total_seconds() > self.pending_timeout:
                save(self.store, replace(order, state="rejected",
                                         text=f"not sent within {self.pending_timeout:g} s (no FIX session)"))
            else:
                ready.append(order)
        return ready

    def sent(self, order: Order) -> None:
        save(self.store, replace(order, state="sent", sent_at=now_ms().to_pydatetime()))

    def cancels(self) -> list[Order]:
        """Orders whose OrderCancelRequest is to be sent now. With routing off, or once the request has waited
        too long, they go back to what they were instead, saying so."""
        waiting = _find(self.store, "state = 'cancel requested'", {})
        if not waiting:
            return []
        enabled = routing_enabled(self.store)
        now = now_ms().to_pydatetime()
        ready = []
        for order in waiting:
            if not enabled:
                self._resume(order, "cancel not sent: routing was switched off")
            elif order.updated_at and (now - order.updated_at).total_seconds() > self.pending_timeout:
                self._resume(order, f"cancel not sent within {self.pending_timeout:g} s (no FIX session)")
            else:
                ready.append(order)
        return ready

    def cancel_sent(self, order: Order) -> None:
        save(self.store, replace(order, state="pending cancel"))

    def cancel_rejected(self, cl_ord_id: str, text: str) -> Order | None:
        """The counterparty refused to cancel the order: it stays as it was, the reason in its text."""
        order = get(self.store, cl_ord_id)
        if order is None or order.state not in CANCELLING:
            return order
        return self._resume(order, text)

    def _resume(self, order: Order, text: str) -> Order:
        return save(self.store, replace(order, state=_resumed(order), text=text[:2000]))

    def execution_report(self, report: ExecutionReport) -> Order | None:
        """The order as the report leaves it (None when the report is about no order of ours). A report older
        than what we know (a resent duplicate, less filled) or one moving a finished order changes nothing."""
        order = get(self.store, report.cl_ord_id) if report.cl_ord_id else None
        if order is None and report.orig_cl_ord_id:  # a cancel's report: ClOrdID is the request's own
            order = get(self.store, report.orig_cl_ord_id)
        if order is None and report.order_id:
            found = _find(self.store, "order_id = {o:String}", {"o": report.order_id})
            order = found[-1] if found else None
        if order is None:
            log.warning("execution report %s for an order we do not know (ClOrdID %s, OrderID %s)", report.exec_id,
                        report.cl_ord_id, report.order_id)
            return None
        state = _state(report, order)
        if order.state in CANCELLING and state in _STILL_OPEN:
            state = order.state  # still waiting on the cancel, which the counterparty answers apart
        if report.cum_qty < order.filled_qty or (order.state in FINAL_STATES and state != order.state):
            log.info("execution report %s for %s ignored: the order is already %s", report.exec_id, order.cl_ord_id,
                     order.state)
            return order
        return save(self.store, replace(order, state=state, order_id=report.order_id or order.order_id,
                                        filled_qty=report.cum_qty,
                                        avg_price=report.avg_px if report.cum_qty > 0 else None,
                                        text=(report.text or order.text)[:2000]))

    def rejected(self, cl_ord_id: str, text: str) -> Order | None:
        """Our order refused at session or business level (a Reject or BusinessMessageReject naming it)."""
        order = get(self.store, cl_ord_id)
        if order is None or order.state in FINAL_STATES:
            return order
        return save(self.store, replace(order, state="rejected", text=text[:2000]))


def _state(report: ExecutionReport, order: Order) -> str:
    state = _STATUS_STATE.get(report.ord_status)
    if state is not None:
        return state
    if report.ord_status == "3":  # done for day: what was filled stays filled, the rest will not be
        return "filled" if report.cum_qty >= order.quantity else "cancelled"
    if report.ord_status == "5":  # replaced: the order lives on
        return "partially filled" if report.cum_qty > 0 else "new"
    return order.state  # pending cancel/replace, stopped, suspended, calculated: no change of state for us
