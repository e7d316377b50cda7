import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** Listens on `port` of 127.0.0.1 (0: any free one) and closes again: the port it got, or why it could not. */
async function listenBriefly(port: number): Promise<{ port: number } | { error: NodeJS.ErrnoException }> {
  const server = createServer();
  const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    server.once('error', resolve);
    server.listen(port, '127.0.0.1', () => resolve(null));
  });
  if (error) return { error };
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') return { error: new Error('the server has no TCP address') };
  return { port: address.port };
}

/** A port that was free a moment ago, for a child process that must be told its port. */
export async function freePort(): Promise<number> {
  const result = await listenBriefly(0);
  if ('error' in result) throw new Error(`could not find a free port: ${result.error.message}`);
  return result.port;
}

/**
 * Throws, naming the port, if something already listens on it: a server started for a test must
 * be the one that answers there, not a stray one left by another run (waitHealthy would take any
 * healthy answer as its own).
 */
export async function assertPortFree(port: number): Promise<void> {
  const result = await listenBriefly(port);
  if (!('error' in result)) return;
  const { error } = result;
  throw new Error(error.code === 'EADDRINUSE' ? `port ${port} is already in use by another process: stop it (a server left by an earlier run?) before this test starts its own there` : `port ${port} cannot be listened on: ${error.message}`);
}

/**
 * Waits until the server a child process started (or, with no child, one started elsewhere)
 * answers GET /health with a 2xx, every 100 ms; throws with the child's output if it exits first,
 * or with the last answer (or error) and the output if `timeoutMs` passes. The tests, the browser
 * suite's app instances, the screenshots script and the bench all start servers this way.
 */
export async function waitHealthy(url: string, child: ChildProcess | null, output: () => string, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`the server on ${url} exited (${child.exitCode ?? child.signalCode}) before it answered /health:\n${output()}`);
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      // Read to the end: an unread body holds its connection until it is collected.
      await response.arrayBuffer();
      if (response.ok) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`the server on ${url} did not answer /health with a 2xx within ${timeoutMs} ms (last: ${last}):\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
