import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { createDb, sqlFor, type Db } from '../../lib/db/client';
import { SqliteRunner } from '../../lib/db/sqlite-runner';
import type { DatabaseConfig } from '../../lib/db/config';
import { randomBase62 } from '../../lib/ids';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import type { CallSpec } from './schedule';

/**
 * One gateway instance of a schedule: its own database client (createDb), so that it can crash
 * without taking the others' connections with it.
 *
 * A crashed process reaches the database no more, but a disconnected client reconnects on its next
 * query (SQLite reopens its file; Prisma's PostgreSQL adapter opens a new pool after its pool is
 * ended). So each instance reaches the database through a door the crash shuts: on SQLite a
 * symlink to the file in a directory of its own (SQLite resolves the link, so the WAL is the
 * file's own), deleted by the crash, so that reopening fails; on PostgreSQL a TCP proxy in front of
 * the server, whose sockets the crash destroys and which accepts no more.
 */
export type Instance = {
  slot: number;
  generation: number;
  url: string;
  gw: TestGateway;
  db: Db;
  /** Shuts the instance's way to the database. */
  cutDatabase: () => void;
  alive: boolean;
  /** Calls sent to this instance and not yet answered in full. */
  inflight: Set<CallRecord>;
};

export async function startInstance(config: DatabaseConfig, env: NodeJS.ProcessEnv, slot: number, generation: number): Promise<Instance> {
  let own: DatabaseConfig;
  let cutDatabase: () => void;
  if (config.provider === 'sqlite') {
    const linkDir = join(dirname(config.file), `sim-${randomBase62(10)}`);
    mkdirSync(linkDir);
    const file = join(linkDir, 'tollgate.db');
    symlinkSync(config.file, file);
    own = { provider: 'sqlite', url: `file:${file}`, file };
    // Retried: the instance's own connections may still put a file in it while it goes (seen once
    // as ENOTEMPTY, in the Node 24 pass on SQLite).
    cutDatabase = () => rmSync(linkDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
  } else {
    const url = new URL(config.url);
    const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    own = { provider: 'postgresql', url: url.toString() };
    cutDatabase = proxy.cut;
  }
  const db = createDb(own);
  const gw = await startTestGateway({ db, env });
  return { slot, generation, url: gw.url, gw, db, cutDatabase, alive: true, inflight: new Set() };
}

/** Forwards TCP connections to host:port until cut, which destroys them all and refuses new ones. */
async function startTcpProxy(host: string, port: number): Promise<{ port: number; cut: () => void }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, host);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', drop);
      socket.on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    cut: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/**
 * The process dies: what it had answered but not committed is lost, its way to the database is cut
 * (so nothing in flight settles), then its sockets. Returns how many answered phases were lost, and
 * the request ids whose settlements were among them.
 */
export async function crashInstance(instance: Instance): Promise<{ lostPhases: number; lostSettlements: Set<string> }> {
  instance.alive = false;
  for (const call of instance.inflight) call.crashed = true;
  // On SQLite, the phases answered in an open commit window die with the process: its $disconnect
  // below would commit them, as a process that stops does. The calls whose settlements (their usage
  // rows) were among them: the rows seen inside the window and gone after its rollback.
  const runner = sqlFor(instance.db);
  if (runner.provider === 'sqlite' && !(runner instanceof SqliteRunner)) throw new Error('crashInstance: a SQLite runner of another module instance');
  const seen: Record<'before' | 'after', Set<string>> = { before: new Set(), after: new Set() };
  const lostPhases =
    runner instanceof SqliteRunner
      ? runner.loseOpenWindow((connection, moment) => {
          for (const row of connection.prepare('SELECT "requestId" FROM "UsageRecord"').all() as Array<{ requestId: string }>) seen[moment].add(row.requestId);
        })
      : 0;
  const lostSettlements = new Set([...seen.before].filter((requestId) => !seen.after.has(requestId)));
  instance.cutDatabase();
  // Ending a pool whose sockets were cut may wait on them: a dead process waits for nothing.
  const disconnected = Promise.race([instance.db.$disconnect().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1_000))]);
  // closeAllConnections inside: every open request and stream is cut.
  await Promise.all([instance.gw.close(), disconnected]);
  return { lostPhases, lostSettlements };
}

export async function stopInstance(instance: Instance): Promise<void> {
  if (!instance.alive) return;
  instance.alive = false;
  await instance.gw.close();
  await instance.db.$disconnect();
  instance.cutDatabase();
}

/** What a client saw of one call. */
export type CallRecord = {
  spec: CallSpec;
  slot: number;
  /** Which start of the slot's instance it was sent to. */
  generation: number;
  /** The instance was down when the call was sent (connection refused). */
  instanceDown: boolean;
  /** The instance crashed while the call was in flight. */
  crashed: boolean;
  /** The client's abort fired before the answer was complete. */
  aborted: boolean;
  startedAt: number;
  endedAt: number;
  status: number | null;
  requestId: string | null;
  replayed: boolean;
  /** The whole answer arrived (a JSON body, or a stream the server ended). */
  complete: boolean;
  body: string;
  sawDone: boolean;
  errorEvent: boolean;
  errorCode: string | null;
  /** What the client was told it cost, in micro-USD (the body's usage.cost), when it was told. */
  clientCost: bigint | null;
  headerCost: bigint | null;
  networkError: string | null;
};

