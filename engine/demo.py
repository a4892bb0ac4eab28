"""Demo data: two deterministic, realistic-looking years of NEM 5-minute prices and demand, so that a fresh
install with no network shows a populated app and has the history the forecast models train on, and three
months of PJM day-ahead hub LMPs for the nodal page's published basis and congestion patterns. Every row
carries source = "demo" and the pages label it; the first real load of a market replaces it
(see engine.store.writer)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.markets import MARKETS
from engine.store import DEMO_SOURCE, Store, write_tables

NEM_TZ = MARKETS["NEM"].timezone
#: region: (mean demand MW, demand swing, base price $/MWh, midday solar depth, spike rate per day)
NEM_REGIONS = {
    "NSW1": (7600.0, 0.22, 95.0, 0.35, 0.10),
    "QLD1": (6300.0, 0.20, 85.0, 0.55, 0.12),
    "VIC1": (5000.0, 0.25, 80.0, 0.55, 0.08),
    "SA1": (1350.0, 0.35, 90.0, 1.10, 0.25),
    "TAS1": (1100.0, 0.12, 70.0, 0.15, 0.03),
}
DEMO_END = pd.Timestamp("2026-11-01", tz=NEM_TZ)
DEMO_DAYS = 730  # two years: the history the forecast models train on
MARKET_PRICE_CAP = 18_600.0  # NEM cap for FY2026-27, $/MWh
MARKET_FLOOR = -1_000.0


def nem_demo_frames(days: int = DEMO_DAYS, end: pd.Timestamp = DEMO_END, seed: int = 254) -> dict[str, pd.DataFrame]:
    """Prices and demand for the five NEM regions at 5 minutes, ``days`` days up to ``end`` (NEM time)."""
    starts = pd.date_range(end - pd.Timedelta(days=days), end, freq="5min", inclusive="left")
    local_hour = starts.hour.to_numpy() + starts.minute.to_numpy() / 60.0
    dow = starts.dayofweek.to_numpy()
    doy = starts.dayofyear.to_numpy()
    prices, demand = [], []
    for i, (region, (mean_mw, swing, base, solar, spike_rate)) in enumerate(NEM_REGIONS.items()):
        rng = np.random.default_rng(seed + i)
        # Two-humped daily load (morning and evening peaks), lower at weekends, slow seasonal drift.
        daily = (0.55 * np.exp(-((local_hour - 8.0) ** 2) / 4.0) + np.exp(-((local_hour - 18.5) ** 2) / 5.0)
                 - 0.6 * np.exp(-((local_hour - 3.5) ** 2) / 6.0))
        weekly = np.where(dow >= 5, -0.08, 0.0)
        seasonal = 0.06 * np.cos(2 * np.pi * (doy - 200) / 365.0)
        noise = np.convolve(rng.normal(0, 0.02, len(starts)), np.ones(12) / 12, mode="same")
        load = mean_mw * (1 + swing * daily + weekly + seasonal + noise)
        # Price follows scarcity; rooftop solar drags midday prices down, in SA and VIC below zero.
        sun = np.clip(np.cos((local_hour - 12.5) / 6.0 * np.pi / 2), 0, None) ** 2
        cloud = rng.uniform(0.4, 1.0, len(starts) // 288 + 1).repeat(288)[: len(starts)]
        scarcity = (load / mean_mw) ** 4
        price = base * scarcity - base * 1.6 * solar * sun * cloud + rng.normal(0, 6, len(starts))
        spikes = rng.random(len(starts)) < spike_rate / 288 * (0.3 + scarcity)
        price[spikes] += rng.pareto(1.2, spikes.sum()) * 600 + 300
        price = np.clip(np.round(price, 2), MARKET_FLOOR, MARKET_PRICE_CAP)
        utc = starts.tz_convert("UTC")
        prices.append(pd.DataFrame({"market": "NEM", "location": region, "price_kind": "settlement",
                                    "interval_start": utc, "interval_minutes": 5, "price": price,
                                    "source": DEMO_SOURCE}))
        demand.append(pd.DataFrame({"market": "NEM", "location": region, "interval_start": utc,
                                    "interval_minutes": 5, "demand_mw": np.round(load, 2), "source": DEMO_SOURCE}))
    return {"prices": pd.concat(prices, ignore_index=True), "demand": pd.concat(demand, ignore_index=True)}


#: PJM's trading hubs (pnode id: name, as PJM publishes them), the demo's published nodal prices, with each hub's
#: loading on the two congestion patterns the demo draws — east-west transfers on hot afternoons (eastern hubs
#: up, Chicago down) and night wind in northern Illinois (Chicago down) — and its marginal loss factor.
PJM_DEMO_HUBS = {
    "51217": ("EASTERN HUB", 1.00, 0.10, 0.022),
    "4669664": ("NEW JERSEY HUB", 0.60, 0.10, 0.018),
    "51288": ("WESTERN HUB", 0.55, 0.15, 0.012),
    "35010337": ("DOMINION HUB", 0.30, 0.10, 0.015),
    "51287": ("WEST INT HUB", 0.20, 0.05, 0.004),
    "34497151": ("OHIO HUB", 0.05, 0.05, -0.004),
    "34497127": ("AEP-DAYTON HUB", 0.00, 0.00, -0.006),
    "34497125": ("AEP GEN HUB", -0.10, 0.00, -0.012),
    "116013751": ("ATSI GEN HUB", 0.05, -0.10, -0.002),
    "33092315": ("N ILLINOIS HUB", -0.35, -0.80, -0.020),
    "33092313": ("CHICAGO HUB", -0.40, -1.00, -0.016),
    "33092311": ("CHICAGO GEN HUB", -0.45, -1.10, -0.024),
}
PJM_DEMO_DAYS = 92  # the published basis looks at a hub's last 31 days; three months give it room


def pjm_demo_frames(days: int = PJM_DEMO_DAYS, end: pd.Timestamp = DEMO_END,
                    seed: int = 2541) -> dict[str, pd.DataFrame]:
    """PJM day-ahead hourly LMPs at its hubs, ``days`` days up to ``end``, split as PJM publishes them: system
    energy, congestion and marginal loss components adding up to the LMP. Hubs only: the real files' hub rows
    are what the nodal page's basis and congestion patterns read first."""
    zone = MARKETS["PJM"].timezone
    last_day = pd.Timestamp(end.date(), tz=zone)  # the NEM demo's last date, ended in PJM's time
    starts = pd.date_range(last_day - pd.Timedelta(days=days), last_day, freq="h", inclusive="left")
    hour = starts.hour.to_numpy()
    rng = np.random.default_rng(seed)
    n_days = len(starts) // 24 + 1
    hot = rng.gamma(2.0, 0.5, n_days).repeat(24)[: len(starts)]    # how hard the day's afternoon transfers run
    windy = rng.uniform(0, 1, n_days).repeat(24)[: len(starts)] > 0.5
    daily = 0.35 * np.exp(-((hour - 8.0) ** 2) / 6.0) + np.exp(-((hour - 18.0) ** 2) / 8.0)
    energy = 28.0 + 30.0 * daily * (0.7 + 0.3 * hot) + np.convolve(rng.normal(0, 3, len(starts)), np.ones(3) / 3,
                                                                  mode="same")
    east_west = 14.0 * hot * np.exp(-((hour - 17.0) ** 2) / 5.0) + np.abs(rng.normal(0, 0.6, len(starts)))
    night_wind = np.where(windy, 22.0 * np.exp(-((np.where(hour < 12, hour + 24, hour) - 27.0) ** 2) / 10.0), 0.0)
    lmp, nodes = [], []
    for node, (name, east, wind, loss_factor) in PJM_DEMO_HUBS.items():
        # six decimals, as PJM publishes, and the LMP exactly the sum of its components as written
        parts = {"energy": np.round(energy, 6),
                 "congestion": np.round(east * east_west + wind * night_wind + rng.normal(0, 0.15, len(starts)), 6),
                 "loss": np.round(loss_factor * energy, 6)}
        lmp.append(pd.DataFrame({
            "market": "PJM", "market_run": "DA", "node": node, "interval_start": starts.tz_convert("UTC"),
            "interval_minutes": 60, "lmp": np.round(sum(parts.values()), 6), **parts}))
        nodes.append({"market": "PJM", "node": node, "node_type": "HUB", "zone": "", "voltage_kv": np.nan,
                      "latitude": np.nan, "longitude": np.nan, "node_name": name})
    return {"nodal_lmp": pd.concat(lmp, ignore_index=True), "node_metadata": pd.DataFrame(nodes)}


