-- A hold records the API key and UTC day whose daily limits its reservation took (quotaKeyId,
-- quotaDay), so that the sweeper, releasing the hold of a call whose process died, gives them back
-- to the key: before, the hold's amount stayed in the key's committedToday (and its request in
-- requestsToday) for the rest of the day.

-- AlterTable
ALTER TABLE "Hold" ADD COLUMN     "quotaDay" TEXT,
ADD COLUMN     "quotaKeyId" TEXT;

-- The two reservation functions of 20261202060000_hold_batches, unchanged but for the two columns.

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

CREATE OR REPLACE FUNCTION tollgate_reserve_batch(p_items jsonb)
RETURNS TABLE (out_index integer, out_error text, out_hold_id text, out_account_id text, out_amount bigint, out_requests integer, out_committed bigint, out_spent bigint)
LANGUAGE plpgsql AS $$
DECLARE
  -- Accounts, locked: id, running available, whether it changed.
  acc_ids text[];
  acc_avail bigint[];
  acc_dirty boolean[];
  -- Keys, locked: their day, counters, limits.
  key_ids text[];
  key_day text[];
  key_req integer[];
  key_com bigint[];
  key_spent bigint[];
  key_req_limit integer[];
  key_budget bigint[];
  key_revoked boolean[];
  key_dirty boolean[];
  used_keys text[];
  -- The holds to insert.
  n_id text[] := '{}';
  n_key text[] := '{}';
  n_debit text[] := '{}';
  n_credit text[] := '{}';
  n_amount bigint[] := '{}';
  n_group text[] := '{}';
  n_memo text[] := '{}';
  n_expires timestamp(3)[] := '{}';
  n_now timestamp(3)[] := '{}';
  n_qkey text[] := '{}';
  n_qday text[] := '{}';
  item jsonb;
  idx integer := -1;
  sources text[];
  hold_ids text[];
  n integer;
  remaining bigint;
  take bigint;
  pos integer;
  kpos integer;
  failure text;
  item_accounts integer[];
  item_takes bigint[];
  item_holds text[];
  hkey text;
  amount bigint;
  p_day text;
  cur_req integer;
  cur_com bigint;
  cur_spent bigint;
  i integer;
