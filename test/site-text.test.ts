// /terms, /privacy, /contact: the operator's file when there is one, a default otherwise, never raw HTML.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { linkify, loadSiteText, SITE_TEXT_PAGES } from '../lib/site-text';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-site-text-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
