"""The markets we carry, declared once: id, name, time zone, currency and how late each dataset may arrive.

The migrations' calendar macros (``engine.store.tables``), the connectors, the demo data, freshness and the
pages all read this registry; nothing else spells out a market's zone.

Zones are IANA names. NEM and IESO keep no daylight saving: NEM time is UTC+10 all year and IESO reports
in Eastern Standard Time (UTC-5) all year, so their zones are the fixed ``Etc/GMT-10`` and ``Etc/GMT+5``
(POSIX names invert the sign). Brazil, PJM, ISO-NE and CAISO report in their prevailing local time.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import MappingProxyType
from zoneinfo import ZoneInfo

#: A display choice: the market's own time, or UTC.
TZ_CHOICES = ("market", "utc")


@dataclass(frozen=True)
class Market:
    market: str
    name: str
    timezone: str
    timezone_label: str
    currency: str
    #: How long after an interval ends its data is normally published, in minutes, for any dataset not named
    #: in ``dataset_delays`` (a dataset older than this is shown as delayed).
    expected_delay_minutes: int
    #: Datasets (freshness labels, e.g. "nodal LMPs") that arrive on another schedule than the market default.
    dataset_delays: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    #: Whose public holidays the market keeps, as the ``holidays`` package names them: (country, subdivision
    #: or None for the national ones); forecast models read it for their calendar features.
    holidays: tuple[str, str | None] | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """The market's date at ``now`` (default: this instant), whatever the server's own zone: the day an
        operator's files are dated by. NEM's day starts 10 hours before UTC's, IESO's 5 after."""
        return (now or dt.datetime.now(dt.UTC)).astimezone(self.tz).date()

    def expected_delay(self, dataset: str) -> int:
        """Minutes after which ``dataset`` of this market counts as delayed."""
        return int(self.dataset_delays.get(dataset, self.expected_delay_minutes))

    def display_zone(self, choice: str | None) -> str:
        """The zone a page or an export shows times in: the market's for "market" (the default), else UTC."""
        return "UTC" if choice == "utc" else self.timezone

    def display_label(self, choice: str | None) -> str:
        """How a page names the zone of ``display_zone(choice)``."""
        return "UTC" if choice == "utc" else self.timezone_label


def _market(market: str, name: str, timezone: str, label: str, currency: str, delay: int,
            holidays: tuple[str, str | None] | None = None, **dataset_delays: int) -> Market:
    return Market(market, name, timezone, label, currency, delay,
                  MappingProxyType({k.replace("_", " "): v for k, v in dataset_delays.items()}), holidays)


#: Every market, in the order pages list them.
MARKETS: MappingProxyType[str, Market] = MappingProxyType({m.market: m for m in (
    _market("NEM", "AEMO National Electricity Market", "Etc/GMT-10", "NEM time (UTC+10)", "AUD", 15,
            # Regions keep their state's holidays; New South Wales, the largest load, stands for the market.
            holidays=("AU", "NSW")),
    _market("IESO", "IESO Ontario", "Etc/GMT+5", "Eastern Standard Time (UTC-5)", "CAD", 120,
            holidays=("CA", "ON")),
    _market("BRAZIL", "Brazil ONS/CCEE", "America/Sao_Paulo", "Brasilia time", "BRL", 1440, holidays=("BR", None)),
    _market("PJM", "PJM Interconnection", "America/New_York", "Eastern Prevailing Time", "USD", 1440,
            holidays=("US", None)),
    _market("ISONE", "ISO New England", "America/New_York", "Eastern Prevailing Time", "USD", 1440,
            holidays=("US", None)),
    _market("CAISO", "California ISO", "America/Los_Angeles", "Pacific Prevailing Time", "USD", 1440,
            holidays=("US", "CA")),
)})


def market(market_id: str) -> Market:
    """The market named ``market_id``; a KeyError that lists the known markets otherwise."""
    try:
        return MARKETS[market_id]
    except KeyError:
        raise KeyError(f"unknown market {market_id!r}; known markets: {', '.join(sorted(MARKETS))}") from None
