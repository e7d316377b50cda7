import Link from 'next/link';

export function SiteFooter() {
  return (
    <footer className="mt-16 border-t border-slate-200 bg-white">
      <div className="mx-auto flex max-w-6xl flex-col gap-2 px-4 py-6 text-sm text-slate-500 sm:flex-row sm:justify-between">
        <p>Tollgate — one key, many models, prepaid credits. Self-hosted.</p>
        <nav aria-label="Footer" className="flex flex-wrap gap-x-4 gap-y-2">
          <Link href="/pricing" className="hover:text-slate-800">
            Models & pricing
          </Link>
          <Link href="/status" className="hover:text-slate-800">
            Status
          </Link>
          {/* eslint-disable-next-line @next/next/no-html-link-for-pages -- a JSON endpoint, not a page: a full navigation on purpose */}
          <a href="/v1/models" className="hover:text-slate-800">
            /v1/models
          </a>
          <a href="/health" className="hover:text-slate-800">
            Health
          </a>
          <Link href="/terms" className="hover:text-slate-800">
            Terms
          </Link>
          <Link href="/privacy" className="hover:text-slate-800">
            Privacy
          </Link>
          <Link href="/contact" className="hover:text-slate-800">
            Contact
          </Link>
        </nav>
      </div>
    </footer>
  );
}
