"""Orders and their routing: checked fields, the orders table as ExecutionReports move it, the admin switch, and
the role table. An order cannot be sent while routing is off (it is refused, not stored, and nothing reaches
the counterparty) nor by an analyst or a partner; with routing on, a trader's order goes over FIX to QuickFIX's
acceptor and comes back filled."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from app import access
from app.routing import NotAllowed, Sender
from app.services import services
from app.settings import Settings
from engine import audit
from engine import orders as book
from engine.fix.messages import ExecutionReport
from engine.fix.store import SequenceStore
from engine.orders import OrderError, RoutingOff
from tests.support.fix_acceptor import Acceptor, wait_for

ADMIN, TRADER = Sender("admin@example.com", "admin"), Sender("trader@example.com", "trader")
ANALYST, PARTNER = Sender("analyst@example.com", "analyst"), Sender("partner@example.com", "partner")
@pytest.fixture(scope="module")
def store(store_dir):
    """One store for the module's store-level tests (each works on its own orders)."""
    import os

    from engine.store import Store, migrate

    shared = Store(f"chdb://{store_dir}?database=orders_{os.getpid()}")
    migrate(shared)
    yield shared
    shared.command(f"DROP DATABASE IF EXISTS `{shared.database}`")
    shared.close()


FILL = {"symbol": "FILL-NSW1", "side": "buy", "quantity": 5, "ord_type": "limit", "price": -20.0,
        "source": "mean_reversion signal"}


@pytest.mark.parametrize(("fields", "message"), [
    ({"symbol": "NSW 1"}, "Symbol must be"),
    ({"symbol": ""}, "Symbol must be"),
    ({"side": "short"}, "Side must be one of: buy, sell"),
    ({"quantity": 0}, "Quantity must be a number above zero"),
    ({"quantity": "lots"}, "Quantity must be a number"),
    ({"quantity": float("inf")}, "Quantity must be a finite number"),
    ({"ord_type": "stop"}, "Order type must be one of: market, limit"),
    ({"price": None}, "A limit order needs a price"),
    ({"ord_type": "market"}, "A market order takes no price"),
])
def test_bad_orders_are_refused_naming_the_field(fields, message):
    with pytest.raises(OrderError, match=message):
        book.new_order(**{**{k: v for k, v in FILL.items() if k != "source"}, **fields})


def test_negative_limit_prices_are_orders_like_any_other():
    order = book.new_order("NEM-SA1", "sell", "2.5", "limit", "-1000")
    assert (order.quantity, order.price, order.state) == (2.5, -1000.0, "pending")
    assert order.cl_ord_id.startswith("C254-") and order.cl_ord_id != book.new_order("X", "buy", 1).cl_ord_id


def test_nothing_is_stored_while_routing_is_off(store):
    book.set_routing_enabled(store, False, "admin")
    assert not book.routing_enabled(store)
    before = len(book.orders(store))
    with pytest.raises(RoutingOff, match="routing is off"):
        book.submit(store, book.new_order("NSW1", "buy", 1))
    assert len(book.orders(store)) == before
    book.set_routing_enabled(store, True, "admin")
    assert book.routing_enabled(store)
    book.set_routing_enabled(store, False, "admin")
    assert not book.routing_enabled(store)


def _report(order: book.Order, status: str, cum: float, avg: float, **changes) -> ExecutionReport:
    fields = {"cl_ord_id": order.cl_ord_id, "order_id": "B-1", "exec_id": f"E{status}{cum}", "exec_type": "F",
              "ord_status": status, "symbol": order.symbol, "side": "1", "leaves_qty": order.quantity - cum,
              "cum_qty": cum, "avg_px": avg, "last_qty": None, "last_px": None, "text": None, "poss_dup": False}
    return ExecutionReport(**{**fields, **changes})


