import { Rng } from './prng';

/**
 * A schedule: who the customers are and what happens to the gateway, all drawn from one seed, so
 * that a failing seed can be run again on its own (SIM_SEED). The interleaving of concurrent calls
 * is the machine's, not the seed's: a seed reproduces the operations, not their exact timing.
 */

/** The fake upstream on OpenAI's wire and on Anthropic's, and the built-in local model. */
export type Model = 'gpt-4o-mini' | 'claude-haiku-4-5' | 'tollgate-local';

export type CustomerSpec = {
  balance: bigint;
  dailyRequestLimit: number | null;
  dailyBudget: bigint | null;
  /** A pack lot bought before the calls (a pack of the schedule's own). */
  pack: { price: bigint; faceValue: bigint; scopeModelId: Model | null } | null;
};

export type CallSpec = {
  /** The call's number in its schedule (#n in the log). */
  n: number;
  instance: number;
  customer: number;
  model: Model;
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number;
  /** The fake upstream's per-request fault directive (test/fake-upstream.ts faultDirective), or null. */
  fault: string | null;
  /** The client hangs up this many ms after sending. */
  abortAfterMs: number | null;
  idempotencyKey: string | null;
  /** The call whose body and Idempotency-Key this one repeats. */
  repeatOf: number | null;
  /** The number whose prompt the body carries (the original's, for a repeat: same body). */
  bodyOf: number;
};

export type Step =
  | { op: 'calls'; calls: CallSpec[]; gapMs: number }
  | { op: 'wait'; gapMs: number }
  | { op: 'sweep'; instance: number; gapMs: number }
  /**
   * Through an instance's account API, or straight in the database as another process would (the
   * instances share this process's key-change count, so only then do their key caches stay warm).
   */
  | { op: 'revoke'; customer: number; instance: number; direct: boolean; gapMs: number }
  | { op: 'crash'; instance: number; gapMs: number }
  | { op: 'restart'; instance: number; gapMs: number }
  /** Date jumps to this many ms before the next UTC midnight (only with a fake clock). */
  | { op: 'clock-jump'; beforeMidnightMs: number; gapMs: number };

export type Schedule = {
  seed: number;
  customers: CustomerSpec[];
  /** Date is faked from the first step, starting this many ms before a UTC midnight; null: real time. */
  clock: { startBeforeMidnightMs: number } | null;
  steps: Step[];
};

export const INSTANCES = 2;

