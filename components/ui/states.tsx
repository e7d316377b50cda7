import type { ReactNode } from 'react';
import { cn } from './cn';

/** Something went wrong loading or saving; `action` is usually a retry button. Announced to screen readers. */
export function ErrorState({ title = 'Something went wrong', message, action, className }: { title?: string; message?: ReactNode; action?: ReactNode; className?: string }) {
  return (
    <div role="alert" className={cn('rounded-xl border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800', className)}>
      <p className="font-medium">{title}</p>
      {message ? <div className="mt-1 text-red-700">{message}</div> : null}
      {action ? <div className="mt-3">{action}</div> : null}
    </div>
  );
}

/** Nothing here yet, with what to do about it. */
export function EmptyState({ title, message, action, icon, className }: { title: string; message?: ReactNode; action?: ReactNode; icon?: ReactNode; className?: string }) {
  return (
    <div className={cn('flex flex-col items-center rounded-xl border border-dashed border-slate-300 bg-white px-6 py-10 text-center', className)}>
      {icon ? (
        <div aria-hidden className="mb-3 text-slate-400">
          {icon}
        </div>
      ) : null}
      <p className="font-medium text-slate-900">{title}</p>
      {message ? <div className="mt-1 max-w-md text-sm text-slate-500">{message}</div> : null}
      {action ? <div className="mt-4">{action}</div> : null}
    </div>
  );
}