def test_execution_reports_move_the_order_and_never_back(store):
    book.set_routing_enabled(store, True, "admin")
    order = book.submit(store, book.new_order("NSW1", "buy", 10, "limit", 50))
    orders = book.StoreOrders(store)
    [waiting] = orders.pending()
    orders.sent(waiting)
    assert book.get(store, order.cl_ord_id).state == "sent"
    assert orders.execution_report(_report(order, "0", 0, 0)).state == "new"
    assert orders.execution_report(_report(order, "1", 4, 49.5)).state == "partially filled"
    # A resent older report (less filled) changes nothing; one found by OrderID alone is still ours.
    stale = orders.execution_report(_report(order, "0", 0, 0, poss_dup=True))
    assert (stale.state, stale.filled_qty) == ("partially filled", 4)
    done = orders.execution_report(_report(order, "2", 10, 49.8, cl_ord_id=None))
    assert (done.state, done.filled_qty, done.avg_price, done.order_id) == ("filled", 10, 49.8, "B-1")
    assert orders.execution_report(_report(order, "4", 10, 49.8)).state == "filled"  # finished stays finished
    assert orders.rejected(order.cl_ord_id, "late reject").state == "filled"
    assert orders.execution_report(_report(order, "2", 10, 1.0, cl_ord_id="nobody", order_id="B-9")) is None
    table = book.orders(store).set_index("cl_ord_id")
    assert table.loc[order.cl_ord_id, ["state", "filled_qty", "avg_price"]].tolist() == ["filled", 10, 49.8]
    assert {"updated_at", "created_at", "text", "source", "created_by"} <= set(table.columns)


def test_waiting_orders_are_rejected_when_routing_goes_off_or_they_grow_old(store):
    book.set_routing_enabled(store, True, "admin")
    old = book.save(store, dataclasses.replace(book.new_order("NSW1", "buy", 1),
                                               created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)))
    fresh = book.submit(store, book.new_order("NSW1", "sell", 1))
    assert fresh.cl_ord_id in [o.cl_ord_id for o in book.StoreOrders(store, pending_timeout=120).pending()]
    assert book.get(store, old.cl_ord_id).text == "not sent within 120 s (no FIX session)"
    book.set_routing_enabled(store, False, "admin")
    assert book.StoreOrders(store).pending() == []
    gone = book.get(store, fresh.cl_ord_id)
    assert (gone.state, gone.text) == ("rejected", "routing was switched off before it was sent")


def _filled(store, symbol: str, side: str, quantity: float, price: float = 40.0) -> book.Order:
    """An order in ``symbol`` the counterparty filled whole."""
    order = book.submit(store, book.new_order(symbol, side, quantity))
    orders = book.StoreOrders(store)
    orders.sent(order)
    return orders.execution_report(_report(order, "2", quantity, price, exec_id=f"F-{order.cl_ord_id}"))


def test_cancel_waits_for_the_session_and_a_refusal_leaves_the_order_as_it_was(store):
    book.set_routing_enabled(store, True, "admin")
    orders = book.StoreOrders(store)
    # Still waiting to go out: cancelled here, nothing is sent.
    waiting = book.submit(store, book.new_order("CX1", "buy", 3))
    gone = book.request_cancel(store, waiting.cl_ord_id)
    assert (gone.state, gone.text) == ("cancelled", "cancelled before it was sent")
    assert waiting.cl_ord_id not in [o.cl_ord_id for o in orders.pending()]

    order = book.submit(store, book.new_order("CX1", "sell", 10))
    [sent] = [o for o in orders.pending() if o.cl_ord_id == order.cl_ord_id]
    orders.sent(sent)
    with pytest.raises(OrderError, match="not been acknowledged yet"):
        book.request_cancel(store, order.cl_ord_id)
    orders.execution_report(_report(order, "0", 0, 0))
    assert book.request_cancel(store, order.cl_ord_id).state == "cancel requested"
    [asked] = orders.cancels()
    orders.cancel_sent(asked)
    assert book.get(store, order.cl_ord_id).state == "pending cancel"
    # A fill arriving meanwhile is counted, and the order still waits on its cancel.
    partly = orders.execution_report(_report(order, "1", 4, 39.0))
    assert (partly.state, partly.filled_qty) == ("pending cancel", 4)
    back = orders.cancel_rejected(order.cl_ord_id, "cancel rejected: too late")
    assert (back.state, back.filled_qty, back.text) == ("partially filled", 4, "cancel rejected: too late")
    assert orders.cancels() == []

    # Asked again; the report names the cancel request's own ClOrdID, and the order by OrigClOrdID.
    book.request_cancel(store, order.cl_ord_id)
    orders.cancel_sent(orders.cancels()[0])
    done = orders.execution_report(_report(order, "4", 4, 39.0, cl_ord_id="C254X-1", order_id="",
                                           orig_cl_ord_id=order.cl_ord_id, exec_type="4"))
    assert (done.state, done.filled_qty) == ("cancelled", 4)
    with pytest.raises(OrderError, match="cannot be cancelled: it is cancelled"):
        book.request_cancel(store, order.cl_ord_id)
    with pytest.raises(OrderError, match="No order 'C254-nobody' is known"):
        book.request_cancel(store, "C254-nobody")
    with pytest.raises(OrderError, match="Name the order"):
        book.request_cancel(store, "  ")


