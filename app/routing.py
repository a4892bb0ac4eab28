"""Order routing in the running app: the admin switch, sending an order (role checked), the orders, and the one
FIX session (``engine.fix.session``) that carries them, in a background thread of this process.

Callbacks reach it as ``services().routing``. An order is checked and stored here (``engine.orders``) and the
session is woken to send it, so a request never waits on the network. Nothing is sent unless an admin has
switched routing on (stored, so every worker and every restart agrees); an order asked for while it is off is
refused and not stored. The session runs only while routing is on and the counterparty is configured
(``C254_FIX_*`` settings), from this process's start (a gunicorn worker's boot, or the first request another
server serves), or at once when an admin switches
routing on; switching it off logs the session out. Exactly one process may hold the session (a second would
log on with the same CompIDs and share its sequence numbers): with Redis configured (several workers or hosts)
the holder takes a Redis lock that it renews while the session runs; the other workers only store orders, which
the holder's session picks up from the store.

The live signal asks for a target position; ``live_order`` is the order that takes the symbol's holding (its
filled orders) there, and ``send_live`` sends it, worked out again at the moment of sending. ``cancel_order``
asks the session to cancel an open order."""
from __future__ import annotations

import atexit
import contextlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from flask import Flask, has_request_context

from app import auth
from app.access import may
from app.services import Services, services
from app.settings import REDIS_CLIENT_OPTIONS
from engine import audit
from engine import orders as order_book
from engine.fix.session import FixSession, SessionConfig, SessionStatus
from engine.fix.store import SequenceStore
from engine.orders import Order, OrderError, RoutingOff, TargetOrder
from engine.signals.views import LiveSignal, order_symbol

log = logging.getLogger(__name__)
#: The Redis lock of the process holding the session lapses this long after its last renewal (so a worker that
#: died hands the session over); it is renewed three times as often.
LEASE_SECONDS = 15.0
ROUTING_SWITCHED = "order routing switched"

__all__ = ["NotAllowed", "Order", "OrderError", "Routing", "RoutingOff", "RoutingStatus", "Sender", "TargetOrder",
           "init_app", "live_target", "orders", "routing_enabled", "send_order", "set_routing"]


class NotAllowed(PermissionError):
    """The user's role may not do this."""


@dataclass(frozen=True)
class Sender:
    """Who asks: a name for the record (email, or "local"), the role that is checked, and their address."""

    name: str
    role: str | None
    address: str = ""


@dataclass(frozen=True)
class RoutingStatus:
    enabled: bool
    configured: bool
    session: SessionStatus | None  # None when no session runs in this process
    may_send: bool
    #: Why this user cannot send an order now ("" when they can), to show beside a disabled button.
    reason: str


def _current_sender() -> Sender:
    if not has_request_context():
        raise NotAllowed("no signed-in user: pass the sender")
    name, address = auth.current_actor()
    return Sender(name, auth.current_role(), address)


