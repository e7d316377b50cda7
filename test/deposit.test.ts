// Deposits against a real local chain: intents with fee math, on-chain verification with viem,
// the worker, admin review. Nothing credits on a mismatch; a transfer credits at most once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAddress, type Address, type Hex, type PrivateKeyAccount } from 'viem';
import { generatePrivateKey } from 'viem/accounts';
import { createApiKeyOp } from '../lib/keys/keys';
import { Ledger, SYSTEM_ACCOUNTS, auditLedger, getOrCreateWalletAccount, walletAccountId } from '../lib/ledger';
import { newId } from '../lib/ids';
import { createDepositAdminApi } from '../lib/payments/deposit-admin';
import { runDepositWorkerOnce } from '../lib/payments/deposit-worker';
import { createDepositApi, depositQuote } from '../lib/payments/deposits';
import { loadPaymentsConfig, type PaymentsConfig } from '../lib/payments/networks';
import { verifyIntent } from '../lib/payments/verify';
import { startTestChain, type DeployedStablecoin, type TestChain } from './helpers/chain';
import { createTestDatabase, type TestDatabase } from './helpers/db';

const ADMIN_TOKEN = 'test-admin-token-deposits';

let t: TestDatabase;
let chain: TestChain;
let otherChain: TestChain;
let usdc: DeployedStablecoin;
let usdt: DeployedStablecoin;
let foreignUsdc: DeployedStablecoin;
let treasury: Address;
let baseEnv: Record<string, string>;
let config: PaymentsConfig;

beforeAll(async () => {
  t = await createTestDatabase();
  [chain, otherChain] = await Promise.all([startTestChain(), startTestChain({ chainId: 84532 })]);
  usdc = await chain.deployStablecoin({ name: 'USD Coin', symbol: 'USDC', version: '2' });
  usdt = await chain.deployStablecoin({ name: 'Tether USD', symbol: 'USDT', version: '1' });
  foreignUsdc = await otherChain.deployStablecoin({ name: 'USDC', symbol: 'USDC', version: '2' });
  treasury = chain.accounts[9].address;
  baseEnv = {
    DEV_CHAIN_RPC_URL: chain.rpcUrl,
    DEV_CHAIN_USDC: usdc.address,
    DEV_CHAIN_USDT: usdt.address,
    TREASURY_ADDRESS: treasury,
    CONFIRMATIONS_DEV: '3',
    // A second configured network, so that a payment made there is recognised as the wrong one.
    RPC_URL_BASE_SEPOLIA: otherChain.rpcUrl,
    DEPOSIT_OVERPAY_TOLERANCE_PERCENT: '1',
    ADMIN_TOKEN,
  };
  config = loadPaymentsConfig(baseEnv);
}, 240_000);

