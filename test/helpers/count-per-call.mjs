// Preloaded (`node --import`) into a server under test, before tsx: counts what a request costs
// that its behaviour does not show. On SIGUSR2 the counts so far go to stderr, one line each:
// - `function-names {"send":12,…}`: the functions given a name by Object.defineProperty, by name.
//   tsx compiles with esbuild's keepNames, which names every closure that way as it is made
//   (`__name(fn, "send")`, ~0.35 µs each on Node 20), so a closure made once per call shows here
//   once per call.
// - `promises N`: the promises made. Once anything in the process uses AsyncLocalStorage (Next,
//   after serving a page) Node 20 and 22 run a hook on every promise; an init hook here makes V8
//   create exactly the promises that hook then sees (an `await` makes one of its own only while
//   promise hooks are on).
import { createHook } from 'node:async_hooks';

const define = Object.defineProperty;
const counts = new Map();
Object.defineProperty = function defineProperty(target, key, descriptor) {
  if (key === 'name' && typeof target === 'function' && descriptor && typeof descriptor.value === 'string') {
    counts.set(descriptor.value, (counts.get(descriptor.value) ?? 0) + 1);
  }
  return define(target, key, descriptor);
};

let promises = 0;
createHook({
  init(_id, type) {
    if (type === 'PROMISE') promises++;
  },
}).enable();
// For a script under test to wait until its loading is over (under Node 24, tsx's loader goes on
// making thousands of promises after a module's top level has started) before it counts anything.
globalThis[Symbol.for('tollgate.promisesMade')] = () => promises;

process.on('SIGUSR2', () => {
  process.stderr.write(`function-names ${JSON.stringify(Object.fromEntries(counts))}\npromises ${promises}\n`);
});
