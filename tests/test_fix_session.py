"""Our FIX 4.4 session against a real FIX engine: QuickFIX's acceptor (tests/support/fix_acceptor.py) on
127.0.0.1, validating our messages with its FIX 4.4 data dictionary. Logon, orders and their ExecutionReports,
heartbeats and TestRequests, sequence gaps repaired both ways, Rejects both ways, a restart that keeps the
sequence numbers, reconnecting with backoff. Heartbeats every second keep it quick."""
from __future__ import annotations

import datetime as dt
import itertools
import os
import socket
import threading
import time

import pytest
import simplefix

from engine import orders as book
from engine.fix import messages as m
from engine.fix.session import LOGGED_ON, FixSession, SessionConfig
from engine.fix.store import SequenceStore
from tests.support.fix_acceptor import Acceptor, free_port, wait_for

pytestmark = pytest.mark.slow
_senders = itertools.count(1)


@pytest.fixture(scope="module")
def fix_store(store_dir):
    """One store for the module: each test has its own SenderCompID, so its own sequence numbers."""
    from engine.store import Store, migrate

    store = Store(f"chdb://{store_dir}?database=fix_{os.getpid()}")
    migrate(store)
    book.set_routing_enabled(store, True, "tests")
    yield store
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    store.close()


@pytest.fixture
def sender() -> str:
    return f"C254T{next(_senders)}"


@pytest.fixture
def acceptor(tmp_path, sender):
    """QuickFIX's acceptor for this test's sender. Asked for before ``sessions``, it stops after them: stopped
    while a session is logged on, QuickFIX takes most of a second to log it out."""
    with Acceptor(tmp_path, sender=sender) as started:
        yield started


@pytest.fixture
def sessions(fix_store):
    """``start(port, sender, cls=FixSession, **config)``: a running session, stopped after the test."""
    started: list[FixSession] = []

    def start(port: int, sender: str, cls=FixSession, **config) -> FixSession:
        cfg = SessionConfig("127.0.0.1", port, sender, "BROKER", **{"heartbeat_seconds": 1, "reconnect_min": 0.1,
                                                                      "reconnect_max": 0.4, **config})
        session = cls(cfg, SequenceStore(fix_store, cfg.session_id), book.StoreOrders(fix_store))
        session.start()
        started.append(session)
        return session

    yield start
    for session in started:
        session.stop()


def _order(store, session: FixSession, symbol: str, side: str = "buy", quantity: float = 5.0,
           ord_type: str = "market", price: float | None = None) -> book.Order:
    order = book.submit(store, book.new_order(symbol, side, quantity, ord_type, price, source="test"))
    session.wake()
    return order


def _state(store, order: book.Order, state: str, timeout: float = 5.0) -> book.Order:
    return wait_for(lambda: (o := book.get(store, order.cl_ord_id)) and o.state == state and o, timeout,
                    f"order {order.symbol} {state}")


def test_logon_order_and_execution_reports(acceptor, sessions, fix_store, sender):
    session = sessions(acceptor.port, sender)
    assert session.wait_logged_on(5)
    acceptor.wait_logons(1)

    # A limit buy at a negative price (electricity): each report moves the order on, one state at a time.
    step = _order(fix_store, session, "STEP-NSW1", "buy", 5, "limit", -12.5)
    assert _state(fix_store, step, "new").order_id == f"B-{step.cl_ord_id}"
    received = acceptor.broker.orders_in[-1]
    assert {k: received[k] for k in (35, 11, 55, 54, 38, 40, 44)} == {
        35: "D", 11: step.cl_ord_id, 55: "STEP-NSW1", 54: "1", 38: "5", 40: "2", 44: "-12.5"}
    assert m.parse_utc_timestamp(received[60])  # TransactTime
    acceptor.fill(received, 2, -12.5)
    partly = _state(fix_store, step, "partially filled")
    assert (partly.filled_qty, partly.avg_price) == (2, -12.5)
    acceptor.fill(received, 5, -11.0)
    filled = _state(fix_store, step, "filled")
    assert (filled.filled_qty, filled.avg_price) == (5, -11.0)

    # A market sell filled in two reports, and an order the broker rejects in its ExecutionReport.
    market = _order(fix_store, session, "FILL-VIC1", "sell", 3)
    assert _state(fix_store, market, "filled").filled_qty == 3
    assert acceptor.broker.orders_in[-1][54] == "2" and 44 not in acceptor.broker.orders_in[-1]
    refused = _order(fix_store, session, "REJECT-QLD1")
    assert _state(fix_store, refused, "rejected").text == "unknown symbol"

    # QuickFIX validated every message against FIX 4.4 and rejected none.
    assert acceptor.broker.admin("3", sent=True) == [] and acceptor.broker.errors == []
    assert session.status().state == LOGGED_ON


