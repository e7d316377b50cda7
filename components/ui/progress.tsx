import { cn } from './cn';

/** A labelled progress bar (role=progressbar). `value` of `max`; `valueText` is what screen readers hear. */
export function ProgressBar({
  value,
  max,
  label,
  valueText,
  tone = 'brand',
  className,
}: {
  value: number;
  max: number;
  label: string;
  valueText?: string;
  tone?: 'brand' | 'success' | 'warning' | 'danger';
  className?: string;
}) {
  const ratio = max > 0 ? Math.min(1, Math.max(0, value / max)) : 0;
  const fill = { brand: 'bg-brand-500', success: 'bg-emerald-500', warning: 'bg-amber-500', danger: 'bg-red-500' }[tone];
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={max}
      aria-valuenow={value}
      aria-valuetext={valueText}
      className={cn('h-2 w-full overflow-hidden rounded-full bg-slate-100', className)}
    >
      <div className={cn('h-full rounded-full transition-[width]', fill)} style={{ width: `${ratio * 100}%` }} />
    </div>
  );
}
