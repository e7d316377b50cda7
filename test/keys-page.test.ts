import { describe, expect, it } from 'vitest';
import type { KeyView } from '../components/keys/api';
import { initialKeyFormValues, issueText, keyFormBody, validateKeyForm, type KeyFormValues } from '../components/keys/key-form-values';
import { limitReachedSentence, limitsReached, playgroundKeyIdOf, splitRevoked } from '../components/keys/key-state';
import { snippetModel, usageSnippets } from '../components/keys/usage-snippet';
import { createKeySchema, updateKeySchema } from '../lib/account/schemas';
import { parseOrThrow } from '../lib/http/errors';

// The /keys page's own logic: the form's plain-words checks, the "limit reached" state, revoked keys
// apart, the Playground key recognised, and the snippet shown with a new secret.

const now = new Date('2026-12-02T12:00:00Z');
const valid: KeyFormValues = { ...initialKeyFormValues(), name: 'my app', dailyRequests: '1,000', dailyBudget: '$2.50', expires: '2026-12-31' };

function key(patch: Omit<Partial<KeyView>, 'limits'> & { limits?: Partial<KeyView['limits']>; usage?: Partial<KeyView['usage_today']> } = {}): KeyView {
  const { limits, usage, ...rest } = patch;
  return {
    id: 'key_1',
    name: 'app',
    kind: 'inference',
    display: 'tg_abc…wxyz',
    models: null,
    limits: { daily_requests: 100, daily_budget_usd: 1, rate_limit: { burst: 10, per_second: 0.5 }, ...limits },
    packs_only: false,
    budget_wallet: null,
    usage_today: { day: '2026-12-02', requests: 0, spent_usd: 0, ...usage },
    expires_at: null,
    revoked_at: null,
    last_used_at: null,
    created_at: '2026-12-01T00:00:00.000Z',
    ...rest,
  };
}

describe('the key form', () => {
  it('builds a body the server schema accepts, amounts as typed with the symbol and separators dropped', () => {
    expect(validateKeyForm(valid, now)).toEqual({});
    const body = keyFormBody(valid, undefined, null);
    expect(body).toMatchObject({ name: 'my app', daily_requests: 1000, daily_budget_usd: '2.50', expires_at: '2026-12-31T23:59:59.999Z', models: null });
    const parsed = createKeySchema.parse(body);
    expect(parsed.daily_budget_usd).toBe(2_500_000n);
  });

  it.each([
    [{ name: '  ' }, 'name', 'Give the key a name, like the app or agent that will use it.'],
    [{ name: 'x'.repeat(101) }, 'name', 'Keep the name to 100 characters or fewer.'],
    [{ allModels: false, models: [] as string[] }, 'models', 'Choose at least one model, or allow all models.'],
    [{ dailyRequests: '0' }, 'dailyRequests', 'Enter a whole number of requests, 1 or more, or leave it empty for no quota.'],
    [{ dailyRequests: '2.5' }, 'dailyRequests', 'Enter a whole number of requests, 1 or more, or leave it empty for no quota.'],
    [{ dailyRequests: '10000001' }, 'dailyRequests', 'The daily request quota can be at most 10,000,000.'],
    [{ dailyBudget: '0' }, 'dailyBudget', 'A budget of $0 would stop every call: enter more than $0, or leave it empty.'],
    [{ dailyBudget: 'five' }, 'dailyBudget', 'Enter the budget in dollars, like 5 or 2.50, or leave it empty for no budget.'],
    [{ dailyBudget: '1.0000001' }, 'dailyBudget', 'Enter the budget in dollars, like 5 or 2.50, or leave it empty for no budget.'],
    [{ burst: '0' }, 'burst', 'Enter a whole number of requests from 1 to 10,000.'],
    [{ perSecond: '0' }, 'perSecond', 'Enter how many requests per second, more than 0 and at most 1,000 (like 0.5).'],
    [{ perSecond: '' }, 'perSecond', 'Enter how many requests per second, more than 0 and at most 1,000 (like 0.5).'],
    [{ expires: '2026-12-01' }, 'expires', 'Choose today or a later date, or leave it empty for a key that never expires.'],
  ] as const)('%j is refused on %s in plain words', (change, field, message) => {
    expect(validateKeyForm({ ...valid, ...change } as KeyFormValues, now)).toEqual({ [field]: message });
  });

  it('takes today as the last day, an empty budget when the wallet sets it, and reports every bad field at once', () => {
    expect(validateKeyForm({ ...valid, expires: '2026-12-02' }, now)).toEqual({});
    expect(validateKeyForm({ ...valid, walletBacked: true, dailyBudget: 'ignored' }, now)).toEqual({});
    expect(Object.keys(validateKeyForm({ ...valid, name: '', dailyRequests: '-1', burst: 'x', perSecond: 'y' }, now))).toEqual(['name', 'dailyRequests', 'burst', 'perSecond']);
  });
});

