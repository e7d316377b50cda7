// The fake model provider as its own process, so that the benchmark's load generator and the
// servers under test never share an event loop with it.
//   PORT=0 node --import tsx bench/fake-upstream-server.ts   → prints "READY http://127.0.0.1:<port>"
import { startFakeUpstream } from '../test/fake-upstream';

const upstream = await startFakeUpstream({
  port: Number(process.env.PORT ?? 0),
  latencyMs: 0,
  // A long run would otherwise keep every request in memory.
  record: false,
});
process.stdout.write(`READY ${upstream.url}\n`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void upstream.close().finally(() => process.exit(0));
  });
}
