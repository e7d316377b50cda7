import type { Metadata } from 'next';
import { DepositFlow } from '@/components/deposit/deposit-flow';
import { requireUser } from '@/lib/auth/server';
import { depositOptions } from '@/lib/payments/deposits';
import { getPaymentsConfig } from '@/lib/payments/runtime';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Add funds' };

export default async function DepositPage() {
  await requireUser('/deposit');
  let options = null;
  let unavailable: string | null = null;
  try {
    options = depositOptions(getPaymentsConfig());
  } catch {
    unavailable = 'The payment configuration of this instance is invalid; the operator has been told (see /status).';
  }
  return <DepositFlow options={options} unavailable={unavailable} />;
}