def test_cancel_not_sent_goes_back_when_routing_goes_off_or_it_grows_old(store):
    book.set_routing_enabled(store, True, "admin")
    orders = book.StoreOrders(store, pending_timeout=0.0)
    order = book.submit(store, book.new_order("CX2", "buy", 2))
    orders.sent(order)
    orders.execution_report(_report(order, "0", 0, 0))
    book.request_cancel(store, order.cl_ord_id)
    assert orders.cancels() == []  # too old at once with no time allowed
    assert (book.get(store, order.cl_ord_id).state, book.get(store, order.cl_ord_id).text) == (
        "new", "cancel not sent within 0 s (no FIX session)")
    book.request_cancel(store, order.cl_ord_id)
    book.set_routing_enabled(store, False, "admin")
    with pytest.raises(RoutingOff):
        book.request_cancel(store, order.cl_ord_id)
    assert book.StoreOrders(store).cancels() == []
    assert book.get(store, order.cl_ord_id).text == "cancel not sent: routing was switched off"
    book.set_routing_enabled(store, True, "admin")


def test_holding_is_the_fills_and_the_order_takes_it_to_the_target(store):
    book.set_routing_enabled(store, True, "admin")
    assert book.toward(store, "NET1", 5, "s").order == {"symbol": "NET1", "side": "buy", "quantity": 5,
                                                        "ord_type": "market", "source": "s"}
    _filled(store, "NET1", "buy", 5)
    _filled(store, "NET2", "sell", 7)  # another symbol counts for nothing here
    at_target = book.toward(store, "NET1", 5)
    assert (at_target.holding, at_target.order) == (5, None) and "already the target" in at_target.reason
    flip = book.toward(store, "NET1", -3)
    assert (flip.target, flip.holding, flip.order["side"], flip.order["quantity"]) == (-3, 5, "sell", 8)
    assert book.toward(store, "NET1", 0).order["quantity"] == 5  # flat: close what is held
    # A partly filled sell of 8 counts what it filled; while it works, nothing more is sent.
    working = book.submit(store, book.new_order("NET1", "sell", 8))
    orders = book.StoreOrders(store)
    orders.sent(working)
    orders.execution_report(_report(working, "1", 6, 41.0))
    held = book.position(store, "NET1")
    assert (held.holding, held.working) == (-1, -2)
    busy = book.toward(store, "NET1", -3)
    assert busy.order is None and "still working (-2 MWh unfilled)" in busy.reason
    orders.execution_report(_report(working, "4", 6, 41.0, exec_type="4"))  # the rest cancelled
    rest = book.toward(store, "NET1", -3)
    assert (rest.holding, rest.working, rest.order["side"], rest.order["quantity"]) == (-1, 0, "sell", 2)
    assert book.toward(store, "NET9", 0).reason.startswith("The holding in NET9 is already the target")
    with pytest.raises(OrderError, match="target position must be a finite number"):
        book.toward(store, "NET1", float("nan"))