const usdToMicros = (usd: number) => BigInt(Math.round(usd * 1_000_000));

export function promptOf(spec: CallSpec): string {
  return `Call ${spec.bodyOf}: say something short.${spec.fault ? ` [[fault:${spec.fault}]]` : ''}`;
}

export function bodyOf(spec: CallSpec): string {
  return JSON.stringify({
    model: spec.model,
    messages: [{ role: 'user', content: promptOf(spec) }],
    max_tokens: spec.maxTokens,
    ...(spec.stream ? { stream: true, ...(spec.includeUsage ? { stream_options: { include_usage: true } } : {}) } : {}),
  });
}

/** Sends one call as a client would (raw fetch, so every status, header and byte is seen) and records what came back. */
export async function sendCall(instance: Instance, spec: CallSpec, secret: string): Promise<CallRecord> {
  const record: CallRecord = {
    spec,
    slot: instance.slot,
    generation: instance.generation,
    instanceDown: !instance.alive,
    crashed: false,
    aborted: false,
    startedAt: performance.now(),
    endedAt: 0,
    status: null,
    requestId: null,
    replayed: false,
    complete: false,
    body: '',
    sawDone: false,
    errorEvent: false,
    errorCode: null,
    clientCost: null,
    headerCost: null,
    networkError: null,
  };
  if (instance.alive) instance.inflight.add(record);
  const controller = new AbortController();
  const timer =
    spec.abortAfterMs === null
      ? null
      : setTimeout(() => {
          if (record.complete) return;
          record.aborted = true;
          controller.abort();
        }, spec.abortAfterMs);
  try {
    const response = await fetch(`${instance.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', ...(spec.idempotencyKey ? { 'idempotency-key': spec.idempotencyKey } : {}) },
      body: bodyOf(spec),
      signal: controller.signal,
    });
    record.status = response.status;
    record.requestId = response.headers.get('x-request-id');
    record.replayed = response.headers.get('idempotent-replayed') === 'true';
    const headerCost = response.headers.get('x-tollgate-cost-usd');
    if (headerCost !== null) record.headerCost = usdToMicros(Number(headerCost));
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      record.body += decoder.decode(value, { stream: true });
    }
    record.complete = true;
  } catch (error) {
    record.networkError = error instanceof Error ? `${error.name}: ${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}` : String(error);
  } finally {
    if (timer) clearTimeout(timer);
    record.endedAt = performance.now();
    instance.inflight.delete(record);
  }
  readBody(record);
  return record;
}

function readBody(record: CallRecord): void {
  if (record.body.startsWith('data:') || record.body.includes('\ndata:')) {
    for (const line of record.body.split('\n')) {
      if (!line.startsWith('data: ')) continue;
      const data = line.slice('data: '.length).trim();
      if (data === '[DONE]') {
        record.sawDone = true;
        continue;
      }
      try {
        const event = JSON.parse(data) as { error?: { code?: string }; usage?: { cost?: number } };
        if (event.error) {
          record.errorEvent = true;
          record.errorCode = event.error.code ?? null;
        }
        if (typeof event.usage?.cost === 'number') record.clientCost = usdToMicros(event.usage.cost);
      } catch {
        // A frame cut by a dropped connection.
      }
    }
    return;
  }
  if (!record.complete) return;
  try {
    const json = JSON.parse(record.body) as { error?: { code?: string }; usage?: { cost?: number } };
    if (json.error) record.errorCode = json.error.code ?? null;
    if (typeof json.usage?.cost === 'number') record.clientCost = usdToMicros(json.usage.cost);
  } catch {
    // Not JSON: reported by the invariants as an unexpected answer.
  }
}

export function describeRecord(r: CallRecord): string {
  const parts = [`#${r.spec.n}`, `i${r.slot}.${r.generation}`];
  if (r.instanceDown) parts.push('instance down');
  parts.push(r.status === null ? 'no answer' : String(r.status));
  if (r.requestId) parts.push(r.requestId);
  if (r.replayed) parts.push('replayed');
  if (r.spec.stream && r.status === 200) parts.push(r.sawDone ? '[DONE]' : 'no [DONE]');
  if (r.errorEvent) parts.push('error event');
  if (r.errorCode) parts.push(r.errorCode);
  if (r.clientCost !== null) parts.push(`cost ${r.clientCost}`);
  if (r.aborted) parts.push('client aborted');
  if (r.crashed) parts.push('instance crashed during');
  if (!r.complete) parts.push('incomplete');
  if (r.networkError) parts.push(r.networkError);
  parts.push(`${Math.round(r.endedAt - r.startedAt)} ms`);
  return parts.join(' ');
}
