import { rmSync } from 'node:fs';
import pg from 'pg';
import { inject, vi } from 'vitest';
import { nextUtcMidnight } from '../../lib/gateway/day';
import { newId } from '../../lib/ids';
import { createApiKeyOp } from '../../lib/keys/keys';
import { Ledger } from '../../lib/ledger';
import type { FakeUpstream } from '../fake-upstream';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createCustomer, upstreamEnv } from '../helpers/gateway';
import { checkInvariants, type Coverage, type SimCustomer } from './invariants';
import { describeSchedule, INSTANCES, type Schedule } from './schedule';
import { crashInstance, describeRecord, sendCall, startInstance, stopInstance, type CallRecord, type Instance } from './world';

/** The gateway's settings in the simulator: short enough that a schedule sees holds lapse, caches expire and streams stall. */
export const SIM_ENV = {
  // Long enough that a loaded CI machine renews a live call's leases in time (renewed every third
  // of it); short enough that crashed calls' holds lapse within a schedule.
  HOLD_TTL_MS: '1000',
  KEY_CACHE_MS: '200',
  UPSTREAM_IDLE_TIMEOUT_MS: '250',
  UPSTREAM_TIMEOUT_MS: '2000',
  LOCAL_MODEL_TOKEN_DELAY_MS: '2',
  CATALOG_CACHE_MS: '60000',
};

const QUIESCE_TIMEOUT_MS = 15_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export type ScheduleResult = { problems: string[]; log: string[]; coverage: Coverage; ms: number };

/**
 * Runs one schedule on a fresh database with two gateway instances, waits for everything to
 * settle, sweeps whatever is left with a far-future now, and checks the invariants.
 * `gatewayLog` collects what the gateway logged meanwhile (the caller captures it).
 */
