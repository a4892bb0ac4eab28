"""Partner data in the store: an upload is checked, stored whole as the next version and served by time; a bad
file leaves the store and the product as they were."""
from __future__ import annotations

import threading

import pandas as pd
import pytest

from engine.marketplace import data, products
from engine.marketplace.partners import MarketplaceError

COLUMNS = [{"name": "time", "type": "datetime"}, {"name": "region", "type": "text"},
           {"name": "mw", "type": "float", "unit": "MW"}]


def _product(store):
    return products.create_product(store, editor="p1", actor="p", slug="acme-wind", title="Acme wind",
                                   description="", markets=["NEM"], category="generation", update_frequency="hourly",
                                   columns=COLUMNS)


def test_uploads_are_versions_and_the_current_one_is_served_by_time(store):
    product = _product(store)
    first = "time,region,mw\n2026-03-01T00:00:00Z,SA1,1.5\n2026-03-01T01:00:00Z,SA1,\n2026-03-02T00:00:00Z,SA1,3\n"
    assert data.upload(store, product, first.encode(), "a.csv", actor="p") == (1, 3)
    product = products.get_product(store, product.product_id)
    assert product.version == 1
    got = data.rows(store, product, pd.Timestamp("2026-03-01", tz="UTC"), pd.Timestamp("2026-03-02", tz="UTC"))
    assert list(got.columns) == ["time", "region", "mw"] and len(got) == 2 and pd.isna(got["mw"].iloc[1])
    second = "time,region,mw\n2026-03-01T00:00:00Z,SA1,9\n"
    assert data.upload(store, product, second.encode(), "b.csv", actor="p") == (2, 1)
    product = products.get_product(store, product.product_id)
    got = data.rows(store, product, pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2027-01-01", tz="UTC"))
    assert list(got["mw"]) == [9.0]


def test_a_bad_file_stores_nothing_and_keeps_the_version(store):
    product = _product(store)
    data.upload(store, product, b"time,region,mw\n2026-03-01T00:00:00Z,SA1,1\n", "a.csv", actor="p")
    product = products.get_product(store, product.product_id)
    bad = b"time,region,mw\n2026-03-01T02:00:00Z,SA1,2\n2026-03-01T03:00:00Z,SA1,lots\n"
    with pytest.raises(MarketplaceError, match="line 3, column mw"):
        data.upload(store, product, bad, "b.csv", actor="p")
    assert products.get_product(store, product.product_id).version == 1
    assert store.scalar(f"SELECT count() FROM `{data.table_name(product)}`") == 1
    with pytest.raises(MarketplaceError, match="platform product"):
        data.upload(store, products.Product(**{**product.__dict__, "owner": "platform"}), b"x", "a.csv", actor="p")


# ----------------------------------------------------------------------------------- uploads at the same moment

def _site_csv(site: str) -> bytes:
    return ("time,region,mw\n" + "".join(f"2026-03-01T{h:02d}:00:00Z,{site},{h}\n" for h in range(24))).encode()


def _upload_at_once(store, product, sites) -> dict[str, int]:
    """Each of ``sites`` uploaded by a thread of its own, all given the product as read before any landed."""
    answers, errors = {}, []

    def send(site):
        try:
            answers[site] = data.upload(store, product, _site_csv(site), f"{site}.csv", actor="p")[0]
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(s,)) for s in sites]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    return answers


def _versions_are_whole_files(store, product, answers: dict[str, int]) -> None:
    stored = store.query_df(f"SELECT {data.VERSION_COLUMN} AS v, groupUniqArray(region) AS sites, count() AS n "
                            f"FROM `{data.table_name(product)}` GROUP BY v ORDER BY v")
    assert {int(r.v): (list(r.sites), int(r.n)) for r in stored.itertuples()} == {
        v: ([site], 24) for site, v in answers.items()}
    current = products.get_product(store, product.product_id)
    assert current.version == max(answers.values())
    served = data.rows(store, current, pd.Timestamp("2026-03-01", tz="UTC"), pd.Timestamp("2026-03-02", tz="UTC"))
    assert len(served) == 24 and served["region"].nunique() == 1


def test_uploads_at_the_same_moment_are_each_a_version_of_their_own(store):
    product = _product(store)
    answers = _upload_at_once(store, product, ["A", "B", "C", "D"])
    assert sorted(answers.values()) == [1, 2, 3, 4]
    _versions_are_whole_files(store, product, answers)


def test_uploads_from_separate_processes_never_share_a_version(store, monkeypatch):
    """Workers of one ClickHouse server share no lock: each upload here takes a lock of its own, and all four
    read the highest version before any claims one, so all four first ask for the same number."""
    product = _product(store)
    monkeypatch.setattr(products, "product_lock", lambda _id: threading.RLock())
    together, real, first = threading.Barrier(4), data._taken, threading.local()

    def taken(*args):
        found = real(*args)
        if not getattr(first, "done", False):
            first.done = True
            together.wait(timeout=30)
        return found

    monkeypatch.setattr(data, "_taken", taken)
    answers = _upload_at_once(store, product, ["A", "B", "C", "D"])
    assert len(set(answers.values())) == 4
    _versions_are_whole_files(store, product, answers)


@pytest.mark.parametrize("change", ["edit", "status"])
def test_an_edit_does_not_write_back_the_version_it_read(store, monkeypatch, change):
    product = _product(store)
    products.set_price(store, product.product_id, kind="free", price="0", editor="p1", actor="p")
    data.upload(store, product, _site_csv("A"), "a.csv", actor="p")
    real = products._editable

    def read_then_an_upload_lands(store_, product_id, editor):
        found = real(store_, product_id, editor)
        data.upload(store_, found, _site_csv("B"), "b.csv", actor="p")
        return found

    monkeypatch.setattr(products, "_editable", read_then_an_upload_lands)
    if change == "edit":
        products.edit_product(store, product.product_id, editor="p1", actor="p", title="Acme wind, renamed")
    else:
        products.set_status(store, product.product_id, "listed", editor="p1", actor="p")
    assert products.get_product(store, product.product_id).version == 2
