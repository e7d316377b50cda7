import Link from 'next/link';

const NAV = [
  { href: '/pricing', label: 'Pricing' },
  { href: '/packs', label: 'Packs' },
  { href: '/keys', label: 'Keys' },
  { href: '/dashboard', label: 'Dashboard' },
  { href: '/playground', label: 'Playground' },
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
        <nav aria-label="Main" className="hidden gap-5 text-sm text-slate-600 sm:flex">
          {NAV.map((item) => (
            <Link key={item.href} href={item.href} className="hover:text-slate-900">
              {item.label}
            </Link>
          ))}
        </nav>
        <div data-testid="sign-in-slot">
          <Link href="/signin" className="rounded-md bg-slate-900 px-3 py-1.5 text-sm font-medium text-white hover:bg-slate-700">
            Sign in
          </Link>
        </div>
      </div>
    </header>
  );
}
