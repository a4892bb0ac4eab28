"""`flask marketplace platform-products` on a real store: it creates, prices and lists the platform's own products
over the series the store holds, changes nothing when run again, lists without writing under --list-only, and
refuses with a message when a declared slug is a partner's."""
from __future__ import annotations

from engine import demo
from engine.marketplace import partners, platform, products
from engine.store import write_tables
from tests.test_marketplace_pages import row_counts


def _run(runner, *args: str):
    result = runner.invoke(args=["marketplace", "platform-products", *args])
    return result, result.stdout  # logs go to stderr: the listing is stdout's


def test_platform_products_created_once_then_listed(make_app):
    from app.services import services

    app = make_app()
    store = services(app.server).ready_store()
    runner = app.server.test_cli_runner()
    # an empty store: every declared product waits for its series, nothing is created
    result, shown = _run(runner)
    assert result.exit_code == 0, result.output
    assert products.owned_by(store, products.PLATFORM) == []
    assert f"0 of {len(platform.DECLARED)} platform products listed; {len(platform.DECLARED)} wait" in shown
    write_tables(store, demo.nem_demo_frames(days=3), source="demo")
    expected = {slug for slug, d in platform.DECLARED.items()
                if (d.source.market, d.source.location, d.source.price_kind) in platform.stored_series(store)}
    assert expected  # the demo's NEM series back some declared products
    before = row_counts(store)
    result, shown = _run(runner, "--list-only")
    assert result.exit_code == 0, result.output
    assert row_counts(store) == before
    listing = {line.split()[0]: line for line in shown.splitlines() if line.split() and line.split()[0] in
               platform.DECLARED}
    assert set(listing) == set(platform.DECLARED)
    assert all("to create" in listing[slug] for slug in expected)
    assert all("no data" in line for slug, line in listing.items() if slug not in expected)
    result, shown = _run(runner)
    assert result.exit_code == 0, result.output
    made = {p.slug: p for p in products.owned_by(store, products.PLATFORM)}
    assert set(made) == expected and all(p.status == "listed" and p.plans for p in made.values())
    listing = {line.split()[0]: line for line in shown.splitlines() if line.split() and line.split()[0] in
               platform.DECLARED}
    assert all(" listed " in listing[slug] and " per " in listing[slug] for slug in expected)
    assert f"{len(expected)} of {len(platform.DECLARED)} platform products listed" in shown
    # idempotent: a second run writes nothing and prints the same listing
    before = row_counts(store)
    again, shown_again = _run(runner)
    assert again.exit_code == 0 and shown_again == shown
    assert row_counts(store) == before


def test_a_declared_slug_held_by_a_partner_is_refused_with_a_message(make_app):
    from app.services import services

    app = make_app()
    store = services(app.server).ready_store()
    write_tables(store, demo.nem_demo_frames(days=2), source="demo")
    stored = platform.stored_series(store)
    slug = next(s for s, d in platform.DECLARED.items()
                if (d.source.market, d.source.location, d.source.price_kind) in stored)
    partner = partners.register_partner(store, organisation="Squatter Data", contact_email="s@squat.example",
                                        payout_reference="GB00SQUAT0001", user_id="squatter", actor="t")
    products.create_product(store, editor=partner.partner_id, actor="t", slug=slug, title="Not the platform's",
                            description="", markets=["NEM"], category="prices", update_frequency="hourly",
                            columns=[{"name": "time", "type": "datetime"}, {"name": "v", "type": "float"}])
    before = row_counts(store)
    result, _ = _run(app.server.test_cli_runner())
    assert result.exit_code != 0
    assert row_counts(store) == before  # refused before any other product was written
    assert f"the slug {slug} belongs to a partner product" in result.output
