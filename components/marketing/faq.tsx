import type { ReactNode } from 'react';

export type FaqItem = { question: string; answer: ReactNode };

/** Questions as native disclosure widgets: keyboard and screen reader support without script. */
export function Faq({ items }: { items: FaqItem[] }) {
  return (
    <div className="divide-y divide-slate-200 rounded-xl border border-slate-200 bg-white" data-testid="faq">
      {items.map((item) => (
        <details key={item.question} className="group px-5 py-4">
          <summary className="flex cursor-pointer list-none items-center justify-between gap-4 font-medium text-slate-900 [&::-webkit-details-marker]:hidden">
            {item.question}
            <span aria-hidden className="text-slate-400 transition-transform group-open:rotate-45">
              +
            </span>
          </summary>
          <div className="mt-2 text-sm leading-relaxed text-slate-600">{item.answer}</div>
        </details>
      ))}
    </div>
  );
}
