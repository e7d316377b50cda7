'use client';

import { useEffect, type RefObject } from 'react';

/**
 * After a refused submit, moves focus to the form's first invalid control (in document order), so
 * keyboard and screen reader users land on what needs fixing and hear its message. `attempt`
 * changes on every refused submit (a counter), so a second refusal moves focus again.
 */
export function useFocusFirstInvalid(form: RefObject<HTMLFormElement | null>, attempt: number) {
  useEffect(() => {
    if (attempt === 0) return;
    const first = form.current?.querySelector<HTMLElement>('[aria-invalid="true"]');
    first?.focus();
  }, [form, attempt]);
}
