import type { Metadata } from 'next';
import { AdminPayouts } from '@/components/admin/payouts';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Seller payouts', robots: { index: false } };

// Payouts and the run come from the admin API (an admin's session or ADMIN_TOKEN), so this shell holds nothing secret.
export default function AdminPayoutsPage() {
  return <AdminPayouts />;
}
