import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { assertPortFree, freePort } from './helpers/ports';

// The browser suite's own app instances check their port first: a stray server answering there
// would otherwise pass waitHealthy and be tested in their place.
describe('assertPortFree', () => {
  it('passes on a free port and leaves it free', async () => {
    const port = await freePort();
    await assertPortFree(port);
    await assertPortFree(port);
  });

  it('names the port when another process listens on it', async () => {
    const stray = createServer();
    await new Promise<void>((resolve) => stray.listen(0, '127.0.0.1', resolve));
    const { port } = stray.address() as { port: number };
    try {
      await expect(assertPortFree(port)).rejects.toThrow(`port ${port} is already in use by another process`);
    } finally {
      await new Promise<void>((resolve) => stray.close(() => resolve()));
    }
  });
});