class Routing:
    """Order routing of one app (one Flask server)."""

    def __init__(self, server: Flask):
        self.server = server
        self._session: FixSession | None = None
        self._lock = threading.Lock()
        self._started_once = False
        self._lease = None  # the redis-py Lock this process holds the session with (Redis configured)
        self._renewing: threading.Event | None = None

    @property
    def _services(self) -> Services:
        return services(self.server)

    def enabled(self) -> bool:
        return order_book.routing_enabled(self._services.ready_store())

    def status(self, sender: Sender | None = None) -> RoutingStatus:
        sender = sender or _current_sender()
        enabled, configured = self.enabled(), self._services.settings.fix_configured
        allowed = may(sender.role, "send_orders")
        session = self._session
        if not allowed:
            reason = f"Your role ({sender.role or 'none'}) may not send orders."
        elif not configured:
            reason = "No FIX counterparty is configured (C254_FIX_HOST, C254_FIX_PORT, C254_FIX_TARGET_COMP_ID)."
        elif not enabled:
            reason = "Order routing is off; an admin can switch it on."
        else:
            reason = ""
        return RoutingStatus(enabled, configured, session.status() if session else None, allowed, reason)

    def set_enabled(self, enabled: bool, sender: Sender | None = None) -> None:
        """Switch routing on or off (admins only; recorded in the audit log). On starts the session here; off
        logs it out in the background and rejects the orders still waiting."""
        sender = sender or _current_sender()
        if not may(sender.role, "switch_routing"):
            raise NotAllowed(f"Your role ({sender.role or 'none'}) may not switch order routing.")
        store = self._services.ready_store()
        order_book.set_routing_enabled(store, bool(enabled), sender.name)
        audit.record(store, sender.name, ROUTING_SWITCHED, "on" if enabled else "off", sender.address)
        if enabled:
            self.ensure_session()
        else:
            waiting = order_book.StoreOrders(store)
            waiting.pending()  # rejects what waits: routing is off
            waiting.cancels()  # and puts back the orders whose cancel had not gone out
            threading.Thread(target=self.stop_session, name="fix logout", daemon=True).start()

    def send_order(self, fields: Mapping[str, object], sender: Sender | None = None) -> Order:
        """Check and store an order for the session to send (``fields``: symbol, side, quantity, ord_type, price,
        source). NotAllowed for a role that may not send, RoutingOff while routing is off (nothing stored),
        OrderError naming a bad field."""
        sender = sender or _current_sender()
        if not may(sender.role, "send_orders"):
            raise NotAllowed(f"Your role ({sender.role or 'none'}) may not send orders.")
        unknown = set(fields) - {"symbol", "side", "quantity", "ord_type", "price", "source"}
        if unknown:
            raise OrderError(f"Unknown order fields: {', '.join(sorted(unknown))}.")
        order = order_book.new_order(created_by=sender.name, **fields)
        stored = order_book.submit(self._services.ready_store(), order)
        session = self.ensure_session()
        if session is not None:
            session.wake()
        return stored

    def cancel_order(self, cl_ord_id: object, sender: Sender | None = None) -> Order:
        """Ask for an order to be cancelled (an OrderCancelRequest, or at once while it waits to go out).
        NotAllowed for a role that may not send, RoutingOff while routing is off (nothing changed), OrderError
        naming why the order cannot be cancelled."""
        sender = sender or _current_sender()
        if not may(sender.role, "send_orders"):
            raise NotAllowed(f"Your role ({sender.role or 'none'}) may not cancel orders.")
        order = order_book.request_cancel(self._services.ready_store(), cl_ord_id)
        if order.state == "cancel requested":
            session = self.ensure_session()
            if session is not None:
                session.wake()
        return order

    def live_order(self, signal: LiveSignal) -> TargetOrder:
        """The order that takes the signal's symbol from what is held to the signal's target (none when it is
        there, or while an order in it is still working)."""
        symbol, target, source = live_target(signal)
        return order_book.toward(self._services.ready_store(), symbol, target, source)

    def send_live(self, signal: LiveSignal, sender: Sender | None = None) -> Order:
        """Send ``live_order``'s order, worked out now; OrderError saying why when there is none to send."""
        sender = sender or _current_sender()
        if not may(sender.role, "send_orders"):
            raise NotAllowed(f"Your role ({sender.role or 'none'}) may not send orders.")
        net = self.live_order(signal)
        if net.order is None:
            raise OrderError(net.reason)
        return self.send_order(net.order, sender)

    def orders(self, limit: int = 50) -> pd.DataFrame:
        return order_book.orders(self._services.ready_store(), limit)

    # ------------------------------------------------------------------------------------------ the session

    def session_config(self) -> SessionConfig | None:
        settings = self._services.settings
        if not settings.fix_configured:
            return None
        return SessionConfig(host=settings.fix_host, port=int(settings.fix_port),
                             sender_comp_id=settings.fix_sender_comp_id, target_comp_id=settings.fix_target_comp_id,
                             heartbeat_seconds=settings.fix_heartbeat_seconds,
                             reset_on_logon=settings.fix_reset_on_logon)

    def ensure_session(self) -> FixSession | None:
        """The running session, started if routing is on and a counterparty configured (else None)."""
        with self._lock:
            if self._session is not None and self._session.running:
                return self._session
            config = self.session_config()
            if config is None or not self.enabled() or not self._take_lease(config):
                return None
            store = self._services.ready_store()
            self._session = FixSession(config, SequenceStore(store, config.session_id),
                                       order_book.StoreOrders(store))
            self._session.start()
            if self._lease is not None:
                self._renewing = threading.Event()
                threading.Thread(target=self._renew_lease, args=(self._session, self._renewing),
                                 name="fix session lease", daemon=True).start()
            if not self._started_once:
                self._started_once = True
                atexit.register(self.stop_session)
            log.info("FIX session %s started", config.session_id)
            return self._session

    @property
    def session(self) -> FixSession | None:
        return self._session

    def stop_session(self, timeout: float | None = None) -> None:
        with self._lock:
            session, self._session = self._session, None
            renewing, self._renewing = self._renewing, None
        if renewing is not None:
            renewing.set()
        if session is not None:
            session.stop(timeout)
        if self._lease is not None:
            from redis.exceptions import LockError

            with contextlib.suppress(LockError):  # not held, or lapsed: either way it is not ours any more
                self._lease.release()

    def _take_lease(self, config: SessionConfig) -> bool:
        """Whether this process may hold the session: always without Redis, else if it gets the lock."""
        url = self._services.settings.redis_url
        if not url:
            return True
        import redis

        if self._lease is None:
            client = redis.Redis.from_url(url, **REDIS_CLIENT_OPTIONS)
            self._lease = client.lock(f"c254:fix-session:{config.session_id}", timeout=LEASE_SECONDS,
                                      thread_local=False)
        try:
            taken = self._lease.acquire(blocking=False)
        except redis.RedisError:
            log.exception("could not reach Redis for the FIX session's lock: no session in this process")
            return False
        if not taken:
            log.info("another process holds FIX session %s", config.session_id)
        return taken

    def _renew_lease(self, session: FixSession, renewing: threading.Event) -> None:
        from redis.exceptions import RedisError

        while not renewing.wait(LEASE_SECONDS / 3):
            try:
                self._lease.reacquire()
                switched_off = not self.enabled()  # by an admin whose request another worker answered
            except RedisError as exc:  # lapsed (another process may hold it now) or Redis is gone: let go
                log.error("FIX session %s: lost its lock (%s); stopping it here", session.config.session_id, exc)
                switched_off = True
            except Exception:  # the store could not say: keep the session, ask again next time
                log.exception("FIX session %s: could not read the routing switch", session.config.session_id)
                switched_off = False
            if switched_off:
                with self._lock:
                    if self._session is not session:
                        return
                self.stop_session()
                return

    def start_on_first_request(self) -> None:
        """Start the session (if routing is on) when this process serves its first request, unless its boot has
        (app.scheduler.start_at_boot), as the scheduler does: never at import, nor before gunicorn forks."""
        started = threading.Event()

        def _start() -> None:
            if started.is_set():
                return
            started.set()
            try:
                self.ensure_session()
            except Exception:  # the store may be down: routing waits for the admin switch or a restart
                log.exception("could not start the FIX session")

        self.server.before_request(_start)


