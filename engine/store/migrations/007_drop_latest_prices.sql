-- The latest-price aggregate goes: it cost every price insert a view and a part of its own, and what
-- read it (which series exist, whether the store is empty, the cache version) is answered as well by the
-- daily aggregate and system.parts.
DROP VIEW IF EXISTS latest_prices_mv;
DROP TABLE IF EXISTS latest_prices;
