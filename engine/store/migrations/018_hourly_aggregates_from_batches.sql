-- The hourly aggregates are filled by the writer from each batch's inserted rows (engine/store/writer.py,
-- Aggregate.from_batch in engine/store/tables.py), no longer by views on the base tables (issue 14).
--
-- A view aggregated every inserted block inside ClickHouse: for hourly nodal prices each row is its own
-- series-hour, so the view grouped a million rows into a million buckets and inserted them in hash order,
-- which took about four times as long as storing the rows themselves (and most of a NEM month's store time
-- went to the views too). The writer's rows arrive sorted by series and time, so numpy sums each bucket in
-- one pass and the buckets arrive in the table's order. What the views guaranteed holds: a batch's rows count
-- once (reloads write no rows, so add nothing), a revision's buckets are rebuilt from the base table, and a
-- batch that fails is taken back from the base table and its buckets rebuilt.
--
-- The daily price aggregate stays fed by its view on prices_hourly. Every writer of the base tables goes
-- through write_tables; a row inserted around it would no longer reach the hourly aggregates.

DROP VIEW IF EXISTS prices_hourly_mv;
DROP VIEW IF EXISTS demand_hourly_mv;
DROP VIEW IF EXISTS nodal_lmp_hourly_mv;
