import { describe, expect, it } from 'vitest';
import type { KeyView } from '../components/keys/api';
import { initialKeyFormValues, keyFormBody, validateKeyForm, type KeyFormValues } from '../components/keys/key-form-values';
import { isPlaygroundKey, limitReachedSentence, limitsReached, splitRevoked } from '../components/keys/key-state';
import { usageSnippets } from '../components/keys/usage-snippet';
import { createKeySchema } from '../lib/account/schemas';
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
  it('says which limit and that it resets at 00:00 UTC', () => {
    expect(limitsReached(key({ usage: { requests: 99, spent_usd: 0.999999 } }))).toEqual({ requests: false, budget: false });
    expect(limitReachedSentence(key({ usage: { requests: 99 } }))).toBeNull();
    expect(limitReachedSentence(key({ usage: { requests: 100 } }))).toBe('Daily request limit reached (100 of 100): calls are refused until 00:00 UTC, when it resets.');
    expect(limitReachedSentence(key({ usage: { spent_usd: 1 } }))).toBe('Daily budget used up ($1.00 of $1.00): calls are refused until 00:00 UTC, when it resets.');
    expect(limitsReached(key({ usage: { requests: 1000, spent_usd: 1.5 } }))).toEqual({ requests: true, budget: true });
  });

  it('is never reached without a limit, and a revoked key says nothing of limits', () => {
    expect(limitsReached(key({ limits: { daily_requests: null, daily_budget_usd: null }, usage: { requests: 10_000, spent_usd: 500 } }))).toEqual({ requests: false, budget: false });
    expect(limitReachedSentence(key({ usage: { requests: 100 }, revoked_at: '2026-12-02T00:00:00.000Z' }))).toBeNull();
  });
});

describe('the keys list', () => {
  it('puts revoked keys apart, in order, and recognises the Playground key by its name', () => {
    const a = key({ id: 'a' });
    const b = key({ id: 'b', revoked_at: '2026-12-02T00:00:00.000Z' });
    const c = key({ id: 'c' });
    expect(splitRevoked([a, b, c])).toEqual({ active: [a, c], revoked: [b] });
    expect(isPlaygroundKey(key({ name: 'Playground' }))).toBe(true);
    expect(isPlaygroundKey(key({ name: 'playground app' }))).toBe(false);
    expect(isPlaygroundKey(key({ name: 'Playground', kind: 'management' }))).toBe(false);
  });

  it('shows a new secret with a curl call against this server and the OpenAI environment variables', () => {
    const { curl, env } = usageSnippets({ origin: 'https://gate.example.com/', secret: 'tg_secret123', model: 'tollgate-local' });
    expect(env).toBe('OPENAI_BASE_URL=https://gate.example.com/v1\nOPENAI_API_KEY=tg_secret123');
    expect(curl).toContain('curl https://gate.example.com/v1/chat/completions');
    expect(curl).toContain('-H "Authorization: Bearer tg_secret123"');
    const body = /-d '(.*)'$/.exec(curl)![1]!;
    expect(JSON.parse(body)).toEqual({ model: 'tollgate-local', messages: [{ role: 'user', content: 'Hello!' }] });
  });
});