def test_heartbeats_and_test_requests_both_ways(acceptor, sessions, fix_store, sender):
    session = sessions(acceptor.port, sender)
    assert session.wait_logged_on(5)
    # QuickFIX numbers but does not send what it is asked to send before it counts itself logged on (and
    # gap-fills it later, being admin): wait for that.
    wait_for(acceptor.session.isLoggedOn, 3, "QuickFIX logged on")
    acceptor.send_test_request("PING-1")
    answer = wait_for(lambda: [h for h in acceptor.broker.admin("0") if h.fields.get(112) == "PING-1"],
                      3, "our Heartbeat answering PING-1")
    assert len(answer) == 1
    assert session.send_test_request(timeout=3) < 1.0  # QuickFIX answered our TestRequest
    time.sleep(1.3)  # quiet: we heartbeat each second without being asked
    assert len([h for h in acceptor.broker.admin("0") if 112 not in h.fields]) >= 1
    assert session.logged_on and acceptor.session.isLoggedOn()


def test_gap_in_their_messages_is_resent(acceptor, sessions, fix_store, sender):
    session = sessions(acceptor.port, sender)
    assert session.wait_logged_on(5)
    order = _order(fix_store, session, "STEP-SA1")
    _state(fix_store, order, "new")
    first_lost = acceptor.skip(3)  # three of the broker's messages are lost; the fill comes after them
    acceptor.fill(acceptor.broker.orders_in[-1], 5, 80.0)
    assert _state(fix_store, order, "filled").avg_price == 80.0
    resend = acceptor.broker.admin("2")
    assert [(r.fields[7], r.fields[16]) for r in resend] == [(str(first_lost), "0")]
    gap_fills = [r for r in acceptor.broker.admin("4", sent=True) if r.fields.get(123) == "Y"]
    assert gap_fills and gap_fills[0].fields[34] == str(first_lost)
    wait_for(lambda: session.status().next_target_seq == acceptor.next_sender_seq(), 3, "sequences agreeing")
    assert acceptor.broker.admin("3", sent=True) == []


class LosingSession(FixSession):
    """Loses the first NewOrderSingle it writes: as if the bytes never arrived."""

    lost: list[bytes]

    def _write(self, raw: bytes) -> None:
        if b"\x0135=D\x01" in raw and not hasattr(self, "lost"):
            self.lost = [raw]
            return
        super()._write(raw)


def test_gap_in_our_messages_is_resent(acceptor, sessions, fix_store, sender):
    session = sessions(acceptor.port, sender, cls=LosingSession)
    assert session.wait_logged_on(5)
    order = _order(fix_store, session, "FILL-TAS1", quantity=4)
    # The next Heartbeat shows QuickFIX the gap; it asks for a resend and we send the order again.
    assert _state(fix_store, order, "filled", timeout=6).filled_qty == 4
    lost_seq = int(m.parse_one(session.lost[0]).seq)
    asked = acceptor.broker.admin("2", sent=True)
    assert asked and asked[0].fields[7] == str(lost_seq)
    [resent] = acceptor.broker.orders_in
    assert (resent[11], resent[34], resent[43]) == (order.cl_ord_id, str(lost_seq), "Y")
    assert resent[122] < resent[52]  # OrigSendingTime: when it was first sent
    wait_for(lambda: acceptor.next_target_seq() == session.status().next_sender_seq, 3, "sequences agreeing")