def test_live_signal_net_of_holdings_through_the_routing_service(make_app):
    import pandas as pd

    from engine.signals.views import LiveSignal

    app = make_app()
    routing = services(app.server).routing
    store = services(app.server).ready_store()

    def signal(side: str | None, quantity: float = 0) -> LiveSignal:
        order = None if side is None else {"symbol": "NEM.SA1", "side": side, "quantity": quantity,
                                           "ord_type": "market", "source": "signals momentum {}"}
        return LiveSignal("NEM", "SA1", "momentum", "Momentum", pd.Timestamp("2026-01-01", tz="UTC"),
                          0 if side is None else (1 if side == "buy" else -1), 1.0, 0.5, 80.0, "AUD", order)

    with pytest.raises(RoutingOff):
        routing.send_live(signal("buy", 4), TRADER)
    routing.set_enabled(True, ADMIN)  # no counterparty configured: orders are stored for a session to send
    with pytest.raises(NotAllowed):
        routing.send_live(signal("buy", 4), ANALYST)
    first = routing.send_live(signal("buy", 4), TRADER)
    assert (first.symbol, first.side, first.quantity, first.source) == ("NEM.SA1", "buy", 4, "signals momentum {}")
    with pytest.raises(OrderError, match="still working"):  # its fills would be counted twice
        routing.send_live(signal("buy", 4), TRADER)
    orders = book.StoreOrders(store)
    orders.sent(first)
    orders.execution_report(_report(first, "2", 4, 80.0))
    shown = routing.live_order(signal("buy", 4))
    assert (shown.target, shown.holding, shown.order) == (4, 4, None)
    with pytest.raises(OrderError, match="already the target"):
        routing.send_live(signal("buy", 4), TRADER)
    flip = routing.send_live(signal("sell", 2), TRADER)  # from long 4 to short 2
    assert (flip.side, flip.quantity) == ("sell", 6)
    # Cancelled while it waits to go out; then flat closes the long 4.
    with pytest.raises(NotAllowed, match="may not cancel orders"):
        routing.cancel_order(flip.cl_ord_id, PARTNER)
    assert routing.cancel_order(flip.cl_ord_id, TRADER).state == "cancelled"
    flat = routing.live_order(signal(None))
    assert (flat.target, flat.holding, flat.order["side"], flat.order["quantity"]) == (0, 4, "sell", 4)


def _click_cancel(client, dash_app, cl_ord_id: str) -> dict:
    """The orders panel's Cancel button of ``cl_ord_id`` clicked, as Dash's renderer posts it."""
    import json

    from tests.test_hardening import assert_answered, callback_key

    key = callback_key(dash_app, "sg-cancel-result.children")
    button = {"order": cl_ord_id, "type": "sg-cancel"}
    outputs = [{"id": ident, "property": prop} for ident, prop in (
        ("sg-cancel-result", "children"), ("sg-cancel-result", "is_open"), ("sg-cancel-result", "color"),
        ("sg-order-cancelled", "data"))]
    body = {"output": key, "outputs": outputs,
            "inputs": [[{"id": button, "property": "n_clicks", "value": 1}]],
            "state": [{"id": "sg-order-cancelled", "property": "data", "value": 0}],
            "changedPropIds": [json.dumps(button, separators=(",", ":")) + ".n_clicks"]}
    answer = assert_answered(client.post("/_dash-update-component", data=json.dumps(body),
                                         content_type="application/json", headers={"Origin": "http://localhost"}),
                             "cancel")
    return answer["response"]["sg-cancel-result"]


def test_the_orders_panels_cancel_button(make_app):
    """The page's Cancel (local mode: the local admin): refused while routing is off, the order unchanged;
    with routing on, an order still waiting to go out is cancelled."""
    dash_app = make_app()
    routing, store = services(dash_app.server).routing, services(dash_app.server).ready_store()
    client = dash_app.server.test_client()
    routing.set_enabled(True, ADMIN)
    order = routing.send_order({**FILL, "symbol": "PANEL1"}, TRADER)
    routing.set_enabled(False, ADMIN)
    # As if acknowledged before routing went off (switching off rejected it while it waited to go out).
    order = book.save(store, dataclasses.replace(book.get(store, order.cl_ord_id), state="new", text=""))
    refused = _click_cancel(client, dash_app, order.cl_ord_id)
    assert refused["color"] == "warning" and "routing is off" in refused["children"]
    assert book.get(store, order.cl_ord_id).state == "new"
    routing.set_enabled(True, ADMIN)
    waiting = routing.send_order({**FILL, "symbol": "PANEL1"}, TRADER)
    done = _click_cancel(client, dash_app, waiting.cl_ord_id)
    assert (done["color"], done["children"]) == ("success", f"Order {waiting.cl_ord_id} is cancelled.")
    assert book.get(store, waiting.cl_ord_id).state == "cancelled"
    unknown = _click_cancel(client, dash_app, "C254-nobody")
    assert unknown["color"] == "warning" and "No order 'C254-nobody' is known" in unknown["children"]


