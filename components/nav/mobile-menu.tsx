'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useSession } from 'next-auth/react';
import { useEffect, useRef, useState } from 'react';
import { ACCOUNT_NAV } from '@/components/auth/user-menu';
import { cn } from '@/components/ui';
import { MENU_EXTRA, NAV, type NavLink } from './links';

// The header renders one MobileMenu, so a fixed id is unique and gives tests a stable handle.
const PANEL_ID = 'site-menu';

/**
 * The header's destinations on a phone, below the `sm` breakpoint, where the inline nav has no room:
 * a disclosure button and a panel under the header. The panel carries `hidden` while closed, so its
 * links are out of the accessibility tree and never double the inline nav's link names.
 */
export function MobileMenu() {
  const { status } = useSession();
  const pathname = usePathname();
  // Open on one path only: a navigation (a link, or Back) leaves the menu closed on the next page
  // without an effect that watches the path.
  const [openOn, setOpenOn] = useState<string | null>(null);
  const open = openOn !== null && openOn === pathname;
  const buttonRef = useRef<HTMLButtonElement>(null);
  const panelRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    // Focus moves into the panel, so a keyboard or screen reader user lands on the first link.
    panelRef.current?.querySelector<HTMLElement>('a[href]')?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== 'Escape') return;
      setOpenOn(null);
      buttonRef.current?.focus();
    };
    const onPointer = (event: MouseEvent) => {
      const target = event.target as Node;
      if (!panelRef.current?.contains(target) && !buttonRef.current?.contains(target)) setOpenOn(null);
    };
    document.addEventListener('keydown', onKey);
    document.addEventListener('mousedown', onPointer);
    return () => {
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('mousedown', onPointer);
    };
  }, [open]);

  const links: readonly NavLink[] = [...NAV, ...(status === 'authenticated' ? ACCOUNT_NAV : []), ...MENU_EXTRA];

  return (
    <div className="ml-auto sm:hidden">
      <button
        ref={buttonRef}
        type="button"
        aria-expanded={open}
        aria-controls={PANEL_ID}
        onClick={() => setOpenOn(open ? null : pathname)}
        className="flex h-9 items-center gap-2 rounded-lg px-3 text-sm font-medium text-slate-700 ring-1 ring-slate-200 hover:bg-slate-50"
        data-testid="menu-button"
      >
        <svg aria-hidden viewBox="0 0 20 20" className="h-4 w-4" fill="none" stroke="currentColor" strokeWidth="1.75" strokeLinecap="round">
          {open ? <path d="M5 5l10 10M15 5L5 15" /> : <path d="M3 6h14M3 10h14M3 14h14" />}
        </svg>
        Menu
      </button>
      <div ref={panelRef} id={PANEL_ID} hidden={!open} className="absolute inset-x-0 top-full border-b border-slate-200 bg-white shadow-lg" data-testid="menu-panel">
        <nav aria-label="Site menu">
          <ul className="mx-auto max-w-6xl px-2 py-2 text-base">
            {links.map((item) => {
              const current = pathname === item.href;
              return (
                <li key={item.href}>
                  <Link
                    href={item.href}
                    aria-current={current ? 'page' : undefined}
                    onClick={() => setOpenOn(null)}
                    className={cn('block rounded-lg px-3 py-3 text-slate-700 hover:bg-slate-50', current && 'bg-brand-50 font-medium text-slate-900')}
                  >
                    {item.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
      </div>
    </div>
  );
}
