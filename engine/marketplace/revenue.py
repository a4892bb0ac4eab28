"""A partner's monthly statement: what its products earned from metered usage and subscriptions, split 70 %
to the partner and 30 % to the platform, in exact decimal arithmetic.

What is charged (every amount in the plan's currency):
- ``per_call``: each successful (HTTP 2xx) call with a production key, at the price in force at the call's time;
- ``per_1000_rows``: the rows each such call returned × price / 1,000, at the price in force at the call's time;
- ``monthly``: each subscription active at any instant of the month, once, at the price in force at the first
  instant of the month it was active;
- ``free``, sandbox keys and failed calls: nothing (they are still listed, with their calls and rows).

Rounding rule (one rule, applied once per statement, so a statement re-run later gives the same figures):
every line is summed exactly (``decimal``, no rounding); the month's gross is the exact total rounded half up to
the cent; the partner's share is 70 % of the exact total rounded half up to the cent; the platform's is the
rounded gross minus the partner's share, so the two always add up to the gross to the cent. Lines show their
exact amounts and, for reading, their amounts rounded half up to the cent (which need not add up to the
rounded total: the total is rounded once, not summed from rounded lines).

A statement depends only on the usage, plans and subscriptions it is given, all of them with their times, so
re-running a past month from the stored records reproduces it; the caller reads the month's records by UTC
instant (months begin at 00:00 UTC on the 1st).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import pandas as pd

from engine.queries import EARLIEST_DATE, LATEST_DATE
from engine.spreadsheet_cells import safe_cell

PARTNER_SHARE = Decimal("0.70")
CENT = Decimal("0.01")
PLAN_KINDS = ("free", "per_call", "per_1000_rows", "monthly")
#: the usage columns a statement reads
USAGE_COLUMNS = ("time", "product", "key_kind", "rows", "status")
KEY_KINDS = ("sandbox", "production")


class StatementError(ValueError):
    """Input a statement cannot be built from; the message says what is wrong."""


def money(value: object, what: str = "amount") -> Decimal:
    """``value`` as an exact Decimal (from a Decimal, an int or a decimal string; a float is refused: its binary
    value is not the price that was typed)."""
    if isinstance(value, bool | float):
        raise StatementError(f"{what} must be a decimal string or Decimal, not {type(value).__name__} {value!r}")
    try:
        out = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise StatementError(f"{what} is not a number: {value!r}") from None
    if not out.is_finite() or out < 0:
        raise StatementError(f"{what} must be a finite amount of 0 or more, not {value!r}")
    return out


def cents(amount: Decimal) -> Decimal:
    """``amount`` rounded half up to the cent."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


#: The currency of a price plan that names none, and of a statement with no priced line.
DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True)
class PricePlan:
    """A product's price from ``effective_from`` (UTC) until the next plan of the same product."""
    product: str
    kind: str
    price: Decimal
    effective_from: datetime
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        if self.kind not in PLAN_KINDS:
            raise StatementError(f"price plan of {self.product}: kind must be one of {', '.join(PLAN_KINDS)}, "
                                 f"not {self.kind!r}")
        object.__setattr__(self, "price", money(self.price, f"price plan of {self.product}: price"))
        object.__setattr__(self, "effective_from", _utc(self.effective_from, f"price plan of {self.product}"))


@dataclass(frozen=True)
class Subscription:
    """A buyer's subscription to a product, active from ``start`` to ``end`` (UTC; None: still active)."""
    product: str
    subscriber: str
    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start, f"subscription to {self.product}"))
        if self.end is not None:
            object.__setattr__(self, "end", _utc(self.end, f"subscription to {self.product}"))
            if self.end <= self.start:
                raise StatementError(f"subscription of {self.subscriber} to {self.product} ends before it starts")


@dataclass(frozen=True)
class StatementLine:
    """One product under one price plan in the month (a price change mid-month gives two lines)."""
    product: str
    kind: str
    unit_price: Decimal
    currency: str
    valid_from: datetime
    valid_to: datetime
    calls: int
    billable_calls: int
    rows: int
    billable_rows: int
    subscriptions: int
    amount: Decimal  # exact

    @property
    def amount_rounded(self) -> Decimal:
        return cents(self.amount)


