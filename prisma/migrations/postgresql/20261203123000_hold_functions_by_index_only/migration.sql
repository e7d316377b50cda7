-- A PL/pgSQL function caches its statements' plans in its connection: after a few calls, one
-- generic plan per statement, kept until the tables' statistics change. A plan made while Hold,
-- LedgerTransaction or UsageRecord was a page or two (a fresh install, a benchmark's first minutes,
-- a pooled connection opened early) is a sequential scan, and it stays one as the table grows until
-- autovacuum next analyzes it: the phases then read every row to look up a few keys (auto_explain
-- of the nested statements: ~500 µs a lookup on a few thousand rows). Every statement in these
-- functions names the keys of the rows it reads or writes, and each table has an index on them, so
-- sequential scans are priced out for the functions' own statements (enable_seqscan = off only adds
-- to a sequential scan's estimated cost: a statement with no index to use still runs). The setting
-- lasts for each call and is restored when it returns. Measured on the ledger alone (reserve+settle
-- in batches of 8, 4,800 pairs on fresh tables): 1,850 -> 790 µs of database CPU per pair.
-- What the setting does not reach: the foreign-key checks' plans, which PostgreSQL keeps per
-- connection and shares with every statement on it, so one first made outside these functions (a
-- transfer's entries) keeps its scan until the next ANALYZE.
ALTER FUNCTION tollgate_reserve SET enable_seqscan = off;
ALTER FUNCTION tollgate_resolve SET enable_seqscan = off;
ALTER FUNCTION tollgate_reserve_batch SET enable_seqscan = off;
ALTER FUNCTION tollgate_resolve_batch SET enable_seqscan = off;
ALTER FUNCTION tollgate_batch SET enable_seqscan = off;