def test_malformed_report_is_answered_with_a_reject(acceptor, sessions, fix_store, sender):
    session = sessions(acceptor.port, sender)
    assert session.wait_logged_on(5)
    bad = _order(fix_store, session, "BADREPORT-NSW1")
    reject = wait_for(lambda: acceptor.broker.admin("3"), 3, "our Reject")[0].fields
    [report] = [r for r in acceptor.broker.app_out if r[11] == bad.cl_ord_id]
    assert 39 not in report
    assert reject[371] == "39" and reject[372] == "8" and reject[373] == "1"  # required tag missing: OrdStatus
    assert reject[45] == report[34]
    assert book.get(fix_store, bad.cl_ord_id).state == "sent"  # the report was not believed
    # The session goes on: the rejected message used its number, and the next order is served.
    after = _order(fix_store, session, "FILL-NSW1")
    assert _state(fix_store, after, "filled").filled_qty == 5
    assert session.status().next_target_seq == acceptor.next_sender_seq()


def test_their_session_reject_rejects_the_order(acceptor, sessions, fix_store, sender):
    session = sessions(acceptor.port, sender)
    assert session.wait_logged_on(5)
    order = _order(fix_store, session, "SESSIONREJECT-VIC1")
    rejected = _state(fix_store, order, "rejected")
    assert rejected.text == "session reject: symbol not traded here (reason 5, tag 55)"
    assert session.logged_on


def test_restart_keeps_sequence_numbers(acceptor, sessions, fix_store, sender):
    first = sessions(acceptor.port, sender)
    assert first.wait_logged_on(5)
    _state(fix_store, _order(fix_store, first, "FILL-QLD1"), "filled")
    first.stop()
    assert acceptor.broker.admin("5")  # we logged out
    out_next, in_next = SequenceStore(fix_store, first.config.session_id).load()
    assert out_next > 3 and (out_next, in_next) == (acceptor.next_target_seq(), acceptor.next_sender_seq())

    second = sessions(acceptor.port, sender)
    assert second.wait_logged_on(5)
    logons = acceptor.broker.admin("A")
    assert len(logons) == 2 and logons[1].fields[34] == str(out_next)  # no reset: the next number
    acceptor.wait_logons(2)
    order = _order(fix_store, second, "FILL-QLD1")
    assert _state(fix_store, order, "filled").filled_qty == 5
    # Neither side saw a gap or a number too low.
    assert acceptor.broker.admin("2") == [] and acceptor.broker.admin("2", sent=True) == []
    assert all("too low" not in r.fields.get(58, "") for r in acceptor.broker.admin("5", sent=True))


def test_reconnects_with_backoff_until_the_counterparty_is_up(fix_store, sessions, sender, tmp_path):
    port = free_port()
    session = sessions(port, sender)
    wait_for(lambda: session.status().last_error, 3, "a refused connection")
    assert not session.logged_on
    with Acceptor(tmp_path, sender=sender, port=port) as acceptor:
        assert session.wait_logged_on(5)
        acceptor.wait_logons(1)
        session.stop()


