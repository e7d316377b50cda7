import type { Metadata } from 'next';
import { SiteTextPageView } from '@/components/legal/site-text-page';

// Read on every request: the operator edits the text file without a rebuild.
export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Terms of service' };

export default function TermsPage() {
  return <SiteTextPageView page="terms" title="Terms of service" />;
}
