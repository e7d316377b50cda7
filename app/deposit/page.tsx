import type { Metadata } from 'next';
import { DepositFlow, type DepositsClosed } from '@/components/deposit/deposit-flow';
import { requireUser } from '@/lib/auth/server';
import { depositOptions } from '@/lib/payments/deposits';
import { getPaymentsConfig } from '@/lib/payments/runtime';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Add funds' };

// What an operator must do, in setting names: shown to admins only; buyers get plain words and /status.
const OPEN_A_NETWORK = 'Set TREASURY_ADDRESS (every network) or TREASURY_ADDRESS_<NETWORK> (one network) to the wallet that receives deposits, then restart. /status lists each network and what it still needs.';

export default async function DepositPage() {
  const user = await requireUser('/deposit');
  const admin = user.role === 'ADMIN';
  let options = null;
  let closed: DepositsClosed | null = null;
  try {
    options = depositOptions(getPaymentsConfig());
    if (options.networks.length === 0) closed = { reason: 'no_network', operatorDetail: admin ? OPEN_A_NETWORK : null };
  } catch (error) {
    closed = { reason: 'invalid_config', operatorDetail: admin ? `The payment configuration is invalid: ${error instanceof Error ? error.message : String(error)}` : null };
  }
  return <DepositFlow options={options} closed={closed} />;
}