def test_the_role_table_says_who_may_send():
    assert [role for role in ("trader", "analyst", "partner", "admin") if access.may(role, "send_orders")] == [
        "trader", "admin"]
    assert [role for role in ("trader", "analyst", "partner", "admin") if access.may(role, "switch_routing")] == [
        "admin"]
    assert not access.may(None, "send_orders")
    with pytest.raises(ValueError, match="unknown action 'send_order'"):
        access.may("admin", "send_order")


def test_fix_settings_from_the_environment():
    settings = Settings.from_env({"C254_FIX_HOST": "fix.example.com", "C254_FIX_PORT": "9876",
                                  "C254_FIX_TARGET_COMP_ID": "BROKER", "C254_FIX_HEARTBEAT_SECONDS": "15"})
    assert (settings.fix_host, settings.fix_port, settings.fix_sender_comp_id, settings.fix_target_comp_id,
            settings.fix_heartbeat_seconds, settings.fix_configured) == ("fix.example.com", 9876, "C254", "BROKER",
                                                                         15, True)
    assert not Settings.from_env({}).fix_configured
    assert not settings.fix_reset_on_logon  # gap recovery across reconnects unless the venue wants resets
    assert Settings.from_env({"C254_FIX_RESET_ON_LOGON": "on"}).fix_reset_on_logon
    with pytest.raises(ValueError, match="C254_FIX_PORT must be a whole number"):
        Settings.from_env({"C254_FIX_PORT": "fix"})


