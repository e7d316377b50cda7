import type { NextConfig } from 'next';

const nextConfig: NextConfig = {
  // Native and WASM-backed server packages stay outside the bundle and load from node_modules.
  serverExternalPackages: ['better-sqlite3', '@prisma/adapter-better-sqlite3', '@prisma/adapter-pg', 'pg'],
  // A separate build directory per concurrent build (e.g. two browser-test runs side by side).
  distDir: process.env.NEXT_DIST_DIR || '.next',
  poweredByHeader: false,
  reactStrictMode: true,
};

export default nextConfig;
