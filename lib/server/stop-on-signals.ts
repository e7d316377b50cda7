import type { Server } from 'node:http';
import type { Gateway } from '../gateway/gateway';
import { logger } from '../logger';

/**
 * SIGINT and SIGTERM stop a server gracefully: it takes no new connections while its last requests
 * finish, and meanwhile the gateway's grants are posted and closed (new calls reserve on their own),
 * so that what they served is charged before the process goes; then the gateway closes. Whatever
 * is still running after 5 s is cut short.
 */
export function stopOnSignals(server: Server, gateway: Gateway, name: string): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      Promise.all([stopped, gateway.ctx.grants?.drain(4_500)])
        .then(() => gateway.close())
        .catch((error: unknown) => logger.error(`${name}: stopping`, { error }))
        .finally(() => process.exit(0));
      setTimeout(() => process.exit(0), 5_000).unref();
    });
  }
}
