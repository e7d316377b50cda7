-- A PL/pgSQL function caches each statement's plan in its connection, and keeps it until the
-- tables' statistics change. A plan made while a table was small (a fresh install, the first
-- minutes of a benchmark, a pooled connection opened early) is a sequential scan, and it stays one
-- as the table grows until autovacuum next analyzes it: every phase then read every Hold,
-- LedgerTransaction and UsageRecord row to look up a few keys (measured: 1.1 ms of database CPU per
-- reserve+settle pair in batches of 8 on fresh tables, 0.76 ms with this setting; the lookups
-- themselves went from ~500 µs to ~40 µs each). Every statement in these functions finds its rows
-- by a unique key or a primary key, so an index path is always the right one: with seqscan
-- disabled for the functions' own statements the planner takes it whatever the statistics say.
-- (enable_seqscan = off only prices a sequential scan out; a statement with no index to use still
-- runs.) The setting lasts for each call and is restored when it returns.
ALTER FUNCTION tollgate_reserve SET enable_seqscan = off;
ALTER FUNCTION tollgate_resolve SET enable_seqscan = off;
ALTER FUNCTION tollgate_reserve_batch SET enable_seqscan = off;
ALTER FUNCTION tollgate_resolve_batch SET enable_seqscan = off;
ALTER FUNCTION tollgate_batch SET enable_seqscan = off;
