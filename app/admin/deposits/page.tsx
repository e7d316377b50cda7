import type { Metadata } from 'next';
import { AdminDepositReview } from '@/components/deposit/admin-review';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Deposit review', robots: { index: false } };

// The queue's data comes from the admin API (an admin's session or ADMIN_TOKEN), so this shell holds nothing secret.
export default function AdminDepositsPage() {
  return <AdminDepositReview />;
}