/** `size` scales the number of steps (1: the CI budget's schedules). */
export function generateSchedule(seed: number, size = 1): Schedule {
  const rng = new Rng(seed);
  const customers: CustomerSpec[] = [];
  const customerCount = rng.int(2, 4);
  for (let i = 0; i < customerCount; i++) {
    const tier = rng.weighted([
      ['tiny', 25],
      ['small', 40],
      ['large', 35],
    ] as const);
    const balance = tier === 'tiny' ? BigInt(rng.int(20, 150)) : tier === 'small' ? BigInt(rng.int(300, 3_000)) : 1_000_000n;
    let pack: CustomerSpec['pack'] = null;
    if (rng.chance(0.3) && balance >= 20n) {
      const price = BigInt(rng.int(10, Math.min(200, Number(balance))));
      pack = { price, faceValue: price + BigInt(rng.int(0, 2 * Number(price))), scopeModelId: rng.pick([null, 'gpt-4o-mini', 'claude-haiku-4-5', 'tollgate-local'] as const) };
    }
    customers.push({
      balance,
      dailyRequestLimit: rng.chance(0.3) ? rng.int(2, 10) : null,
      dailyBudget: rng.chance(0.35) ? BigInt(rng.int(40, 600)) : null,
      pack,
    });
  }
  const clock = rng.chance(0.35) ? { startBeforeMidnightMs: rng.int(5, 150) } : null;

  const steps: Step[] = [];
  const alive = Array.from({ length: INSTANCES }, () => true);
  let crashes = 0;
  let calls = 0;
  const revoked = new Set<number>();
  const repeatable: CallSpec[] = [];
  const stepCount = Math.round(rng.int(4, 9) * size);
  const gap = () => rng.weighted([
    [0, 30],
    [rng.int(1, 40), 50],
    [rng.int(40, 150), 20],
  ] as const);

  const newCall = (): CallSpec => {
    const n = calls++;
    const liveInstances = alive.flatMap((up, i) => (up ? [i] : []));
    const instance = liveInstances.length > 0 && rng.chance(0.9) ? rng.pick(liveInstances) : rng.int(0, INSTANCES - 1);
    const customer = rng.int(0, customers.length - 1);
    const model = rng.weighted<Model>([
      ['gpt-4o-mini', 70],
      ['claude-haiku-4-5', 15],
      ['tollgate-local', 15],
    ]);
    const stream = rng.chance(0.5);
    const maxTokens =
      model === 'tollgate-local'
        ? rng.int(1, 8)
        : rng.weighted([
            [rng.int(1, 20), 20],
            [rng.int(20, 150), 50],
            [rng.int(150, 600), 30],
          ] as const);
    const directives: string[] = [];
    if (model !== 'tollgate-local') {
      const fault = rng.weighted([
        ['none', 55],
        ['die', 10],
        ['status', 10],
        ['stall-long', 5],
        ['stall-short', 5],
        ['no-usage', 7],
        ['latency', 8],
      ] as const);
      if (fault === 'die') directives.push(`die_after=${rng.int(1, 8)}`);
      if (fault === 'status') directives.push(`status=${rng.pick([429, 500, 503, 400])}`);
      // Longer than the gateway's idle timeout (UPSTREAM_IDLE_TIMEOUT_MS in the sim's env), or shorter.
      if (fault === 'stall-long') directives.push(`stall_ms=350,stall_after=${rng.int(1, 5)}`);
      if (fault === 'stall-short') directives.push(`stall_ms=${rng.int(20, 120)},stall_after=${rng.int(1, 5)}`);
      if (fault === 'no-usage') directives.push('no_usage');
      if (fault === 'latency') directives.push(`latency_ms=${rng.int(10, 200)}`);
      if (stream && rng.chance(0.4)) directives.push(`chunk_ms=${rng.int(1, 25)}`);
      if (rng.chance(0.7)) directives.push(`usage=${rng.int(5, 60)}/${rng.int(1, 80)}`);
    }
    return {
      n,
      instance,
      customer,
      model,
      stream,
      includeUsage: stream && rng.chance(0.8),
      maxTokens,
      fault: directives.length > 0 ? directives.join(',') : null,
      abortAfterMs: rng.chance(0.15) ? rng.int(0, 150) : null,
      idempotencyKey: rng.chance(0.12) ? `idem-${seed}-${n}` : null,
      repeatOf: null,
      bodyOf: n,
    };
  };

  const repeatCall = (of: CallSpec): CallSpec => ({
    ...of,
    n: calls++,
    instance: rng.int(0, INSTANCES - 1),
    abortAfterMs: rng.chance(0.1) ? rng.int(0, 100) : null,
    repeatOf: of.n,
  });

  for (let i = 0; i < stepCount; i++) {
    const op = rng.weighted([
      ['calls', 55],
      ['wait', 10],
      ['sweep', 10],
      ['revoke', revoked.size < customers.length - 1 ? 6 : 0],
      ['crash', crashes < 2 && alive.some(Boolean) ? 6 : 0],
      ['restart', alive.some((up) => !up) ? 20 : 0],
      ['clock-jump', clock ? 12 : 0],
    ] as const);
    const gapMs = gap();
    if (op === 'calls') {
      const wave: CallSpec[] = [];
      const count = rng.int(1, 6);
      for (let c = 0; c < count; c++) {
        const repeat = repeatable.length > 0 && rng.chance(0.25) ? repeatable.splice(rng.int(0, repeatable.length - 1), 1)[0]! : null;
        const call = repeat ? repeatCall(repeat) : newCall();
        if (!repeat && call.idempotencyKey) repeatable.push(call);
        wave.push(call);
      }
      steps.push({ op, calls: wave, gapMs });
    } else if (op === 'wait') {
      steps.push({ op, gapMs: rng.int(20, 300) });
    } else if (op === 'sweep') {
      steps.push({ op, instance: rng.int(0, INSTANCES - 1), gapMs });
    } else if (op === 'revoke') {
      // Calls just before (their key lookups cached on the instances) and just after: within the
      // key cache's TTL only the reservation stands between a revoked key and a served call.
      const customer = rng.int(0, customers.length - 1);
      revoked.add(customer);
      const forCustomer = (count: number) => Array.from({ length: count }, () => ({ ...newCall(), customer }));
      steps.push({ op: 'calls', calls: forCustomer(rng.int(1, 2)), gapMs: rng.int(0, 50) });
      steps.push({ op, customer, instance: rng.int(0, INSTANCES - 1), direct: rng.chance(0.5), gapMs: rng.int(0, 60) });
      steps.push({ op: 'calls', calls: forCustomer(rng.int(1, 3)), gapMs });
    } else if (op === 'crash') {
      const instance = rng.pick(alive.flatMap((up, j) => (up ? [j] : [])));
      alive[instance] = false;
      crashes += 1;
      steps.push({ op, instance, gapMs });
    } else if (op === 'restart') {
      const instance = rng.pick(alive.flatMap((up, j) => (up ? [] : [j])));
      alive[instance] = true;
      steps.push({ op, instance, gapMs });
    } else {
      steps.push({ op, beforeMidnightMs: rng.int(5, 60), gapMs });
      // A sweep soon after a jump finds the holds of calls in flight expired: they lapse.
      if (rng.chance(0.6)) steps.push({ op: 'sweep', instance: rng.int(0, INSTANCES - 1), gapMs: rng.int(0, 30) });
    }
  }
  // Most idempotent calls are repeated at least once before the end.
  const tail = repeatable.filter(() => rng.chance(0.7)).map(repeatCall);
  if (tail.length > 0) steps.push({ op: 'calls', calls: tail, gapMs: 0 });
  return { seed, customers, clock, steps };
}