def test_silent_counterparty_gets_a_test_request_then_the_connection_is_dropped(fix_store, sessions, sender,
                                                                                caplog):
    """A counterparty that logs on and then says nothing: a TestRequest after 1.2 heartbeats, and when that is
    not answered either the connection is dropped and made again. (QuickFIX never falls silent, so a bare
    socket plays the part.)"""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    seen: list[list[str]] = []
    sent = itertools.count(1)

    def serve() -> None:
        for _ in range(2):  # the first connection and the one made again after it was dropped
            conn, _ = server.accept()
            conn.settimeout(5)
            parser, types = simplefix.FixParser(), []
            seen.append(types)
            with conn:
                while True:
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        break
                    if not data:
                        break
                    parser.append_buffer(data)
                    while (msg := parser.get_message()) is not None:
                        types.append(msg.get(35).decode())
                        if types[-1] == "A":
                            conn.sendall(m.encode("A", "BROKER", sender, next(sent), m.logon(1),
                                                  sending_time=dt.datetime.now(dt.UTC)))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    session = sessions(server.getsockname()[1], sender, logout_timeout=0.2)  # it will not answer our Logout either
    assert session.wait_logged_on(3)
    wait_for(lambda: len(seen) == 2 and seen[1], 6, "the connection made again, and a Logon on it")
    assert seen[0][0] == "A" and "1" in seen[0]  # a TestRequest went out before the connection was dropped
    assert seen[1][0] == "A"
    assert "no Heartbeat answered TestRequest C254-TEST-1 within 1 s" in caplog.text
    session.stop()
    server.close()
    thread.join(5)


def test_cancel_refused_then_accepted_and_a_partly_filled_cancel(acceptor, sessions, fix_store, sender):
    session = sessions(acceptor.port, sender)
    assert session.wait_logged_on(5)
    order = _order(fix_store, session, "STEP-NSW1", "sell", 6)
    _state(fix_store, order, "new")
    book.request_cancel(fix_store, order.cl_ord_id)
    session.wake()
    [cancel] = wait_for(lambda: acceptor.broker.cancels_in, 3, "our OrderCancelRequest")
    assert {k: cancel[k] for k in (35, 41, 37, 55, 54, 38)} == {
        35: "F", 41: order.cl_ord_id, 37: f"B-{order.cl_ord_id}", 55: "STEP-NSW1", 54: "2", 38: "6"}
    assert cancel[11] != order.cl_ord_id and m.parse_utc_timestamp(cancel[60])
    assert _state(fix_store, order, "pending cancel").filled_qty == 0

    # Refused: the order stays as it was, the reason recorded; asked again, it is cancelled.
    acceptor.refuse_cancel(cancel, "too late to cancel")
    assert _state(fix_store, order, "new").text == "cancel rejected: too late to cancel"
    book.request_cancel(fix_store, order.cl_ord_id)
    session.wake()
    again = wait_for(lambda: acceptor.broker.cancels_in[1:], 3, "the second OrderCancelRequest")[0]
    assert again[11] != cancel[11]
    acceptor.cancel(again)
    assert _state(fix_store, order, "cancelled").filled_qty == 0

    # Partly filled, then cancelled: what was filled stays filled.
    partly = _order(fix_store, session, "STEP-VIC1", "buy", 4)
    _state(fix_store, partly, "new")
    received = acceptor.broker.orders_in[-1]
    acceptor.fill(received, 1.5, 60.0)
    _state(fix_store, partly, "partially filled")
    book.request_cancel(fix_store, partly.cl_ord_id)
    session.wake()
    cancel = wait_for(lambda: [c for c in acceptor.broker.cancels_in if c[41] == partly.cl_ord_id], 3,
                      "the cancel of the partly filled order")[0]
    acceptor.cancel(cancel)  # its report carries what was filled
    done = _state(fix_store, partly, "cancelled")
    assert (done.filled_qty, done.avg_price) == (1.5, 60.0)
    with pytest.raises(book.OrderError, match="cannot be cancelled: it is cancelled"):
        book.request_cancel(fix_store, partly.cl_ord_id)
    # QuickFIX checked every request against FIX 4.4 and rejected none.
    assert acceptor.broker.admin("3", sent=True) == [] and acceptor.broker.errors == []


def _sequences_agree(acceptor, session) -> None:
    wait_for(lambda: (session.status().next_sender_seq, session.status().next_target_seq) == (
        acceptor.next_target_seq(), acceptor.next_sender_seq()), 3, "sequences agreeing")


