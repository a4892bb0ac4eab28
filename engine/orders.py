"""Orders: what a trader asked to send, and what the counterparty's ExecutionReports made of it (``orders``,
migration 015), plus the admin switch without which nothing is sent (``order_routing``).

An order is born ``pending`` (checked and stored, not yet on the wire), becomes ``sent`` when the FIX session
writes its NewOrderSingle, and then follows the reports: ``new``, ``partially filled``, ``filled``,
``rejected`` (by the counterparty, a session-level Reject of our message, or by us when routing was switched
off or the session stayed down before it could go out) or ``cancelled``. Rows are versioned by ``updated_at``:
each change is an insert, read back with FINAL. An order refused because routing is off is never stored."""
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
from engine.store import Store

log = logging.getLogger(__name__)

STATES = ("pending", "sent", "new", "partially filled", "filled", "rejected", "cancelled")
FINAL_STATES = frozenset({"filled", "rejected", "cancelled"})
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


def orders(store: Store, limit: int = 100) -> pd.DataFrame:
    """The newest ``limit`` orders, newest first: ClOrdID, symbol, side, quantity, type, limit price, state,
    filled quantity, average fill price, the counterparty's text, who sent it, created and last update (UTC)."""
    limit = max(1, min(int(limit), 10_000))
    return store.query_df(
        "SELECT cl_ord_id, symbol, side, quantity, ord_type, price, state, filled_qty, avg_price, text, source, "
        "created_by, created_at, updated_at FROM orders FINAL ORDER BY created_at DESC LIMIT {n:UInt32}",
        {"n": limit})


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


# ----------------------------------------------------------------------------- what the FIX session changes

_STATUS_STATE = {"0": "new", "1": "partially filled", "2": "filled", "4": "cancelled", "8": "rejected",
                 "A": "sent", "C": "cancelled", "D": "new"}


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

    def execution_report(self, report: ExecutionReport) -> Order | None:
        """The order as the report leaves it (None when the report is about no order of ours). A report older
        than what we know (a resent duplicate, less filled) or one moving a finished order changes nothing."""
        order = get(self.store, report.cl_ord_id) if report.cl_ord_id else None
        if order is None and report.order_id:
            found = _find(self.store, "order_id = {o:String}", {"o": report.order_id})
            order = found[-1] if found else None
        if order is None:
            log.warning("execution report %s for an order we do not know (ClOrdID %s, OrderID %s)", report.exec_id,
                        report.cl_ord_id, report.order_id)
            return None
        state = _state(report, order)
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
