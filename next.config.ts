import type { NextConfig } from 'next';

const nextConfig: NextConfig = {
  // Native and WASM-backed server packages stay outside the bundle and load from node_modules.
  serverExternalPackages: ['better-sqlite3', '@prisma/adapter-better-sqlite3', '@prisma/adapter-pg', 'pg'],
  // A separate build directory per concurrent build (e.g. two browser-test runs side by side).
  distDir: process.env.NEXT_DIST_DIR || '.next',
  poweredByHeader: false,
  // Wallet sign-in (W1): RainbowKit → @wagmi/connectors → @coinbase/cdp-sdk dynamically imports the
  // optional peer @x402/svm (Solana), which is not installed; a stub keeps the build resolvable.
  turbopack: { resolveAlias: { '@x402/svm/exact/client': './components/auth/optional-peer-stub.js' } },
  reactStrictMode: true,
};

export default nextConfig;
