"""FIX 4.4 messages: our encoding against QuickFIX's (BodyLength, CheckSum, field values), the framing of a byte
stream (garbled frames dropped), and the field checks that decide a session-level Reject."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest
import quickfix as fix

from engine.fix import messages as m
from engine.fix.messages import Framer, Malformed

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=dt.UTC)
DATA_DICTIONARY = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"


def _order(**changes) -> bytes:
    fields = m.new_order_single(**{"cl_ord_id": "C254-1", "symbol": "NEM-NSW1", "side": "sell", "quantity": 12.5,
                                   "ord_type": "limit", "price": -30.25, "transact_time": WHEN, **changes})
    return m.encode(m.NEW_ORDER_SINGLE, "C254", "BROKER", 7, fields, sending_time=WHEN)


def _quickfix(raw: bytes) -> dict[int, str]:
    """The message as QuickFIX reads and re-encodes it (it recomputes BodyLength and CheckSum)."""
    message = fix.Message(raw.decode(), fix.DataDictionary(str(DATA_DICTIONARY)), False)
    return dict((int(t), v) for t, v in (p.split("=", 1) for p in message.toString().split("\x01") if p))


def test_new_order_single_as_quickfix_reads_it():
    raw = _order()
    assert _quickfix(raw) == {8: "FIX.4.4", 9: raw.split(b"\x019=")[1].split(b"\x01")[0].decode(), 35: "D",
                              34: "7", 49: "C254", 52: "20260102-03:04:05.678", 56: "BROKER", 11: "C254-1",
                              38: "12.5", 40: "2", 44: "-30.25", 54: "2", 55: "NEM-NSW1",
                              60: "20260102-03:04:05.678", 10: raw[-4:-1].decode()}
    market = _quickfix(_order(ord_type="market", price=None, side="buy", quantity=3))
    assert (market[40], market[54], market[38]) == ("1", "1", "3") and 44 not in market


def test_cancel_request_and_reset_logon_as_quickfix_reads_them():
    fields = m.order_cancel_request("C254-1", "C254X-2", "NEM-NSW1", "buy", 12.5, WHEN, order_id="B-7")
    raw = m.encode(m.ORDER_CANCEL_REQUEST, "C254", "BROKER", 8, fields, sending_time=WHEN)
    read = _quickfix(raw)
    assert {k: read[k] for k in (35, 41, 37, 11, 55, 54, 60, 38)} == {
        35: "F", 41: "C254-1", 37: "B-7", 11: "C254X-2", 55: "NEM-NSW1", 54: "1", 60: "20260102-03:04:05.678",
        38: "12.5"}
    assert 37 not in _quickfix(m.encode(m.ORDER_CANCEL_REQUEST, "C254", "BROKER", 8, m.order_cancel_request(
        "C254-1", "C254X-2", "X", "sell", 1, WHEN), sending_time=WHEN))
    with pytest.raises(ValueError, match="side must be one of"):
        m.order_cancel_request("C254-1", "C254X-2", "X", "short", 1, WHEN)
    logon = _quickfix(m.encode(m.LOGON, "C254", "BROKER", 1, m.logon(30, reset=True), sending_time=WHEN))
    assert (logon[108], logon[141]) == ("30", "Y") and 141 not in _quickfix(
        m.encode(m.LOGON, "C254", "BROKER", 1, m.logon(30), sending_time=WHEN))


def test_cancel_reject_and_a_cancels_report_are_read():
    body = [(m.ORDER_ID, "B-7"), (m.CL_ORD_ID, "C254X-2"), (m.ORIG_CL_ORD_ID, "C254-1"), (m.ORD_STATUS, "0"),
            (m.CXL_REJ_RESPONSE_TO, "1"), (m.TEXT, "too late")]
    refused = m.cancel_reject(m.parse_one(m.encode(m.ORDER_CANCEL_REJECT, "BROKER", "C254", 3, body,
                                                   sending_time=WHEN)))
    assert (refused.orig_cl_ord_id, refused.cl_ord_id, refused.order_id, refused.ord_status, refused.text) == (
        "C254-1", "C254X-2", "B-7", "0", "too late")
    missing = [(t, v) for t, v in body if t != m.ORIG_CL_ORD_ID]
    with pytest.raises(Malformed) as problem:
        m.cancel_reject(m.parse_one(m.encode(m.ORDER_CANCEL_REJECT, "BROKER", "C254", 3, missing,
                                             sending_time=WHEN)))
    assert (problem.value.reason, problem.value.tag) == (m.REQUIRED_TAG_MISSING, m.ORIG_CL_ORD_ID)
    report = [(m.ORDER_ID, "B-7"), (m.CL_ORD_ID, "C254X-2"), (m.ORIG_CL_ORD_ID, "C254-1"), (m.EXEC_ID, "E9"),
              (m.EXEC_TYPE, "4"), (m.ORD_STATUS, "4"), (m.SYMBOL, "X"), (m.SIDE, "1"), (m.LEAVES_QTY, "0"),
              (m.CUM_QTY, "0"), (m.AVG_PX, "0")]
    read = m.execution_report(m.parse_one(m.encode(m.EXECUTION_REPORT, "BROKER", "C254", 4, report,
                                                   sending_time=WHEN)))
    assert (read.cl_ord_id, read.orig_cl_ord_id, read.exec_type) == ("C254X-2", "C254-1", "4")


def test_resend_marks_a_possible_duplicate():
    raw = m.encode(m.NEW_ORDER_SINGLE, "C254", "BROKER", 7, [(m.CL_ORD_ID, "X")], sending_time=WHEN,
                   orig_sending_time="20260102-03:00:00.000")
    fields = _quickfix(raw)
    assert (fields[43], fields[122], fields[52]) == ("Y", "20260102-03:00:00.000", "20260102-03:04:05.678")
    assert m.parse_one(raw).poss_dup


@pytest.mark.parametrize(("value", "text"), [(5, "5"), (0.1, "0.1"), (-30.25, "-30.25"), (1e-7, "0.0000001"),
                                             (123456789.5, "123456789.5"), (-0.0, "0")])
def test_numbers_are_written_without_exponents(value, text):
    assert m.decimal(value) == text


def test_bad_order_content_is_refused_before_encoding():
    with pytest.raises(ValueError, match="limit order needs a price"):
        _order(price=None)
    with pytest.raises(ValueError, match="side must be one of"):
        _order(side="short")
    with pytest.raises(ValueError, match="field separator"):
        _order(symbol="NSW\x011")
    with pytest.raises(ValueError, match="finite"):
        _order(quantity=float("nan"))


def test_stream_is_cut_into_messages_whatever_the_chunks():
    one, two = _order(), _order(cl_ord_id="C254-2")
    stream = one + two
    framer = Framer()
    found = [msg for i in range(0, len(stream), 17) for msg in framer.feed(stream[i:i + 17])]
    assert [msg.text(m.CL_ORD_ID) for msg in found] == ["C254-1", "C254-2"]
    assert found[0].raw == one


def test_garbled_frames_are_dropped_and_the_stream_goes_on():
    good = _order()
    bad_sum = good[:-4] + b"%03d\x01" % ((int(good[-4:-1]) + 1) % 256)
    longer = good.replace(b"NEM-NSW1", b"NEM-NSW12")  # BodyLength and CheckSum now both wrong
    found = Framer().feed(bad_sum + longer + good + b"8=FIX.4.4\x019=5\x0135=0\x01")  # and half of one
    assert [msg.raw for msg in found] == [good]


def _mended(raw: bytes) -> bytes:
    """The same message with BodyLength and CheckSum made right again after a test's edit, so that only the
    edited field is wrong."""
    fields = [p.split(b"=", 1) for p in raw.split(b"\x01") if p]
    body = b"".join(t + b"=" + v + b"\x01" for t, v in fields if t not in (b"8", b"9", b"10"))
    head = b"8=FIX.4.4\x019=" + str(len(body)).encode() + b"\x01"
    return head + body + b"10=%03d\x01" % (sum(head + body) % 256)


def test_field_checks_name_the_session_reject_reason():
    report = m.encode(m.EXECUTION_REPORT, "BROKER", "C254", 3,
                      [(m.ORDER_ID, "B1"), (m.EXEC_ID, "E1"), (m.EXEC_TYPE, "F"), (m.ORD_STATUS, "1"),
                       (m.SYMBOL, "NSW1"), (m.SIDE, "1"), (m.LEAVES_QTY, "3"), (m.CUM_QTY, "2"), (m.AVG_PX, "-4.5"),
                       (m.CL_ORD_ID, "C254-1")], sending_time=WHEN)
    parsed = m.execution_report(m.parse_one(report))
    assert (parsed.cl_ord_id, parsed.ord_status, parsed.cum_qty, parsed.avg_px) == ("C254-1", "1", 2.0, -4.5)

    def problem(raw: bytes) -> tuple[int, int | None]:
        with pytest.raises(Malformed) as caught:
            message = m.parse_one(_mended(raw))
            message.check_values()
            m.execution_report(message)
        return caught.value.reason, caught.value.tag

    assert problem(report.replace(b"\x0139=1", b"")) == (m.REQUIRED_TAG_MISSING, 39)
    assert problem(report.replace(b"\x0139=1", b"\x0139=Z")) == (m.VALUE_OUT_OF_RANGE, 39)
    assert problem(report.replace(b"\x0114=2", b"\x0114=two")) == (m.INCORRECT_DATA_FORMAT, 14)
    assert problem(report.replace(b"\x0114=2", b"\x0114=")) == (m.TAG_WITHOUT_VALUE, 14)


def test_reject_names_the_message_and_the_field():
    fields = dict(m.reject(9, "8", Malformed(m.REQUIRED_TAG_MISSING, 39, "Required tag missing: 39")))
    assert fields == {m.REF_SEQ_NUM: 9, m.REF_TAG_ID: 39, m.REF_MSG_TYPE: "8", m.SESSION_REJECT_REASON: 1,
                      m.TEXT: "Required tag missing: 39"}


def test_utc_timestamps_both_ways():
    assert m.utc_timestamp(WHEN) == "20260102-03:04:05.678"
    assert m.parse_utc_timestamp("20260102-03:04:05.678") == WHEN
    assert m.parse_utc_timestamp("20260102-03:04:05") == WHEN.replace(microsecond=0)
    assert m.parse_utc_timestamp("20260102-03:04:05.678123456") == WHEN.replace(microsecond=678_123)
    with pytest.raises(ValueError):
        m.parse_utc_timestamp("2026-01-02 03:04:05")
