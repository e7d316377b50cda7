import Link from 'next/link';

// Only pages that exist are linked; the account pages arrive with sign-in.
const NAV = [
  { href: '/pricing', label: 'Models & pricing' },
  { href: '/#quickstart', label: 'Quickstart' },
];

export function SiteHeader() {
  return (
    <header className="border-b border-slate-200 bg-white/90 backdrop-blur">
      <div className="mx-auto flex max-w-6xl items-center justify-between gap-4 px-4 py-3">
        <Link href="/" className="flex items-center gap-2 font-semibold tracking-tight" aria-label="Tollgate home">
          <span aria-hidden className="grid h-7 w-7 place-items-center rounded-md bg-brand-600 text-sm font-bold text-white">
            T
          </span>
          Tollgate
        </Link>
        <nav aria-label="Main" className="flex gap-5 text-sm text-slate-600">
          {NAV.map((item) => (
            <Link key={item.href} href={item.href} className="hover:text-slate-900">
              {item.label}
            </Link>
          ))}
        </nav>
        {/* Sign-in slot: the web sign-in (email link, wallet) plugs in here. */}
        <div data-testid="sign-in-slot" className="text-sm text-slate-500">
          <Link href="/#quickstart" className="rounded-md bg-slate-900 px-3 py-1.5 font-medium text-white hover:bg-slate-700">
            Get a key
          </Link>
        </div>
      </div>
    </header>
  );
}
