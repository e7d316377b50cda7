/*
 * The gateway's hot path makes no new V8 hidden class per call (issue #12, round 10).
 *
 * On Node 20 (V8 11.3) a literal that opens with a spread, `{ ...source, extra }`, copies its source
 * into a hidden class kept out of V8's transition tree, so each property added after the spread
 * makes a brand-new hidden class, every time, in the old generation. Its pointers into the young
 * generation then keep the call's objects alive through the next scavenges: measured, 3 KB
 * promoted per call and 4-5 ms scavenge pauses at one connection, most of the one-connection p99.
 * Nothing in the code's behaviour shows it, so this test reads V8's own map log (`--log-maps`): the
 * lean gateway server serves calls, and no property may be added to a detached hidden class about
 * once per call. V8 logs such an addition as a "Transition" with the reason "prototype".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { freePort, waitHealthy } from './helpers/ports';
import { createCustomer, upstreamEnv } from './helpers/gateway';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CALLS = 240;
const WARM_UP = 24;
const START_MARK = 'tollgate_map_log_start';
const END_MARK = 'tollgate_map_log_end';
// Not ours: Node's AbortSignal (made for each Claude call's SDK request: the gateway's abortSignalOf,
// the SDK's own, fetch's) sets its internal symbols on a detached class, and the official Anthropic
// SDK's tracing adds its span attributes to one.
const NOT_OURS = /^symbol\("k(Aborted|Reason|Composite)"|^gen_ai\.request\.|^__span$/;

/**
 * Properties added to a detached hidden class, by name, from a V8 log written with --log-maps:
 * between the transitions that add the property `from` and the one that adds `to` when given
 * (markers: JSON.parse logs each new property name it meets), else in the whole log.
 */
