import { Fragment } from 'react';
import { linkify, loadSiteText, type SiteTextPage } from '@/lib/site-text';

function Inline({ text }: { text: string }) {
  return (
    <>
      {linkify(text).map((part, i) =>
        part.href ? (
          <a key={i} href={part.href} className="text-brand-700 underline">
            {part.text}
          </a>
        ) : (
          <Fragment key={i}>{part.text}</Fragment>
        ),
      )}
    </>
  );
}

/** /terms, /privacy and /contact: the operator's text (SITE_TEXT_DIR) or the default, as plain blocks. */
export async function SiteTextPageView({ page, title }: { page: SiteTextPage; title: string }) {
  const text = await loadSiteText(page);
  return (
    <article className="max-w-2xl space-y-4" data-testid={`site-text-${page}`} data-source={text.source}>
      <h1 className="text-3xl font-semibold tracking-tight">{title}</h1>
      {text.blocks.map((block, i) =>
        block.kind === 'heading' ? (
          block.level === 2 ? (
            <h2 key={i} className="pt-2 text-xl font-semibold">
              <Inline text={block.text} />
            </h2>
          ) : (
            <h3 key={i} className="pt-1 font-semibold">
              <Inline text={block.text} />
            </h3>
          )
        ) : block.kind === 'list' ? (
          <ul key={i} className="list-disc space-y-1 pl-6 text-slate-700">
            {block.items.map((entry, j) => (
              <li key={j}>
                <Inline text={entry} />
              </li>
            ))}
          </ul>
        ) : (
          <p key={i} className="break-words text-slate-700">
            <Inline text={block.text} />
          </p>
        ),
      )}
    </article>
  );
}
