// /terms, /privacy, /contact: the operator's file when there is one, a default otherwise, never raw HTML.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderToStaticMarkup } from 'react-dom/server';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { SiteTextPageView } from '../components/legal/site-text-page';
import { logger } from '../lib/logger';
import { linkify, loadSiteText, SITE_TEXT_PAGES } from '../lib/site-text';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-site-text-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('site text', () => {
  it('every page has a default when SITE_TEXT_DIR is unset, or set without that file', async () => {
    for (const page of SITE_TEXT_PAGES) {
      const text = await loadSiteText(page, {});
      expect(text.source).toBe('default');
      expect(text.blocks.length).toBeGreaterThan(0);
      expect((await loadSiteText(page, { SITE_TEXT_DIR: dir })).source).toBe('default');
    }
  });

  it("reads the operator's file: headings, lists and paragraphs, HTML kept as text", async () => {
    writeFileSync(join(dir, 'contact.md'), '# Reach us\n\nWrite to help@example.com or\nsee https://example.com/help.\n\n- Mon–Fri\n- <b>9–5</b>\n\n### Post\nExample Ltd, 1 Road\n');
    const text = await loadSiteText('contact', { SITE_TEXT_DIR: dir });
    expect(text).toEqual({
      source: 'operator',
      blocks: [
        { kind: 'heading', level: 2, text: 'Reach us' },
        { kind: 'paragraph', text: 'Write to help@example.com or see https://example.com/help.' },
        { kind: 'list', items: ['Mon–Fri', '<b>9–5</b>'] },
        { kind: 'heading', level: 3, text: 'Post' },
        { kind: 'paragraph', text: 'Example Ltd, 1 Road' },
      ],
    });
    // An empty file is treated as none.
    writeFileSync(join(dir, 'terms.md'), '  \n');
    expect((await loadSiteText('terms', { SITE_TEXT_DIR: dir })).source).toBe('default');
  });

  it('a misconfigured SITE_TEXT_DIR serves the default text and tells the operator in the log, never an error page', async () => {
    const logged = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
    // SITE_TEXT_DIR names a file (ENOTDIR); a page's file is a directory (EISDIR). EACCES takes the
    // same path; the tests run as root here, where permissions cannot make a read fail.
    const file = join(dir, 'not-a-directory');
    writeFileSync(file, 'x');
    mkdirSync(join(dir, 'privacy.md'));
    expect((await loadSiteText('terms', { SITE_TEXT_DIR: file })).source).toBe('default');
    expect((await loadSiteText('privacy', { SITE_TEXT_DIR: dir })).source).toBe('default');
    expect(logged.mock.calls.map(([message]) => message)).toEqual([
      'SITE_TEXT_DIR: cannot read terms.md (ENOTDIR); serving the default text',
      'SITE_TEXT_DIR: cannot read privacy.md (EISDIR); serving the default text',
    ]);
    // A missing file is the ordinary case: no log line.
    logged.mockClear();
    expect((await loadSiteText('terms', { SITE_TEXT_DIR: dir })).source).toBe('default');
    expect(logged).not.toHaveBeenCalled();
    rmSync(join(dir, 'privacy.md'), { recursive: true });
  });

  it("the page component escapes the operator's HTML and links only http(s) and mailto", async () => {
    writeFileSync(join(dir, 'contact.md'), '# Reach us <script>alert(1)</script>\n\nWrite to help@example.com, see https://example.com/help or javascript:alert(1).\n\n- <b>9–5</b>\n- <a href="javascript:alert(1)">click</a>\n');
    vi.stubEnv('SITE_TEXT_DIR', dir);
    const html = renderToStaticMarkup(await SiteTextPageView({ page: 'contact', title: 'Contact' }));
    expect(html).toContain('data-source="operator"');
    expect(html).toContain('&lt;b&gt;9–5&lt;/b&gt;');
    expect(html).not.toMatch(/<b>|<script|<a href="javascript/i);
    const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
    expect(hrefs).toEqual(['mailto:help@example.com', 'https://example.com/help']);
    for (const href of hrefs) expect(href).toMatch(/^(https?:|mailto:)/);
  });

  it('links URLs and email addresses, leaving trailing punctuation out', () => {
    expect(linkify('Write to help@example.com or see https://example.com/help.')).toEqual([
      { text: 'Write to ' },
      { text: 'help@example.com', href: 'mailto:help@example.com' },
      { text: ' or see ' },
      { text: 'https://example.com/help', href: 'https://example.com/help' },
      { text: '.' },
    ]);
    expect(linkify('javascript:alert(1)')).toEqual([{ text: 'javascript:alert(1)' }]);
  });
});