describe('editing a key', () => {
  const existing = key({ expires_at: '2027-03-10T14:30:00.000Z' });
  it('leaves a mid-day expiry alone when the date was not changed', () => {
    const body = keyFormBody({ ...initialKeyFormValues(existing), name: 'renamed' }, existing, null);
    expect(body).not.toHaveProperty('expires_at');
    expect(updateKeySchema.parse(body).expires_at).toBeUndefined();
  });
  it('sends the end of the new day when the date changed, and null when it was cleared', () => {
    expect(keyFormBody({ ...initialKeyFormValues(existing), expires: '2027-04-01' }, existing, null).expires_at).toBe('2027-04-01T23:59:59.999Z');
    expect(keyFormBody({ ...initialKeyFormValues(existing), expires: '' }, existing, null).expires_at).toBeNull();
    // A new key always says, even "never".
    expect(keyFormBody({ ...valid, expires: '' }, undefined, null).expires_at).toBeNull();
  });
  it('lets an expired key be edited without choosing a new date, but checks a date that changed', () => {
    const expired = key({ expires_at: '2026-11-30T23:59:59.999Z' });
    expect(validateKeyForm({ ...initialKeyFormValues(expired), name: 'renamed' }, now, expired)).toEqual({});
    expect(validateKeyForm({ ...initialKeyFormValues(expired), expires: '2026-12-01' }, now, expired)).toEqual({ expires: 'Choose today or a later date, or leave it empty for a key that never expires.' });
  });
  it("names the schema's first complaint in the form's fallback message", () => {
    const parsed = updateKeySchema.safeParse({ rate_limit: { burst: 0, per_second: 1 } });
    expect(parsed.success).toBe(false);
    expect(issueText(parsed.error?.issues[0])).toBe("'rate_limit.burst' must be at least 1");
    expect(issueText({ path: [], message: 'is not valid' })).toBe('is not valid');
  });
});

describe('the keys API', () => {
  it.each([
    [{ daily_requests: 0 }, "Invalid 'daily_requests': must be at least 1."],
    [{ daily_requests: 1.5 }, "Invalid 'daily_requests': must be a whole number."],
    [{ rate_limit: { burst: 0, per_second: 1 } }, "Invalid 'rate_limit.burst': must be at least 1."],
    [{ rate_limit: { burst: 5, per_second: 0 } }, "Invalid 'rate_limit.per_second': must be more than 0."],
    [{ models: [] }, "Invalid 'models': must list at least one model, or be null for all models."],
  ])('refuses %j in words, not zod defaults', (change, message) => {
    expect(() => parseOrThrow(createKeySchema, { name: 'x', ...change })).toThrow(message);
  });
});