def init_app(server: Flask) -> Routing:
    routing = Routing(server)
    services(server).routing = routing
    if services(server).settings.fix_configured:
        routing.start_on_first_request()
    return routing


def live_target(signal: LiveSignal) -> tuple[str, float, str]:
    """(symbol, target position in MWh — short below zero, flat 0 —, the orders' source) of a live signal."""
    symbol = order_symbol(signal.market, signal.location)
    if signal.order is None:
        return symbol, 0.0, f"signals {signal.strategy} (flat)"
    sign = 1.0 if signal.order["side"] == "buy" else -1.0
    return symbol, sign * float(signal.order["quantity"]), str(signal.order.get("source", ""))


def _routing(target: Flask | Services) -> Routing:
    found = (target if isinstance(target, Services) else services(target)).routing
    if found is None:
        raise RuntimeError("order routing is not set up in this app (app.routing.init_app)")
    return found


# ------------------------------------------------------------------ the same, as functions (scripts, tests)

def routing_enabled(store) -> bool:
    return order_book.routing_enabled(store)


def set_routing(target: Flask | Services, enabled: bool, sender: Sender | None = None) -> None:
    _routing(target).set_enabled(enabled, sender)


def send_order(target: Flask | Services, fields: Mapping[str, object], sender: Sender | None = None) -> Order:
    return _routing(target).send_order(fields, sender)


def orders(store, limit: int = 50) -> pd.DataFrame:
    return order_book.orders(store, limit)
