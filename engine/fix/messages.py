"""FIX 4.4 messages as our session sends and reads them: encoding through simplefix, framing of the byte stream
(BodyLength and CheckSum checked, which simplefix leaves to its caller), typed field access whose failures name
the session-level Reject to answer with, and the ExecutionReport read into a plain record.

Garbled frames (wrong length or checksum) are dropped, as the FIX spec asks: the sequence gap they leave is
repaired by a ResendRequest. Well-framed messages with a missing, empty or malformed field raise ``Malformed``,
which the session answers with a Reject (35=3) naming the tag and the SessionRejectReason (373)."""
from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import simplefix
from simplefix.errors import ParsingError

log = logging.getLogger(__name__)

BEGIN_STRING = "FIX.4.4"
SOH = b"\x01"

# Tags (FIX 4.4 field numbers).
AVG_PX, BEGIN_SEQ_NO, BEGIN_STRING_TAG, BODY_LENGTH, CHECKSUM = 6, 7, 8, 9, 10
CL_ORD_ID, CUM_QTY, END_SEQ_NO, EXEC_ID, LAST_PX, LAST_QTY, MSG_SEQ_NUM = 11, 14, 16, 17, 31, 32, 34
MSG_TYPE, NEW_SEQ_NO, ORDER_ID, ORDER_QTY, ORD_STATUS, ORD_TYPE, POSS_DUP_FLAG = 35, 36, 37, 38, 39, 40, 43
ORIG_CL_ORD_ID, PRICE, REF_SEQ_NUM, SENDER_COMP_ID, SENDING_TIME, SIDE, SYMBOL, TARGET_COMP_ID = (
    41, 44, 45, 49, 52, 54, 55, 56)
TEXT, TRANSACT_TIME, ENCRYPT_METHOD, HEART_BT_INT, TEST_REQ_ID = 58, 60, 98, 108, 112
ORIG_SENDING_TIME, GAP_FILL_FLAG, RESET_SEQ_NUM_FLAG, EXEC_TYPE, LEAVES_QTY = 122, 123, 141, 150, 151
REF_TAG_ID, REF_MSG_TYPE, SESSION_REJECT_REASON = 371, 372, 373
CXL_REJ_REASON, CXL_REJ_RESPONSE_TO = 102, 434
BUSINESS_REJECT_REF_ID, BUSINESS_REJECT_REASON = 379, 380

# Message types.
HEARTBEAT, TEST_REQUEST, RESEND_REQUEST, REJECT, SEQUENCE_RESET, LOGOUT, LOGON = "0", "1", "2", "3", "4", "5", "A"
EXECUTION_REPORT, ORDER_CANCEL_REJECT, NEW_ORDER_SINGLE, ORDER_CANCEL_REQUEST = "8", "9", "D", "F"
BUSINESS_MESSAGE_REJECT = "j"
ADMIN_TYPES = frozenset({HEARTBEAT, TEST_REQUEST, RESEND_REQUEST, REJECT, SEQUENCE_RESET, LOGOUT, LOGON})

# SessionRejectReason (373) values we send.
REQUIRED_TAG_MISSING, TAG_WITHOUT_VALUE, VALUE_OUT_OF_RANGE, INCORRECT_DATA_FORMAT = 1, 4, 5, 6
COMP_ID_PROBLEM, INVALID_MSG_TYPE = 9, 11
# BusinessRejectReason (380): a message type we do not handle.
UNSUPPORTED_MESSAGE_TYPE = 3

SIDES = {"buy": "1", "sell": "2"}
ORD_TYPES = {"market": "1", "limit": "2"}
#: OrdStatus (39) and ExecType (150) values FIX 4.4 defines.
ORD_STATUSES = frozenset("0123456789ABCDE")
EXEC_TYPES = frozenset("03456789ABCDEFGHI")


class Malformed(ValueError):
    """A well-framed message the session answers with a Reject: ``reason`` is the SessionRejectReason (373),
    ``tag`` the field at fault (None when no one field is)."""

    def __init__(self, reason: int, tag: int | None, text: str):
        super().__init__(text)
        self.reason, self.tag, self.text = reason, tag, text