function detachedTransitions(log: string, from?: string, to?: string): Map<string, number> {
  const counts = new Map<string, number>();
  let counting = from === undefined;
  let closed = false;
  // Every isolate of the process (the SQLite checkpointer's thread, tsx's loader) opens the same
  // file at its start, from offset 0: an isolate started inside the window would have overwritten
  // part of it, which leaves NUL bytes where the main isolate's lines were.
  const start = from === undefined ? 0 : log.indexOf(`,${from}\n`);
  const end = to === undefined ? log.length : log.indexOf(`,${to}\n`, start);
  if (start >= 0 && end > start && log.slice(start, end).includes('\0')) throw new Error('another isolate overwrote the log inside the counted window');
  for (const line of log.split('\n')) {
    if (!line.startsWith('map,Transition,')) continue;
    // map,Transition,time,from,to,pc,line,column,reason,name: the name may itself hold commas.
    const fields = line.split(',');
    const name = fields.slice(9).join(',');
    if (name === from) counting = true;
    if (name === to && counting) closed = true;
    if (closed) break;
    if (counting && fields[8] === 'prototype') counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  if (from !== undefined && (!counting || !closed)) {
    // V8 11 logs the new key JSON.parse meets as a transition; a later V8 may not, and makes no
    // detached classes of this kind anyway (the first test): the whole log is counted there.
    if (!process.versions.v8.startsWith('11.')) return detachedTransitions(log);
    throw new Error(`the log lacks the markers ${from} … ${to}: was it written?`);
  }
  return counts;
}

function runLogged(args: string[], env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const child = spawn(process.execPath, ['--log-maps', `--logfile=${logFile}`, '--no-logfile-per-isolate', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  return child;
}

let dir: string;
let t: TestDatabase;
let fake: FakeUpstream;
const children = new Set<ChildProcess>();

/** SIGTERM, then SIGKILL after 3 s (the server's close waits for open connections); resolves once it has exited. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  }
  children.delete(child);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-maps-'));
  t = await createTestDatabase();
  fake = await startFakeUpstream({ record: false });
});

afterAll(async () => {
  for (const child of children) await stop(child);
  await fake?.close();
  await t?.close();
  if (dir && !process.env.KEEP_MAPS) rmSync(dir, { recursive: true, force: true });
});

describe('hidden classes on the hot path', () => {
  it('the log reader finds a detached class when a literal opens with a spread (on Node 20, whose V8 makes one)', async () => {
    // The same reader on a script known to make one per iteration: proof that it can see them,
    // where this V8 makes them (V8 12 and later keep such classes in the tree: Node 22 and 24 log none).
    const script = join(dir, 'spread.mjs');
    writeFileSync(script, 'const kept = []; for (let i = 0; i < 300; i++) { const source = { a: i, b: 2 }; kept.push({ ...source, added: i }); }\n');
    const logFile = join(dir, 'spread.log');
    const child = runLogged([script], process.env, logFile);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    children.delete(child);
    expect(code).toBe(0);
    const added = detachedTransitions(readFileSync(logFile, 'latin1')).get('added') ?? 0;
    if (process.versions.v8.startsWith('11.')) expect(added).toBeGreaterThanOrEqual(250);
    else expect(added).toBeLessThan(300);
  });

  it('serving each dialect, streamed or not, adds no property to a detached class once per call', async () => {
    const customer = await createCustomer(t.db, 10_000_000n);
    const port = await freePort();
    const logFile = join(dir, 'gateway.log');
    // The catalog cached as in production (the tests' default re-reads it through Prisma each call).
    const env = { ...process.env, ...upstreamEnv(fake.url, { DATABASE_URL: t.url, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'error', CATALOG_CACHE_MS: '60000' }) };
    const gateway = runLogged(['--import', 'tsx', 'scripts/gateway-server.ts'], env, logFile);
    children.add(gateway);
    let output = '';
    gateway.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    gateway.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitHealthy(url, gateway, () => output);
      const client = new OpenAI({ apiKey: customer.secret, baseURL: `${url}/v1`, maxRetries: 0 });
      const params = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Say hello in five words.' }], max_tokens: 16 };
      // A body with a field of its own name marks the log (refused with a 400, parsed first): the
      // counted window starts after start-up and the first calls' lazy loading, and ends with the calls.
      const mark = async (field: string) => {
        const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${customer.secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...params, [field]: 1 }) });
        expect(response.status).toBe(400);
      };
      // Each dialect, streamed and not: chat completions, Anthropic's messages, OpenAI's responses.
      const anthropic = new Anthropic({ apiKey: customer.secret, baseURL: url, maxRetries: 0 });
      const call = async (i: number) => {
        const stream = i % 2 === 1;
        switch (i % 8) {
          case 0:
          case 1: {
            if (!stream) {
              // Without max_tokens (the gateway sets it from the plan), as most clients send.
              expect((await client.chat.completions.create({ model: params.model, messages: params.messages })).choices[0]?.message.content).toBeTruthy();
              return;
            }
            let usage = null;
            for await (const chunk of await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } })) usage = chunk.usage ?? usage;
            expect(usage?.completion_tokens).toBeGreaterThan(0);
            return;
          }
          case 2:
          case 3: {
            const request = { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user' as const, content: 'Say hello.' }] };
            if (!stream) {
              expect((await anthropic.messages.create(request)).usage.output_tokens).toBeGreaterThan(0);
              return;
            }
            expect((await anthropic.messages.stream(request).finalMessage()).usage.output_tokens).toBeGreaterThan(0);
            return;
          }
          default: {
            // OpenAI's native Responses API, and Claude's answer translated into it.
            const request = { model: i % 8 < 6 ? 'gpt-4o-mini' : 'claude-haiku-4-5', input: 'Say hello.', max_output_tokens: 16 };
            if (!stream) {
              expect((await client.responses.create(request)).usage?.output_tokens).toBeGreaterThan(0);
              return;
            }
            let usage = null;
            for await (const event of await client.responses.create({ ...request, stream: true })) if (event.type === 'response.completed') usage = event.response.usage;
            expect(usage?.output_tokens).toBeGreaterThan(0);
          }
        }
      };
      for (let i = 0; i < WARM_UP; i++) await call(i);
      await mark(START_MARK);
      for (let i = 0; i < CALLS; i++) await call(i);
      await mark(END_MARK);
    } finally {
      await stop(gateway);
    }
    const counts = detachedTransitions(readFileSync(logFile, 'latin1'), START_MARK, END_MARK);
    // The window holds the calls: the AbortSignals of the Claude calls' SDK requests (half the calls,
    // two or more each) show in it on Node 20.
    const aborts = [...counts].filter(([name]) => name.startsWith('symbol("kAborted"')).reduce((sum, [, count]) => sum + count, 0);
    if (process.versions.v8.startsWith('11.')) expect(aborts).toBeGreaterThanOrEqual(CALLS);
    const perCall = [...counts].filter(([name, count]) => !NOT_OURS.test(name) && count >= CALLS / 16).map(([name, count]) => `${name}: ${count}`);
    expect(perCall, `properties added to a fresh hidden class about once per call (a literal that opens with a spread, then adds them?) over ${CALLS} calls`).toEqual([]);
  }, 120_000);
});
