"""/healthz and /readyz: public (a load balancer has no session), ready only with the store answering, every
migration applied and the cache answering, and saying which check failed."""
from __future__ import annotations

from app.services import services
from engine.store import StoreError


def test_the_probes_answer_without_signing_in(make_app):
    app = make_app(auth=True)  # its store not used yet: the probe readies it, as the first visitor would
    client = app.server.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"store": "ok", "migrations": "ok", "cache": "ok"}
    assert client.get("/overview").status_code == 302  # the rest still needs a sign-in


def test_not_ready_names_the_check_that_failed(make_app, monkeypatch):
    app = make_app()
    svc = services(app.server)
    store = svc.ready_store()
    client = app.server.test_client()
    store.command("ALTER TABLE schema_migrations DELETE WHERE version = 16 SETTINGS mutations_sync = 1")
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.get_json()["checks"]["migrations"] == "pending"
    store.command("INSERT INTO schema_migrations (version, name, checksum) SELECT 16, 'marketplace', 'x'")

    def broken(*args, **kwargs):
        raise ConnectionError("redis went away")

    monkeypatch.setattr(svc.cache, "set", broken)
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.get_json()["checks"]["cache"] == "unreachable"
    monkeypatch.undo()

    def down(*args, **kwargs):
        raise StoreError("connection refused")

    monkeypatch.setattr(store, "scalar", down)
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.get_json()["checks"]["store"] == "unreachable"
    assert "connection refused" not in answer.get_data(as_text=True)  # the store's own words go to the log
    assert client.get("/healthz").status_code == 200  # the process still serves
