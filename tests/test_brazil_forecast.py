"""The Brazil connector's ONS programmed load (``carga_programada``, JSON API): a fixture built to the API's
published layout, and the chunked fetch against a fake session."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.store.tables import TABLES
from engine.files import IngestError, RawFile
from ingest.brazil import ONS_CARGA_PROGRAMADA_URL
from tests.support.brazil import brazil, only_table, ts
from tests.support.fakes import one

FIXTURES = Path(__file__).parent / "fixtures" / "brazil"
PROGRAMADA = FIXTURES / "specbuilt_carga_programada.json"


def record(
    area: str = "SECO",
    end: str = "2024-03-01T03:30:00.000Z",
    value: object = 40000.5,
    day: str | None = "2024-03-01",
) -> dict:
    rec: dict = {"cod_areacarga": area}
    if day is not None:
        rec["dat_referencia"] = day
    rec["din_referenciautc"] = end
    rec["val_cargaglobalprogramada"] = value
    return rec


def answer(records: list, name: str = "carga_programada_SECO_2024-03-01_2024-03-01.json") -> RawFile:
    """An API answer with one record per line (line k+1 holds record k)."""
    text = "[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n"
    return RawFile(name=name, data=text.encode())


# ---------------------------------------------------------------- parse -------------------------------------


def test_programmed_load_fixture():
    result = brazil.parse(RawFile.from_path(PROGRAMADA))
    demand = only_table(result, "demand")
    spec = TABLES["demand"]
    assert set(spec.key) | set(spec.values) | {"source"} == set(demand.columns)
    # 62 records, N's last half hour is null
    assert (result.rows_read, result.rows_rejected, len(demand)) == (62, 1, 61)
    assert demand["location"].value_counts().to_dict() == {
        "SE/CO:forecast": 48,
        "S:forecast": 4,
        "NE:forecast": 4,
        "N:forecast": 3,
        "SP:forecast": 2,
    }
    assert (demand["market"] == "BRAZIL").all()
    assert (demand["interval_minutes"] == 30).all()
    assert str(demand["interval_start"].dtype) == "datetime64[ns, UTC]"
    assert not demand.duplicated(["location", "interval_start"]).any()
    assert (demand["source"] == PROGRAMADA.name).all()
    # the measured-load locations never appear: a forecast cannot be read as an actual
    assert not demand["location"].isin(["SE/CO", "S", "NE", "N"]).any()


def test_programmed_load_spot_values_and_interval_starts():
    demand = brazil.parse(RawFile.from_path(PROGRAMADA)).tables["demand"]
    seco = demand[demand["location"] == "SE/CO:forecast"]
    # line 2: SECO, ends 2024-03-01T03:30Z (00:30 in Brasilia) -> starts at local midnight, 03:00Z
    assert seco["interval_start"].iloc[0] == ts("2024-03-01T03:00")
    assert seco["demand_mw"].iloc[0] == 34568.98
    # line 49: SECO's last half hour ends at 03:00Z the next day but belongs to 2024-03-01
    assert seco["interval_start"].iloc[-1] == ts("2024-03-02T02:30")
    assert seco["demand_mw"].iloc[-1] == 34801.7
    assert (seco["interval_start"].diff().dropna() == pd.Timedelta(minutes=30)).all()
    assert one(demand, location="S:forecast", interval_start=ts("2024-03-01T03:00"))["demand_mw"] == 11854.0
    assert one(demand, location="NE:forecast", interval_start=ts("2024-03-02T02:30"))["demand_mw"] == 12901.25
    assert one(demand, location="SP:forecast", interval_start=ts("2024-03-01T03:30"))["demand_mw"] == 19540.07
    # N's null (line 61) is left out, not loaded as zero
    n = demand[demand["location"] == "N:forecast"]
    assert n["interval_start"].max() == ts("2024-03-02T02:00")


def test_compact_answer_without_dat_referencia_and_with_a_bom():
    recs = [record(area="NE", day=None), record(area="SECO", end="2024-03-01T04:00:00Z", value=41000)]
    data = b"\xef\xbb\xbf" + json.dumps(recs, separators=(",", ":")).encode()
    demand = brazil.parse(RawFile(name="answer.json", data=data)).tables["demand"]
    assert demand["location"].tolist() == ["NE:forecast", "SE/CO:forecast"]
    assert demand["interval_start"].tolist() == [ts("2024-03-01T03:00"), ts("2024-03-01T03:30")]
    assert demand["demand_mw"].tolist() == [40000.5, 41000.0]


def test_reordered_records_give_the_same_rows():
    records = json.loads(PROGRAMADA.read_text())
    shuffled = [records[i] for i in np.random.default_rng(7).permutation(len(records))]
    a = brazil.parse(RawFile.from_path(PROGRAMADA)).tables["demand"].drop(columns="source")
    b = brazil.parse(answer(shuffled)).tables["demand"].drop(columns="source")
    pd.testing.assert_frame_equal(a, b)


BAD_RECORDS = [
    (record(value="lots"), 3, "not a number: val_cargaglobalprogramada='lots'"),
    (record(value=True), 3, "not a number"),
    (record(value=[1]), 3, "not a number"),
    (record(value="NaN"), 3, "not a number"),
    (record(area="XX"), 3, "unknown load area: cod_areacarga='XX'"),
    (record(area="SIN"), 3, "unknown load area"),
    (record(area="SE"), 3, "unknown load area"),  # the API's code is SECO (it answers [] for SE)
    (record(area=7), 3, "unknown load area"),
    (record(end="2024-03-01 03:30"), 3, "not a UTC date and time"),
    (record(end="2024-13-01T03:30:00Z"), 3, "not a date and time"),
    (record(end="1677-09-21T00:30:00Z"), 3, "not a date in 1990..2200"),
    (record(value=10 ** 400), 3, "not a number"),
    (record(end="2024-03-01T03:45:00.000Z"), 3, "not stamped on a half hour"),
    (record(end="2024-03-01T03:00:00.000Z"), 3, "dat_referencia is not the Brasilia day"),
    (record(day="01/03/2024"), 3, "not a date YYYY-MM-DD"),
    (
        {"cod_areacarga": "SECO", "din_referenciautc": "2024-03-01T03:30:00Z"},
        3,
        "lacks field(s) ['val_cargaglobalprogramada']",
    ),
    ({"cod_areacarga": "SECO", "val_cargaglobalprogramada": 1.0}, 3, "lacks field(s) ['din_referenciautc']"),
    ([1, 2], 3, "must be a JSON object, not list"),
]


@pytest.mark.parametrize("bad, line, words", BAD_RECORDS)
def test_bad_record_names_file_line_and_record(bad, line: int, words: str):
    good = [record(end="2024-03-01T03:30:00.000Z"), record(end="2024-03-01T04:00:00.000Z", value=1.5)]
    raw = answer([good[0], bad, good[1]], name="carga_programada_bad.json")
    with pytest.raises(IngestError) as err:
        brazil.parse(raw)
    assert err.value.source == "carga_programada_bad.json"
    assert err.value.line == line
    assert "record 2" in err.value.problem
    assert words in err.value.problem


def test_repeated_half_hour_is_named_where_it_repeats():
    first, again = record(), record(value=1.0)
    with pytest.raises(IngestError) as err:
        brazil.parse(answer([first, record(area="S"), again]))
    assert (err.value.line, err.value.problem.split(":")[0]) == (4, "record 3")
    assert "load area and half hour appear twice" in err.value.problem


@pytest.mark.parametrize(
    "data, line, words",
    [
        (b'[\n{"cod_areacarga": "SECO",\n "val": 1,,}\n]', 3, "not valid JSON"),
        (b'[\n{"a": 1}\n{"b": 2}\n]', 3, "expected ',' or ']'"),
        (b'[\n{"a": 1},\n]', 3, "not valid JSON (Expecting value"),
        (b'[\n{"a": ' + b"9" * 5000 + b'}\n]', 2, "not valid JSON (Exceeds the limit"),
        (b'[{"a": 1}] trailing', 1, "text after the array"),
        (b'[\n{"a": 1}', 2, "expected ',' or ']'"),
        (
            b'{"message": "Forbidden"}',
            1,
            "expected a JSON array of ONS records, got an object with keys ['message']",
        ),
        (b"[]", None, "no records in the API answer"),
        (b"  [ ]\n", None, "no records"),
        (
            b'[{"cod_areacarga": "N", "din_referenciautc": "2024-03-01T03:30:00Z",'
            b' "val_cargaglobalprogramada": null}]',
            None,
            "every val_cargaglobalprogramada is null",
        ),
        (b'[{"a": "\xff"}]', 1, "not valid utf-8"),
    ],
)
def test_unreadable_answers(data: bytes, line: int | None, words: str):
    with pytest.raises(IngestError) as err:
        brazil.parse(RawFile(name="answer.json", data=data))
    assert err.value.source == "answer.json"
    assert err.value.line == line
    assert words in err.value.problem


def test_infinity_literal_is_not_a_number():
    data = (b'[{"cod_areacarga": "N", "din_referenciautc": "2024-03-01T03:30:00Z",'
            b' "val_cargaglobalprogramada": Infinity}]')
    with pytest.raises(IngestError, match="answer.json, line 1: record 1: not a number"):
        brazil.parse(RawFile(name="answer.json", data=data))


def test_csv_reports_are_still_told_apart():
    text = "id_subsistema;nom_subsistema;din_instante;val_cargaenergiamwmed\nS;SUL;2022-01-01;11000,5\n"
    result = brazil.parse(RawFile(name="CARGA_ENERGIA_2022.csv", data=text.encode()))
    assert result.tables["demand"]["location"].tolist() == ["S"]


def test_programmed_load_is_a_dataset_of_the_connector():
    assert brazil.dataset("CARGA_PROGRAMADA") == "carga_programada"


ORIGINAL = PROGRAMADA.read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mangled_answers_raise_only_ingest_errors(data) -> None:
    """Cut, overwrite or splice the fixture: the parser either returns sane rows or raises IngestError."""
    raw = bytearray(ORIGINAL)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw)))
        how = data.draw(st.sampled_from(["cut", "byte", "insert", "digit"]))
        if how == "cut":
            raw = raw[:pos]
        elif how == "byte" and pos < len(raw):
            raw[pos] = data.draw(st.integers(0, 255))
        elif how == "insert":
            raw[pos:pos] = data.draw(
                st.sampled_from([b",", b"]", b"{", b'"x"', b"null", b"-", b"\n", b"1e999"])
            )
        elif how == "digit" and pos < len(raw) and chr(raw[pos]).isdigit():
            raw[pos] = ord(data.draw(st.sampled_from("0123456789")))
    try:
        result = brazil.parse(RawFile(name="mangled.json", data=bytes(raw)))
    except IngestError as exc:
        assert str(exc).startswith("mangled.json")
        return
    demand = result.tables["demand"]
    assert len(demand) == result.rows_read - result.rows_rejected > 0
    assert np.isfinite(demand["demand_mw"]).all()
    assert demand["location"].str.endswith(":forecast").all()
    assert (demand["interval_minutes"] == 30).all()
    assert not demand.duplicated(["location", "interval_start"]).any()


# ---------------------------------------------------------------- fetch -------------------------------------


class FakeResponse:
    def __init__(self, status: int, content: bytes = b""):
        self.status_code, self.content = status, content


class FakeSession:
    """Answers by (cod_areacarga, dat_inicio) from a script of responses; records every call."""

    def __init__(self, answers: dict[tuple[str, str], list[FakeResponse]] | None = None):
        self.answers, self.calls = answers or {}, []

    def get(self, url, params=None, timeout=None, headers=None):
        self.calls.append((url, params, timeout, headers))
        key = (params["cod_areacarga"], params["dat_inicio"])
        queue = self.answers.get(key)
        if queue is None:
            end = f"{params['dat_inicio']}T03:30:00.000Z"
            body = [record(area=params["cod_areacarga"], end=end, day=params["dat_inicio"])]
            return FakeResponse(200, json.dumps(body).encode())
        return queue.pop(0) if len(queue) > 1 else queue[0]


def test_fetch_chunks_of_90_days_per_area_and_retries(no_wait):
    session = FakeSession(
        {("S", "2024-01-01"): [FakeResponse(503), FakeResponse(429), FakeResponse(200, ORIGINAL)]}
    )
    files = brazil.fetch(
        date(2024, 1, 1), date(2024, 7, 1), kind="carga_programada", session=session, areas=["SE/CO", "S"]
    )
    stretches = [("2024-01-01", "2024-03-30"), ("2024-03-31", "2024-06-28"), ("2024-06-29", "2024-07-01")]
    assert [f.name for f in files] == [
        f"carga_programada_{a}_{s}_{e}.json" for a in ("SECO", "S") for s, e in stretches
    ]
    calls = [(c[1]["cod_areacarga"], c[1]["dat_inicio"], c[1]["dat_fim"]) for c in session.calls]
    # S's first stretch is asked three times (503, 429, then 200)
    assert calls == (
        [("SECO", s, e) for s, e in stretches]
        + [("S", *stretches[0])] * 3
        + [("S", s, e) for s, e in stretches[1:]]
    )
    assert all(c[0] == ONS_CARGA_PROGRAMADA_URL for c in session.calls)
    assert all(set(c[1]) == {"dat_inicio", "dat_fim", "cod_areacarga"} for c in session.calls)
    assert all(c[2] is not None for c in session.calls), "every request has a timeout"
    assert all("User-Agent" in c[3] for c in session.calls), "every request names its client"
    spans = [(date.fromisoformat(e) - date.fromisoformat(s)).days + 1 for s, e in stretches]
    assert max(spans) == 90
    assert sum(spans) == (date(2024, 7, 1) - date(2024, 1, 1)).days + 1
    assert len(brazil.parse(files[3]).tables["demand"]) == 61
    assert brazil.parse(files[0]).tables["demand"]["location"].tolist() == ["SE/CO:forecast"]


def test_fetch_defaults_to_the_four_subsystems_and_clips_to_the_first_day(no_wait):
    session = FakeSession()
    files = brazil.fetch(date(2021, 1, 1), date(2021, 3, 6), kind="carga_programada", session=session)
    assert [(c[1]["cod_areacarga"], c[1]["dat_inicio"], c[1]["dat_fim"]) for c in session.calls] == [
        (a, "2021-03-05", "2021-03-06") for a in ("SECO", "S", "NE", "N")
    ]
    assert len(files) == 4
    with pytest.raises(IngestError, match="from 2021-03-05 only"):
        brazil.fetch(date(2020, 1, 1), date(2021, 3, 4), kind="carga_programada", session=session)
    with pytest.raises(ValueError, match="unknown ONS load area 'XYZ'"):
        brazil.fetch(
            date(2024, 1, 1), date(2024, 1, 2), kind="carga_programada", session=session, areas=["XYZ"]
        )


def test_fetch_gives_up_after_the_retries_and_on_a_404(no_wait):
    failing = FakeSession({("N", "2024-01-01"): [FakeResponse(502)]})
    with pytest.raises(IngestError, match="download failed after 4 attempts"):
        brazil.fetch(
            date(2024, 1, 1), date(2024, 1, 2), kind="carga_programada", session=failing, areas=["N"]
        )
    assert len(failing.calls) == 4
    missing = FakeSession({("N", "2024-01-01"): [FakeResponse(404)]})
    with pytest.raises(IngestError, match="HTTP 404"):
        brazil.fetch(
            date(2024, 1, 1), date(2024, 1, 2), kind="carga_programada", session=missing, areas=["N"]
        )
    assert len(missing.calls) == 1


def test_fetch_replays_saved_answers(tmp_path: Path):
    for name in (
        "carga_programada_SECO_2024-01-01_2024-03-30.json",
        "carga_programada_SECO_2024-03-31_2024-06-28.json",
        "carga_programada_S_2024-01-01_2024-03-30.json",
        "CARGA_ENERGIA_2024.csv",
    ):
        (tmp_path / name).write_bytes(ORIGINAL)
    files = brazil.fetch(date(2024, 4, 1), date(2024, 4, 2), source=tmp_path, kind="carga_programada")
    assert [f.name for f in files] == ["carga_programada_SECO_2024-03-31_2024-06-28.json"]
    both = brazil.fetch(
        date(2024, 3, 1), date(2024, 4, 2), source=tmp_path, kind="carga_programada", areas=["S"]
    )
    assert [f.name for f in both] == ["carga_programada_S_2024-01-01_2024-03-30.json"]
