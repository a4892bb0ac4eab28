"""A real FIX 4.4 counterparty for the routing tests: QuickFIX's acceptor (the quickfix-ssl wheel) on 127.0.0.1,
validating what we send against the FIX 4.4 data dictionary the wheel ships, with a broker Application that
answers each NewOrderSingle by its symbol:

- ``FILL...``: New, then a partial fill of half the quantity, then the full fill;
- ``STEP...``: New only; the test fills it with ``fill`` (so each state can be seen in turn);
- ``REJECT...``: an ExecutionReport with OrdStatus Rejected;
- ``SESSIONREJECT...``: a session-level Reject (35=3) of our NewOrderSingle;
- ``BADREPORT...``: an ExecutionReport without OrdStatus (39), which our side must Reject.

and each OrderCancelRequest by the order's symbol: ``STEP...`` cancels wait in ``cancels_in`` for the test to
answer (``cancel``: PendingCancel then Canceled reports; ``refuse_cancel``: an OrderCancelReject), every other
order is cancelled at once. ``reset_next_logon`` makes its next Logon carry ResetSeqNumFlag (141=Y) unasked, and
``send_reset_logon`` sends one in the middle of the session: QuickFIX resets its own numbers as either leaves.

QuickFIX quirks met here: raising a QuickFIX exception (e.g. ``IncorrectTagValue``) from a Python callback
aborts the whole process ("terminate called after throwing ...") in this wheel, so every callback catches
everything and the session Reject is built and sent by hand; and it never validates what it sends itself, which
is how the report without OrdStatus gets out."""
from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import quickfix as fix

from tests.support import ports

log = logging.getLogger(__name__)
#: FIX44.xml as the quickfix-ssl wheel installs it (under the environment's share/quickfix).
DATA_DICTIONARY = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"


class LowDescriptors:
    """Low file descriptor numbers held (on /dev/null) from the start of a test process, released while a QuickFIX
    acceptor runs so that its sockets get numbers select() can watch."""

    def __init__(self, count: int = 48):
        self.count = count
        self.held: list[int] = []

    def hold(self) -> None:
        while len(self.held) < self.count:
            self.held.append(os.open(os.devnull, os.O_RDONLY))

    def release(self) -> None:
        while self.held:
            os.close(self.held.pop())


LOW_DESCRIPTORS = LowDescriptors()


def free_port() -> int:
    """A port for an acceptor, free now (tests/support/ports.py)."""
    return ports.free_port(ports.FIX_ACCEPTORS)


def _fields(message: fix.Message) -> dict[int, str]:
    """Tag → value of a QuickFIX message (header, body and trailer), read from its wire form."""
    pairs = (p.split("=", 1) for p in message.toString().split("\x01") if "=" in p)
    return {int(t): v for t, v in pairs}


@dataclass
class Received:
    msg_type: str
    fields: dict[int, str]


