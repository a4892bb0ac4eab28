"""Monthly statements: the 70/30 split exact to the cent on awkward amounts, price changes mid-month,
subscriptions, what is not billed, reproducibility and refusals."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pytest

from engine.marketplace.revenue import (PricePlan, Statement, StatementError, Subscription, month_bounds,
                                        statement)

JAN = datetime(2026, 1, 1, tzinfo=UTC)


def _usage(*rows) -> pd.DataFrame:
    """(time, product, key_kind, rows, status) tuples as a usage frame."""
    return pd.DataFrame(list(rows), columns=["time", "product", "key_kind", "rows", "status"])


def _calls(n: int, product: str = "nem", day: int = 5, kind: str = "production", rows: int = 10, status: int = 200):
    return [(datetime(2026, 3, day, 12, i % 60, tzinfo=UTC), product, kind, rows, status) for i in range(n)]


def _split(s: Statement) -> tuple[Decimal, Decimal, Decimal]:
    return s.gross, s.partner_share, s.platform_share


def test_one_call_at_half_a_cent():
    made = statement("acme", "2026-03", ["nem"], [PricePlan("nem", "per_call", Decimal("0.005"), JAN)],
                     _usage(*_calls(1)))
    # exact 0.005 → gross 0.01 (half up); partner 70 % of 0.005 = 0.0035 → 0.00; platform the rest
    assert made.exact_total == Decimal("0.005")
    assert _split(made) == (Decimal("0.01"), Decimal("0.00"), Decimal("0.01"))


def test_three_calls_at_a_third():
    made = statement("acme", "2026-03", ["nem"], [PricePlan("nem", "per_call", "0.333333", JAN)],
                     _usage(*_calls(3)))
    assert made.exact_total == Decimal("0.999999")
    assert _split(made) == (Decimal("1.00"), Decimal("0.70"), Decimal("0.30"))


def test_a_month_without_usage_owes_nothing():
    made = statement("acme", "2026-03", ["nem"], [PricePlan("nem", "per_call", "0.10", JAN)], _usage())
    assert _split(made) == (Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))
    assert [line.calls for line in made.lines] == [0]


def test_a_price_change_mid_month_bills_each_call_at_the_price_in_force():
    change = datetime(2026, 3, 16, tzinfo=UTC)
    plans = [PricePlan("nem", "per_call", "0.10", JAN), PricePlan("nem", "per_call", "0.25", change)]
    usage = _usage(*_calls(7, day=10), *_calls(3, day=20),
                   (change, "nem", "production", 1, 200))  # at the instant of the change: the new price
    made = statement("acme", "2026-03", ["nem"], plans, usage)
    assert [(line.unit_price, line.billable_calls) for line in made.lines] == [(Decimal("0.10"), 7),
                                                                              (Decimal("0.25"), 4)]
    assert made.lines[0].valid_to == made.lines[1].valid_from == change
    assert made.exact_total == Decimal("1.70")
    assert _split(made) == (Decimal("1.70"), Decimal("1.19"), Decimal("0.51"))


def test_per_thousand_rows_and_what_is_not_billed():
    plans = [PricePlan("prices", "per_1000_rows", "0.07", JAN)]
    usage = _usage(*_calls(2, "prices", rows=1500), *_calls(5, "prices", kind="sandbox", rows=1000),
                   *_calls(3, "prices", rows=1000, status=429), *_calls(1, "prices", rows=0, status=401))
    made = statement("acme", "2026-03", ["prices"], plans, usage)
    (line,) = made.lines
    assert (line.calls, line.billable_calls, line.rows, line.billable_rows) == (11, 2, 11000, 3000)
    assert made.exact_total == Decimal("0.21")  # 3,000 rows × 0.07 / 1,000
    assert _split(made) == (Decimal("0.21"), Decimal("0.15"), Decimal("0.06"))  # 0.147 → 0.15


def test_monthly_subscriptions_are_charged_once_at_the_price_when_they_began_in_the_month():
    change = datetime(2026, 3, 10, tzinfo=UTC)
    plans = [PricePlan("basis", "monthly", "99.99", JAN), PricePlan("basis", "monthly", "120.00", change)]
    subs = [Subscription("basis", "a", datetime(2025, 12, 1, tzinfo=UTC)),          # all month: old price
            Subscription("basis", "b", datetime(2026, 3, 20, tzinfo=UTC)),          # from the 20th: new
            Subscription("basis", "c", datetime(2025, 6, 1, tzinfo=UTC), JAN),      # ended before: nothing
            Subscription("basis", "d", datetime(2026, 4, 2, tzinfo=UTC))]           # starts after: nothing
    made = statement("acme", "2026-03", ["basis"], plans, _usage(*_calls(4, "basis")), subs)
    assert [(line.unit_price, line.subscriptions) for line in made.lines] == [(Decimal("99.99"), 1),
                                                                              (Decimal("120.00"), 1)]
    assert made.exact_total == Decimal("219.99")
    assert _split(made) == (Decimal("219.99"), Decimal("153.99"), Decimal("66.00"))  # 153.993 → 153.99


def test_shares_always_add_up_to_the_gross_and_a_rerun_gives_the_same_csv():
    plans = [PricePlan("nem", "per_call", "0.0137", JAN), PricePlan("prices", "per_1000_rows", "0.333", JAN)]
    usage = _usage(*_calls(37), *_calls(13, "prices", rows=777), *_calls(5, day=31), (
        datetime(2026, 4, 1, tzinfo=UTC), "nem", "production", 1, 200))  # April: not in March
    made = statement("acme", "2026-03", ["nem", "prices"], plans, usage)
    assert made.partner_share + made.platform_share == made.gross
    assert made.lines[0].billable_calls == 42
    again = statement("acme", "2026-03", ["nem", "prices"], list(reversed(plans)), usage.sample(frac=1.0,
                                                                                             random_state=3))
    assert again.to_csv() == made.to_csv()
    assert made.to_csv().splitlines()[-3:] == [f"acme,2026-03,gross,,,USD,,,,,,,,,{made.gross}",
                                               f"acme,2026-03,partner_70,,,USD,,,,,,,,,{made.partner_share}",
                                               f"acme,2026-03,platform_30,,,USD,,,,,,,,,{made.platform_share}"]


def test_refusals_say_what_is_wrong():
    plan = PricePlan("nem", "per_call", "0.1", JAN)
    with pytest.raises(StatementError, match="YYYY-MM"):
        statement("acme", "2026-13", ["nem"], [plan], _usage())
    with pytest.raises(StatementError, match="not float"):
        PricePlan("nem", "per_call", 0.1, JAN)
    with pytest.raises(StatementError, match="0 or more"):
        PricePlan("nem", "per_call", "-1", JAN)
    with pytest.raises(StatementError, match="kind must be"):
        PricePlan("nem", "per_byte", "1", JAN)
    with pytest.raises(StatementError, match="no time zone"):
        PricePlan("nem", "per_call", "1", datetime(2026, 1, 1))
    with pytest.raises(StatementError, match="no price plan in force"):
        statement("acme", "2026-03", ["nem"], [PricePlan("nem", "per_call", "1", datetime(2026, 4, 1, tzinfo=UTC))],
                  _usage(*_calls(1)))
    with pytest.raises(StatementError, match="key_kind"):
        statement("acme", "2026-03", ["nem"], [plan], _usage(*_calls(1, kind="trial")))
    with pytest.raises(StatementError, match="rows must be a whole number"):
        statement("acme", "2026-03", ["nem"], [plan], _usage(*_calls(1, rows=-3)))
    with pytest.raises(StatementError, match="lacks the column"):
        statement("acme", "2026-03", ["nem"], [plan], pd.DataFrame({"time": []}))
    with pytest.raises(StatementError, match="same instant"):
        statement("acme", "2026-03", ["nem"], [plan, PricePlan("nem", "per_call", "2", JAN)], _usage())


def test_months_are_utc_calendar_months():
    assert month_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("month", ["9999-12", "0001-01", "1949-12", "2101-01"])
def test_a_month_beyond_the_plausible_years_is_refused_with_a_message(month):
    with pytest.raises(StatementError, match=f"month {month} is outside 1950-01 to 2100-12"):
        month_bounds(month)
    assert month_bounds("2100-12")[1] == datetime(2101, 1, 1, tzinfo=UTC)
