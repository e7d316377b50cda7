import type { Metadata } from 'next';
import { PoolsManager } from '@/components/sell/pools-manager';
import { requireUser } from '@/lib/auth/server';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Sell spare credit' };

export default async function SellPage() {
  await requireUser('/sell');
  return <PoolsManager />;
}