def store_is_empty(store: Store) -> bool:
    return store.query_df("SELECT 1 FROM prices LIMIT 1").empty


def load_demo_if_empty(store: Store) -> int:
    """Load the demo years into an empty store, demo PJM hub prices when it holds no published nodal prices, and
    give the marketplace its catalog (the platform's products over the stored series, and a demo partner's);
    returns the rows written (0 if the store had data)."""
    written = 0
    if store_is_empty(store):
        written = write_tables(store, nem_demo_frames(days=DEMO_DAYS), source=DEMO_SOURCE).rows_written
    if store.query_df("SELECT 1 FROM nodal_lmp LIMIT 1").empty:
        written += write_tables(store, pjm_demo_frames(), source=DEMO_SOURCE).rows_written
    seed_demo_marketplace(store)
    return written


#: The demo partner: an organisation selling two products of its own, so the catalog shows both kinds. Its
#: account id names no user, so nobody can sign in as it.
DEMO_PARTNER_USER = "demo-partner"
DEMO_PARTNER_DAYS = 60


def seed_demo_marketplace(store: Store) -> None:
    """The platform's products (created, priced and listed as declared; nothing written when they already are)
    and, once, the demo partner with its two listed products and their uploaded data."""
    from engine.marketplace import data, partners, platform, products

    platform.ensure_platform_products(store)
    if partners.partner_for_user(store, DEMO_PARTNER_USER) is not None:
        return
    partner = partners.register_partner(store, organisation="Southern Skies Analytics (demo)",
                                        contact_email="data@southern-skies.example", payout_reference="DEMO-0001",
                                        user_id=DEMO_PARTNER_USER, actor="demo")
    partners.set_status(store, partner.partner_id, "active", "demo")
    for slug, title, description, columns, frame, plan, tags in _demo_partner_products():
        made = products.create_product(
            store, editor=partner.partner_id, actor="demo", slug=slug, title=title, description=description,
            markets=["NEM"], category="weather" if "temperature" in slug else "forecasts",
            update_frequency="hourly" if "solar" in slug else "daily", columns=columns, tags=tags,
            sample=frame.head(8).assign(time=frame["time"].head(8).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
            .to_dict("records"))
        data.upload(store, made, frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%SZ").encode(),
                    f"{slug}.csv", actor="demo")
        products.set_price(store, made.product_id, kind=plan[0], price=plan[1], editor=partner.partner_id,
                           actor="demo")
        products.set_status(store, made.product_id, "listed", editor=partner.partner_id, actor="demo")


def _demo_partner_products() -> list[tuple]:
    """Rooftop solar estimates per region and hour, and daily temperatures per region: deterministic, shaped
    like the demo prices' solar dip and seasons."""
    rng = np.random.default_rng(2540)
    end = DEMO_END.tz_convert("UTC")
    hours = pd.date_range(end - pd.Timedelta(days=DEMO_PARTNER_DAYS), end, freq="h", inclusive="left")
    days = pd.date_range(end - pd.Timedelta(days=DEMO_PARTNER_DAYS), end, freq="D", inclusive="left")
    local = hours.tz_convert(NEM_TZ)
    sun = np.clip(np.cos((local.hour.to_numpy() + 0.5 - 12.5) / 6.0 * np.pi / 2), 0, None) ** 2
    solar, weather = [], []
    for region, (mean_mw, _swing, _base, depth, _spikes) in NEM_REGIONS.items():
        cloud = rng.uniform(0.4, 1.0, len(days)).repeat(24)[: len(hours)]
        solar.append(pd.DataFrame({"time": hours, "region": region,
                                   "rooftop_solar_mw": np.round(mean_mw * 0.45 * depth * sun * cloud, 1)}))
        season = 4.0 * np.cos(2 * np.pi * (days.dayofyear.to_numpy() - 15) / 365.0)
        high = 24.0 + season + rng.normal(0, 2.5, len(days)) - (4 if region == "TAS1" else 0)
        weather.append(pd.DataFrame({"time": days, "region": region, "temp_max_c": np.round(high, 1),
                                     "temp_min_c": np.round(high - rng.uniform(7, 12, len(days)), 1)}))
    time_column = {"name": "time", "type": "datetime", "unit": "UTC"}
    region_column = {"name": "region", "type": "text"}
    return [
        ("southern-rooftop-solar", "NEM rooftop solar estimates by region",
         "Hourly estimates of rooftop PV output behind the meter in each NEM region, from satellite cloud cover. "
         "Demo data.", [time_column, region_column, {"name": "rooftop_solar_mw", "type": "float", "unit": "MW"}],
         pd.concat(solar, ignore_index=True).sort_values("time", kind="stable"), ("per_1000_rows", "0.10"),
         ["solar", "rooftop pv", "nem"]),
        ("southern-daily-temperatures", "NEM region daily temperatures",
         "Daily maximum and minimum temperatures at each NEM region's load centre. Demo data.",
         [time_column, region_column, {"name": "temp_max_c", "type": "float", "unit": "°C"},
          {"name": "temp_min_c", "type": "float", "unit": "°C"}],
         pd.concat(weather, ignore_index=True).sort_values("time", kind="stable"), ("monthly", "25.00"),
         ["weather", "temperature", "nem"]),
    ]
