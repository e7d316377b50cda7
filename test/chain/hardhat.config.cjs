// Hardhat 2 configuration for the local test chain (test/helpers/chain.ts spawns `hardhat node`
// with it). Contracts are compiled in-process with solc-js and deployed with viem, so Hardhat never
// compiles anything: its sources folder is an empty directory and no compiler is ever downloaded.
// The node dies with the process that started it, even when that process is killed outright
// (a SIGKILLed test worker cannot run exit handlers): it watches its stdin pipe and its parent.
if (process.env.TOLLGATE_CHAIN_WATCH_PARENT === '1') {
  const parent = process.ppid;
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      process.exit(0);
    }
  }, 1000).unref();
}

/** @type {import('hardhat/config').HardhatUserConfig} */
module.exports = {
  paths: {
    root: __dirname,
    sources: `${__dirname}/no-sources`,
    cache: `${__dirname}/../../node_modules/.cache/tollgate-hardhat`,
    artifacts: `${__dirname}/../../node_modules/.cache/tollgate-hardhat/artifacts`,
  },
  networks: {
    hardhat: {
      // 31337 unless the test asks for another chain (a second network, e.g. 84532 as Base Sepolia).
      chainId: Number(process.env.TOLLGATE_CHAIN_ID || 31337),
      // Well-known development accounts (the default "test test … junk" mnemonic), each with 10,000 ETH.
      mining: { auto: true, interval: 0 },
      loggingEnabled: false,
    },
  },
};
