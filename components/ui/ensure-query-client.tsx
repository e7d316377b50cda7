'use client';

import { QueryClient, QueryClientContext, QueryClientProvider } from '@tanstack/react-query';
import { useContext, useState, type ReactNode } from 'react';

/**
 * Uses the app's QueryClient when a provider above supplies one (app/providers.tsx), else makes a
 * local one, so a page's client components work whether or not the app-wide provider is mounted.
 */
export function EnsureQueryClient({ children }: { children: ReactNode }) {
  const existing = useContext(QueryClientContext);
  const [local] = useState(() => (existing ? null : new QueryClient({ defaultOptions: { queries: { staleTime: 10_000, retry: 1, refetchOnWindowFocus: false } } })));
  if (existing || !local) return <>{children}</>;
  return <QueryClientProvider client={local}>{children}</QueryClientProvider>;
}
