// The app's server (`npm run app`, `npm start`, `npm run dev`), one process on one port:
// - /v1/* and /health go straight to the framework-free gateway (lib/gateway), as in the lean
//   server: Next's router alone would cap a trivial handler at ~1,250 req/s on two cores;
// - everything else goes to Next's request handler.
// Between pages, Node 20 and 22 stop tracking Next's request context (lib/server/idle-context-tracking.ts).
// Either way the socket's address reaches the app in a header no client can set (rate limits,
// welcome-credit caps and the development mailbox read it; see lib/http/client-address.ts).
//   PORT=3000 HOST=0.0.0.0 node --import tsx scripts/server.ts [--dev]
// Through node's --import, not the tsx CLI: the CLI is a second process that relays signals and
// SIGKILLs a server that has not acknowledged one within 60 ms (busy under load, say), cutting its
// graceful stop short.
// Before Next, which replaces the global Date: the gateway's clock keeps the original (lib/clock.ts).
import '../lib/server/keep-original-date';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import next from 'next';
import { warnOfSqliteDriverHazard } from '../lib/db/sqlite-driver-check';
import { stampPeer, trustPeerHeader } from '../lib/http/client-address';
import { internalError } from '../lib/http/errors';
import { logger } from '../lib/logger';
import { installIdleContextTracking, trackPage } from '../lib/server/idle-context-tracking';
import { getGateway } from '../lib/server/instance';
import { continueUnlessTooLarge, isGatewayPath, serveApi } from '../lib/server/node-server';
import { stopOnSignals } from '../lib/server/stop-on-signals';

const dev = process.argv.includes('--dev');
const port = Number(process.env.PORT ?? 3000);
const hostname = process.env.HOST ?? '0.0.0.0';

async function main() {
  warnOfSqliteDriverHazard();
  // Before Next runs anything: every storage it enables is then recorded (lib/server/idle-context-tracking.ts).
  // Not under `next dev`, whose compiler and overlay do work of their own outside any request.
  if (!dev) installIdleContextTracking();
  const app = next({ dev, hostname, port });
  await app.prepare();
  const handle = app.getRequestHandler();
  trustPeerHeader();
  // The process's one gateway (made by instrumentation.ts during prepare(), or here): the playground
  // and /v1 share its rate-limit buckets, its catalog cache and its hold sweeper.
  const gateway = getGateway();
  const route = (req: IncomingMessage, res: ServerResponse) => {
    if (isGatewayPath(req.url)) {
      serveApi(gateway.handleApi, req, res);
      return;
    }
    stampPeer(req.headers, req.socket.remoteAddress);
    const handled = handle(req, res).catch((error: unknown) => {
      logger.error('server: unhandled error', { error });
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify(internalError().toJSON()));
    });
    trackPage(req, res, handled);
  };
  const server = createServer(route).on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    // Pages get Node's own answer to `Expect: 100-continue` (continue); /v1 refuses an oversized body unsent.
    if (isGatewayPath(req.url)) continueUnlessTooLarge(req, res);
    else res.writeContinue();
    route(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, hostname, () => logger.info(`tollgate listening on http://${hostname === '0.0.0.0' ? 'localhost' : hostname}:${port}`, { dev }));
  stopOnSignals(server, gateway, 'server');
}

main().catch((error: unknown) => {
  logger.error('server failed to start', { error });
  process.exit(1);
});
