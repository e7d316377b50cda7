import type { AvailabilityStatus } from '@/lib/catalog/catalog';

const STYLES: Record<AvailabilityStatus, string> = {
  live: 'bg-emerald-50 text-emerald-700 ring-emerald-600/20',
  unavailable: 'bg-slate-100 text-slate-600 ring-slate-500/20',
  disabled: 'bg-amber-50 text-amber-800 ring-amber-600/20',
};

export function StatusBadge({ status, reason }: { status: AvailabilityStatus; reason?: string | null }) {
  return (
    <span title={reason ?? undefined} className={`inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${STYLES[status]}`}>
      {status}
    </span>
  );
}