@dataclass(frozen=True)
class Statement:
    partner: str
    month: str  # YYYY-MM
    currency: str
    lines: tuple[StatementLine, ...] = field(default_factory=tuple)

    @property
    def exact_total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def gross(self) -> Decimal:
        return cents(self.exact_total)

    @property
    def partner_share(self) -> Decimal:
        return cents(self.exact_total * PARTNER_SHARE)

    @property
    def platform_share(self) -> Decimal:
        return self.gross - self.partner_share

    def to_csv(self) -> str:
        """The lines and the totals as CSV (amounts as written decimals, times in UTC ISO 8601; the partner's and
        products' names as a spreadsheet shows text, see ``engine.spreadsheet_cells``)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["partner", "month", "product", "plan", "unit_price", "currency", "from_utc", "to_utc",
                         "calls", "billable_calls", "rows", "billable_rows", "subscriptions", "amount_exact",
                         "amount"])
        partner = safe_cell(self.partner)
        for line in self.lines:
            writer.writerow([partner, self.month, safe_cell(line.product), line.kind, line.unit_price, line.currency,
                             line.valid_from.isoformat(), line.valid_to.isoformat(), line.calls,
                             line.billable_calls, line.rows, line.billable_rows, line.subscriptions, line.amount,
                             line.amount_rounded])
        for label, value in (("gross", self.gross), ("partner_70", self.partner_share),
                             ("platform_30", self.platform_share)):
            writer.writerow([partner, self.month, label, "", "", self.currency, "", "", "", "", "", "", "",
                             "", value])
        return out.getvalue()


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of ``month`` (YYYY-MM)."""
    try:
        start = datetime.strptime(str(month), "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise StatementError(f"month must be written YYYY-MM, not {month!r}") from None
    if not EARLIEST_DATE <= start.date() <= LATEST_DATE:
        raise StatementError(f"month {month} is outside {EARLIEST_DATE:%Y-%m} to {LATEST_DATE:%Y-%m}")
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


#: usage summed by group (``usage_totals``): calls of one product that all fall in one month and under one price
#: plan; ``time`` is any instant of the group (its first call), which tells the plan and the month
TOTAL_COLUMNS = ("time", "product", "calls", "billable_calls", "rows", "billable_rows")
#: (time, calls, billable calls, rows, billable rows) of calls of one product within one month and one plan
UsageGroup = tuple[pd.Timestamp, int, int, int, int]


def usage_totals(usage: pd.DataFrame) -> pd.DataFrame:
    """``usage`` rows (columns USAGE_COLUMNS, checked) as totals (columns TOTAL_COLUMNS), a group per call: what
    ``statement_from_totals`` reads, as the store's sums in SQL give it (engine/marketplace/statements.py)."""
    usage = _check_usage(usage)
    billable = (usage["key_kind"] == "production") & usage["status"].between(200, 299)
    return pd.DataFrame({"time": usage["time"], "product": usage["product"], "calls": 1,
                         "billable_calls": billable.astype("int64"), "rows": usage["rows"],
                         "billable_rows": usage["rows"].where(billable, 0)})


def statement(partner: str, month: str, products: Sequence[str], plans: Iterable[PricePlan],
              usage: pd.DataFrame, subscriptions: Iterable[Subscription] = ()) -> Statement:
    """The statement of ``partner`` for ``month`` over its ``products``: ``plans`` of those products (any
    period: the ones in force in the month are used), ``usage`` rows (columns USAGE_COLUMNS; any period: the
    month's are used) and ``subscriptions``."""
    return statement_from_totals(partner, month, products, plans, usage_totals(usage), subscriptions)


def statement_from_totals(partner: str, month: str, products: Sequence[str], plans: Iterable[PricePlan],
                          totals: pd.DataFrame, subscriptions: Iterable[Subscription] = ()) -> Statement:
    """``statement`` from usage already summed (columns TOTAL_COLUMNS; any period: the month's groups are used).
    Each group must lie within one month and under one plan of its product: the figures are then those of the
    calls one by one, since every amount is the plan's price times whole counts."""
    missing = [c for c in TOTAL_COLUMNS if c not in totals.columns]
    if missing:
        raise StatementError(f"usage totals lack the column(s) {', '.join(missing)}")
    start, end = month_bounds(month)
    times = pd.to_datetime(totals["time"], utc=True)
    inside_month = ((times >= pd.Timestamp(start)) & (times < pd.Timestamp(end))).to_numpy(dtype=bool)
    groups: dict[str, list[UsageGroup]] = {}
    for product, time, calls, billable_calls, rows, billable_rows in zip(
            totals["product"][inside_month], times[inside_month], totals["calls"][inside_month],
            totals["billable_calls"][inside_month], totals["rows"][inside_month],
            totals["billable_rows"][inside_month], strict=True):
        groups.setdefault(product, []).append((time, int(calls), int(billable_calls), int(rows), int(billable_rows)))
    return statement_from_groups(partner, month, products, plans, groups, subscriptions)


def statement_from_groups(partner: str, month: str, products: Sequence[str], plans: Iterable[PricePlan],
                          groups: dict[str, list[UsageGroup]], subscriptions: Iterable[Subscription] = ()
                          ) -> Statement:
    """``statement_from_totals`` from the month's groups already sorted by product (those outside the month
    must be left out by the caller)."""
    start, end = month_bounds(month)
    products = list(dict.fromkeys(products))
    by_product: dict[str, list[PricePlan]] = {p: [] for p in products}
    for plan in plans:
        if plan.product in by_product:
            by_product[plan.product].append(plan)
    subscriptions = [s for s in subscriptions if s.product in by_product]
    lines: list[StatementLine] = []
    currencies = set()
    for product in products:
        periods = _periods(product, by_product[product], start, end)
        used = groups.get(product, [])
        if periods is None:
            if any(calls for _, calls, *_ in used):
                raise StatementError(f"{product} was called in {month} but has no price plan in force then")
            continue
        for plan, valid_from, valid_to in periods:
            currencies.add(plan.currency)
            lo, hi = pd.Timestamp(valid_from), pd.Timestamp(valid_to)
            calls = billable_calls = rows = billable_rows = 0
            for time, n, n_billable, n_rows, n_billable_rows in used:
                if lo <= time < hi:
                    calls, billable_calls = calls + n, billable_calls + n_billable
                    rows, billable_rows = rows + n_rows, billable_rows + n_billable_rows
            subscribed = sum(1 for s in subscriptions if s.product == product and
                             valid_from <= max(s.start, start) < valid_to and (s.end is None or s.end > start))
            if plan.kind == "per_call":
                amount = plan.price * billable_calls
            elif plan.kind == "per_1000_rows":
                amount = plan.price * billable_rows / Decimal(1000)
            elif plan.kind == "monthly":
                amount = plan.price * subscribed
            else:
                amount = Decimal(0)
            lines.append(StatementLine(product, plan.kind, plan.price, plan.currency, valid_from, valid_to,
                                       calls, billable_calls, rows, billable_rows,
                                       subscribed if plan.kind == "monthly" else 0, amount))
    if len(currencies) > 1:
        raise StatementError(f"{partner}'s products are priced in several currencies ({', '.join(sorted(currencies))})"
                             "; a statement is in one")
    return Statement(partner, month, currencies.pop() if currencies else DEFAULT_CURRENCY, tuple(lines))


def _periods(product: str, plans: list[PricePlan], start: datetime, end: datetime):
    """(plan, from, to) for each plan in force during [start, end), in time order; None if none is."""
    ordered = sorted(plans, key=lambda p: p.effective_from)
    times = [p.effective_from for p in ordered]
    if len(set(times)) != len(times):
        raise StatementError(f"{product} has two price plans taking effect at the same instant")
    out = []
    for i, plan in enumerate(ordered):
        plan_end = ordered[i + 1].effective_from if i + 1 < len(ordered) else end
        lo, hi = max(plan.effective_from, start), min(plan_end, end)
        if lo < hi:
            out.append((plan, lo, hi))
    return out or None


def _check_usage(usage: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in USAGE_COLUMNS if c not in usage.columns]
    if missing:
        raise StatementError(f"usage lacks the column(s) {', '.join(missing)}")
    out = usage[list(USAGE_COLUMNS)].copy()
    times = pd.to_datetime(out["time"], utc=True, errors="coerce")
    if times.isna().any():
        raise StatementError(f"usage row {int(times.isna().to_numpy().argmax())}: time is not a time")
    out["time"] = times
    unknown = ~out["key_kind"].isin(KEY_KINDS)
    if unknown.any():
        raise StatementError(f"usage row {int(unknown.to_numpy().argmax())}: key_kind must be sandbox or "
                             f"production, not {out['key_kind'][unknown].iloc[0]!r}")
    for column in ("rows", "status"):
        values = pd.to_numeric(out[column], errors="coerce")
        bad = values.isna() | (values < 0) | (values != values.round())
        if bad.any():
            raise StatementError(f"usage row {int(bad.to_numpy().argmax())}: {column} must be a whole number "
                                 f"of 0 or more")
        out[column] = values.astype("int64")
    return out


def _utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise StatementError(f"{what}: a time is needed, not {value!r}")
    if value.tzinfo is None:
        raise StatementError(f"{what}: the time {value} has no time zone (write UTC times)")
    return value.astimezone(UTC)
