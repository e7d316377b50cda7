import type { Metadata } from 'next';
import { SiteTextPageView } from '@/components/legal/site-text-page';

// Read on every request: the operator edits the text file without a rebuild.
export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Contact' };

export default function ContactPage() {
  return <SiteTextPageView page="contact" title="Contact" />;
}