class Broker(fix.Application):
    def __init__(self) -> None:
        super().__init__()
        self.sent_reports: list[dict[int, str]] = []
        self.admin_in: list[Received] = []
        self.admin_out: list[Received] = []
        self.app_out: list[dict[int, str]] = []  # as sent, with their sequence numbers
        self.orders_in: list[dict[int, str]] = []
        self.cancels_in: list[dict[int, str]] = []
        self.executed: dict[str, tuple[float, float]] = {}  # ClOrdID → (cumulative quantity, average price)
        self.logons = 0
        self.reset_next_logon = False
        self.errors: list[str] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # QuickFIX callbacks: never let an exception out (it would abort the process).
    def onCreate(self, session_id):  # QuickFIX names its callbacks in camelCase
        pass

    def onLogon(self, session_id):
        self.logons += 1

    def onLogout(self, session_id):
        pass

    def toAdmin(self, message, session_id):
        try:
            if self.reset_next_logon and message.getHeader().getField(35) == "A":
                self.reset_next_logon = False
                message.setField(fix.ResetSeqNumFlag(True))
            fields = _fields(message)
            with self._lock:
                self.admin_out.append(Received(fields.get(35, ""), fields))
        except Exception as exc:  # pragma: no cover -- reported through errors
            self.errors.append(repr(exc))

    def toApp(self, message, session_id):
        try:
            fields = _fields(message)
            with self._lock:
                self.app_out.append(fields)
        except Exception as exc:  # pragma: no cover -- reported through errors
            self.errors.append(repr(exc))

    def fromAdmin(self, message, session_id):
        try:
            fields = _fields(message)
            with self._lock:
                self.admin_in.append(Received(fields.get(35, ""), fields))
        except Exception as exc:  # pragma: no cover -- reported through errors
            self.errors.append(repr(exc))

    def fromApp(self, message, session_id):
        try:
            fields = _fields(message)
            if fields[35] == "F":
                self._cancel(fields, session_id)
            else:
                self._order(fields, session_id)
        except Exception as exc:
            self.errors.append(repr(exc))

    def original(self, cancel: dict[int, str]) -> dict[int, str]:
        """The NewOrderSingle a cancel request names (OrigClOrdID)."""
        with self._lock:
            return next(o for o in self.orders_in if o[11] == cancel[41])

    def _cancel(self, cancel: dict[int, str], session_id) -> None:
        with self._lock:
            self.cancels_in.append(cancel)
        if not self.original(cancel)[55].startswith("STEP"):
            self.accept_cancel(session_id, cancel)

    def accept_cancel(self, session_id, cancel: dict[int, str]) -> None:
        """PendingCancel, then Canceled (the rest of the order will not trade; what was filled stays)."""
        order = self.original(cancel)
        cum_qty, price = self.executed.get(order[11], (0.0, 0.0))
        for status in ("6", "4"):
            self.report(session_id, order, status, status, cum_qty, price, cancel=cancel)

    def reject_cancel(self, session_id, cancel: dict[int, str], text: str) -> None:
        """OrderCancelReject (35=9): the order stays as it was."""
        order = self.original(cancel)
        cum_qty = self.executed.get(order[11], (0.0, 0.0))[0]
        reject = fix.Message()
        reject.getHeader().setField(fix.MsgType(fix.MsgType_OrderCancelReject))
        reject.setField(fix.OrderID("B-" + order[11]))
        reject.setField(fix.ClOrdID(cancel[11]))
        reject.setField(fix.OrigClOrdID(cancel[41]))
        reject.setField(fix.OrdStatus("1" if cum_qty > 0 else "0"))
        reject.setField(fix.CxlRejResponseTo("1"))
        reject.setField(fix.Text(text))
        with self._lock:
            self.sent_reports.append(_fields(reject))
        fix.Session.sendToTarget(reject, session_id)

    def _order(self, order: dict[int, str], session_id) -> None:
        with self._lock:
            self.orders_in.append(order)
        symbol = order[55]
        qty = float(order[38])
        price = float(order.get(44, "42.5"))
        if symbol.startswith("SESSIONREJECT"):
            reject = fix.Message()
            reject.getHeader().setField(fix.MsgType(fix.MsgType_Reject))
            reject.setField(fix.RefSeqNum(int(order[34])))
            reject.setField(fix.RefTagID(55))
            reject.setField(fix.RefMsgType("D"))
            reject.setField(fix.SessionRejectReason(5))
            reject.setField(fix.Text("symbol not traded here"))
            fix.Session.sendToTarget(reject, session_id)
        elif symbol.startswith("REJECT"):
            self.report(session_id, order, "8", "8", 0, 0.0, text="unknown symbol")
        elif symbol.startswith("BADREPORT"):
            self.report(session_id, order, "0", None, 0, 0.0)
        else:
            self.report(session_id, order, "0", "0", 0, 0.0)
            if symbol.startswith("FILL"):
                self.report(session_id, order, "F", "1", qty / 2, price, last=(qty / 2, price))
                self.report(session_id, order, "F", "2", qty, price, last=(qty / 2, price))

    def report(self, session_id, order: dict[int, str], exec_type: str, ord_status: str | None, cum_qty: float,
               avg_px: float, last: tuple[float, float] | None = None, text: str | None = None,
               cancel: dict[int, str] | None = None) -> None:
        """Send an ExecutionReport for ``order`` (OrdStatus left out when ``ord_status`` is None); about a
        ``cancel`` request, it carries the request's ClOrdID and the order's as OrigClOrdID."""
        report = fix.Message()
        report.getHeader().setField(fix.MsgType(fix.MsgType_ExecutionReport))
        report.setField(fix.OrderID("B-" + order[11]))
        report.setField(fix.ExecID(f"E{next(self._ids)}"))
        if cancel is not None:
            report.setField(fix.ClOrdID(cancel[11]))
            report.setField(fix.OrigClOrdID(order[11]))
        else:
            report.setField(fix.ClOrdID(order[11]))
        report.setField(fix.ExecType(exec_type))
        if ord_status is not None:
            report.setField(fix.OrdStatus(ord_status))
        report.setField(fix.Symbol(order[55]))
        report.setField(fix.Side(order[54]))
        report.setField(fix.OrderQty(float(order[38])))
        report.setField(fix.LeavesQty(0.0 if ord_status in ("2", "4", "8") else float(order[38]) - cum_qty))
        report.setField(fix.CumQty(cum_qty))
        report.setField(fix.AvgPx(avg_px))
        if last is not None:
            report.setField(fix.LastQty(last[0]))
            report.setField(fix.LastPx(last[1]))
        if text:
            report.setField(fix.Text(text))
        with self._lock:
            self.sent_reports.append(_fields(report))
            self.executed[order[11]] = (cum_qty, avg_px)
        fix.Session.sendToTarget(report, session_id)

    def admin(self, msg_type: str, sent: bool = False) -> list[Received]:
        """The admin messages of ``msg_type`` received from us (or, with ``sent``, sent to us)."""
        with self._lock:
            return [r for r in (self.admin_out if sent else self.admin_in) if r.msg_type == msg_type]


