// Preloaded (`node --import`) into a server under test, before tsx: counts the functions given a
// name by Object.defineProperty, by that name. tsx compiles with esbuild's keepNames, which names
// every closure that way as it is made (`__name(fn, "send")`, ~0.35 µs each on Node 20), so a
// closure made once per call shows here once per call. On SIGUSR2 the counts so far go to stderr
// as one line: `function-names {"send":12,…}`.
const define = Object.defineProperty;
const counts = new Map();
Object.defineProperty = function defineProperty(target, key, descriptor) {
  if (key === 'name' && typeof target === 'function' && descriptor && typeof descriptor.value === 'string') {
    counts.set(descriptor.value, (counts.get(descriptor.value) ?? 0) + 1);
  }
  return define(target, key, descriptor);
};
process.on('SIGUSR2', () => {
  process.stderr.write(`function-names ${JSON.stringify(Object.fromEntries(counts))}\n`);
});
