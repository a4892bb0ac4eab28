"""Our FIX 4.4 initiator session over TCP, in one background thread.

The thread owns the socket: it logs on, keeps the session alive (Heartbeat when quiet, TestRequest when the
counterparty is, disconnect when a TestRequest goes unanswered), sends the order book's pending orders as
NewOrderSingle, and turns what comes back into order changes. Other threads only ask (``wake``, ``stop``,
``send_test_request``) and never touch the socket, so a web request never waits on the network.

Sequence numbers (``engine.fix.store``) are saved before a message leaves and after one is processed, so a
restart logs on with the next number each way. Gaps are repaired both ways: a message from the future is held
back and a ResendRequest sent, the held messages processed once the gap is filled; a ResendRequest of theirs
is answered with our stored orders again (PossDupFlag=Y, OrigSendingTime) and SequenceReset-GapFill over
everything else. A malformed message is answered with a session-level Reject; their Reject of one of our
orders rejects that order. A lost connection is retried with exponential backoff.

Cancels go out as OrderCancelRequest for the orders the book asks to cancel; an OrderCancelReject (or a Reject
of the request) hands the order back to the book as it was.

ResetSeqNumFlag (141=Y): with ``reset_on_logon`` our Logon asks for both numbers to start again at 1 (a daily
session start), and the counterparty's Logon carrying the flag confirms it. A counterparty's own reset — on its
Logon answer, or on a Logon in the middle of the session — is honoured: both numbers go back to 1, persisted,
and our Logon with the flag confirms it, as QuickFIX's initiator does."""
from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import queue
import selectors
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from engine.fix import messages as m
from engine.fix.messages import Malformed, Message
from engine.fix.store import SentMessage, SequenceStore

log = logging.getLogger(__name__)

DISCONNECTED, CONNECTING, LOGON_SENT, LOGGED_ON, LOGOUT_SENT, STOPPED = (
    "disconnected", "connecting", "logon sent", "logged on", "logout sent", "stopped")
#: Header and trailer tags, rebuilt when a stored message is sent again.
_ENVELOPE = frozenset({m.BEGIN_STRING_TAG, m.BODY_LENGTH, m.MSG_TYPE, m.SENDER_COMP_ID, m.TARGET_COMP_ID,
                       m.MSG_SEQ_NUM, m.POSS_DUP_FLAG, m.SENDING_TIME, m.ORIG_SENDING_TIME, m.CHECKSUM})