class Acceptor:
    """QuickFIX's SocketAcceptor for one session (``sender`` is our SenderCompID), on a free port."""

    def __init__(self, tmp_path: Path, sender: str = "C254", target: str = "BROKER", heartbeat: int = 1,
                 port: int | None = None):
        self.port = port or free_port()
        self.sender, self.target = sender, target
        self.broker = Broker()
        config = tmp_path / "acceptor.cfg"
        config.write_text(
            "[DEFAULT]\nConnectionType=acceptor\nSocketAcceptHost=127.0.0.1\n"
            f"SocketAcceptPort={self.port}\nStartTime=00:00:00\nEndTime=00:00:00\nUseDataDictionary=Y\n"
            f"DataDictionary={DATA_DICTIONARY}\nResetOnLogon=N\nResetOnLogout=N\nResetOnDisconnect=N\n"
            f"FileLogPath={tmp_path / 'quickfix-log'}\n\n"
            f"[SESSION]\nBeginString=FIX.4.4\nSenderCompID={target}\nTargetCompID={sender}\n"
            f"HeartBtInt={heartbeat}\n")
        self.session_id = fix.SessionID("FIX.4.4", target, sender)
        settings = fix.SessionSettings(str(config))
        self._acceptor = fix.SocketAcceptor(self.broker, fix.MemoryStoreFactory(), settings,
                                            fix.FileLogFactory(settings))

    def __enter__(self) -> Acceptor:
        # QuickFIX watches its sockets with select(), which cannot see a descriptor numbered 1024 or more, and a
        # test worker late in the suite holds more than a thousand (the embedded store's files): its sockets are
        # given the low numbers held in reserve since the worker started (the kernel hands out the lowest free).
        LOW_DESCRIPTORS.release()
        try:
            self._acceptor.start()
        except BaseException:
            LOW_DESCRIPTORS.hold()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._acceptor.stop(True)
        # Dropped now, not whenever the object goes: QuickFIX keeps a process-wide registry of sessions, and a
        # later acceptor for the same session cannot serve it while this one exists.
        del self._acceptor
        LOW_DESCRIPTORS.hold()

    @property
    def session(self):
        """QuickFIX's Session object (through its process-wide registry)."""
        return fix.Session.lookupSession(self.session_id)

    def next_sender_seq(self) -> int:
        return self.session.getExpectedSenderNum()

    def next_target_seq(self) -> int:
        return self.session.getExpectedTargetNum()

    def wait_logons(self, count: int, timeout: float = 3.0) -> None:
        """Wait until QuickFIX has counted ``count`` logons: its onLogon comes just after its Logon answer, so a
        session that has seen the answer may be a moment ahead of it."""
        wait_for(lambda: self.broker.logons == count and self.session.isLoggedOn(), timeout,
                 f"QuickFIX counting {count} logon(s)")

    def skip(self, count: int) -> int:
        """Make the acceptor's next message leave a gap of ``count`` sequence numbers (as if lost); the first
        number lost."""
        first = self.next_sender_seq()
        self.session.setNextSenderMsgSeqNum(first + count)
        return first

    def send_test_request(self, test_id: str) -> None:
        request = fix.Message()
        request.getHeader().setField(fix.MsgType(fix.MsgType_TestRequest))
        request.setField(fix.TestReqID(test_id))
        fix.Session.sendToTarget(request, self.session_id)

    def send_reset_logon(self) -> None:
        """A Logon with ResetSeqNumFlag in the middle of the session (QuickFIX resets its numbers to send it)."""
        logon = fix.Message()
        logon.getHeader().setField(fix.MsgType(fix.MsgType_Logon))
        logon.setField(fix.EncryptMethod(0))
        logon.setField(fix.HeartBtInt(1))
        logon.setField(fix.ResetSeqNumFlag(True))
        fix.Session.sendToTarget(logon, self.session_id)

    def cancel(self, cancel: dict[int, str]) -> None:
        self.broker.accept_cancel(self.session_id, cancel)

    def refuse_cancel(self, cancel: dict[int, str], text: str) -> None:
        self.broker.reject_cancel(self.session_id, cancel, text)

    def fill(self, order: dict[int, str], cum_qty: float, price: float) -> None:
        """Report a (partial or full) fill of an order received earlier."""
        status = "2" if cum_qty >= float(order[38]) else "1"
        self.broker.report(self.session_id, order, "F", status, cum_qty, price, last=(cum_qty, price))


def wait_for(predicate, timeout: float = 5.0, what: str = "condition"):
    """Poll ``predicate`` until it answers something true; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
