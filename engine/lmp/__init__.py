"""Nodal prices: networks as tables, PTDF/LODF, DC optimal power flow with HiGHS, LMP components, basis to a
hub and congestion forecasts. No Dash or Flask here; every function takes and returns tables.

Sign conventions are in :mod:`engine.lmp.opf`; units are MW and $/MWh throughout.
"""
from engine.lmp.basis import basis, basis_statistics, basis_surface, hub_price, model_prices
from engine.lmp.cases import list_cases, load_case, read_rate_a_overrides
from engine.lmp.congestion import CongestionForecast, congestion_forecast, summarise, with_scenarios
from engine.lmp.matpower import parse_matpower, read_matpower
from engine.lmp.network import Network
from engine.lmp.opf import OpfError, OpfResult, congestion_component, solve_dcopf, unique_prices
from engine.lmp.ptdf import dc_model, lodf, post_outage_flows, ptdf
from engine.lmp.pypsa_csv import read_pypsa_csv

__all__ = [
    "CongestionForecast", "Network", "OpfError", "OpfResult", "basis", "basis_statistics", "basis_surface",
    "congestion_component", "congestion_forecast", "dc_model", "hub_price", "list_cases", "load_case", "lodf",
    "model_prices", "parse_matpower", "post_outage_flows", "ptdf", "read_matpower", "read_pypsa_csv",
    "read_rate_a_overrides", "solve_dcopf", "summarise", "unique_prices", "with_scenarios",
]