BEGIN
  SELECT coalesce(array_agg(a.id ORDER BY a.id COLLATE "C"), '{}'), coalesce(array_agg(a.available ORDER BY a.id COLLATE "C"), '{}')
    INTO acc_ids, acc_avail
    FROM (SELECT l."id", l."available" FROM "LedgerAccount" l
          WHERE l."id" IN (SELECT jsonb_array_elements_text(e.value->'sources') FROM jsonb_array_elements(p_items) AS e(value))
          ORDER BY l."id" COLLATE "C" FOR NO KEY UPDATE) a;
  acc_dirty := array_fill(false, ARRAY[cardinality(acc_ids)]);
  SELECT coalesce(array_agg(k."id" ORDER BY k."id" COLLATE "C"), '{}'), coalesce(array_agg(k."usageDay" ORDER BY k."id" COLLATE "C"), '{}'),
         coalesce(array_agg(k."requestsToday" ORDER BY k."id" COLLATE "C"), '{}'), coalesce(array_agg(k."committedToday" ORDER BY k."id" COLLATE "C"), '{}'),
         coalesce(array_agg(k."spentToday" ORDER BY k."id" COLLATE "C"), '{}'), coalesce(array_agg(k."dailyRequestLimit" ORDER BY k."id" COLLATE "C"), '{}'),
         coalesce(array_agg(k."dailyBudget" ORDER BY k."id" COLLATE "C"), '{}'), coalesce(array_agg(k."revokedAt" IS NOT NULL ORDER BY k."id" COLLATE "C"), '{}')
    INTO key_ids, key_day, key_req, key_com, key_spent, key_req_limit, key_budget, key_revoked
    FROM (SELECT * FROM "ApiKey" x
          WHERE x."id" IN (SELECT e.value->>'keyId' FROM jsonb_array_elements(p_items) AS e(value) WHERE e.value->>'keyId' IS NOT NULL)
          ORDER BY x."id" COLLATE "C" FOR NO KEY UPDATE) k;
  key_dirty := array_fill(false, ARRAY[cardinality(key_ids)]);
  -- The idempotency keys already taken: the first hold of a reservation carries its key.
  SELECT coalesce(array_agg(h."idempotencyKey"), '{}') INTO used_keys FROM "Hold" h
    WHERE h."idempotencyKey" IN (SELECT e.value->>'idempotencyKey' FROM jsonb_array_elements(p_items) AS e(value));

  FOR item IN SELECT e.value FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(value, ordinality) ORDER BY e.ordinality LOOP
    idx := idx + 1;
    failure := NULL;
    sources := tollgate_text_array(item->'sources');
    hold_ids := tollgate_text_array(item->'holdIds');
    n := cardinality(sources);
    amount := (item->>'amount')::bigint;
    remaining := amount;
    item_accounts := '{}';
    item_takes := '{}';
    item_holds := '{}';
    IF (item->>'idempotencyKey') = ANY (used_keys) THEN
      failure := '23505 duplicate key value violates unique constraint "Hold_idempotencyKey_key"';
    END IF;
    FOR s IN 1..n LOOP
      EXIT WHEN failure IS NOT NULL OR remaining = 0;
      pos := array_position(acc_ids, sources[s]);
      IF pos IS NULL THEN failure := 'P0001 tollgate:account_not_found'; EXIT; END IF;
      IF s < n THEN
        take := LEAST(acc_avail[pos], remaining);
        CONTINUE WHEN take <= 0;
      ELSE
        take := remaining;
        IF acc_avail[pos] < take THEN failure := 'P0001 tollgate:insufficient_funds'; EXIT; END IF;
      END IF;
      item_accounts := item_accounts || pos;
      item_takes := item_takes || take;
      item_holds := item_holds || hold_ids[s];
      remaining := remaining - take;
    END LOOP;
    kpos := NULL;
    IF failure IS NULL AND item->>'keyId' IS NOT NULL THEN
      p_day := item->>'day';
      kpos := array_position(key_ids, item->>'keyId');
      IF kpos IS NULL OR key_revoked[kpos] OR key_day[kpos] > p_day THEN
        failure := 'P0001 tollgate:daily_quota';
      ELSE
        IF key_day[kpos] = p_day THEN
          cur_req := key_req[kpos]; cur_com := key_com[kpos]; cur_spent := key_spent[kpos];
        ELSE
          cur_req := 0; cur_com := 0; cur_spent := 0;
        END IF;
        IF (key_req_limit[kpos] IS NOT NULL AND cur_req >= key_req_limit[kpos]) OR (key_budget[kpos] IS NOT NULL AND cur_com + amount > key_budget[kpos]) THEN
          failure := 'P0001 tollgate:daily_quota';
        END IF;
      END IF;
    END IF;
    IF failure IS NOT NULL THEN
      RETURN QUERY SELECT idx, failure, NULL::text, NULL::text, NULL::bigint, NULL::integer, NULL::bigint, NULL::bigint;
      CONTINUE;
    END IF;
    -- Accepted: apply it to the running values and queue its holds.
    used_keys := used_keys || (item->>'idempotencyKey');
    FOR i IN 1..cardinality(item_accounts) LOOP
      pos := item_accounts[i];
      acc_avail[pos] := acc_avail[pos] - item_takes[i];
      acc_dirty[pos] := true;
      hkey := CASE WHEN i = 1 THEN item->>'idempotencyKey' ELSE (item->>'idempotencyKey') || ':' || (i - 1) END;
      n_id := n_id || item_holds[i];
      n_key := n_key || hkey;
      n_debit := n_debit || acc_ids[pos];
      n_credit := n_credit || (item->>'creditAccountId');
      n_amount := n_amount || item_takes[i];
      n_group := n_group || CASE WHEN n = 1 THEN NULL ELSE item->>'idempotencyKey' END;
      n_memo := n_memo || (item->>'memo');
      n_expires := n_expires || (item->>'expiresAt')::timestamp(3);
      n_now := n_now || (item->>'now')::timestamp(3);
      n_qkey := n_qkey || (item->>'keyId');
      n_qday := n_qday || CASE WHEN item->>'keyId' IS NULL THEN NULL ELSE item->>'day' END;
    END LOOP;
    IF kpos IS NOT NULL THEN
      key_day[kpos] := p_day;
      key_req[kpos] := cur_req + 1;
      key_com[kpos] := cur_com + amount;
      key_spent[kpos] := cur_spent;
      key_dirty[kpos] := true;
      RETURN QUERY SELECT idx, NULL::text, item_holds[g], acc_ids[item_accounts[g]], item_takes[g], key_req[kpos], key_com[kpos], key_spent[kpos]
        FROM generate_subscripts(item_holds, 1) AS g;
    ELSE
      RETURN QUERY SELECT idx, NULL::text, item_holds[g], acc_ids[item_accounts[g]], item_takes[g], NULL::integer, NULL::bigint, NULL::bigint
        FROM generate_subscripts(item_holds, 1) AS g;
    END IF;
  END LOOP;

  INSERT INTO "Hold" ("id", "idempotencyKey", "debitAccountId", "creditAccountId", "amount", "status", "groupId", "memo", "expiresAt", "createdAt", "quotaKeyId", "quotaDay")
  SELECT h.id, h.key, h.debit, h.credit, h.amount, 'PENDING', h.grp, h.memo, h.expires, h.created, h.qkey, h.qday
    FROM unnest(n_id, n_key, n_debit, n_credit, n_amount, n_group, n_memo, n_expires, n_now, n_qkey, n_qday) AS h(id, key, debit, credit, amount, grp, memo, expires, created, qkey, qday);
  UPDATE "LedgerAccount" a SET "available" = v.available, "updatedAt" = now() AT TIME ZONE 'UTC'
    FROM unnest(acc_ids, acc_avail, acc_dirty) AS v(id, available, dirty)
    WHERE a."id" = v.id AND v.dirty;
  UPDATE "ApiKey" k SET "usageDay" = v.day, "requestsToday" = v.req, "committedToday" = v.com, "spentToday" = v.spent, "updatedAt" = now() AT TIME ZONE 'UTC'
    FROM unnest(key_ids, key_day, key_req, key_com, key_spent, key_dirty) AS v(id, day, req, com, spent, dirty)
    WHERE k."id" = v.id AND v.dirty;
END;
$$;
