import Link from 'next/link';
import { AccountNav, UserMenu } from '@/components/auth/user-menu';

// Public pages; the account pages (AccountNav) appear once signed in.
const NAV = [
  { href: '/pricing', label: 'Models & pricing' },
  { href: '/#quickstart', label: 'Quickstart' },
];

export function SiteHeader() {
  return (
    <header className="border-b border-slate-200 bg-white/90 backdrop-blur">
      <div className="mx-auto flex max-w-6xl items-center justify-between gap-4 px-4 py-3">
        {/* Named by its text ("Tollgate home"), not an aria-label that would differ from what is seen. */}
        <Link href="/" className="flex items-center gap-2 font-semibold tracking-tight">
          <span aria-hidden className="grid h-7 w-7 place-items-center rounded-md bg-brand-600 text-sm font-bold text-white">
            T
          </span>
          Tollgate<span className="sr-only"> home</span>
        </Link>
        <nav aria-label="Main" className="-mx-1 flex min-w-0 flex-1 gap-5 overflow-x-auto px-1 text-sm whitespace-nowrap text-slate-600 sm:justify-center">
          {NAV.map((item) => (
            <Link key={item.href} href={item.href} className="hover:text-slate-900">
              {item.label}
            </Link>
          ))}
          <AccountNav />
        </nav>
        <div data-testid="sign-in-slot" className="shrink-0 text-sm">
          <UserMenu />
        </div>
      </div>
    </header>
  );
}
