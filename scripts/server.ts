// The app's server (`npm run app`, `npm start`, `npm run dev`): Next's request handler behind
// node:http, so that the socket's address reaches the app in a header no client can set (rate
// limits, welcome-credit caps and the development mailbox read it; see lib/http/client-address.ts).
//   PORT=3000 HOST=0.0.0.0 npx tsx scripts/server.ts [--dev]
import { createServer } from 'node:http';
import next from 'next';
import { stampPeer, trustPeerHeader } from '../lib/http/client-address';
import { internalError } from '../lib/http/errors';
import { logger } from '../lib/logger';

const dev = process.argv.includes('--dev');
const port = Number(process.env.PORT ?? 3000);
const hostname = process.env.HOST ?? '0.0.0.0';

async function main() {
  const app = next({ dev, hostname, port });
  await app.prepare();
  const handle = app.getRequestHandler();
  trustPeerHeader();
  const server = createServer((req, res) => {
    stampPeer(req.headers, req.socket.remoteAddress);
    handle(req, res).catch((error: unknown) => {
      logger.error('server: unhandled error', { error });
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify(internalError().toJSON()));
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, hostname, () => logger.info(`tollgate listening on http://${hostname === '0.0.0.0' ? 'localhost' : hostname}:${port}`, { dev }));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      server.close(() => process.exit(0));
      setTimeout(() => process.exit(0), 5_000).unref();
    });
  }
}

main().catch((error: unknown) => {
  logger.error('server failed to start', { error });
  process.exit(1);
});
