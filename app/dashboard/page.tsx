import type { Metadata } from 'next';
import { Dashboard } from '@/components/dashboard/dashboard';
import { requireUser } from '@/lib/auth/server';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Dashboard' };

const NOTICES: Record<string, string> = {
  'linked=email': 'Your email address is now linked to this account.',
  'link_error=invalid': 'That confirmation link is not valid.',
  'link_error=expired': 'That confirmation link has expired or was already used. Send a new one.',
  'link_error=email_in_use': 'That email address already belongs to another account.',
};

export default async function DashboardPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  await requireUser('/dashboard');
  const params = await searchParams;
  const key = params.linked ? `linked=${String(params.linked)}` : params.link_error ? `link_error=${String(params.link_error)}` : null;
  return <Dashboard notice={key ? (NOTICES[key] ?? null) : null} />;
}