@dataclass(frozen=True)
class SessionConfig:
    host: str
    port: int
    sender_comp_id: str
    target_comp_id: str
    heartbeat_seconds: int = 30
    connect_timeout: float = 5.0
    logon_timeout: float = 10.0
    logout_timeout: float = 2.0
    reconnect_min: float = 1.0
    reconnect_max: float = 30.0
    #: How often the order book is asked for orders to send (``wake`` asks at once).
    outbox_poll: float = 2.0
    #: The longest the thread waits on the socket before looking at its timers and requests.
    tick: float = 0.05
    #: Ask at each logon for both sequence numbers to start again at 1 (ResetSeqNumFlag, e.g. a daily session).
    reset_on_logon: bool = False

    def __post_init__(self) -> None:
        for name in ("host", "sender_comp_id", "target_comp_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or "\x01" in value:
                raise ValueError(f"FIX session setting {name} must be non-empty text, got {value!r}")
        if not (isinstance(self.port, int) and 0 < self.port < 65536):
            raise ValueError(f"FIX session port must be 1..65535, got {self.port!r}")
        if not (isinstance(self.heartbeat_seconds, int) and self.heartbeat_seconds > 0):
            raise ValueError(f"FIX heartbeat interval must be a whole number of seconds above 0, got "
                             f"{self.heartbeat_seconds!r}")

    @property
    def session_id(self) -> str:
        return f"{m.BEGIN_STRING}:{self.sender_comp_id}->{self.target_comp_id}"


class OrderBook(Protocol):
    """What the session needs of the orders (``engine.orders.StoreOrders``)."""

    def pending(self) -> list: ...
    def sent(self, order) -> None: ...
    def execution_report(self, report: m.ExecutionReport) -> object: ...
    def rejected(self, cl_ord_id: str, text: str) -> object: ...
    def cancels(self) -> list: ...
    def cancel_sent(self, order) -> None: ...
    def cancel_rejected(self, cl_ord_id: str, text: str) -> object: ...


@dataclass(frozen=True)
class SessionStatus:
    session_id: str
    state: str
    next_sender_seq: int
    next_target_seq: int
    last_error: str


class SessionError(Exception):
    """Something that ends the connection (the session reconnects unless it is stopping)."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class FixSession:
    def __init__(self, config: SessionConfig, sequences: SequenceStore, book: OrderBook,
                 clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.sequences = sequences
        self.book = book
        self.clock = clock
        self.state = DISCONNECTED
        self.last_error = ""
        self.next_sender, self.next_target = 0, 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._logged_on = threading.Event()
        self._requests: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._awaited: dict[str, threading.Event] = {}
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._reset_connection_state()

    # ------------------------------------------------------------------------------ asked by other threads

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("this FIX session was started already")
        self._thread = threading.Thread(target=self._run, name=f"fix {self.config.session_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Log out (waiting up to the logout timeout for the answer), close, and end the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.config.logout_timeout + 2 * self.config.tick
                              + self.config.connect_timeout)

    def wake(self) -> None:
        """Look for orders to send now rather than at the next poll."""
        self._wake.set()

    def wait_logged_on(self, timeout: float) -> bool:
        return self._logged_on.wait(timeout)

    @property
    def logged_on(self) -> bool:
        return self._logged_on.is_set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> SessionStatus:
        return SessionStatus(self.config.session_id, self.state, self.next_sender, self.next_target, self.last_error)

    def send_test_request(self, timeout: float) -> float:
        """Send a TestRequest and wait for the Heartbeat answering it; the round trip in seconds. TimeoutError
        when no answer came (or the session is not logged on)."""
        test_id = f"C254-TEST-{next(self._ids)}"
        answered = self._awaited[test_id] = threading.Event()
        started = self.clock()
        self._requests.put(lambda: self._send(m.TEST_REQUEST, [(m.TEST_REQ_ID, test_id)]))
        try:
            if not answered.wait(timeout):
                raise TimeoutError(f"no Heartbeat answered TestRequest {test_id} within {timeout} s")
        finally:
            self._awaited.pop(test_id, None)
        return self.clock() - started

    # --------------------------------------------------------------------------------------- the thread

    def _run(self) -> None:
        delay = self.config.reconnect_min
        while not self._stop.is_set():
            try:
                self._serve_connection()
            except (OSError, SessionError) as exc:
                self.last_error = str(exc) or type(exc).__name__
                log.warning("FIX session %s: %s", self.config.session_id, self.last_error)
            except Exception as exc:  # the store failed, or a bug: keep the thread, drop the connection
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("FIX session %s failed", self.config.session_id)
            finally:
                self._close()
            if self._stop.is_set():
                break
            if self._was_logged_on:
                delay = self.config.reconnect_min
            log.info("FIX session %s: reconnecting in %.1f s", self.config.session_id, delay)
            self._stop.wait(delay)
            delay = min(delay * 2, self.config.reconnect_max)
        self.state = STOPPED

    def _reset_connection_state(self) -> None:
        self._framer = m.Framer()
        self._held: dict[int, Message] = {}
        self._resend_until: int | None = None
        self._resend_sent_at = 0.0
        self._test_request: tuple[str, float] | None = None
        self._logout_deadline = 0.0
        self._done = False
        self._was_logged_on = False
        #: Our Logon with ResetSeqNumFlag is out: their Logon with the flag is its confirmation.
        self._reset_requested = False
        #: Until when (clock) a Logon with the flag echoes our confirmation of their reset rather than asking for
        #: a new one (QuickFIX answers the confirmation with a Logon of its own).
        self._reset_echo_until = 0.0
        now = self.clock()
        self._last_sent = self._last_received = now
        self._next_poll = now

    def _serve_connection(self) -> None:
        cfg = self.config
        self.state = CONNECTING
        self._reset_connection_state()
        self.next_sender, self.next_target = self.sequences.load()
        self._sock = socket.create_connection((cfg.host, cfg.port), timeout=cfg.connect_timeout)
        if cfg.reset_on_logon:
            self._reset_sequences()
            self._reset_requested = True
        self._send(m.LOGON, m.logon(cfg.heartbeat_seconds, reset=cfg.reset_on_logon))
        self.state = LOGON_SENT
        logon_deadline = self.clock() + cfg.logon_timeout
        while not self._done:
            now = self.clock()
            self._answer_requests()
            if self._stop.is_set():
                if self.state == LOGGED_ON:
                    self._send(m.LOGOUT, [(m.TEXT, "logging out")])
                    self.state = LOGOUT_SENT
                    self._logout_deadline = now + cfg.logout_timeout
                elif self.state != LOGOUT_SENT:
                    return
            if self.state == LOGON_SENT and now > logon_deadline:
                raise SessionError(f"no Logon answer within {cfg.logon_timeout:g} s")
            if self.state == LOGOUT_SENT and now > self._logout_deadline:
                return
            if self.state == LOGGED_ON:
                self._keep_alive(now)
                self._send_orders(now)
            # poll/epoll, not select(): select() refuses a descriptor numbered above 1023, which a busy process
            # (the store, the web server's sockets) reaches
            with selectors.DefaultSelector() as selector:
                selector.register(self._sock, selectors.EVENT_READ)
                ready = selector.select(cfg.tick)
            if not ready:
                continue
            data = self._sock.recv(65536)
            if not data:
                if self.state == LOGOUT_SENT:
                    return
                raise SessionError("the counterparty closed the connection")
            for message in self._framer.feed(data):
                self._receive(message)
                if self._done:
                    break

    def _close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
        self._logged_on.clear()
        if self.state != STOPPED:
            self.state = DISCONNECTED

    def _answer_requests(self) -> None:
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return
            if self.state == LOGGED_ON:
                request()

    # ---------------------------------------------------------------------------------------- sending

    def _send(self, msg_type: str, fields: m.Fields, cl_ord_id: str = "") -> int:
        """Send with the next sequence number, saved (and an application message stored) before it leaves."""
        seq = self.next_sender
        raw = m.encode(msg_type, self.config.sender_comp_id, self.config.target_comp_id, seq, fields,
                       sending_time=_utcnow())
        if msg_type not in m.ADMIN_TYPES:
            self.sequences.record_sent(seq, msg_type, cl_ord_id, raw)
        self.next_sender = seq + 1
        self.sequences.save(self.next_sender, self.next_target)
        self._write(raw)
        return seq

    def _write(self, raw: bytes) -> None:
        """Put bytes on the wire (the one place that does: a test may override it to lose a message)."""
        if self._sock is None:
            raise SessionError("not connected")
        self._sock.sendall(raw)
        self._last_sent = self.clock()

    def _send_again(self, seq: int, msg_type: str, fields: m.Fields, orig_sending_time: str) -> None:
        """Send with an old sequence number, as a possible duplicate (the number is not used up again)."""
        self._write(m.encode(msg_type, self.config.sender_comp_id, self.config.target_comp_id, seq, fields,
                             sending_time=_utcnow(), orig_sending_time=orig_sending_time))

    def _keep_alive(self, now: float) -> None:
        hb = self.config.heartbeat_seconds
        if now - self._last_sent >= hb:
            self._send(m.HEARTBEAT, [])
        if self._test_request is None and now - self._last_received >= hb * 1.2:
            test_id = f"C254-TEST-{next(self._ids)}"
            self._send(m.TEST_REQUEST, [(m.TEST_REQ_ID, test_id)])
            self._test_request = (test_id, now)
        elif self._test_request is not None and now - self._test_request[1] >= hb:
            raise SessionError(f"no Heartbeat answered TestRequest {self._test_request[0]} within {hb} s")
        if self._resend_until is not None and now - self._resend_sent_at >= 2 * hb:
            self._request_resend(self._resend_until, again=True)

    def _send_orders(self, now: float) -> None:
        if not (self._wake.is_set() or now >= self._next_poll):
            return
        self._wake.clear()
        self._next_poll = now + self.config.outbox_poll
        for order in self.book.pending():
            fields = m.new_order_single(order.cl_ord_id, order.symbol, order.side, order.quantity, order.ord_type,
                                        order.price, transact_time=_utcnow())
            # Marked sent first: a crash between the two leaves an order shown as sent, never one sent twice.
            self.book.sent(order)
            self._send(m.NEW_ORDER_SINGLE, fields, cl_ord_id=order.cl_ord_id)
        for order in self.book.cancels():
            fields = m.order_cancel_request(order.cl_ord_id, f"C254X-{uuid.uuid4().hex[:16]}", order.symbol,
                                            order.side, order.quantity, transact_time=_utcnow(),
                                            order_id=order.order_id)
            self.book.cancel_sent(order)
            # Stored under the order's ClOrdID: a Reject of the request names it by sequence number only.
            self._send(m.ORDER_CANCEL_REQUEST, fields, cl_ord_id=order.cl_ord_id)

    def _fatal(self, text: str) -> None:
        """Log out saying why, and end the connection."""
        with contextlib.suppress(OSError):  # the connection is going anyway
            self._send(m.LOGOUT, [(m.TEXT, text[:200])])
        raise SessionError(text)

    # -------------------------------------------------------------------------------------- receiving

    def _receive(self, message: Message) -> None:
        self._last_received = self.clock()
        self._test_request = None  # anything from them shows the connection is alive
        msg_type, seq = message.msg_type, message.seq
        if message.pairs[0][1] != m.BEGIN_STRING:
            self._fatal(f"BeginString {message.pairs[0][1]!r} is not {m.BEGIN_STRING}")
        if seq is None:
            self._fatal("MsgSeqNum (34) missing or not a number")
        for tag, expected in ((m.SENDER_COMP_ID, self.config.target_comp_id),
                              (m.TARGET_COMP_ID, self.config.sender_comp_id)):
            if message.text(tag, required=False) != expected:
                self._send(m.REJECT, m.reject(seq, msg_type, Malformed(m.COMP_ID_PROBLEM, tag, "CompID problem")))
                self._fatal(f"CompID problem: tag {tag} is {message.text(tag, required=False)!r}, not {expected!r}")
        if self.state == LOGON_SENT and msg_type != m.LOGON:
            if msg_type == m.LOGOUT:
                raise SessionError(f"logon refused: {message.text(m.TEXT, required=False) or 'no reason given'}")
            self._fatal(f"the first message was not a Logon but type {msg_type}")
        if msg_type == m.LOGON and message.text(m.RESET_SEQ_NUM_FLAG, required=False) == "Y":
            self._their_reset(message)
            return
        if msg_type == m.SEQUENCE_RESET and message.text(m.GAP_FILL_FLAG, required=False) != "Y":
            self._sequence_reset(message)
            return
        if seq < self.next_target:
            if message.poss_dup:
                return  # seen already
            self._fatal(f"MsgSeqNum too low, expecting {self.next_target} but received {seq}")
        if seq > self.next_target:
            log.info("FIX session %s: gap, expected %d, received %d", self.config.session_id, self.next_target, seq)
            if msg_type in (m.LOGON, m.RESEND_REQUEST, m.LOGOUT):
                self._process(message)  # answered now; the gap they leave is filled by the counterparty
            else:
                self._held[seq] = message
            self._request_resend(seq)
            return
        self._in_order(message)
        while not self._done:
            # A GapFill may jump over a message we hold (QuickFIX gap-fills over the message it sent right after
            # a gap of its own instead of resending it): it did arrive whole, so it is acted on, not lost.
            for passed in sorted(s for s in self._held if s < self.next_target):
                self._process(self._held.pop(passed))
            if self.next_target not in self._held:
                break
            self._in_order(self._held.pop(self.next_target))
        if self._resend_until is not None and self.next_target > self._resend_until:
            self._resend_until = None

    def _in_order(self, message: Message) -> None:
        """Process the message we expected and count it (also when it is rejected)."""
        next_target = message.seq + 1
        new_seq = self._process(message)
        if new_seq is not None:
            next_target = new_seq
        self.next_target = max(self.next_target, next_target)
        self.sequences.save(self.next_sender, self.next_target)

    def _process(self, message: Message) -> int | None:
        """Act on one message; a SequenceReset-GapFill answers the next number expected. Malformed → Reject."""
        try:
            message.check_values()
            message.timestamp(m.SENDING_TIME)
            if message.poss_dup:
                message.timestamp(m.ORIG_SENDING_TIME)
            return self._dispatch(message)
        except Malformed as problem:
            log.warning("FIX session %s: rejecting message %s: %s", self.config.session_id, message.seq,
                        problem.text)
            self._send(m.REJECT, m.reject(message.seq, message.msg_type, problem))
            return None

    def _dispatch(self, message: Message) -> int | None:
        msg_type = message.msg_type
        if msg_type == m.HEARTBEAT:
            test_id = message.text(m.TEST_REQ_ID, required=False)  # our own TestRequest's was cleared on arrival
            if test_id in self._awaited:
                self._awaited[test_id].set()
        elif msg_type == m.TEST_REQUEST:
            self._send(m.HEARTBEAT, [(m.TEST_REQ_ID, message.text(m.TEST_REQ_ID))])
        elif msg_type == m.RESEND_REQUEST:
            self._resend(message.integer(m.BEGIN_SEQ_NO), message.integer(m.END_SEQ_NO))
        elif msg_type == m.SEQUENCE_RESET:  # GapFill: the reset kind never gets here
            new_seq = message.integer(m.NEW_SEQ_NO)
            if new_seq <= message.seq:
                raise Malformed(m.VALUE_OUT_OF_RANGE, m.NEW_SEQ_NO,
                                f"NewSeqNo {new_seq} is not above the GapFill's own MsgSeqNum {message.seq}")
            return new_seq
        elif msg_type == m.REJECT:
            self._their_reject(message)
        elif msg_type == m.LOGON:
            self._logon(message)
        elif msg_type == m.LOGOUT:
            text = message.text(m.TEXT, required=False)
            if self.state != LOGOUT_SENT:
                self.last_error = f"the counterparty logged out: {text or 'no reason given'}"
                log.warning("FIX session %s: %s", self.config.session_id, self.last_error)
                self._send(m.LOGOUT, [])
            self._done = True
        elif msg_type == m.EXECUTION_REPORT:
            self.book.execution_report(m.execution_report(message))
        elif msg_type == m.BUSINESS_MESSAGE_REJECT:
            self._their_business_reject(message)
        elif msg_type == m.ORDER_CANCEL_REJECT:
            refused = m.cancel_reject(message)
            log.warning("FIX session %s: cancel of %s rejected: %s", self.config.session_id, refused.orig_cl_ord_id,
                        refused.text)
            self.book.cancel_rejected(refused.orig_cl_ord_id,
                                      f"cancel rejected: {refused.text or 'no reason given'}")
        else:
            self._send(m.BUSINESS_MESSAGE_REJECT, [(m.REF_SEQ_NUM, message.seq), (m.REF_MSG_TYPE, msg_type or "?"),
                                                   (m.BUSINESS_REJECT_REASON, m.UNSUPPORTED_MESSAGE_TYPE),
                                                   (m.TEXT, f"message type {msg_type} is not handled here")])
        return None

    def _logon(self, message: Message) -> None:
        if self.state != LOGON_SENT:
            if message.text(m.RESET_SEQ_NUM_FLAG, required=False) == "Y":
                return  # a reset in the middle of the session: the numbers were reset on arrival
            self._fatal("a Logon arrived while logged on")
        interval = message.integer(m.HEART_BT_INT)
        if interval != self.config.heartbeat_seconds:
            log.warning("FIX session %s: counterparty answered HeartBtInt %s, keeping ours (%d)",
                        self.config.session_id, interval, self.config.heartbeat_seconds)
        self.state = LOGGED_ON
        self._was_logged_on = True
        self.last_error = ""
        self._wake.set()  # orders that waited for the session go now
        self._logged_on.set()
        log.info("FIX session %s logged on (next seq out %d, in %d)", self.config.session_id, self.next_sender,
                 self.next_target)

    def _reset_sequences(self) -> None:
        """Both numbers back to 1, saved, and what was sent under the old numbers forgotten."""
        self.sequences.reset()
        self.next_sender, self.next_target = 1, 1
        self._held.clear()
        self._resend_until = None

    def _their_reset(self, message: Message) -> None:
        """A Logon with ResetSeqNumFlag: the confirmation of ours, or their own reset, which we honour and
        confirm with our Logon carrying the flag (numbered 1)."""
        confirming = self._reset_requested or self.clock() < self._reset_echo_until
        self._reset_requested, self._reset_echo_until = False, 0.0
        if not confirming:
            log.warning("FIX session %s: the counterparty reset the sequence numbers (their Logon, MsgSeqNum %s)",
                        self.config.session_id, message.seq)
            self._reset_sequences()
        else:
            self._held.clear()
            self._resend_until = None
        self.next_target = message.seq  # the flag's Logon starts their new numbering (at 1)
        self._in_order(message)
        if not confirming and not self._done:
            self._send(m.LOGON, m.logon(self.config.heartbeat_seconds, reset=True))
            self._reset_echo_until = self.clock() + self.config.logon_timeout

    def _sequence_reset(self, message: Message) -> None:
        """SequenceReset-Reset: the next number expected is NewSeqNo, whatever this message's own number."""
        try:
            message.check_values()
            new_seq = message.integer(m.NEW_SEQ_NO)
            if new_seq < self.next_target:
                raise Malformed(m.VALUE_OUT_OF_RANGE, m.NEW_SEQ_NO,
                                f"NewSeqNo {new_seq} is below the next expected {self.next_target}")
        except Malformed as problem:
            self._send(m.REJECT, m.reject(message.seq or 0, message.msg_type, problem))
            return
        log.warning("FIX session %s: sequence reset to %d by the counterparty", self.config.session_id, new_seq)
        self.next_target = new_seq
        self._held = {s: held for s, held in self._held.items() if s >= new_seq}
        self.sequences.save(self.next_sender, self.next_target)

    def _request_resend(self, seen: int, again: bool = False) -> None:
        if self._resend_until is not None and not again:
            self._resend_until = max(self._resend_until, seen)
            return
        self._resend_until = seen if self._resend_until is None else max(self._resend_until, seen)
        self._resend_sent_at = self.clock()
        self._send(m.RESEND_REQUEST, [(m.BEGIN_SEQ_NO, self.next_target), (m.END_SEQ_NO, 0)])

    def _resend(self, begin: int, end: int) -> None:
        """Answer their ResendRequest: our orders again, everything else (admin messages) gap-filled."""
        last = self.next_sender - 1
        end = last if end == 0 or end > last else end
        if begin < 1 or begin > end:
            log.warning("FIX session %s: ResendRequest %d..%d asks for nothing we sent (last %d)",
                        self.config.session_id, begin, end, last)
            return
        stored = self.sequences.sent_between(begin, end)
        log.info("FIX session %s: resending %d..%d (%d application messages)", self.config.session_id, begin, end,
                 len(stored))
        cursor = begin
        for seq in sorted(stored):
            if seq > cursor:
                self._gap_fill(cursor, seq)
            self._resend_one(stored[seq])
            cursor = seq + 1
        if cursor <= end:
            self._gap_fill(cursor, end + 1)

    def _gap_fill(self, seq: int, new_seq: int) -> None:
        self._send_again(seq, m.SEQUENCE_RESET, [(m.GAP_FILL_FLAG, "Y"), (m.NEW_SEQ_NO, new_seq)],
                         orig_sending_time=m.utc_timestamp(_utcnow()))

    def _resend_one(self, sent: SentMessage) -> None:
        original = m.parse_one(sent.raw)
        fields = [(t, v) for t, v in original.pairs if t not in _ENVELOPE]
        self._send_again(sent.seq, sent.msg_type, fields,
                         orig_sending_time=original.text(m.SENDING_TIME) or m.utc_timestamp(_utcnow()))

    def _their_reject(self, message: Message) -> None:
        ref_seq = message.integer(m.REF_SEQ_NUM)
        text = message.text(m.TEXT, required=False) or "no reason given"
        reason = message.text(m.SESSION_REJECT_REASON, required=False)
        tag = message.text(m.REF_TAG_ID, required=False)
        log.warning("FIX session %s: our message %d was rejected: %s (reason %s, tag %s)", self.config.session_id,
                    ref_seq, text, reason, tag)
        sent = self.sequences.sent_one(ref_seq)
        if sent is not None and sent.cl_ord_id:
            detail = ", ".join(p for p in (f"reason {reason}" if reason else "", f"tag {tag}" if tag else "") if p)
            self._refused(sent, f"session reject: {text}" + (f" ({detail})" if detail else ""))

    def _their_business_reject(self, message: Message) -> None:
        ref_seq = message.integer(m.REF_SEQ_NUM, required=False)
        text = message.text(m.TEXT, required=False) or "no reason given"
        sent = self.sequences.sent_one(ref_seq) if ref_seq else None
        log.warning("FIX session %s: business reject of %s: %s", self.config.session_id,
                    message.text(m.BUSINESS_REJECT_REF_ID, required=False) or ref_seq, text)
        if sent is not None and sent.cl_ord_id:
            self._refused(sent, f"business reject: {text}")
        elif cl_ord_id := message.text(m.BUSINESS_REJECT_REF_ID, required=False):
            self.book.rejected(cl_ord_id, f"business reject: {text}")

    def _refused(self, sent: SentMessage, text: str) -> None:
        """Our order refused rejects it; our cancel request refused leaves the order as it was."""
        if sent.msg_type == m.ORDER_CANCEL_REQUEST:
            self.book.cancel_rejected(sent.cl_ord_id, f"cancel refused: {text}")
        else:
            self.book.rejected(sent.cl_ord_id, text)
