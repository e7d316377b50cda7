'use client';

import { useId, useRef, useState, type KeyboardEvent } from 'react';
import { cn } from '@/components/ui';

type Snippet = { id: 'curl' | 'python' | 'node'; label: string; code: string };

export function quickstartSnippets(base: string): Snippet[] {
  return [
    {
      id: 'curl',
      label: 'curl',
      code: `curl ${base}/chat/completions \\
  -H "Authorization: Bearer $TOLLGATE_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "tollgate-local", "messages": [{"role": "user", "content": "Hello!"}]}'`,
    },
    {
      id: 'python',
      label: 'Python',
      code: `# pip install openai
import os
from openai import OpenAI

client = OpenAI(base_url="${base}", api_key=os.environ["TOLLGATE_KEY"])
reply = client.chat.completions.create(
    model="tollgate-local",
    messages=[{"role": "user", "content": "Hello!"}],
)
print(reply.choices[0].message.content)`,
    },
    {
      id: 'node',
      label: 'Node.js',
      code: `// npm install openai
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: '${base}', apiKey: process.env.TOLLGATE_KEY });
const stream = await client.chat.completions.create({
  model: 'tollgate-local',
  messages: [{ role: 'user', content: 'Hello!' }],
  stream: true,
});
for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta.content ?? '');`,
    },
  ];
}

/** Tabs (WAI-ARIA tab pattern: arrows move between tabs, one tab stop) over copy-paste snippets. */
export function Quickstart({ base }: { base: string }) {
  const snippets = quickstartSnippets(base);
  const [active, setActive] = useState(0);
  const [copied, setCopied] = useState<string | null>(null);
  const tabs = useRef<Array<HTMLButtonElement | null>>([]);
  const baseId = useId();

  const onKeyDown = (event: KeyboardEvent) => {
    const last = snippets.length - 1;
    const next = event.key === 'ArrowRight' ? (active === last ? 0 : active + 1) : event.key === 'ArrowLeft' ? (active === 0 ? last : active - 1) : event.key === 'Home' ? 0 : event.key === 'End' ? last : null;
    if (next === null) return;
    event.preventDefault();
    setActive(next);
    tabs.current[next]?.focus();
  };

  const copy = async (snippet: Snippet) => {
    try {
      await navigator.clipboard.writeText(snippet.code);
      setCopied(snippet.id);
      setTimeout(() => setCopied(null), 2000);
    } catch {
      setCopied(null);
    }
  };

  return (
    <div className="overflow-hidden rounded-xl bg-slate-900 text-slate-100 shadow-sm">
      <div className="flex items-center justify-between gap-2 border-b border-white/10 px-2">
        <div role="tablist" aria-label="Quickstart language" className="flex" onKeyDown={onKeyDown}>
          {snippets.map((snippet, i) => (
            <button
              key={snippet.id}
              ref={(el) => {
                tabs.current[i] = el;
              }}
              role="tab"
              type="button"
              id={`${baseId}-tab-${snippet.id}`}
              aria-selected={i === active}
              aria-controls={`${baseId}-panel-${snippet.id}`}
              tabIndex={i === active ? 0 : -1}
              onClick={() => setActive(i)}
              className={cn('border-b-2 px-3 py-2.5 text-sm', i === active ? 'border-brand-500 text-white' : 'border-transparent text-slate-400 hover:text-slate-200')}
            >
              {snippet.label}
            </button>
          ))}
        </div>
        <button type="button" onClick={() => void copy(snippets[active]!)} className="rounded px-2 py-1 text-xs text-slate-300 hover:bg-white/10 hover:text-white">
          <span aria-live="polite">{copied === snippets[active]!.id ? 'Copied' : 'Copy'}</span>
        </button>
      </div>
      {snippets.map((snippet, i) => (
        <div key={snippet.id} role="tabpanel" id={`${baseId}-panel-${snippet.id}`} aria-labelledby={`${baseId}-tab-${snippet.id}`} hidden={i !== active}>
          {/* The code scrolls sideways on a phone: focusable, so the keyboard can scroll it too. */}
          <pre className="overflow-x-auto p-4 text-sm leading-relaxed" data-testid={`quickstart-${snippet.id}`} tabIndex={0} aria-label={`${snippet.label} example`}>
            <code>{snippet.code}</code>
          </pre>
        </div>
      ))}
    </div>
  );
}
