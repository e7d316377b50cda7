-- The single-call hold functions, each with a fast path for its common case: a reservation from
-- one source (the wallet) and the resolution of one hold. A phase takes it when it goes alone
-- (every phase at one connection, and any phase that finds no other waiting) and has that one
-- source or hold; a call drawing a pack lot and the wallet takes the general path. The general
-- paths below are those of 20261202100738_hold_quota and 20261202060000_hold_batches, unchanged;
-- the signatures are unchanged, so instances on either side of a rolling upgrade call them alike.
--
-- Why: at one connection a phase's own statements were most of what PostgreSQL spent on it.
-- PL/pgSQL runs each statement through the executor separately (start, snapshot, locks on its
-- relations and their indexes, end), and the reservation ran five for one source, the resolution
-- nine for one hold. The fast paths run two and five or six: the reservation as a lock and one
-- statement of chained data-modifying CTEs, the resolution with plain values instead of arrays,
-- skipping the lot and credit steps when they have nothing to do, and returning its row without a
-- query. Measured on the ledger alone (reserve + settle with a usage row on one connection, the
-- database backend's CPU from /proc, old and new functions alternating): docs/performance-history.md,
-- round 25.
--
-- Same results and refusals as before, in the same order: a replayed idempotency key fails on the
-- hold's unique index first; a missing account fails its foreign key (23503); then too little
-- money (insufficient_funds); then the key's limits or a revoked key (daily_quota); a hold no
-- longer pending, hold_not_pending. Rows are locked as before: the paying account first, then the
-- key (the reservation's foreign-key checks take a key-share lock on the credit account, which no
-- ledger write conflicts with, now at the end of its statement rather than after the hold's insert).
--
-- CREATE OR REPLACE FUNCTION resets a function's SET options, so both are given here again
-- (20261203123000, 20261206060000; test/hot-path-storage.test.ts checks them).

CREATE OR REPLACE FUNCTION tollgate_reserve(
  p_hold_ids text[],
  p_idempotency_key text,
  p_sources text[],
  p_credit_account_id text,
  p_amount bigint,
  p_memo text,
  p_now timestamp(3),
  p_expires_at timestamp(3),
  p_key_id text,
  p_day text
) RETURNS TABLE (out_hold_id text, out_account_id text, out_amount bigint, out_requests integer, out_committed bigint, out_spent bigint)
LANGUAGE plpgsql
SET enable_seqscan = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  n integer := cardinality(p_sources);
  remaining bigint := p_amount;
  take bigint;
  avail bigint;
  hold_ids text[] := '{}';
  account_ids text[] := '{}';
  amounts bigint[] := '{}';
  requests integer;
  committed bigint;
  spent bigint;
  paid_from text;
BEGIN
  IF n = 1 AND p_amount > 0 THEN
    -- One source (a wallet, or a packs-only key's one lot): its row locked, then the rest as one
    -- statement. The lock comes first, as below, and not only for the order of locks: the
    -- statement's snapshot is taken once it is held, so a writer of the account that was still
    -- running (a settlement or release freeing money, a deposit) has committed and is seen. In
    -- the same statement the UPDATE alone would test the balance on the version its snapshot
    -- saw, and skip the row without waiting when that version was short.
    -- Then the hold row, as below: a replayed key fails on its unique index before anything else
    -- is looked at; the source's balance next, then the key's limits, each step only if the one
    -- before it wrote. The foreign keys are checked at the statement's end, before the refusals
    -- below, so a missing account still fails as one (23503) rather than as too little money.
    PERFORM 1 FROM "LedgerAccount" a WHERE a."id" = p_sources[1] FOR NO KEY UPDATE;
    WITH hold AS (
      INSERT INTO "Hold" ("id", "idempotencyKey", "debitAccountId", "creditAccountId", "amount", "status", "groupId", "memo", "expiresAt", "createdAt", "quotaKeyId", "quotaDay")
      VALUES (p_hold_ids[1], p_idempotency_key, p_sources[1], p_credit_account_id, p_amount, 'PENDING', NULL, p_memo, p_expires_at, p_now, p_key_id, CASE WHEN p_key_id IS NULL THEN NULL ELSE p_day END)
      RETURNING 1
    ), source AS (
      UPDATE "LedgerAccount" a SET "available" = a."available" - p_amount, "updatedAt" = p_now
      WHERE a."id" = p_sources[1] AND a."available" >= p_amount AND EXISTS (SELECT 1 FROM hold)
      RETURNING a."id"
    ), quota AS (
      UPDATE "ApiKey" k SET
        "requestsToday" = (CASE WHEN k."usageDay" = p_day THEN k."requestsToday" ELSE 0 END) + 1,
        "committedToday" = (CASE WHEN k."usageDay" = p_day THEN k."committedToday" ELSE 0 END) + p_amount,
        "spentToday" = CASE WHEN k."usageDay" = p_day THEN k."spentToday" ELSE 0 END,
        "usageDay" = p_day,
        "updatedAt" = p_now
      WHERE k."id" = p_key_id AND k."usageDay" <= p_day AND k."revokedAt" IS NULL AND EXISTS (SELECT 1 FROM source)
        AND (k."dailyRequestLimit" IS NULL OR (CASE WHEN k."usageDay" = p_day THEN k."requestsToday" ELSE 0 END) < k."dailyRequestLimit")
        AND (k."dailyBudget" IS NULL OR (CASE WHEN k."usageDay" = p_day THEN k."committedToday" ELSE 0 END) + p_amount <= k."dailyBudget")
      RETURNING k."requestsToday", k."committedToday", k."spentToday"
    )
    SELECT s."id", q."requestsToday", q."committedToday", q."spentToday" INTO paid_from, requests, committed, spent
    FROM source s LEFT JOIN quota q ON true;
    IF paid_from IS NULL THEN RAISE EXCEPTION 'tollgate:insufficient_funds'; END IF;
    IF p_key_id IS NOT NULL AND requests IS NULL THEN RAISE EXCEPTION 'tollgate:daily_quota'; END IF;
    out_hold_id := p_hold_ids[1];
    out_account_id := paid_from;
    out_amount := p_amount;
    out_requests := requests;
    out_committed := committed;
    out_spent := spent;
    RETURN NEXT;
    RETURN;
  END IF;

  -- Every source locked up front, in one order (by id): two reservations drawing the same lots in
  -- different priority orders cannot deadlock, and the hold's foreign key then finds its debit
  -- account already locked by this transaction (no extra row lock to share with other writers).
  PERFORM 1 FROM "LedgerAccount" a WHERE a."id" = ANY (p_sources) ORDER BY a."id" COLLATE "C" FOR NO KEY UPDATE;
  FOR i IN 1..n LOOP
    EXIT WHEN remaining = 0;
    IF i < n THEN
      SELECT a."available" INTO avail FROM "LedgerAccount" a WHERE a."id" = p_sources[i];
      IF NOT FOUND THEN RAISE EXCEPTION 'tollgate:account_not_found'; END IF;
      take := LEAST(avail, remaining);
      CONTINUE WHEN take <= 0;
    ELSE
      take := remaining;
    END IF;
    -- The hold row first: a replayed key fails on its unique index before the balance check.
    INSERT INTO "Hold" ("id", "idempotencyKey", "debitAccountId", "creditAccountId", "amount", "status", "groupId", "memo", "expiresAt", "createdAt", "quotaKeyId", "quotaDay")
    VALUES (
      p_hold_ids[i],
      CASE WHEN cardinality(hold_ids) = 0 THEN p_idempotency_key ELSE p_idempotency_key || ':' || cardinality(hold_ids) END,
      p_sources[i], p_credit_account_id, take, 'PENDING',
      CASE WHEN n = 1 THEN NULL ELSE p_idempotency_key END,
      p_memo, p_expires_at, p_now,
      p_key_id, CASE WHEN p_key_id IS NULL THEN NULL ELSE p_day END
    );
    UPDATE "LedgerAccount" a SET "available" = a."available" - take, "updatedAt" = p_now WHERE a."id" = p_sources[i] AND a."available" >= take;
    IF NOT FOUND THEN
      PERFORM 1 FROM "LedgerAccount" a WHERE a."id" = p_sources[i];
      IF NOT FOUND THEN RAISE EXCEPTION 'tollgate:account_not_found'; END IF;
      RAISE EXCEPTION 'tollgate:insufficient_funds';
    END IF;
    hold_ids := hold_ids || p_hold_ids[i];
    account_ids := account_ids || p_sources[i];
    amounts := amounts || take;
    remaining := remaining - take;
  END LOOP;

  IF p_key_id IS NOT NULL THEN
    -- The key's own limits; an earlier day's counters count as zero, a later day refuses, a revoked key refuses.
    UPDATE "ApiKey" k SET
      "requestsToday" = (CASE WHEN k."usageDay" = p_day THEN k."requestsToday" ELSE 0 END) + 1,
      "committedToday" = (CASE WHEN k."usageDay" = p_day THEN k."committedToday" ELSE 0 END) + p_amount,
      "spentToday" = CASE WHEN k."usageDay" = p_day THEN k."spentToday" ELSE 0 END,
      "usageDay" = p_day,
      "updatedAt" = p_now
    WHERE k."id" = p_key_id AND k."usageDay" <= p_day AND k."revokedAt" IS NULL
      AND (k."dailyRequestLimit" IS NULL OR (CASE WHEN k."usageDay" = p_day THEN k."requestsToday" ELSE 0 END) < k."dailyRequestLimit")
      AND (k."dailyBudget" IS NULL OR (CASE WHEN k."usageDay" = p_day THEN k."committedToday" ELSE 0 END) + p_amount <= k."dailyBudget")
    RETURNING k."requestsToday", k."committedToday", k."spentToday" INTO requests, committed, spent;
    IF NOT FOUND THEN RAISE EXCEPTION 'tollgate:daily_quota'; END IF;
  END IF;

  RETURN QUERY SELECT h.id, h.account, h.amount, requests, committed, spent
    FROM unnest(hold_ids, account_ids, amounts) AS h(id, account, amount);
END;
$$;

CREATE OR REPLACE FUNCTION tollgate_resolve(
  p_hold_ids text[],
  p_debit_account_ids text[],
  p_credit_account_ids text[],
  p_amounts bigint[],
  p_status text,
  p_shares bigint[],
  p_resolve_keys text[],
  p_transaction_ids text[],
  p_entry_ids text[],
  p_memo text,
  p_now timestamp(3),
  p_key_id text,
  p_day text,
  p_usage jsonb,
  p_apply_credits boolean DEFAULT true
) RETURNS TABLE (out_account_id text, out_balance bigint, out_available bigint)
LANGUAGE plpgsql
SET enable_seqscan = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  n integer := cardinality(p_hold_ids);
  share bigint;
  txn text;
  ids text[] := '{}';
  balances bigint[] := '{}';
  availables bigint[] := '{}';
  acc text;
  bal bigint;
  avl bigint;
  credit record;
BEGIN
  IF n = 1 AND p_transaction_ids[1] IS NULL THEN
    -- One hold posting no transaction of its own (every resolution since 20261205225239), with
    -- plain values where the general path below goes through arrays: the same rows written, in
    -- the same order, with three statements fewer (the lot and credit steps are skipped when
    -- they have nothing to do, and the result is returned without a query).
    share := p_shares[1];
    PERFORM 1 FROM "LedgerAccount" a WHERE a."id" = p_debit_account_ids[1] FOR NO KEY UPDATE;
    UPDATE "Hold" h SET
      "status" = p_status::"HoldStatus",
      "settledAmount" = CASE WHEN p_status = 'SETTLED' THEN share END,
      "resolveIdempotencyKey" = p_resolve_keys[1],
      "transactionId" = NULL,
      "resolvedAt" = p_now
    WHERE h."id" = p_hold_ids[1] AND h."status" = 'PENDING' AND h."amount" = p_amounts[1]
      AND h."debitAccountId" = p_debit_account_ids[1] AND h."creditAccountId" = p_credit_account_ids[1];
    IF NOT FOUND THEN RAISE EXCEPTION 'tollgate:hold_not_pending'; END IF;
    UPDATE "LedgerAccount" a SET "balance" = a."balance" - share, "available" = a."available" + (p_amounts[1] - share), "updatedAt" = p_now
    WHERE a."id" = p_debit_account_ids[1]
    RETURNING a."id", a."balance", a."available" INTO out_account_id, out_balance, out_available;
    IF NOT FOUND THEN RAISE EXCEPTION 'tollgate:account_not_found'; END IF;
    IF p_status = 'SETTLED' AND out_balance = 0 THEN
      UPDATE "PackLot" l SET "status" = 'EXHAUSTED' WHERE l."accountId" = out_account_id AND l."status" = 'ACTIVE';
    END IF;
    IF p_key_id IS NOT NULL THEN
      IF p_status = 'SETTLED' THEN
        UPDATE "ApiKey" k SET
          "committedToday" = k."committedToday" - (p_amounts[1] - share),
          "spentToday" = k."spentToday" + share,
          "lastUsedAt" = p_now, "updatedAt" = p_now
        WHERE k."id" = p_key_id AND k."usageDay" = p_day;
      ELSE
        UPDATE "ApiKey" k SET
          "committedToday" = k."committedToday" - p_amounts[1],
          "requestsToday" = k."requestsToday" - 1,
          "updatedAt" = p_now
        WHERE k."id" = p_key_id AND k."usageDay" = p_day;
      END IF;
    END IF;
    IF p_usage IS NOT NULL THEN
      INSERT INTO "UsageRecord" ("id", "requestId", "userId", "apiKeyId", "modelId", "providerId", "stream", "promptTokens", "completionTokens", "cachedTokens", "cost", "latencyMs", "status", "errorCode", "createdAt")
      SELECT u."id", u."requestId", u."userId", u."apiKeyId", u."modelId", u."providerId", u."stream", u."promptTokens", u."completionTokens", u."cachedTokens", u."cost", u."latencyMs", u."status", u."errorCode", u."createdAt"
      FROM jsonb_populate_record(NULL::"UsageRecord", p_usage) AS u;
    END IF;
    IF p_apply_credits AND share > 0 THEN
      UPDATE "LedgerAccount" a SET "balance" = a."balance" + share, "available" = a."available" + share, "updatedAt" = p_now
      WHERE a."id" = p_credit_account_ids[1];
    END IF;
    RETURN NEXT;
    RETURN;
  END IF;

  PERFORM 1 FROM "LedgerAccount" a WHERE a."id" = ANY (p_debit_account_ids) ORDER BY a."id" COLLATE "C" FOR NO KEY UPDATE;
  FOR i IN 1..n LOOP
    share := p_shares[i];
    txn := p_transaction_ids[i];
    IF txn IS NOT NULL THEN
      INSERT INTO "LedgerTransaction" ("id", "idempotencyKey", "kind", "memo", "actor", "createdAt")
      VALUES (txn, 'settle:' || p_resolve_keys[i], 'settle', p_memo, NULL, p_now);
      INSERT INTO "LedgerEntry" ("id", "transactionId", "accountId", "amount", "createdAt")
      VALUES (p_entry_ids[2 * i - 1], txn, p_debit_account_ids[i], -share, p_now),
             (p_entry_ids[2 * i], txn, p_credit_account_ids[i], share, p_now);
    END IF;
    -- Exactly once, and only for the hold as referenced (amount and accounts).
    UPDATE "Hold" h SET
      "status" = p_status::"HoldStatus",
      "settledAmount" = CASE WHEN p_status = 'SETTLED' THEN share END,
      "resolveIdempotencyKey" = p_resolve_keys[i],
      "transactionId" = txn,
      "resolvedAt" = p_now
    WHERE h."id" = p_hold_ids[i] AND h."status" = 'PENDING' AND h."amount" = p_amounts[i]
      AND h."debitAccountId" = p_debit_account_ids[i] AND h."creditAccountId" = p_credit_account_ids[i];
    IF NOT FOUND THEN RAISE EXCEPTION 'tollgate:hold_not_pending'; END IF;
    UPDATE "LedgerAccount" a SET "balance" = a."balance" - share, "available" = a."available" + (p_amounts[i] - share), "updatedAt" = p_now
    WHERE a."id" = p_debit_account_ids[i]
    RETURNING a."id", a."balance", a."available" INTO acc, bal, avl;
    IF NOT FOUND THEN RAISE EXCEPTION 'tollgate:account_not_found'; END IF;
    ids := ids || acc;
    balances := balances || bal;
    availables := availables || avl;
  END LOOP;

  IF p_status = 'SETTLED' THEN
    -- A pack lot drawn down to nothing is EXHAUSTED, in the settlement that emptied it.
    UPDATE "PackLot" l SET "status" = 'EXHAUSTED'
    FROM unnest(ids, balances) AS s(account, balance)
    WHERE l."accountId" = s.account AND s.balance = 0 AND l."status" = 'ACTIVE';
  END IF;

  IF p_key_id IS NOT NULL THEN
    IF p_status = 'SETTLED' THEN
      UPDATE "ApiKey" k SET
        "committedToday" = k."committedToday" - ((SELECT sum(x) FROM unnest(p_amounts) x) - (SELECT sum(x) FROM unnest(p_shares) x)),
        "spentToday" = k."spentToday" + (SELECT sum(x) FROM unnest(p_shares) x),
        "lastUsedAt" = p_now, "updatedAt" = p_now
      WHERE k."id" = p_key_id AND k."usageDay" = p_day;
    ELSE
      UPDATE "ApiKey" k SET
        "committedToday" = k."committedToday" - (SELECT sum(x) FROM unnest(p_amounts) x),
        "requestsToday" = k."requestsToday" - 1,
        "updatedAt" = p_now
      WHERE k."id" = p_key_id AND k."usageDay" = p_day;
    END IF;
  END IF;

  IF p_usage IS NOT NULL THEN
    INSERT INTO "UsageRecord" ("id", "requestId", "userId", "apiKeyId", "modelId", "providerId", "stream", "promptTokens", "completionTokens", "cachedTokens", "cost", "latencyMs", "status", "errorCode", "createdAt")
    SELECT u."id", u."requestId", u."userId", u."apiKeyId", u."modelId", u."providerId", u."stream", u."promptTokens", u."completionTokens", u."cachedTokens", u."cost", u."latencyMs", u."status", u."errorCode", u."createdAt"
    FROM jsonb_populate_record(NULL::"UsageRecord", p_usage) AS u;
  END IF;

  -- Credit (system) accounts last, once each: the same lock order as every other ledger write. A
  -- batch (below) credits them once for all its resolutions instead.
  IF p_apply_credits THEN
  FOR credit IN
    SELECT c.account, sum(c.share)::bigint AS total FROM unnest(p_credit_account_ids, p_shares) AS c(account, share)
    GROUP BY c.account HAVING sum(c.share) > 0 ORDER BY c.account COLLATE "C"
  LOOP
    UPDATE "LedgerAccount" a SET "balance" = a."balance" + credit.total, "available" = a."available" + credit.total, "updatedAt" = p_now WHERE a."id" = credit.account;
  END LOOP;
  END IF;


  RETURN QUERY SELECT s.account, s.balance, s.available FROM unnest(ids, balances, availables) AS s(account, balance, available);
END;
$$;