export function describeCall(c: CallSpec): string {
  return [
    `#${c.n}`,
    `i${c.instance}`,
    `c${c.customer}`,
    c.model,
    c.stream ? (c.includeUsage ? 'stream+usage' : 'stream') : 'plain',
    `max=${c.maxTokens}`,
    c.fault ? `fault=${c.fault}` : null,
    c.abortAfterMs !== null ? `abort@${c.abortAfterMs}ms` : null,
    c.idempotencyKey ? `idem=${c.idempotencyKey}` : null,
    c.repeatOf !== null ? `repeats#${c.repeatOf}` : null,
  ]
    .filter(Boolean)
    .join(' ');
}

export function describeSchedule(s: Schedule): string[] {
  const lines = [`seed ${s.seed}${s.clock ? `, Date starts ${s.clock.startBeforeMidnightMs} ms before a UTC midnight` : ''}`];
  s.customers.forEach((c, i) => {
    const pack = c.pack ? ` pack(price ${c.pack.price}, face ${c.pack.faceValue}, scope ${c.pack.scopeModelId ?? 'any'})` : '';
    lines.push(`  c${i}: balance ${c.balance}, daily requests ${c.dailyRequestLimit ?? '-'}, daily budget ${c.dailyBudget ?? '-'}${pack}`);
  });
  s.steps.forEach((step, i) => {
    const head = `  step ${i} (+${step.gapMs} ms) ${step.op}`;
    if (step.op === 'calls') {
      lines.push(head);
      for (const call of step.calls) lines.push(`    ${describeCall(call)}`);
    } else if (step.op === 'revoke') lines.push(`${head} c${step.customer} ${step.direct ? 'in the database' : `via i${step.instance}`}`);
    else if (step.op === 'clock-jump') lines.push(`${head} to ${step.beforeMidnightMs} ms before the next UTC midnight`);
    else if (step.op === 'wait') lines.push(head);
    else lines.push(`${head} i${step.instance}`);
  });
  return lines;
}
