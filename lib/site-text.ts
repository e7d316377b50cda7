import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { logger } from './logger';

/**
 * The operator's own words for /terms, /privacy and /contact: `${SITE_TEXT_DIR}/<page>.md`, read on
 * every request so an edit shows without a rebuild. Without the directory or the file, a neutral
 * default. The format is a small subset of Markdown (headings, lists, paragraphs), parsed here so
 * no HTML from the file ever reaches the page.
 */
export const SITE_TEXT_PAGES = ['terms', 'privacy', 'contact'] as const;
export type SiteTextPage = (typeof SITE_TEXT_PAGES)[number];

export type TextBlock = { kind: 'heading'; level: 2 | 3; text: string } | { kind: 'list'; items: string[] } | { kind: 'paragraph'; text: string };

export type SiteText = { source: 'operator' | 'default'; blocks: TextBlock[] };

const DEFAULTS: Record<SiteTextPage, string> = {
  terms: `This instance of Tollgate is run by its operator, who has not published terms of their own yet.

## Credit
- Credit is prepaid and spent per token at the prices on the pricing page; a deposit fee is added on top when you pay in.
- Credit packs carry the validity shown when you buy them; what is left at expiry is lost.
- Calls that fail upstream are not charged.

## Use
- Keep your API keys secret; calls made with your keys are charged to your balance.
- The operator may suspend accounts that abuse the service or the providers behind it.`,
  privacy: `This instance of Tollgate is run by its operator, who has not published a privacy notice of their own yet.

## What is stored
- Your account: email address or wallet address, and how you sign in.
- Per call: the model, token counts, cost, latency and status. Prompts and replies are passed to the model provider and are not stored here.
- Payments: deposit transactions and their on-chain addresses, which are public by nature.

## Who sees it
The operator of this instance, and the model provider that answers each call.`,
  contact: `The operator of this instance has not published contact details yet.

For a question about a deposit, use the deposit's page: an administrator reviews deposits that need it. The status page shows what works on this instance right now.`,
};

function parse(text: string): TextBlock[] {
  const blocks: TextBlock[] = [];
  for (const chunk of text.replace(/\r\n?/g, '\n').split(/\n\s*\n/)) {
    const lines = chunk
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    if (lines.length === 0) continue;
    // Headings are one line each; a `#` title becomes a section heading (the page has its own h1).
    const heading = /^(#{1,3})\s+(.*)$/.exec(lines[0]!);
    if (heading) {
      blocks.push({ kind: 'heading', level: heading[1]!.length === 3 ? 3 : 2, text: heading[2]! });
      lines.shift();
      if (lines.length === 0) continue;
    }
    if (lines.every((line) => /^[-*]\s+/.test(line))) blocks.push({ kind: 'list', items: lines.map((line) => line.replace(/^[-*]\s+/, '')) });
    else blocks.push({ kind: 'paragraph', text: lines.join(' ') });
  }
  return blocks;
}

export async function loadSiteText(page: SiteTextPage, env: Record<string, string | undefined> = process.env): Promise<SiteText> {
  const dir = env.SITE_TEXT_DIR?.trim();
  if (dir) {
    try {
      const text = await readFile(join(dir, `${page}.md`), 'utf8');
      if (text.trim()) return { source: 'operator', blocks: parse(text) };
    } catch (error) {
      // A missing file means "use the default". Anything else (SITE_TEXT_DIR is a file: ENOTDIR; no
      // permission: EACCES; <page>.md is a directory: EISDIR) is a misconfiguration for the operator
      // to fix, logged for them; buyers still get a page with the default text rather than an error.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') logger.error(`SITE_TEXT_DIR: cannot read ${page}.md (${code ?? 'unknown error'}); serving the default text`, { dir, error });
    }
  }
  return { source: 'default', blocks: parse(DEFAULTS[page]) };
}

/** Splits text into plain runs and links (http(s) URLs and email addresses), for rendering without HTML. */
export function linkify(text: string): Array<{ text: string; href?: string }> {
  const parts: Array<{ text: string; href?: string }> = [];
  const pattern = /(https?:\/\/[^\s<>()]+[^\s<>().,;:!?])|([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) parts.push({ text: text.slice(last, match.index) });
    parts.push({ text: match[0], href: match[1] ? match[0] : `mailto:${match[0]}` });
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}
