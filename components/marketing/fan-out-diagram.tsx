import type { AvailabilityStatus } from '@/lib/catalog/catalog';

export type DiagramProvider = { id: string; name: string; status: AvailabilityStatus; reason: string | null };

const STATUS_TEXT: Record<AvailabilityStatus, string> = { live: 'live', unavailable: 'unavailable', disabled: 'disabled' };

/**
 * One key → Tollgate → every provider. Drawn in SVG on wide screens (live routes animate, routes to
 * providers that are not configured are dashed) and as a stacked list on phones. The picture is
 * described in words for screen readers; the list beside it carries the same facts.
 */
export function FanOutDiagram({ providers }: { providers: DiagramProvider[] }) {
  const width = 760;
  const rowHeight = 58;
  const height = Math.max(240, providers.length * rowHeight + 20);
  const hub = { x: 300, y: height / 2 - 40, w: 170, h: 80 };
  const app = { x: 10, y: height / 2 - 36, w: 170, h: 72 };
  const node = { x: 580, w: 170, h: 44 };
  const top = (height - providers.length * rowHeight) / 2 + (rowHeight - node.h) / 2;
  const live = providers.filter((p) => p.status === 'live').map((p) => p.name);
  const description = `Your application sends every call with one Tollgate key. Tollgate routes each call to ${providers.map((p) => p.name).join(', ')}. Live on this instance: ${live.length ? live.join(', ') : 'none'}.`;

  return (
    <figure className="space-y-3" data-testid="fan-out">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="fanout-title fanout-desc" className="mx-auto hidden w-full max-w-4xl sm:block">
        <title id="fanout-title">One key, fanned out to every provider</title>
        <desc id="fanout-desc">{description}</desc>
        <defs>
          <style>{`
            @keyframes fanout-dash { to { stroke-dashoffset: -28; } }
            .fanout-live { stroke-dasharray: 10 4; animation: fanout-dash 1.4s linear infinite; }
            @media (prefers-reduced-motion: reduce) { .fanout-live { animation: none; } }
          `}</style>
          <linearGradient id="fanout-hub" x1="0" x2="1" y1="0" y2="1">
            <stop offset="0%" stopColor="#2f6fed" />
            <stop offset="100%" stopColor="#1a46a3" />
          </linearGradient>
        </defs>
        <path d={`M ${app.x + app.w} ${height / 2} H ${hub.x}`} stroke="#2f6fed" strokeWidth="3" className="fanout-live" fill="none" />
        {providers.map((p, i) => {
          const y = top + i * rowHeight + node.h / 2;
          const sx = hub.x + hub.w;
          const sy = height / 2;
          const isLive = p.status === 'live';
          return (
            <path
              key={p.id}
              d={`M ${sx} ${sy} C ${sx + 60} ${sy}, ${node.x - 60} ${y}, ${node.x} ${y}`}
              fill="none"
              stroke={isLive ? '#2f6fed' : '#cbd5e1'}
              strokeWidth={isLive ? 2.5 : 2}
              strokeDasharray={isLive ? undefined : '6 6'}
              className={isLive ? 'fanout-live' : undefined}
            />
          );
        })}
        <g>
          <rect x={app.x} y={app.y} width={app.w} height={app.h} rx="14" fill="#fff" stroke="#cbd5e1" />
          <text x={app.x + app.w / 2} y={app.y + 30} textAnchor="middle" className="fill-slate-900 text-[15px] font-semibold">
            Your app
          </text>
          <text x={app.x + app.w / 2} y={app.y + 52} textAnchor="middle" className="fill-slate-500 font-mono text-[12px]">
            one key: tg_…
          </text>
        </g>
        <g>
          <rect x={hub.x} y={hub.y} width={hub.w} height={hub.h} rx="16" fill="url(#fanout-hub)" />
          <text x={hub.x + hub.w / 2} y={hub.y + 34} textAnchor="middle" className="fill-white text-[18px] font-semibold">
            Tollgate
          </text>
          <text x={hub.x + hub.w / 2} y={hub.y + 56} textAnchor="middle" className="fill-blue-100 text-[12px]">
            routes · meters · bills
          </text>
        </g>
        {providers.map((p, i) => {
          const y = top + i * rowHeight;
          const isLive = p.status === 'live';
          return (
            <g key={p.id}>
              <rect x={node.x} y={y} width={node.w} height={node.h} rx="10" fill={isLive ? '#fff' : '#f8fafc'} stroke={isLive ? '#93c5fd' : '#e2e8f0'} />
              <circle cx={node.x + 16} cy={y + node.h / 2} r="5" fill={isLive ? '#10b981' : p.status === 'disabled' ? '#f59e0b' : '#94a3b8'} />
              <text x={node.x + 30} y={y + 19} className={isLive ? 'fill-slate-900 text-[13px] font-medium' : 'fill-slate-500 text-[13px] font-medium'}>
                {p.name}
              </text>
              <text x={node.x + 30} y={y + 34} className={isLive ? 'fill-emerald-700 text-[11px]' : 'fill-slate-400 text-[11px]'}>
                {STATUS_TEXT[p.status]}
              </text>
            </g>
          );
        })}
      </svg>

      {/* Phones: the same flow, stacked. */}
      <div className="space-y-2 sm:hidden" aria-hidden>
        <div className="rounded-xl border border-slate-200 bg-white px-4 py-3 text-center">
          <div className="font-semibold">Your app</div>
          <div className="font-mono text-xs text-slate-500">one key: tg_…</div>
        </div>
        <div className="text-center text-brand-500">↓</div>
        <div className="rounded-xl bg-brand-600 px-4 py-3 text-center text-white">
          <div className="font-semibold">Tollgate</div>
          <div className="text-xs text-blue-100">routes · meters · bills</div>
        </div>
        <div className="text-center text-brand-500">↓</div>
      </div>

      <ul className="grid gap-2 sm:grid-cols-3 lg:grid-cols-5" data-testid="provider-list" aria-label="Providers on this instance">
        {providers.map((p) => (
          <li key={p.id} className="rounded-lg border border-slate-200 bg-white px-3 py-2 text-sm" title={p.reason ?? undefined}>
            <div className="flex items-center gap-2">
              <span aria-hidden className={`h-2 w-2 rounded-full ${p.status === 'live' ? 'bg-emerald-500' : p.status === 'disabled' ? 'bg-amber-500' : 'bg-slate-400'}`} />
              <span className="font-medium">{p.name}</span>
            </div>
            <div className={`mt-0.5 text-xs break-words ${p.status === 'live' ? 'text-emerald-700' : 'text-slate-500'}`}>
              {p.status === 'live' ? 'live' : `${STATUS_TEXT[p.status]}${p.reason ? ` — ${p.reason}` : ''}`}
            </div>
          </li>
        ))}
      </ul>
    </figure>
  );
}
