'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { signOut, useSession } from 'next-auth/react';
import { useEffect, useRef, useState } from 'react';
import { buttonClasses, cn } from '@/components/ui';

/** Pages for signed-in users, in the header. */
export const ACCOUNT_NAV = [
  { href: '/packs', label: 'Packs' },
  { href: '/credits', label: 'Credits' },
  { href: '/keys', label: 'API keys' },
  { href: '/dashboard', label: 'Dashboard' },
  { href: '/playground', label: 'Playground' },
  { href: '/sell', label: 'Sell' },
];

export function shortAddress(address: string): string {
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

/** The header's account links, shown once signed in. */
export function AccountNav() {
  const { status } = useSession();
  const pathname = usePathname();
  if (status !== 'authenticated') return null;
  return (
    <>
      {ACCOUNT_NAV.map((item) => (
        <Link key={item.href} href={item.href} aria-current={pathname === item.href ? 'page' : undefined} className={cn('hover:text-slate-900', pathname === item.href && 'font-medium text-slate-900')}>
          {item.label}
        </Link>
      ))}
    </>
  );
}

/** Sign in, or who is signed in with a menu to sign out. */
export function UserMenu() {
  const { data: session, status } = useSession();
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (event: MouseEvent | KeyboardEvent) => {
      if (event instanceof KeyboardEvent ? event.key === 'Escape' : !ref.current?.contains(event.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', close);
    document.addEventListener('keydown', close);
    return () => {
      document.removeEventListener('mousedown', close);
      document.removeEventListener('keydown', close);
    };
  }, [open]);

  if (status === 'loading') return <div aria-hidden className="h-8 w-20 animate-pulse rounded-lg bg-slate-100" />;
  if (!session) {
    return (
      <Link href="/signin" className={buttonClasses({ size: 'sm', variant: 'primary' })} data-testid="sign-in-link">
        Sign in
      </Link>
    );
  }
  const label = session.user.email ?? (session.user.walletAddress ? shortAddress(session.user.walletAddress) : 'Account');
  return (
    <div className="relative" ref={ref}>
      {/* Narrower on a phone, where it shares the header with the logo and the Menu button. */}
      <button
        type="button"
        aria-haspopup="menu"
        aria-expanded={open}
        onClick={() => setOpen((o) => !o)}
        className="flex max-w-[8rem] items-center gap-2 rounded-lg px-2 py-1.5 text-sm text-slate-700 ring-1 ring-slate-200 hover:bg-slate-50 sm:max-w-[14rem]"
        data-testid="user-menu"
      >
        <span aria-hidden className="grid h-6 w-6 shrink-0 place-items-center rounded-full bg-brand-100 text-xs font-semibold text-brand-700">
          {label.replace(/^0x/, '').slice(0, 1).toUpperCase()}
        </span>
        <span className="truncate">{label}</span>
      </button>
      {open ? (
        <div role="menu" className="absolute right-0 z-20 mt-2 w-56 rounded-xl border border-slate-200 bg-white p-1 text-sm shadow-lg">
          <div className="px-3 py-2 text-xs text-slate-500">
            Signed in{session.user.role === 'ADMIN' ? ' · admin' : ''}
            <div className="truncate font-medium text-slate-800">{label}</div>
          </div>
          {ACCOUNT_NAV.map((item) => (
            <Link key={item.href} role="menuitem" href={item.href} onClick={() => setOpen(false)} className="block rounded-lg px-3 py-2 text-slate-700 hover:bg-slate-50">
              {item.label}
            </Link>
          ))}
          <button role="menuitem" type="button" onClick={() => void signOut({ callbackUrl: '/' })} className="block w-full rounded-lg px-3 py-2 text-left text-slate-700 hover:bg-slate-50" data-testid="sign-out">
            Sign out
          </button>
        </div>
      ) : null}
    </div>
  );
}
