import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';
import { createNodeServer, type ApiHandler, type WebHandler } from '../../lib/server/node-server';

/**
 * One Node server (createNodeServer) per test, on a free loopback port, closed after the test
 * however it ended. Call it in a describe block; `listen` starts the test's server and returns its
 * port, `server` is the one started.
 */
export function nodeServerPerTest(): { listen(api: ApiHandler, web?: WebHandler): Promise<number>; server(): Server } {
  let server: Server | undefined;
  afterEach(async () => {
    // A failed test may leave a connection or a stream open: closing must not wait for it.
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });
  return {
    async listen(api, web = () => Promise.reject(new Error('not the gateway'))) {
      const started = createNodeServer(web, api);
      server = started;
      await new Promise<void>((resolve) => started.listen(0, '127.0.0.1', resolve));
      return (started.address() as AddressInfo).port;
    },
    server() {
      if (!server) throw new Error('no server is listening: call listen() first');
      return server;
    },
  };
}
