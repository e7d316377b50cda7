// Stands in for optional peer packages that are not installed (see next.config.ts): RainbowKit's
// Base Account connector pulls in @coinbase/cdp-sdk, whose Solana x402 path dynamically imports
// @x402/svm. Tollgate never takes that path; if anything ever did, it fails loudly here.
throw new Error('This optional package is not installed in Tollgate (@x402/svm).');
