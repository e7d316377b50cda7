-- The hold functions' statements run on one generic plan each instead of being planned again on
-- every call. A PL/pgSQL statement that reads a variable is a parameterized query, and under the
-- default plan_cache_mode (auto) PostgreSQL plans such a query afresh with the call's values
-- (a "custom" plan) for as long as that looks no dearer than the generic plan; for these
-- statements it kept doing so. Planning then took ~17% of the database's CPU under the benchmark's
-- load (perf, PostgreSQL 15: GetCachedPlan → pg_plan_queries), a cost paid once per statement per
-- batch whatever the batch's size. Every statement here names the keys of the rows it touches and
-- enable_seqscan = off (20261203123000) already steers its plan to their indexes, so the call's
-- values have nothing left to change in it. Measured on the ledger alone (reserve + settle with a
-- usage row, 8 concurrent callers, three alternating pairs): 362 / 487 / 465 -> 318 / 370 / 360 µs
-- of the database's CPU a call.
-- The setting lasts for each call (and the calls it makes) and is restored when it returns; the
-- foreign-key checks the functions' writes fire run inside the call and follow it too.
-- CREATE OR REPLACE FUNCTION resets a function's SET options: a later migration that replaces one
-- of these functions must set both options again (test/hot-path-storage.test.ts checks them).
ALTER FUNCTION tollgate_reserve SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION tollgate_resolve SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION tollgate_reserve_batch SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION tollgate_resolve_batch SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION tollgate_batch SET plan_cache_mode = force_generic_plan;
