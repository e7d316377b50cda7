-- The hold functions of 20261202030000_hold_functions, with the row locks they take up front in
-- FOR NO KEY UPDATE mode instead of FOR UPDATE. FOR UPDATE also blocks FOR KEY SHARE, the lock every
-- foreign-key check takes on the row it references: with it, every concurrent insert of a hold or
-- a ledger entry naming a busy account (the wallet, the revenue account) waited for whole batches
-- to commit. NO KEY UPDATE (what an UPDATE that leaves the key alone takes anyway) lets those checks
-- through. A single reservation or resolution now locks its accounts first too, before inserting
-- the rows that reference them, so its own foreign-key checks find the lock already held.

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
LANGUAGE plpgsql AS $$
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
BEGIN
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
    INSERT INTO "Hold" ("id", "idempotencyKey", "debitAccountId", "creditAccountId", "amount", "status", "groupId", "memo", "expiresAt", "createdAt")
    VALUES (
      p_hold_ids[i],
      CASE WHEN cardinality(hold_ids) = 0 THEN p_idempotency_key ELSE p_idempotency_key || ':' || cardinality(hold_ids) END,
      p_sources[i], p_credit_account_id, take, 'PENDING',
      CASE WHEN n = 1 THEN NULL ELSE p_idempotency_key END,
      p_memo, p_expires_at, p_now
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
LANGUAGE plpgsql AS $$
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

-- Group commit: the reservations (or resolutions) that concurrent requests ask for in the same turn
-- of a gateway's event loop, as one call and one transaction, so one commit (and one WAL flush) for
-- all of them. Each runs in its own subtransaction: one that fails is rolled back alone and reported
-- on its row ('<SQLSTATE> <message>'). A batch first locks every user account it will touch, in one
-- order (by id, byte-wise), so two batches touching the same user wait for each other instead of
-- deadlocking; a resolution batch credits the system accounts once, at its very end.

CREATE OR REPLACE FUNCTION tollgate_text_array(p jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(array_agg(e.value ORDER BY e.ordinality), '{}') FROM jsonb_array_elements_text(p) WITH ORDINALITY AS e(value, ordinality)
$$;

CREATE OR REPLACE FUNCTION tollgate_reserve_batch(p_items jsonb)
RETURNS TABLE (out_index integer, out_error text, out_hold_id text, out_account_id text, out_amount bigint, out_requests integer, out_committed bigint, out_spent bigint)
LANGUAGE plpgsql AS $$
DECLARE
  item jsonb;
  idx integer := 0;
BEGIN
  PERFORM 1 FROM "LedgerAccount" a
  WHERE a."id" IN (SELECT jsonb_array_elements_text(i.value->'sources') FROM jsonb_array_elements(p_items) AS i(value))
  ORDER BY a."id" COLLATE "C" FOR NO KEY UPDATE;
  FOR item IN SELECT e.value FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(value, ordinality) ORDER BY e.ordinality LOOP
    BEGIN
      RETURN QUERY SELECT idx, NULL::text, r.* FROM tollgate_reserve(
        tollgate_text_array(item->'holdIds'), item->>'idempotencyKey', tollgate_text_array(item->'sources'), item->>'creditAccountId',
        (item->>'amount')::bigint, item->>'memo', (item->>'now')::timestamp(3), (item->>'expiresAt')::timestamp(3), item->>'keyId', item->>'day') AS r;
    EXCEPTION WHEN OTHERS THEN
      RETURN QUERY SELECT idx, SQLSTATE || ' ' || SQLERRM, NULL::text, NULL::text, NULL::bigint, NULL::integer, NULL::bigint, NULL::bigint;
    END;
    idx := idx + 1;
  END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION tollgate_resolve_batch(p_items jsonb)
RETURNS TABLE (out_index integer, out_error text, out_account_id text, out_balance bigint, out_available bigint)
LANGUAGE plpgsql AS $$
DECLARE
  item jsonb;
  idx integer := 0;
  credit_accounts text[] := '{}';
  credit_amounts bigint[] := '{}';
  credit record;
BEGIN
  PERFORM 1 FROM "LedgerAccount" a
  WHERE a."id" IN (SELECT jsonb_array_elements_text(i.value->'debitAccountIds') FROM jsonb_array_elements(p_items) AS i(value))
  ORDER BY a."id" COLLATE "C" FOR NO KEY UPDATE;
  FOR item IN SELECT e.value FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(value, ordinality) ORDER BY e.ordinality LOOP
    BEGIN
      RETURN QUERY SELECT idx, NULL::text, r.* FROM tollgate_resolve(
        tollgate_text_array(item->'holdIds'), tollgate_text_array(item->'debitAccountIds'), tollgate_text_array(item->'creditAccountIds'),
        tollgate_text_array(item->'amounts')::bigint[], item->>'status', tollgate_text_array(item->'shares')::bigint[], tollgate_text_array(item->'resolveKeys'),
        tollgate_text_array(item->'transactionIds'), tollgate_text_array(item->'entryIds'), item->>'memo', (item->>'now')::timestamp(3),
        item->>'keyId', item->>'day', CASE WHEN jsonb_typeof(item->'usage') = 'object' THEN item->'usage' END, false) AS r;
      -- Reached only if it succeeded: its credits join the batch's.
      credit_accounts := credit_accounts || tollgate_text_array(item->'creditAccountIds');
      credit_amounts := credit_amounts || tollgate_text_array(item->'shares')::bigint[];
    EXCEPTION WHEN OTHERS THEN
      RETURN QUERY SELECT idx, SQLSTATE || ' ' || SQLERRM, NULL::text, NULL::bigint, NULL::bigint;
    END;
    idx := idx + 1;
  END LOOP;
  FOR credit IN
    SELECT c.account, sum(c.share)::bigint AS total FROM unnest(credit_accounts, credit_amounts) AS c(account, share)
    GROUP BY c.account HAVING sum(c.share) > 0 ORDER BY c.account COLLATE "C"
  LOOP
    UPDATE "LedgerAccount" a SET "balance" = a."balance" + credit.total, "available" = a."available" + credit.total, "updatedAt" = now() AT TIME ZONE 'UTC' WHERE a."id" = credit.account;
  END LOOP;
END;
$$;
