import { cn } from './cn';

/** A small spinning ring. Decorative unless `label` is given, then it is announced as a status. */
export function Spinner({ className, label }: { className?: string; label?: string }) {
  const ring = (
    <svg aria-hidden viewBox="0 0 24 24" className={cn('h-4 w-4 animate-spin', className)} fill="none">
      <circle cx="12" cy="12" r="10" stroke="currentColor" strokeOpacity="0.25" strokeWidth="4" />
      <path d="M22 12a10 10 0 0 0-10-10" stroke="currentColor" strokeWidth="4" strokeLinecap="round" />
    </svg>
  );
  if (!label) return ring;
  return (
    <span role="status" className="inline-flex items-center gap-2 text-sm text-slate-500">
      {ring}
      <span>{label}</span>
    </span>
  );
}
