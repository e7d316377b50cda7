import type { Metadata } from 'next';
import { CreditsManager } from '@/components/credits/credits-manager';
import { requireUser } from '@/lib/auth/server';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Credits' };

export default async function CreditsPage() {
  await requireUser('/credits');
  return <CreditsManager />;
}
