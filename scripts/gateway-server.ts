// The lean entry: serves /v1 and /health over node:http with the same gateway code as the Next app.
//   PORT=3001 node --import tsx scripts/gateway-server.ts
import { createGateway } from '../lib/gateway/gateway';
import { getDb } from '../lib/db/client';
import { warnOfSqliteDriverHazard } from '../lib/db/sqlite-driver-check';
import { logger } from '../lib/logger';
import { getPayPerRequest, getX402 } from '../lib/payments/x402';
import { createNodeServer } from '../lib/server/node-server';
import { startHoldSweeper } from '../lib/server/instance';
import { stopOnSignals } from '../lib/server/stop-on-signals';

warnOfSqliteDriverHazard();
const gateway = createGateway({ db: getDb(), payPerRequest: getPayPerRequest() });
startHoldSweeper(gateway);
const port = Number(process.env.PORT ?? 3001);
const server = createNodeServer((request) => (new URL(request.url).pathname === '/api/x402/probe' ? getX402().probe(request) : gateway.handle(request)), gateway.handleApi);
server.keepAliveTimeout = 65_000;
server.listen(port, process.env.HOST ?? '0.0.0.0', () => logger.info('tollgate gateway listening', { port }));
stopOnSignals(server, gateway, 'gateway server');
