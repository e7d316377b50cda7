import type { NextConfig } from 'next';

const nextConfig: NextConfig = {
  // Native and WASM-backed server packages stay outside the bundle and load from node_modules.
  serverExternalPackages: ['better-sqlite3', '@prisma/adapter-better-sqlite3', '@prisma/adapter-pg', 'pg'],
  poweredByHeader: false,
  reactStrictMode: true,
};

export default nextConfig;
