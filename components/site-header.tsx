import Link from 'next/link';
import { AccountNav, UserMenu } from '@/components/auth/user-menu';
import { MobileMenu } from '@/components/nav/mobile-menu';
import { NAV } from '@/components/nav/links';

export function SiteHeader() {
  return (
    // Positioned and above the page, so the phone menu's panel (absolute, under the header) and the
    // user menu cover the content rather than slip beneath it.
    <header className="relative z-30 border-b border-slate-200 bg-white/90 backdrop-blur">
      <div className="mx-auto flex max-w-6xl items-center justify-between gap-3 px-4 py-3 sm:gap-4">
        {/* Named by its text ("Tollgate home"), not an aria-label that would differ from what is seen. */}
        <Link href="/" className="flex shrink-0 items-center gap-2 font-semibold tracking-tight">
          <span aria-hidden className="grid h-7 w-7 place-items-center rounded-md bg-brand-600 text-sm font-bold text-white">
            T
          </span>
          Tollgate<span className="sr-only"> home</span>
        </Link>
        {/* From `sm` up every destination fits inline; below it they live in the MobileMenu. */}
        <nav aria-label="Main" className="-mx-1 hidden min-w-0 flex-1 gap-5 overflow-x-auto px-1 text-sm whitespace-nowrap text-slate-600 sm:flex sm:justify-center">
          {NAV.map((item) => (
            <Link key={item.href} href={item.href} className="hover:text-slate-900">
              {item.label}
            </Link>
          ))}
          <AccountNav />
        </nav>
        <MobileMenu />
        <div data-testid="sign-in-slot" className="shrink-0 text-sm">
          <UserMenu />
        </div>
      </div>
    </header>
  );
}
