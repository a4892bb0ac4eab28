"""AEMO National Electricity Market (NEM): fetch AEMO's published files and parse them.

Two published formats are understood, recognised from their content:

* the aggregated price and demand CSVs (:mod:`ingest.nem.price_and_demand`), and
* the MMSDM / NEMweb multi-section CSVs (:mod:`ingest.nem.mmsdm`), usually inside a zip: the MMSDM monthly
  tables and NEMweb's 5-minute interval reports DispatchIS and DispatchSCADA (:mod:`ingest.nem.nemweb`:
  their folder listings, Archive day zips and range selection), and AEMO's own forecasts in that layout
  (PredispatchIS, P5MIN, operational demand forecast: :mod:`ingest.nem.forecasts`), stored as issued in
  ``operator_forecasts``. A file holding only forecast sections not read is refused as such
  (:class:`ingest.base.ReportNotRead`), so a load skips it.

SETTLEMENTDATE is the END of an interval in NEM time (UTC+10, no daylight saving; :mod:`ingest.nem.clock`);
the tables carry the interval START in UTC and the interval length. Parsing is vectorised: each run of data
lines goes to the Arrow CSV reader in one piece (:mod:`ingest.nem.columns`), and dates are checked and
converted as one byte matrix; only when a vectorised check fails are lines looked at one by one, to name the
offending line. The connector itself is :mod:`ingest.nem.connector`.
"""
from ingest.nem.connector import REGIONS, NemConnector
from ingest.nem.mmsdm import file_name as mmsdm_file_name

__all__ = ["REGIONS", "NemConnector", "mmsdm_file_name"]