def test_reset_asked_for_at_logon(acceptor, sessions, fix_store, sender):
    first = sessions(acceptor.port, sender)
    assert first.wait_logged_on(5)
    _state(fix_store, _order(fix_store, first, "FILL-SA1"), "filled")
    first.stop()
    sequences = SequenceStore(fix_store, first.config.session_id)
    assert sequences.load()[0] > 3 and sequences.sent_between(1, 100)

    second = sessions(acceptor.port, sender, reset_on_logon=True)
    assert second.wait_logged_on(5)
    logon = acceptor.broker.admin("A")[-1].fields
    assert (logon[34], logon[141]) == ("1", "Y")
    answer = acceptor.broker.admin("A", sent=True)[-1].fields
    assert (answer[34], answer[141]) == ("1", "Y")
    # Persisted (just after the Logon is acted on), and the orders sent under the old numbers forgotten.
    wait_for(lambda: sequences.load() == (2, 2), 3, "the reset numbers saved")
    assert sequences.sent_between(1, 100) == {}
    acceptor.wait_logons(2)
    _sequences_agree(acceptor, second)
    order = _order(fix_store, second, "FILL-SA1")
    assert _state(fix_store, order, "filled").filled_qty == 5
    assert list(sequences.sent_between(1, 100)) == [2]
    assert acceptor.broker.admin("3", sent=True) == [] and acceptor.broker.admin("3") == []


def test_their_reset_on_the_logon_answer_is_honoured(acceptor, sessions, fix_store, sender, caplog):
    first = sessions(acceptor.port, sender)
    assert first.wait_logged_on(5)
    _state(fix_store, _order(fix_store, first, "FILL-QLD1"), "filled")
    first.stop()
    assert SequenceStore(fix_store, first.config.session_id).load()[0] > 3

    acceptor.broker.reset_next_logon = True  # its answer to our Logon starts again at 1, unasked
    second = sessions(acceptor.port, sender)
    assert second.wait_logged_on(5)
    # (QuickFIX numbers its Logon 1 after its toAdmin saw it, so the number is read from our side.)
    assert acceptor.broker.admin("A", sent=True)[1].fields[141] == "Y"
    assert "reset the sequence numbers (their Logon, MsgSeqNum 1)" in caplog.text
    ours = wait_for(lambda: [a for a in acceptor.broker.admin("A") if a.fields.get(141) == "Y"], 3,
                    "our Logon confirming the reset")[0].fields
    assert ours[34] == "1"
    _sequences_agree(acceptor, second)
    order = _order(fix_store, second, "FILL-QLD1")
    assert _state(fix_store, order, "filled").filled_qty == 5
    _sequences_agree(acceptor, second)
    assert SequenceStore(fix_store, second.config.session_id).load() == (
        second.status().next_sender_seq, second.status().next_target_seq)
    assert second.logged_on and all("too low" not in r.fields.get(58, "") for r in acceptor.broker.admin("5"))
    # One confirmation: QuickFIX's answer to it was taken as its echo, not as a new reset.
    assert len([a for a in acceptor.broker.admin("A") if a.fields.get(141) == "Y"]) == 1


def test_their_reset_in_the_middle_of_the_session_is_honoured(acceptor, sessions, fix_store, sender):
    session = sessions(acceptor.port, sender)
    assert session.wait_logged_on(5)
    acceptor.wait_logons(1)
    _state(fix_store, _order(fix_store, session, "FILL-TAS1"), "filled")
    assert session.status().next_target_seq > 3
    acceptor.send_reset_logon()
    wait_for(lambda: [a for a in acceptor.broker.admin("A") if a.fields.get(141) == "Y"], 3,
             "our Logon confirming the reset")
    _sequences_agree(acceptor, session)
    # numbered from 1 again: our confirming Logon, and on a loaded machine a heartbeat or TestRequest or two
    assert session.status().next_sender_seq < 6
    order = _order(fix_store, session, "FILL-TAS1")
    assert _state(fix_store, order, "filled").filled_qty == 5
    _sequences_agree(acceptor, session)
    assert session.logged_on and acceptor.broker.admin("5") == [] and acceptor.broker.admin("5", sent=True) == []
    assert len([a for a in acceptor.broker.admin("A") if a.fields.get(141) == "Y"]) == 1
