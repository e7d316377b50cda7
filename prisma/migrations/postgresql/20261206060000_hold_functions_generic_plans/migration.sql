-- The hold functions' statements run on one generic plan each instead of being planned again on
-- every call. A PL/pgSQL statement that reads a variable is a parameterized query, and under the
-- default plan_cache_mode (auto) PostgreSQL plans such a query afresh with the call's values
-- (a "custom" plan) for as long as that looks no dearer than the generic plan; the statements over
-- the functions' arrays (unnest(…), = ANY(…)) kept being planned so, once per statement per batch
-- whatever the batch's size. Planning then took ~17% of the database's CPU under the benchmark's
-- load (perf, PostgreSQL 15: GetCachedPlan, mostly pg_plan_queries). enable_seqscan = off
-- (20261203123000) already steers these statements to the indexes on the keys they name, so the
-- call's values have little left to change in a plan. Measured on the ledger alone (reserve +
-- settle with a usage row, 8 concurrent callers, seven alternating pairs): 3-35% less database CPU
-- a call in every pair (docs/performance-history.md, round 24).
-- A generic plan is kept until the tables it reads are invalidated (an ANALYZE, autovacuum's
-- included), where a custom plan saw the table's current size on every call. A plan made while a
-- table was empty can prefer another index than the key's (on an empty PackLot, the update that
-- marks a drained lot EXHAUSTED reads the ACTIVE lots by status): a table that grows is analyzed
-- after its first ~50 changed rows, and the plan is made again then, with the key's index.
-- The setting lasts for each call (and the calls it makes) and is restored when it returns. The
-- foreign-key checks the functions' writes fire run inside the call and read it too, but their
-- plans are the connection's (20261203123000 says why that matters).
-- CREATE OR REPLACE FUNCTION resets a function's SET options: a later migration that replaces one
-- of these functions must set both options again (test/hot-path-storage.test.ts checks them).
ALTER FUNCTION tollgate_reserve SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION tollgate_resolve SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION tollgate_reserve_batch SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION tollgate_resolve_batch SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION tollgate_batch SET plan_cache_mode = force_generic_plan;