afterAll(async () => {
  await Promise.all([chain?.stop(), otherChain?.stop()]);
  await t?.close();
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function call(handler: (request: Request, params?: Record<string, string>) => Promise<Response>, init: { method?: string; path?: string; token: string; body?: unknown; params?: Record<string, string> }) {
  const request = new Request(`http://tollgate.test${init.path ?? '/'}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { authorization: `Bearer ${init.token}`, 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const response = await handler(request, init.params ?? {});
  return { status: response.status, json: (await response.json()) as Json };
}

function apis(cfg: PaymentsConfig = config) {
  return {
    deposits: createDepositApi({ db: t.db, getConfig: () => cfg }),
    admin: createDepositAdminApi({ db: t.db, getConfig: () => cfg, env: { ADMIN_TOKEN } }),
  };
}

/** A user with a management key (for the deposit API), and optionally a linked wallet. */
async function buyer(walletAddress: Address | null = null, cfg: PaymentsConfig = config) {
  const user = await t.db.user.create({ data: { id: newId('usr'), email: `${newId('usr')}@example.test`, walletAddress } });
  await getOrCreateWalletAccount({ db: t.db, userId: user.id });
  const key = createApiKeyOp(t.db, { userId: user.id, name: 'ops', kind: 'MANAGEMENT' });
  await key.op;
  const { deposits } = apis(cfg);
  return {
    user,
    create: (body: unknown) => call(deposits.create, { token: key.secret, body, path: '/api/deposits' }),
    get: (id: string) => call(deposits.get, { token: key.secret, params: { id } }),
    list: () => call(deposits.list, { token: key.secret, path: '/api/deposits' }),
    attach: (id: string, txHash: string) => call(deposits.attachTx, { token: key.secret, body: { tx_hash: txHash }, params: { id } }),
    balance: async () => (await new Ledger(t.db).getAccountBalance({ accountId: walletAccountId(user.id) })).balance,
  };
}

const balanceOf = async (accountId: string) => (await new Ledger(t.db).getAccountBalance({ accountId })).balance;

/** Mints to `from` and sends `amount` of `token` to `to` (the treasury by default); returns the tx hash. */
async function pay(token: DeployedStablecoin, from: PrivateKeyAccount, amount: bigint, to: Address = treasury): Promise<Hex> {
  await token.mint(from.address, amount);
  return token.transfer(from, to, amount);
}

/** One worker pass as if `aheadMs` had passed (so every scheduled check is due). */
const runWorker = (aheadMs = 60_000, cfg: PaymentsConfig = config) => runDepositWorkerOnce({ db: t.db, config: cfg, now: () => new Date(Date.now() + aheadMs) });

const intentRow = (id: string) => t.db.depositIntent.findUniqueOrThrow({ where: { id } });

describe('deposit intents', () => {
  it('quotes the fee on top of the credit, rounded up to the micro-dollar', () => {
    expect(depositQuote(25_000_000n, 1_000n)).toEqual({ credit: 25_000_000n, fee: 2_500_000n, gross: 27_500_000n, grossAtomic: 27_500_000n });
    expect(depositQuote(1_000_001n, 1_000n).fee).toBe(100_001n);
    expect(depositQuote(10_000_000n, 250n).fee).toBe(250_000n);
  });

  it('creates an intent with the fee math, the treasury and the token; lists it; another user cannot see it', async () => {
    const alice = await buyer();
    const created = await alice.create({ asset: 'usdc', network: 'dev', credit_usd: '25' });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      object: 'deposit',
      status: 'awaiting_payment',
      asset: 'USDC',
      network: 'dev',
      chain_id: 31337,
      credit_usd: 25,
      fee_usd: 2.5,
      gross_usd: 27.5,
      gross_atomic: '27500000',
      decimals: 6,
      token_address: usdc.address,
      treasury,
      tx_hash: null,
      confirmations: { seen: 0, required: 3 },
    });
    const ttl = Date.parse(created.json.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(23.9 * 3_600_000);
    expect(ttl).toBeLessThanOrEqual(24 * 3_600_000);
    expect((await alice.list()).json.data.map((d: Json) => d.id)).toEqual([created.json.id]);

    const mallory = await buyer();
    expect((await mallory.get(created.json.id)).status).toBe(404);
    expect((await mallory.attach(created.json.id, `0x${'ab'.repeat(32)}`)).status).toBe(404);
    expect((await mallory.list()).json.data).toEqual([]);
  });

  it.each([
    [{ asset: 'DAI', network: 'dev', credit_usd: 10 }, 'asset'],
    [{ asset: 'USDC', network: 'solana', credit_usd: 10 }, 'network'],
    [{ asset: 'USDT', network: 'base-sepolia', credit_usd: 10 }, 'asset'], // no USDT on Base Sepolia
    [{ asset: 'USDC', network: 'dev', credit_usd: 0.5 }, 'credit_usd'],
    [{ asset: 'USDC', network: 'dev', credit_usd: '10.1234567' }, 'credit_usd'],
  ])('refuses %j (param %s)', async (body, param) => {
    const alice = await buyer();
    const response = await alice.create(body);
    expect(response.status).toBe(400);
    expect(response.json.error.param).toBe(param);
  });

  it('a network with a treasury but no RPC takes intents (real token contract) and sends paid ones to review', async () => {
    const alice = await buyer();
    const created = await alice.create({ asset: 'USDT', network: 'ethereum', credit_usd: 10 });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ chain_id: 1, token_address: '0xdAC17F958D2ee523a2206206994597C13D831ec7', confirmations: { required: 12 } });
    const attached = await alice.attach(created.json.id, `0x${'cd'.repeat(32)}`);
    expect(attached.json).toMatchObject({ status: 'needs_review', review: { reason: 'no_automatic_verification' } });
    expect(await alice.balance()).toBe(0n);
  });

  it('refuses a malformed transaction hash', async () => {
    const alice = await buyer();
    const { json } = await alice.create({ asset: 'USDC', network: 'dev', credit_usd: 5 });
    const response = await alice.attach(json.id, '0x1234');
    expect(response.status).toBe(400);
    expect(response.json.error.param).toBe('tx_hash');
  });
});

describe('automatic verification', () => {
  it('credits exactly once after the required confirmations, with the fee split, and the ledger balances', async () => {
    const alice = await buyer();
    const payer = chain.accounts[1];
    const feesBefore = await balanceOf(SYSTEM_ACCOUNTS.fees.id);
    const depositsBefore = await balanceOf(SYSTEM_ACCOUNTS.deposits.id);
    const { json: intent } = await alice.create({ asset: 'USDC', network: 'dev', credit_usd: '10' });
    const hash = await pay(usdc, payer, BigInt(intent.gross_atomic));

    const attached = await alice.attach(intent.id, hash);
    expect(attached.status).toBe(202);
    // Mined in one block: 1 of 3 confirmations. No credit yet.
    expect(attached.json).toMatchObject({ status: 'verifying', tx_hash: hash, confirmations: { seen: 1, required: 3 } });
    expect(await alice.balance()).toBe(0n);

    // Each pass schedules the next check a few seconds on: every pass here runs a minute later.
    await runWorker(60_000);
    expect((await alice.get(intent.id)).json).toMatchObject({ status: 'verifying', confirmations: { seen: 1, required: 3 } });
    await chain.mine(1);
    await runWorker(120_000);
    expect((await alice.get(intent.id)).json).toMatchObject({ status: 'verifying', confirmations: { seen: 2, required: 3 } });
    expect(await alice.balance()).toBe(0n);

    await chain.mine(1);
    await runWorker(180_000);
    const credited = (await alice.get(intent.id)).json;
    expect(credited).toMatchObject({ status: 'credited', confirmations: { seen: 3, required: 3 } });
    expect(credited.credited_at).not.toBeNull();
    expect(await alice.balance()).toBe(10_000_000n);
    expect((await balanceOf(SYSTEM_ACCOUNTS.fees.id)) - feesBefore).toBe(1_000_000n);
    expect((await balanceOf(SYSTEM_ACCOUNTS.deposits.id)) - depositsBefore).toBe(-11_000_000n);

    // One ledger transaction, keyed by (chainId, txHash, logIndex), with all three legs.
    const row = await intentRow(intent.id);
    expect(row.fromAddress).toBe(getAddress(payer.address));
    expect(row.observedAtomic).toBe(11_000_000n);
    const txn = await t.db.ledgerTransaction.findUniqueOrThrow({ where: { id: row.ledgerTransactionId! }, include: { entries: true } });
    expect(txn.idempotencyKey).toBe(`deposit:31337:${hash.toLowerCase()}:${row.logIndex}`);
    expect(txn.kind).toBe('deposit');
    expect(txn.entries.map((e) => [e.accountId, e.amount]).sort()).toEqual(
      [
        [SYSTEM_ACCOUNTS.deposits.id, -11_000_000n],
        [SYSTEM_ACCOUNTS.fees.id, 1_000_000n],
        [walletAccountId(alice.user.id), 10_000_000n],
      ].sort(),
    );

    // Checking again, by the worker or directly, changes nothing.
    await chain.mine(5);
    await runWorker();
    await t.db.depositIntent.update({ where: { id: intent.id }, data: { status: 'VERIFYING' } }).then(() => verifyIntent({ db: t.db, config }, intent.id));
    expect(await alice.balance()).toBe(10_000_000n);
    expect(await t.db.ledgerTransaction.count({ where: { idempotencyKey: { startsWith: `deposit:31337:${hash.toLowerCase()}` } } })).toBe(1);
    await t.db.depositIntent.update({ where: { id: intent.id }, data: { status: 'CREDITED' } });

    const audit = await auditLedger(t.db);
    expect(audit.problems).toEqual([]);
    expect(audit.ok).toBe(true);
  });

  it('a hash already used is refused on another intent, and a replay that gets through credits nothing', async () => {
    const alice = await buyer();
    const bob = await buyer();
    const { json: first } = await alice.create({ asset: 'USDC', network: 'dev', credit_usd: '4' });
    const hash = await pay(usdc, chain.accounts[2], BigInt(first.gross_atomic));
    await alice.attach(first.id, hash);
    await chain.mine(3);
    await runWorker();
    expect((await alice.get(first.id)).json.status).toBe('credited');

    // Same amount, another intent (the other user's, and the same user's): refused at once.
    const { json: second } = await bob.create({ asset: 'USDC', network: 'dev', credit_usd: '4' });
    const refused = await bob.attach(second.id, hash);
    expect(refused.status).toBe(409);
    expect(refused.json.error.code).toBe('tx_already_used');
    const { json: third } = await alice.create({ asset: 'USDC', network: 'dev', credit_usd: '4' });
    expect((await alice.attach(third.id, hash)).json.error.code).toBe('tx_already_used');

    // Past the API check (a race): the verifier still credits nothing and sends it to review.
    await t.db.depositIntent.update({ where: { id: second.id }, data: { txHash: hash.toLowerCase(), status: 'VERIFYING', nextCheckAt: new Date() } });
    const outcome = await verifyIntent({ db: t.db, config }, second.id);
    expect(outcome).toEqual({ status: 'NEEDS_REVIEW', reason: 'duplicate_transfer' });
    expect(await bob.balance()).toBe(0n);
    expect(await alice.balance()).toBe(4_000_000n);

    // And an admin cannot approve it into a second credit.
    const { admin } = apis();
    const approve = await call(admin.approve, { token: ADMIN_TOKEN, body: { note: 'looks fine' }, params: { id: second.id } });
    expect(approve.status).toBe(409);
    expect(approve.json.error.code).toBe('duplicate_transfer');
    expect(await bob.balance()).toBe(0n);
    expect((await auditLedger(t.db)).ok).toBe(true);
  });

  it('an expired intent still credits a payment attached later; an unpaid one expires', async () => {
    const alice = await buyer();
    const { json: unpaid } = await alice.create({ asset: 'USDC', network: 'dev', credit_usd: '2' });
    const { json: late } = await alice.create({ asset: 'USDC', network: 'dev', credit_usd: '3' });
    const sweep = await runWorker(25 * 3_600_000);
    expect(sweep.expired).toBeGreaterThanOrEqual(2);
    expect((await alice.get(unpaid.id)).json.status).toBe('expired');
    expect((await alice.get(late.id)).json.status).toBe('expired');

    const hash = await pay(usdc, chain.accounts[3], BigInt(late.gross_atomic));
    expect((await alice.attach(late.id, hash)).json.status).toBe('verifying');
    await chain.mine(2);
    await runWorker();
    expect((await alice.get(late.id)).json.status).toBe('credited');
    expect((await alice.get(unpaid.id)).json.status).toBe('expired');
    expect(await alice.balance()).toBe(3_000_000n);
  });
});

describe('mismatches go to review with the facts, and credit nothing', () => {
  /** Creates an intent, lets `send` pay it (or not), attaches the hash, and runs the checks. */
  async function scenario(send: (intent: Json) => Promise<Hex>, options: { credit?: string; cfg?: PaymentsConfig; wallet?: Address | null; asset?: 'USDC' | 'USDT' } = {}) {
    const cfg = options.cfg ?? config;
    const who = await buyer(options.wallet ?? null, cfg);
    const { json: intent } = await who.create({ asset: options.asset ?? 'USDC', network: 'dev', credit_usd: options.credit ?? '5' });
    const feesBefore = await balanceOf(SYSTEM_ACCOUNTS.fees.id);
    const hash = await send(intent);
    const attached = await who.attach(intent.id, hash);
    expect(attached.status).toBe(202);
    await chain.mine(3);
    await runWorker(60_000, cfg);
    const after = (await who.get(intent.id)).json;
    const row = await intentRow(intent.id);
    const facts = JSON.parse(row.facts ?? '{}') as Json;
    return { who, intent, after, row, facts, hash, feesDelta: (await balanceOf(SYSTEM_ACCOUNTS.fees.id)) - feesBefore };
  }

  const expectNothingCredited = async (s: { who: { balance(): Promise<bigint> }; feesDelta: bigint; row: { ledgerTransactionId: string | null; creditedAt: Date | null } }) => {
    expect(await s.who.balance()).toBe(0n);
    expect(s.feesDelta).toBe(0n);
    expect(s.row.ledgerTransactionId).toBeNull();
    expect(s.row.creditedAt).toBeNull();
  };

  it('wrong asset: USDT sent for a USDC intent', async () => {
    const s = await scenario((intent) => pay(usdt, chain.accounts[4], BigInt(intent.gross_atomic)));
    expect(s.after).toMatchObject({ status: 'needs_review', review: { reason: 'wrong_asset' } });
    expect(s.facts.transfers).toEqual([expect.objectContaining({ asset: 'USDT', token: usdt.address, to: treasury, value_atomic: s.intent.gross_atomic })]);
    await expectNothingCredited(s);
  });

  it('underpaid', async () => {
    const s = await scenario((intent) => pay(usdc, chain.accounts[4], BigInt(intent.gross_atomic) - 1n));
    expect(s.after).toMatchObject({ status: 'needs_review', review: { reason: 'underpaid' } });
    expect(s.facts).toMatchObject({ expected_atomic: '5500000', observed_atomic: '5499999', sender: getAddress(chain.accounts[4].address) });
    await expectNothingCredited(s);
  });

  it('overpaid beyond the tolerance (1%), while an overpayment within it credits the intent', async () => {
    const s = await scenario((intent) => pay(usdc, chain.accounts[4], (BigInt(intent.gross_atomic) * 102n) / 100n));
    expect(s.after).toMatchObject({ status: 'needs_review', review: { reason: 'overpaid' } });
    expect(s.facts).toMatchObject({ expected_atomic: '5500000', max_accepted_atomic: '5555000', observed_atomic: '5610000' });
    await expectNothingCredited(s);

    const within = await scenario((intent) => pay(usdc, chain.accounts[4], BigInt(intent.gross_atomic) + 55_000n));
    expect(within.after.status).toBe('credited');
    expect(await within.who.balance()).toBe(5_000_000n);
  });

  it('wrong network: paid on another configured chain', async () => {
    const s = await scenario(async (intent) => {
      const payer = otherChain.accounts[5];
      await foreignUsdc.mint(payer.address, BigInt(intent.gross_atomic));
      return foreignUsdc.transfer(payer, treasury, BigInt(intent.gross_atomic));
    });
    expect(s.after).toMatchObject({ status: 'needs_review', review: { reason: 'wrong_network' } });
    expect(s.facts).toMatchObject({ found: false, found_on_network: 'base-sepolia', found_on_chain_id: 84532 });
    await expectNothingCredited(s);
  });

  it('no transfer to the treasury', async () => {
    const s = await scenario((intent) => pay(usdc, chain.accounts[4], BigInt(intent.gross_atomic), chain.accounts[6].address));
    expect(s.after).toMatchObject({ status: 'needs_review', review: { reason: 'no_transfer_to_treasury' } });
    await expectNothingCredited(s);
  });

  it('transaction missing after the timeout (30 min)', async () => {
    const alice = await buyer();
    const { json: intent } = await alice.create({ asset: 'USDC', network: 'dev', credit_usd: '5' });
    const ghost = generatePrivateKey(); // 32 random bytes: a hash no chain knows
    expect((await alice.attach(intent.id, ghost)).json).toMatchObject({ status: 'verifying' });
    await runWorker(10 * 60_000);
    expect((await alice.get(intent.id)).json.status).toBe('verifying');
    const row = await intentRow(intent.id);
    expect(row.attempts).toBeGreaterThanOrEqual(2);
    expect(row.nextCheckAt!.getTime()).toBeGreaterThan(Date.now());
    await runWorker(31 * 60_000);
    expect((await alice.get(intent.id)).json).toMatchObject({ status: 'needs_review', review: { reason: 'tx_not_found' } });
    expect(await alice.balance()).toBe(0n);
  });

  it('sender is not the linked wallet when one is required; the linked wallet itself credits', async () => {
    const strict = loadPaymentsConfig({ ...baseEnv, DEPOSIT_REQUIRE_LINKED_WALLET: 'true' });
    const linked = chain.accounts[7];
    const s = await scenario((intent) => pay(usdc, chain.accounts[8], BigInt(intent.gross_atomic)), { cfg: strict, wallet: linked.address });
    expect(s.after).toMatchObject({ status: 'needs_review', review: { reason: 'wrong_sender' } });
    expect(s.facts).toMatchObject({ sender: getAddress(chain.accounts[8].address), linked_wallet: linked.address });
    await expectNothingCredited(s);

    const none = await scenario((intent) => pay(usdc, chain.accounts[8], BigInt(intent.gross_atomic)), { cfg: strict, wallet: null });
    expect(none.after).toMatchObject({ status: 'needs_review', review: { reason: 'no_linked_wallet' } });
    await expectNothingCredited(none);

    const own = chain.accounts[5];
    const good = await scenario((intent) => pay(usdc, own, BigInt(intent.gross_atomic)), { cfg: strict, wallet: own.address });
    expect(good.after.status).toBe('credited');
    expect(await good.who.balance()).toBe(5_000_000n);
  });

  it('leaves the ledger balanced', async () => {
    const audit = await auditLedger(t.db);
    expect(audit.problems).toEqual([]);
  });
});

describe('admin review', () => {
  const admin = () => apis().admin;

  async function underpaidIntent() {
    const who = await buyer();
    const { json: intent } = await who.create({ asset: 'USDC', network: 'dev', credit_usd: '20' });
    const hash = await pay(usdc, chain.accounts[4], 15_000_000n);
    await who.attach(intent.id, hash);
    await chain.mine(3);
    await runWorker();
    expect((await who.get(intent.id)).json.review.reason).toBe('underpaid');
    return { who, intent, hash };
  }

  it('needs the admin token', async () => {
    const { intent } = await underpaidIntent();
    const noToken = createDepositAdminApi({ db: t.db, getConfig: () => config, env: {} });
    expect((await call(noToken.list, { token: ADMIN_TOKEN, path: '/api/admin/deposits' })).status).toBe(404);
    expect((await call(admin().list, { token: 'wrong', path: '/api/admin/deposits' })).status).toBe(401);
    expect((await call(admin().approve, { token: 'wrong', body: { note: 'x' }, params: { id: intent.id } })).status).toBe(401);
  });

  it('lists the queue with the on-chain facts; approves with a note (credits once, audited, named in the ledger)', async () => {
    const { who, intent, hash } = await underpaidIntent();
    const queue = await call(admin().list, { token: ADMIN_TOKEN, path: '/api/admin/deposits?status=needs_review' });
    expect(queue.status).toBe(200);
    const item = queue.json.data.find((d: Json) => d.id === intent.id);
    expect(item).toMatchObject({
      status: 'needs_review',
      review: { reason: 'underpaid' },
      user: { id: who.user.id },
      observed_usd: 15,
      facts: { tx_hash: hash.toLowerCase(), expected_atomic: '22000000', observed_atomic: '15000000', receipt_status: 'success' },
    });

    // Credit what arrived: 15 gross → 13.636363 credit + 1.363637 fee.
    const approved = await call(admin().approve, {
      token: ADMIN_TOKEN,
      body: { note: 'customer sent 15 by mistake; credit what arrived', credit_usd: '13.636363', fee_usd: '1.363637' },
      params: { id: intent.id },
    });
    expect(approved.status).toBe(200);
    expect(approved.json).toMatchObject({ status: 'credited', reviewed_by: 'admin-token', review: { note: 'customer sent 15 by mistake; credit what arrived' } });
    expect(await who.balance()).toBe(13_636_363n);
    const row = await intentRow(intent.id);
    const txn = await t.db.ledgerTransaction.findUniqueOrThrow({ where: { id: row.ledgerTransactionId! } });
    expect(txn).toMatchObject({ kind: 'deposit', actor: 'admin-token' });
    expect(txn.memo).toContain('customer sent 15 by mistake');
    const audit = await t.db.auditLog.findMany({ where: { targetId: intent.id } });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'admin-token', action: 'deposit.approve', targetType: 'deposit_intent' });
    expect(JSON.parse(audit[0]!.details)).toMatchObject({ note: 'customer sent 15 by mistake; credit what arrived', credit_micros: '13636363', review_reason: 'underpaid' });

    // Approving again credits nothing.
    const again = await call(admin().approve, { token: ADMIN_TOKEN, body: { note: 'again' }, params: { id: intent.id } });
    expect(again.status).toBe(409);
    expect(await who.balance()).toBe(13_636_363n);
    expect((await auditLedger(t.db)).ok).toBe(true);
  });

  it('rejects with a reason (audited), credits nothing, and a rejected deposit cannot be approved', async () => {
    const { who, intent } = await underpaidIntent();
    const missingReason = await call(admin().reject, { token: ADMIN_TOKEN, body: {}, params: { id: intent.id } });
    expect(missingReason.status).toBe(400);
    const rejected = await call(admin().reject, { token: ADMIN_TOKEN, body: { reason: 'refunded on chain instead' }, params: { id: intent.id } });
    expect(rejected.status).toBe(200);
    expect(rejected.json).toMatchObject({ status: 'rejected', reviewed_by: 'admin-token', review: { reason: 'underpaid', note: 'refunded on chain instead' } });
    const audit = await t.db.auditLog.findMany({ where: { targetId: intent.id } });
    expect(audit.map((a) => a.action)).toEqual(['deposit.reject']);
    expect(JSON.parse(audit[0]!.details)).toMatchObject({ reason: 'refunded on chain instead', previous_status: 'NEEDS_REVIEW' });

    const approve = await call(admin().approve, { token: ADMIN_TOKEN, body: { note: 'changed my mind' }, params: { id: intent.id } });
    expect(approve.status).toBe(409);
    expect((await call(admin().reject, { token: ADMIN_TOKEN, body: { reason: 'twice' }, params: { id: intent.id } })).status).toBe(409);
    expect(await who.balance()).toBe(0n);
    expect((await t.db.auditLog.count({ where: { targetId: intent.id } }))).toBe(1);
  });
});
