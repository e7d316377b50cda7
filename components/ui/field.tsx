'use client';

import { createContext, useContext, useId, type ComponentPropsWithRef, type InputHTMLAttributes, type LabelHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from 'react';
import { cn } from './cn';

type FieldContextValue = { id: string; describedBy: string | undefined; invalid: boolean };
const FieldContext = createContext<FieldContextValue | null>(null);

const CONTROL =
  'block w-full rounded-lg border-0 bg-white px-3 py-2 text-sm text-slate-900 shadow-sm ring-1 ring-inset placeholder:text-slate-400 focus:ring-2 focus:outline-none disabled:cursor-not-allowed disabled:bg-slate-50 disabled:text-slate-500';
// One ring colour or the other, never both: Tailwind emits ring-slate-300 after ring-red-500, so
// with both classes an invalid field's red ring was painted over (visible only while focused).
const VALID = 'ring-slate-300 focus:ring-brand-500';
const INVALID = 'ring-red-500 focus:ring-red-500';

export function Label({ className, children, ...rest }: LabelHTMLAttributes<HTMLLabelElement>) {
  return (
    <label className={cn('block text-sm font-medium text-slate-800', className)} {...rest}>
      {children}
    </label>
  );
}

/**
 * A labelled form control with optional hint and error text. The control inside (Input, Textarea,
 * Select) picks up its id, aria-describedby and aria-invalid from here, so label and messages are
 * wired for screen readers without passing ids around.
 */
export function Field({
  label,
  hint,
  error,
  optional,
  id: givenId,
  className,
  children,
}: {
  label: ReactNode;
  hint?: ReactNode;
  error?: ReactNode;
  optional?: boolean;
  id?: string;
  className?: string;
  children: ReactNode;
}) {
  const autoId = useId();
  const id = givenId ?? autoId;
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined;
  return (
    <FieldContext.Provider value={{ id, describedBy, invalid: Boolean(error) }}>
      <div className={cn('space-y-1.5', className)}>
        <Label htmlFor={id}>
          {label}
          {optional ? <span className="ml-1 font-normal text-slate-500">(optional)</span> : null}
        </Label>
        {children}
        {hint ? (
          <p id={hintId} className="text-xs text-slate-500">
            {hint}
          </p>
        ) : null}
        {error ? (
          <p id={errorId} className="text-xs font-medium text-red-700">
            {error}
          </p>
        ) : null}
      </div>
    </FieldContext.Provider>
  );
}

function useFieldProps(props: { id?: string; 'aria-describedby'?: string; 'aria-invalid'?: InputHTMLAttributes<HTMLInputElement>['aria-invalid'] }) {
  const field = useContext(FieldContext);
  return {
    id: props.id ?? field?.id,
    'aria-describedby': props['aria-describedby'] ?? field?.describedBy,
    'aria-invalid': props['aria-invalid'] ?? (field?.invalid || undefined),
    invalid: Boolean(field?.invalid) || props['aria-invalid'] === true || props['aria-invalid'] === 'true',
  };
}

export function Input({ className, ...rest }: InputHTMLAttributes<HTMLInputElement>) {
  const { invalid, ...wired } = useFieldProps(rest);
  return <input {...rest} {...wired} className={cn(CONTROL, invalid ? INVALID : VALID, className)} />;
}

// With its ref (React 19 passes it as a prop), so a page can move focus into the box.
export function Textarea({ className, ...rest }: ComponentPropsWithRef<'textarea'>) {
  const { invalid, ...wired } = useFieldProps(rest);
  return <textarea {...rest} {...wired} className={cn(CONTROL, invalid ? INVALID : VALID, className)} />;
}

/** A native select (keyboard and screen reader behaviour for free), styled like Input. */
export function Select({ className, children, ...rest }: SelectHTMLAttributes<HTMLSelectElement>) {
  const { invalid, ...wired } = useFieldProps(rest);
  return (
    <select {...rest} {...wired} className={cn(CONTROL, 'pr-8', invalid ? INVALID : VALID, className)}>
      {children}
    </select>
  );
}
