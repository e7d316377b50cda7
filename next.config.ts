import type { NextConfig } from 'next';

const dev = process.env.NODE_ENV === 'development';
const devChainRpc = process.env.NEXT_PUBLIC_DEV_CHAIN_RPC_URL ? new URL(process.env.NEXT_PUBLIC_DEV_CHAIN_RPC_URL).origin : '';

/**
 * Pages may not be framed (clickjacking of "Create key", "Buy"), and scripts come only from this
 * origin. 'unsafe-inline' for scripts is what Next's inline bootstrap needs without per-request
 * nonces (which would make every page dynamic); wallets talk to their RPCs over https/wss.
 */
const contentSecurityPolicy = [
  "default-src 'self'",
  `script-src 'self' 'unsafe-inline'${dev ? " 'unsafe-eval'" : ''}`,
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob: https:",
  "font-src 'self' data:",
  `connect-src 'self' https: wss:${devChainRpc ? ` ${devChainRpc}` : ''}${dev ? ' ws:' : ''}`,
  'frame-src https:',
  "frame-ancestors 'none'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

const securityHeaders = [
  { key: 'Content-Security-Policy', value: contentSecurityPolicy },
  { key: 'X-Frame-Options', value: 'DENY' },
  { key: 'X-Content-Type-Options', value: 'nosniff' },
  { key: 'Referrer-Policy', value: 'strict-origin-when-cross-origin' },
  { key: 'Permissions-Policy', value: 'camera=(), microphone=(), geolocation=()' },
];

const nextConfig: NextConfig = {
  headers: async () => [{ source: '/:path*', headers: securityHeaders }],
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
