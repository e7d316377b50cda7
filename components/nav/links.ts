/** A header destination. */
export type NavLink = { href: string; label: string };

/** Public pages, in the header for everyone; the account pages (ACCOUNT_NAV) join them once signed in. */
export const NAV: readonly NavLink[] = [
  { href: '/pricing', label: 'Models & pricing' },
  { href: '/#quickstart', label: 'Quickstart' },
];

/**
 * Pages the phone menu lists after the others. On wider screens the footer links them; on a phone
 * the footer is a long scroll away, so the menu is the one place that holds every destination.
 */
export const MENU_EXTRA: readonly NavLink[] = [{ href: '/status', label: 'Status' }];
