import { fetchJson } from '@/components/ui/fetch-json';

// The client's copy of lib/sellers/verify-key.ts's SELLER_PROVIDERS: importing that module would
// pull the provider adapters into the browser bundle.
export const SELL_PROVIDERS = ['anthropic', 'openai', 'google', 'deepseek'] as const;
export type SellProvider = (typeof SELL_PROVIDERS)[number];

export const PROVIDER_NAMES: Record<SellProvider, string> = {
  anthropic: 'Anthropic',
  openai: 'OpenAI',
  google: 'Google',
  deepseek: 'DeepSeek',
};

export const providerName = (id: string): string => PROVIDER_NAMES[id as SellProvider] ?? id;

export type PoolStatus = 'live' | 'paused' | 'exhausted' | 'expired' | 'revoked';

/** A pool as GET /api/sell/pools returns it (lib/sellers/sellers-api.ts poolView): never the key. */
export type PoolView = {
  id: string;
  object: 'seller_pool';
  provider: string;
  key_hint: string;
  face_value_usd: number;
  drawn_usd: number;
  remaining_usd: number;
  rate: number;
  status: PoolStatus;
  status_reason: string | null;
  expires_at: string | null;
  verified_at: string;
  created_at: string;
  updated_at: string;
};

const POOLS = '/api/sell/pools';

export const listPools = () => fetchJson<{ object: 'list'; data: PoolView[] }>(POOLS, { cache: 'no-store' }).then((r) => r.data);

export const createPool = (body: unknown) => fetchJson<PoolView>(POOLS, { method: 'POST', body: JSON.stringify(body) });

export const setPoolStatus = (id: string, status: 'paused' | 'live') => fetchJson<PoolView>(`${POOLS}/${encodeURIComponent(id)}`, { method: 'PATCH', body: JSON.stringify({ status }) });

export const revokePool = (id: string) => fetchJson<PoolView>(`${POOLS}/${encodeURIComponent(id)}`, { method: 'DELETE' });

const percentFormat = new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 2 });
/** 0.6 → "60%". */
export const formatRate = (rate: number) => percentFormat.format(rate);

export type PayoutStatus = 'pending' | 'signed' | 'confirmed' | 'failed';

/** GET /api/sell/earnings (lib/sellers/earnings-api.ts). */
export type EarningsView = {
  object: 'seller_earnings';
  pending_usd: number;
  available_usd: number;
  paid_usd: number;
  processing_usd: number;
  holding_days: number;
  minimum_payout_usd: number;
  payouts_enabled: boolean;
  network: string | null;
  next_payout_at: string | null;
  wallet_address: string | null;
  payouts: Array<{ id: string; amount_usd: number; status: PayoutStatus; to_address: string; chain_id: number; tx_hash: string | null; tx_url: string | null; period: string; created_at: string; confirmed_at: string | null }>;
  draw_down: Array<{ pool_id: string; provider: string; key_hint: string; days: Array<{ day: string; drawn_usd: number }> }>;
};

export const getEarnings = () => fetchJson<EarningsView>('/api/sell/earnings', { cache: 'no-store' });