def utc_timestamp(when: dt.datetime) -> str:
    """FIX UTCTimestamp with milliseconds: YYYYMMDD-HH:MM:SS.sss."""
    when = when.astimezone(dt.UTC) if when.tzinfo else when
    return when.strftime("%Y%m%d-%H:%M:%S.") + f"{when.microsecond // 1000:03d}"


def parse_utc_timestamp(text: str) -> dt.datetime:
    """A FIX UTCTimestamp (seconds, or with up to nine decimals) as an aware datetime; ValueError otherwise."""
    head, _, fraction = text.partition(".")
    stamp = dt.datetime.strptime(head, "%Y%m%d-%H:%M:%S").replace(tzinfo=dt.UTC)
    if fraction:
        if not (fraction.isdigit() and len(fraction) <= 9):
            raise ValueError(f"bad fraction of a second in {text!r}")
        stamp += dt.timedelta(microseconds=int(fraction.ljust(9, "0")) // 1000)
    return stamp


def decimal(value: float) -> str:
    """A FIX Qty/Price/float field: plain positional notation, never an exponent (FIX has none)."""
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _field_value(tag: int, value: object) -> bytes:
    text = value if isinstance(value, str) else str(value)
    data = text.encode("ascii")
    if not data or SOH in data:
        raise ValueError(f"tag {tag}: value {text!r} is empty or holds a field separator")
    return data


def encode(msg_type: str, sender: str, target: str, seq: int, fields: Iterable[tuple[int, object]], *,
           sending_time: dt.datetime, orig_sending_time: str | None = None) -> bytes:
    """One message on the wire. ``orig_sending_time`` marks a resend: PossDupFlag=Y with OrigSendingTime."""
    message = simplefix.FixMessage()
    message.append_pair(BEGIN_STRING_TAG, BEGIN_STRING, header=True)
    message.append_pair(MSG_TYPE, msg_type, header=True)
    message.append_pair(SENDER_COMP_ID, _field_value(SENDER_COMP_ID, sender), header=True)
    message.append_pair(TARGET_COMP_ID, _field_value(TARGET_COMP_ID, target), header=True)
    message.append_pair(MSG_SEQ_NUM, int(seq), header=True)
    if orig_sending_time is not None:
        message.append_pair(POSS_DUP_FLAG, "Y", header=True)
    message.append_pair(SENDING_TIME, utc_timestamp(sending_time), header=True)
    if orig_sending_time is not None:
        message.append_pair(ORIG_SENDING_TIME, _field_value(ORIG_SENDING_TIME, orig_sending_time), header=True)
    for tag, value in fields:
        message.append_pair(tag, _field_value(tag, value))
    return message.encode()


# ---------------------------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class Message:
    """A received message whose frame checked out; field readers raise ``Malformed``."""

    pairs: tuple[tuple[int, str], ...]
    raw: bytes

    def _values(self, tag: int) -> list[str]:
        return [v for t, v in self.pairs if t == tag]

    @property
    def msg_type(self) -> str | None:
        found = self._values(MSG_TYPE)
        return found[0] if found else None

    @property
    def seq(self) -> int | None:
        found = self._values(MSG_SEQ_NUM)
        return int(found[0]) if found and found[0].isdigit() else None

    @property
    def poss_dup(self) -> bool:
        return self._values(POSS_DUP_FLAG)[:1] == ["Y"]

    def has(self, tag: int) -> bool:
        return bool(self._values(tag))

    def text(self, tag: int, required: bool = True) -> str | None:
        found = self._values(tag)
        if not found:
            if required:
                raise Malformed(REQUIRED_TAG_MISSING, tag, f"Required tag missing: {tag}")
            return None
        if found[0] == "":
            raise Malformed(TAG_WITHOUT_VALUE, tag, f"Tag specified without a value: {tag}")
        return found[0]

    def integer(self, tag: int, required: bool = True) -> int | None:
        text = self.text(tag, required)
        if text is None:
            return None
        if not text.lstrip("-").isdigit():
            raise Malformed(INCORRECT_DATA_FORMAT, tag, f"Incorrect data format for value: tag {tag} = {text!r}")
        return int(text)

    def number(self, tag: int, required: bool = True) -> float | None:
        text = self.text(tag, required)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or "e" in text.lower():
            raise Malformed(INCORRECT_DATA_FORMAT, tag, f"Incorrect data format for value: tag {tag} = {text!r}")
        return value

    def choice(self, tag: int, allowed: Iterable[str], required: bool = True) -> str | None:
        text = self.text(tag, required)
        if text is not None and text not in allowed:
            raise Malformed(VALUE_OUT_OF_RANGE, tag, f"Value is incorrect (out of range) for this tag: {tag} = "
                                                     f"{text!r}")
        return text

    def timestamp(self, tag: int, required: bool = True) -> dt.datetime | None:
        text = self.text(tag, required)
        if text is None:
            return None
        try:
            return parse_utc_timestamp(text)
        except ValueError:
            raise Malformed(INCORRECT_DATA_FORMAT, tag,
                            f"Incorrect data format for value: tag {tag} = {text!r}") from None

    def check_values(self) -> None:
        """Every field has a value (simplefix is told to accept empty ones so that we can Reject them)."""
        for tag, value in self.pairs:
            if value == "":
                raise Malformed(TAG_WITHOUT_VALUE, tag, f"Tag specified without a value: {tag}")

    def printable(self) -> str:
        return "|".join(f"{t}={v}" for t, v in self.pairs)


class Framer:
    """Cuts the received byte stream into messages; frames with a wrong BodyLength or CheckSum are dropped."""

    def __init__(self) -> None:
        self._parser = simplefix.FixParser(allow_empty_values=True)

    def feed(self, data: bytes) -> list[Message]:
        self._parser.append_buffer(data)
        found = []
        while True:
            try:
                parsed = self._parser.get_message()
            except ParsingError as exc:  # not FIX at all: nothing in the buffer can be trusted
                log.warning("dropping unreadable FIX bytes: %s", exc)
                self._parser.reset()
                break
            if parsed is None:
                break
            message = _checked(parsed)
            if message is not None:
                found.append(message)
        return found


def _checked(parsed: simplefix.FixMessage) -> Message | None:
    pairs = tuple((int(t), v.decode("latin-1")) for t, v in parsed.pairs)
    raw = parsed.encode(raw=True)
    tags = [t for t, _ in pairs]
    if len(tags) < 4 or tags[:3] != [BEGIN_STRING_TAG, BODY_LENGTH, MSG_TYPE] or tags[-1] != CHECKSUM:
        log.warning("dropping a FIX frame whose header or trailer is out of order: %s", raw[:200])
        return None
    checksum_at = raw.rfind(b"10=")
    body_start = raw.index(SOH, raw.index(b"9=")) + 1
    declared_length, declared_sum = pairs[1][1], pairs[-1][1]
    if not declared_length.isdigit() or int(declared_length) != checksum_at - body_start:
        log.warning("dropping a FIX frame with a wrong BodyLength (%s, counted %d)", declared_length,
                    checksum_at - body_start)
        return None
    if not (declared_sum.isdigit() and len(declared_sum) == 3) or int(declared_sum) != sum(raw[:checksum_at]) % 256:
        log.warning("dropping a FIX frame with a wrong CheckSum (%s, computed %03d)", declared_sum,
                    sum(raw[:checksum_at]) % 256)
        return None
    return Message(pairs=pairs, raw=raw)


def parse_one(raw: bytes) -> Message:
    """One whole stored or received message; ValueError when it is not one."""
    found = Framer().feed(raw)
    if len(found) != 1:
        raise ValueError(f"expected one FIX message, found {len(found)}")
    return found[0]


# ---------------------------------------------------------------------------------------------- content

Fields = Sequence[tuple[int, object]]


def logon(heartbeat_seconds: int, reset: bool = False) -> Fields:
    """Logon's body; ``reset`` asks for (or confirms) both sequence numbers starting again at 1 (141=Y)."""
    fields: list[tuple[int, object]] = [(ENCRYPT_METHOD, 0), (HEART_BT_INT, int(heartbeat_seconds))]
    if reset:
        fields.append((RESET_SEQ_NUM_FLAG, "Y"))
    return fields


def new_order_single(cl_ord_id: str, symbol: str, side: str, quantity: float, ord_type: str, price: float | None,
                     transact_time: dt.datetime) -> Fields:
    """NewOrderSingle's body: ClOrdID, Symbol, Side, TransactTime, OrderQty, OrdType and Price for a limit."""
    if side not in SIDES or ord_type not in ORD_TYPES:
        raise ValueError(f"side must be one of {sorted(SIDES)} and order type one of {sorted(ORD_TYPES)}")
    if (price is None) != (ord_type == "market"):
        raise ValueError("a limit order needs a price and a market order has none")
    fields: list[tuple[int, object]] = [(CL_ORD_ID, cl_ord_id), (SYMBOL, symbol), (SIDE, SIDES[side]),
                                        (TRANSACT_TIME, utc_timestamp(transact_time)),
                                        (ORDER_QTY, decimal(quantity)), (ORD_TYPE, ORD_TYPES[ord_type])]
    if price is not None:
        fields.append((PRICE, decimal(price)))
    return fields


def order_cancel_request(orig_cl_ord_id: str, cl_ord_id: str, symbol: str, side: str, quantity: float,
                         transact_time: dt.datetime, order_id: str = "") -> Fields:
    """OrderCancelRequest's body: OrigClOrdID (the order), its own ClOrdID, Symbol, Side, TransactTime and the
    order's OrderQty; the counterparty's OrderID when it gave one."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {sorted(SIDES)}")
    fields: list[tuple[int, object]] = [(ORIG_CL_ORD_ID, orig_cl_ord_id)]
    if order_id:
        fields.append((ORDER_ID, order_id))
    fields += [(CL_ORD_ID, cl_ord_id), (SYMBOL, symbol), (SIDE, SIDES[side]),
               (TRANSACT_TIME, utc_timestamp(transact_time)), (ORDER_QTY, decimal(quantity))]
    return fields


def reject(ref_seq: int, ref_msg_type: str | None, problem: Malformed) -> Fields:
    fields: list[tuple[int, object]] = [(REF_SEQ_NUM, ref_seq)]
    if problem.tag is not None:
        fields.append((REF_TAG_ID, problem.tag))
    if ref_msg_type:
        fields.append((REF_MSG_TYPE, ref_msg_type))
    fields += [(SESSION_REJECT_REASON, problem.reason), (TEXT, problem.text[:200])]
    return fields


@dataclass(frozen=True)
class ExecutionReport:
    """What an ExecutionReport (35=8) says about one order."""

    cl_ord_id: str | None
    order_id: str
    exec_id: str
    exec_type: str
    ord_status: str
    symbol: str
    side: str
    leaves_qty: float
    cum_qty: float
    avg_px: float
    last_qty: float | None
    last_px: float | None
    text: str | None
    poss_dup: bool
    #: The order a cancel's report is about (its ClOrdID is then the cancel request's).
    orig_cl_ord_id: str | None = None


def execution_report(message: Message) -> ExecutionReport:
    """The report's fields, checked against FIX 4.4's required fields and value sets (``Malformed`` if not)."""
    return ExecutionReport(
        cl_ord_id=message.text(CL_ORD_ID, required=False), order_id=message.text(ORDER_ID),
        exec_id=message.text(EXEC_ID), exec_type=message.choice(EXEC_TYPE, EXEC_TYPES),
        ord_status=message.choice(ORD_STATUS, ORD_STATUSES), symbol=message.text(SYMBOL),
        side=message.choice(SIDE, "123456789ABCDEFG"), leaves_qty=message.number(LEAVES_QTY),
        cum_qty=message.number(CUM_QTY), avg_px=message.number(AVG_PX),
        last_qty=message.number(LAST_QTY, required=False), last_px=message.number(LAST_PX, required=False),
        text=message.text(TEXT, required=False), poss_dup=message.poss_dup,
        orig_cl_ord_id=message.text(ORIG_CL_ORD_ID, required=False))


@dataclass(frozen=True)
class CancelReject:
    """What an OrderCancelReject (35=9) says: the order (OrigClOrdID) stays as it was, and why."""

    orig_cl_ord_id: str
    cl_ord_id: str
    order_id: str
    ord_status: str
    text: str | None


def cancel_reject(message: Message) -> CancelReject:
    """The reject's fields, checked against FIX 4.4's required ones (``Malformed`` if not)."""
    message.choice(CXL_REJ_RESPONSE_TO, "12")
    return CancelReject(orig_cl_ord_id=message.text(ORIG_CL_ORD_ID), cl_ord_id=message.text(CL_ORD_ID),
                        order_id=message.text(ORDER_ID), ord_status=message.choice(ORD_STATUS, ORD_STATUSES),
                        text=message.text(TEXT, required=False))