@pytest.mark.slow
def test_routing_in_the_app_off_roles_on_and_off_again(make_app, tmp_path):
    with Acceptor(tmp_path, sender="C254A") as acceptor:
        app = make_app(fix_host="127.0.0.1", fix_port=acceptor.port, fix_sender_comp_id="C254A",
                       fix_target_comp_id="BROKER", fix_heartbeat_seconds=1)
        routing = services(app.server).routing
        store = services(app.server).ready_store()
        try:
            # In a request the sender is the signed-in user (local mode here: the local admin), as the page's
            # callbacks call it.
            with app.server.test_request_context("/signals", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
                with pytest.raises(RoutingOff):
                    routing.send_order(FILL)
                status = routing.status()
                assert status.may_send and status.configured and not status.enabled
            # Off: a trader's order is refused and not stored, no session runs, nothing reaches the broker.
            with pytest.raises(RoutingOff):
                routing.send_order(FILL, TRADER)
            assert routing.orders().empty and routing.session is None
            assert routing.status(TRADER).reason == "Order routing is off; an admin can switch it on."
            # Roles that may not send are refused whatever the switch says; only an admin switches it.
            for who in (ANALYST, PARTNER):
                with pytest.raises(NotAllowed, match="may not send orders"):
                    routing.send_order(FILL, who)
                assert not routing.status(who).may_send
            with pytest.raises(NotAllowed, match="may not switch order routing"):
                routing.set_enabled(True, TRADER)
            assert not routing.enabled() and acceptor.broker.logons == 0

            routing.set_enabled(True, ADMIN)
            assert routing.session.wait_logged_on(5)
            assert audit.recent(store, 1)[["actor", "action", "detail"]].iloc[0].tolist() == [
                ADMIN.name, "order routing switched", "on"]
            for who in (ANALYST, PARTNER):
                with pytest.raises(NotAllowed):
                    routing.send_order(FILL, who)
            assert routing.status(TRADER).reason == ""
            order = routing.send_order(FILL, TRADER)
            filled = wait_for(lambda: (o := book.get(store, order.cl_ord_id)).state == "filled" and o, 5,
                              "the order filled")
            assert (filled.created_by, filled.filled_qty, filled.avg_price) == (TRADER.name, 5, -20.0)
            assert [o[11] for o in acceptor.broker.orders_in] == [order.cl_ord_id]
            # An open order cancelled from the app: OrderCancelRequest out, the broker's Canceled report back.
            working = routing.send_order({**FILL, "symbol": "WAIT-NSW1", "ord_type": "market", "price": None}, TRADER)
            wait_for(lambda: book.get(store, working.cl_ord_id).state == "new", 5, "the order acknowledged")
            with pytest.raises(NotAllowed, match="may not cancel"):
                routing.cancel_order(working.cl_ord_id, ANALYST)
            assert routing.cancel_order(working.cl_ord_id, TRADER).state == "cancel requested"
            wait_for(lambda: book.get(store, working.cl_ord_id).state == "cancelled", 5, "the order cancelled")
            assert [c[41] for c in acceptor.broker.cancels_in] == [working.cl_ord_id]

            with app.server.test_request_context("/signals", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
                routing.set_enabled(False)  # as the signed-in (local) admin
            assert audit.recent(store, 1)[["actor", "detail"]].iloc[0].tolist() == ["local", "off"]
            wait_for(lambda: routing.session is None and acceptor.broker.admin("5"), 5, "the session logged out")
            with pytest.raises(RoutingOff):
                routing.send_order(FILL, TRADER)
            with pytest.raises(RoutingOff):
                routing.cancel_order(order.cl_ord_id, TRADER)
            assert len(routing.orders()) == 2 and len(acceptor.broker.orders_in) == 2
        finally:
            routing.stop_session()



def test_a_worker_booting_with_routing_on_logs_on_before_any_request(make_app, tmp_path):
    """Routing switched on (stored) and the app restarted: the worker's boot starts the FIX session
    (app.scheduler.start_at_boot), as its first request did before; the session no longer waits for a user."""
    from app.scheduler import start_at_boot

    with Acceptor(tmp_path, sender="C254C") as acceptor:
        fix_settings = {"fix_host": "127.0.0.1", "fix_port": acceptor.port, "fix_sender_comp_id": "C254C",
                        "fix_target_comp_id": "BROKER", "fix_heartbeat_seconds": 1}
        before = services(make_app(**fix_settings).server).routing
        before.set_enabled(True, ADMIN)
        acceptor.wait_logons(1)
        before.stop_session()  # the process stops; the switch stays on in the store
        routing = services(make_app(**fix_settings).server).routing
        try:
            assert routing.session is None
            start_at_boot(routing.server)  # no request is made
            wait_for(lambda: routing.session is not None and routing.session.wait_logged_on(0.1), 10,
                     "the session logged on")
            acceptor.wait_logons(2)
        finally:
            routing.stop_session()


@pytest.mark.slow
def test_one_worker_holds_the_session_and_the_others_orders_go_through_it(make_app, redis_server, tmp_path,
                                                                         monkeypatch):
    """Two workers of one deployment (two apps on one store and one Redis): one holds the FIX session, an order
    stored by the other goes out through it, when the holder lets go the other takes over, logging on with the
    next sequence number, and routing switched off through a worker that does not hold the session stops it."""
    import app.routing

    monkeypatch.setattr(app.routing, "LEASE_SECONDS", 1.5)  # renewed, and the switch read, every half second
    with Acceptor(tmp_path, sender="C254B") as acceptor:
        fix_settings = {"fix_host": "127.0.0.1", "fix_port": acceptor.port, "fix_sender_comp_id": "C254B",
                        "fix_target_comp_id": "BROKER", "fix_heartbeat_seconds": 1, "redis_url": redis_server.url}
        first, second = (services(make_app(**fix_settings).server).routing for _ in range(2))
        try:
            first.set_enabled(True, ADMIN)
            assert first.session.wait_logged_on(5)
            assert second.ensure_session() is None  # the lock is held: no second logon with the same CompIDs
            order = second.send_order({**FILL, "symbol": "FILL-VIC1"}, TRADER)
            store = services(second.server).ready_store()
            wait_for(lambda: book.get(store, order.cl_ord_id).state == "filled", 5, "the order filled")
            acceptor.wait_logons(1)

            first.stop_session()
            next_out, _ = SequenceStore(store, first.session_config().session_id).load()
            taken = second.ensure_session()
            assert taken is not None and taken.wait_logged_on(5)
            logons = acceptor.broker.admin("A")
            assert len(logons) == 2 and logons[1].fields[34] == str(next_out)

            first.set_enabled(False, ADMIN)
            wait_for(lambda: second.session is None and len(acceptor.broker.admin("5")) == 2, 3,
                     "the holder's session logged out")
        finally:
            first.stop_session()
            second.stop_session()