export async function runSchedule(schedule: Schedule, fake: FakeUpstream, gatewayLog: string[]): Promise<ScheduleResult> {
  const started = performance.now();
  const log = describeSchedule(schedule);
  const problems: string[] = [];
  const note = (line: string) => log.push(`  [+${Math.round(performance.now() - started)} ms] ${line}`);
  const t = await createTestDatabase();
  const env = upstreamEnv(fake.url, SIM_ENV);
  const instances: Instance[] = [];
  const records: CallRecord[] = [];
  /** Calls whose settlement a crash rolled back with its instance's open commit window (SQLite). */
  const lostToCrashes = new Set<string>();
  const pending: Array<Promise<CallRecord>> = [];
  let faked = false;
  let clockJumped = false;
  try {
    for (let slot = 0; slot < INSTANCES; slot++) instances.push(await startInstance(t.config, env, slot, 0));

    const customers: Array<SimCustomer & { secret: string; managementSecret: string }> = [];
    for (const [index, spec] of schedule.customers.entries()) {
      const customer = await createCustomer(t.db, spec.balance, { dailyRequestLimit: spec.dailyRequestLimit, dailyBudget: spec.dailyBudget });
      const management = createApiKeyOp(t.db, { userId: customer.user.id, name: 'ops', kind: 'MANAGEMENT' });
      await management.op;
      let funds = spec.balance;
      if (spec.pack) {
        const pack = await t.db.pack.create({
          data: { id: newId('pk'), name: `Sim ${schedule.seed}/${index}`, description: 'simulator pack', validityDays: 30, price: spec.pack.price, faceValue: spec.pack.faceValue, scopeModelId: spec.pack.scopeModelId },
        });
        const bought = await fetch(`${instances[0]!.url}/api/packs/${pack.id}/purchase`, { method: 'POST', body: '{}', headers: { authorization: `Bearer ${management.secret}`, 'content-type': 'application/json' } });
        if (bought.status !== 201) throw new Error(`setup: buying c${index}'s pack answered ${bought.status} ${await bought.text()}`);
        funds += spec.pack.faceValue - spec.pack.price;
      }
      customers.push({ index, userId: customer.user.id, keyId: customer.keyId, secret: customer.secret, managementSecret: management.secret, funds, dailyRequestLimit: spec.dailyRequestLimit, dailyBudget: spec.dailyBudget, revokedAt: null });
    }
    const checker = new Ledger(t.db);
    // Only Date is faked, and it keeps running (real timers drive it), so calls reserve before
    // midnight and settle after it. Every time involved is the gateway's own Date: forward only.
    let clockStart = 0;
    if (schedule.clock) {
      vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true, advanceTimeDelta: 5 });
      faked = true;
      // The coming midnight (a later one would expire the customers' pack lots, bought at real time).
      clockStart = nextUtcMidnight(new Date()).getTime() - schedule.clock.startBeforeMidnightMs;
      vi.setSystemTime(clockStart);
      note(`Date set to ${new Date(clockStart).toISOString()}`);
    }

    for (const [index, step] of schedule.steps.entries()) {
      if (step.op === 'calls') {
        note(`step ${index}: ${step.calls.length} calls (${step.calls.map((c) => `#${c.n}`).join(' ')})`);
        for (const spec of step.calls) {
          const call = sendCall(instances[spec.instance]!, spec, customers[spec.customer]!.secret).then((record) => {
            records.push(record);
            return record;
          });
          pending.push(call);
        }
      } else if (step.op === 'sweep') {
        const instance = instances[step.instance]!;
        const ledger = instance.alive ? instance.gw.gateway.ctx.ledger : checker;
        try {
          note(`step ${index}: sweep via ${instance.alive ? `i${step.instance}` : 'the checker'}: released ${await ledger.releaseExpiredHolds()}`);
        } catch (error) {
          problems.push(`[sweeper] step ${index}: the sweeper threw ${String(error)}`);
        }
      } else if (step.op === 'revoke') {
        const customer = customers[step.customer]!;
        const via = step.direct ? undefined : [instances[step.instance]!, ...instances].find((i) => i.alive);
        if (via) {
          const response = await fetch(`${via.url}/api/keys/${customer.keyId}`, { method: 'DELETE', headers: { authorization: `Bearer ${customer.managementSecret}` } });
          if (response.status !== 200) problems.push(`[revocation] revoking c${step.customer}'s key via i${via.slot} answered ${response.status}`);
          await response.text();
        } else {
          await t.db.apiKey.update({ where: { id: customer.keyId }, data: { revokedAt: new Date() } });
        }
        customer.revokedAt ??= performance.now();
        note(`step ${index}: revoked c${step.customer}'s key ${via ? `via i${via.slot}` : 'in the database'}`);
      } else if (step.op === 'crash') {
        const instance = instances[step.instance]!;
        const inflight = instance.inflight.size;
        const { lostPhases, lostSettlements } = await crashInstance(instance);
        for (const requestId of lostSettlements) lostToCrashes.add(requestId);
        note(`step ${index}: crashed i${step.instance}.${instance.generation} with ${inflight} calls in flight${lostPhases > 0 ? `, losing ${lostPhases} answered phases of its open commit window (settlements: ${[...lostSettlements].join(', ') || 'none'})` : ''}`);
      } else if (step.op === 'restart') {
        const old = instances[step.instance]!;
        instances[step.instance] = await startInstance(t.config, env, step.instance, old.generation + 1);
        note(`step ${index}: restarted i${step.instance} as i${step.instance}.${old.generation + 1}`);
      } else if (step.op === 'clock-jump') {
        if (faked) {
          // Not a whole day past the start: an Idempotency-Key's record lives 24 hours.
          const to = Math.min(nextUtcMidnight(new Date()).getTime() - step.beforeMidnightMs, clockStart + 86_400_000 - 1_000);
          if (to - Date.now() > Number(SIM_ENV.HOLD_TTL_MS)) clockJumped = true;
          vi.setSystemTime(to);
          note(`step ${index}: Date jumps to ${new Date(to).toISOString()}`);
        }
      } else {
        note(`step ${index}: wait`);
      }
      if (step.gapMs > 0) await sleep(step.gapMs);
    }

    // Quiesce: every client has its answer, then no call is in progress on any instance (no hold
    // is being kept alive, and holds and usage rows stop changing).
    const answered = await Promise.race([Promise.allSettled(pending).then(() => true), sleep(QUIESCE_TIMEOUT_MS).then(() => false)]);
    if (!answered) problems.push(`[quiesce] calls still unanswered after ${QUIESCE_TIMEOUT_MS} ms`);
    note('all calls answered');
    const deadline = performance.now() + QUIESCE_TIMEOUT_MS;
    let last = '';
    for (;;) {
      await sleep(40);
      const [alive, holds, resolved, rows] = await Promise.all([
        t.db.hold.count({ where: { status: 'PENDING', expiresAt: { gt: new Date() } } }),
        t.db.hold.count(),
        t.db.hold.count({ where: { status: { not: 'PENDING' } } }),
        t.db.usageRecord.count(),
      ]);
      const signature = `${holds}/${resolved}/${rows}`;
      if (alive === 0 && signature === last) break;
      last = signature;
      if (performance.now() > deadline) {
        problems.push(`[quiesce] holds still being kept alive ${QUIESCE_TIMEOUT_MS} ms after the last answer (${alive} pending)`);
        break;
      }
    }
    for (const instance of instances) await stopInstance(instance);
    const swept = await checker.releaseExpiredHolds({ now: new Date(Date.now() + 30 * 86_400_000), limit: 100_000 });
    note(`quiesced; the final sweep released ${swept} holds`);

    const checked = await checkInvariants({ db: t.db, customers, records, lostToCrashes, keyCacheMs: Number(SIM_ENV.KEY_CACHE_MS), clockJumped });
    problems.push(...checked.problems);
    for (const step of schedule.steps) checked.coverage[`step ${step.op}`] = (checked.coverage[`step ${step.op}`] ?? 0) + 1;
    log.push('  outcomes:');
    for (const record of [...records].sort((a, b) => a.spec.n - b.spec.n)) log.push(`    ${describeRecord(record)}`);
    return { problems, log, coverage: checked.coverage, ms: performance.now() - started };
  } finally {
    if (faked) vi.useRealTimers();
    for (const instance of instances) await stopInstance(instance).catch(() => undefined);
    if (gatewayLog.length > 0) log.push('  gateway log:', ...gatewayLog.slice(0, 60).map((line) => `    ${line.slice(0, 400)}`));
    await dropDatabase(t);
  }
}

/** A schedule's database is not needed after its checks: dropped, so that a long run stays small. */
async function dropDatabase(t: TestDatabase): Promise<void> {
  await t.close();
  if (t.config.provider === 'sqlite') {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${t.config.file}${suffix}`, { force: true });
    return;
  }
  const template = inject('dbTemplate');
  if (template.provider !== 'postgresql') return;
  const admin = new pg.Client({ connectionString: template.serverUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${new URL(t.config.url).pathname.slice(1)}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