describe('a key that reached a daily limit', () => {
  it('says which limit, that it resets at 00:00 UTC, and that the limit can be raised', () => {
    expect(limitsReached(key({ usage: { requests: 99, spent_usd: 0.999999 } }), now)).toEqual({ requests: false, budget: false });
    expect(limitReachedSentence(key({ usage: { requests: 99 } }), now)).toBeNull();
    expect(limitReachedSentence(key({ usage: { requests: 100 } }), now)).toBe('Daily request limit reached (100 of 100): calls are refused until 00:00 UTC, when it resets, or raise the limit.');
    expect(limitReachedSentence(key({ usage: { spent_usd: 1 } }), now)).toBe('Daily budget used up ($1.00 of $1.00): calls are refused until 00:00 UTC, when it resets, or raise the limit.');
    expect(limitReachedSentence(key({ usage: { requests: 100, spent_usd: 1 } }), now)).toBe(
      'Daily request limit reached (100 of 100) and daily budget used up ($1.00 of $1.00): calls are refused until 00:00 UTC, when they reset, or raise the limits.',
    );
    expect(limitsReached(key({ usage: { requests: 1000, spent_usd: 1.5 } }), now)).toEqual({ requests: true, budget: true });
  });

  it("counts only today's usage: yesterday's full quota does not stop the key today", () => {
    const yesterday = key({ usage: { day: '2026-12-01', requests: 100, spent_usd: 1 } });
    expect(limitsReached(yesterday, now)).toEqual({ requests: false, budget: false });
    expect(limitReachedSentence(yesterday, now)).toBeNull();
    expect(limitsReached(yesterday, new Date('2026-12-01T23:59:00Z'))).toEqual({ requests: true, budget: true });
  });

  it('says a wallet-backed budget follows the wallet, not only the clock', () => {
    const wallet = { address: '0xabc', balance_atomic: '1000000', daily_budget_usd: 0.5, snapshot_at: '2026-12-02T11:55:00.000Z' };
    expect(limitReachedSentence(key({ budget_wallet: wallet, limits: { daily_budget_usd: 0.5 }, usage: { spent_usd: 0.5 } }), now)).toBe(
      "Daily budget used up ($0.50 of $0.50, set by the linked wallet's balance): calls are refused until 00:00 UTC, when it resets, or sooner if the wallet's balance raises the budget; or raise the limit.",
    );
    expect(limitReachedSentence(key({ budget_wallet: { ...wallet, daily_budget_usd: 0 }, limits: { daily_budget_usd: 0 } }), now)).toBe(
      "Daily budget used up ($0.00 of $0.00, set by the linked wallet's balance): calls are refused until the wallet holds enough to give the key a budget, or raise the limit (a fixed budget instead of the wallet's).",
    );
  });

  it('is never reached without a limit, and a revoked key says nothing of limits', () => {
    expect(limitsReached(key({ limits: { daily_requests: null, daily_budget_usd: null }, usage: { requests: 10_000, spent_usd: 500 } }), now)).toEqual({ requests: false, budget: false });
    expect(limitReachedSentence(key({ usage: { requests: 100 }, revoked_at: '2026-12-02T00:00:00.000Z' }), now)).toBeNull();
  });
});

describe('the keys list', () => {
  it('puts revoked keys apart, in order', () => {
    const a = key({ id: 'a' });
    const b = key({ id: 'b', revoked_at: '2026-12-02T00:00:00.000Z' });
    const c = key({ id: 'c' });
    expect(splitRevoked([a, b, c])).toEqual({ active: [a, c], revoked: [b] });
  });

  it("finds the one key the playground chats with, by the server's rule: the oldest usable one named Playground", () => {
    const pg = (id: string, created: string, patch: Partial<KeyView> = {}) => key({ id, name: 'Playground', created_at: created, ...patch });
    const newer = pg('newer', '2026-11-20T00:00:00.000Z');
    const older = pg('older', '2026-11-10T00:00:00.000Z');
    const revokedOldest = pg('revoked', '2026-11-01T00:00:00.000Z', { revoked_at: '2026-11-05T00:00:00.000Z' });
    const expiredOldest = pg('expired', '2026-11-02T00:00:00.000Z', { expires_at: '2026-12-01T23:59:59.999Z' });
    expect(playgroundKeyIdOf([newer, revokedOldest, expiredOldest, older], now)).toBe('older');
    expect(playgroundKeyIdOf([newer, revokedOldest, expiredOldest], now)).toBe('newer');
    expect(playgroundKeyIdOf([key({ name: 'playground app' }), key({ name: 'Playground', kind: 'management' }), revokedOldest], now)).toBeNull();
  });

  it('names a model in the snippet that the new key can call, and never an embedding model', () => {
    const catalog = [
      { id: 'text-embed', status: 'live', kind: 'embedding' as const },
      { id: 'gpt-x', status: 'live', kind: 'chat' as const },
      { id: 'tollgate-local', status: 'unavailable', kind: 'chat' as const },
    ];
    expect(snippetModel(['text-embed', 'gpt-y', 'gpt-x'], catalog)).toBe('gpt-x');
    expect(snippetModel(['only-one'], catalog)).toBe('only-one');
    expect(snippetModel(null, catalog)).toBe('gpt-x');
    expect(snippetModel(null, [...catalog, { id: 'tollgate-local', status: 'live', kind: 'chat' as const }])).toBe('tollgate-local');
  });

  it('shows a new secret with a curl call against this server and the OpenAI environment variables', () => {
    const { curl, env } = usageSnippets({ origin: 'https://gate.example.com/', secret: 'tg_secret123', model: 'tollgate-local' });
    expect(env).toBe('export OPENAI_BASE_URL=https://gate.example.com/v1\nexport OPENAI_API_KEY=tg_secret123');
    expect(curl).toContain('curl https://gate.example.com/v1/chat/completions');
    expect(curl).toContain('-H "Authorization: Bearer tg_secret123"');
    const body = /-d '(.*)'$/.exec(curl)![1]!;
    expect(JSON.parse(body)).toEqual({ model: 'tollgate-local', messages: [{ role: 'user', content: 'Hello!' }] });
  });
});
