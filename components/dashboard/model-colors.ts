/**
 * One colour per model, the same on every load and in every chart, and no two alike in one chart:
 * - the seeded catalogue's models (lib/catalog/seed-data.ts) each have a fixed colour of their own,
 *   chosen so that one provider's models look clearly different from each other;
 * - any other model (one an operator added) is hashed (FNV-1a) into the palette;
 * - within one chart, a model whose colour is already taken moves to the next free palette colour,
 *   models taken in sorted id order after the fixed ones, so the result does not depend on the
 *   order the data arrived in. Only with more models than colours do two share one; the legend and
 *   tooltip name every series, so colour is never the only cue.
 * Every colour has at least 3:1 contrast on white (WCAG's bar for graphics).
 */
export const MODEL_PALETTE = [
  '#1f57cc', // blue
  '#047857', // emerald
  '#b45309', // amber
  '#b91c1c', // red
  '#6d28d9', // violet
  '#0e7490', // cyan
  '#be185d', // pink
  '#4d7c0f', // lime
  '#475569', // slate
  '#c2410c', // orange
  '#a21caf', // fuchsia
  '#1e3a8a', // navy
  '#854d0e', // brown
  '#0f766e', // teal
  '#9f1239', // rose
] as const;

export type PaletteColor = (typeof MODEL_PALETTE)[number];

/** The seeded catalogue's models; test/dashboard-logic.test.ts checks every seeded model is here, each with its own colour. */
export const FIXED_MODEL_COLORS: Readonly<Record<string, PaletteColor>> = {
  'tollgate-local': '#475569',
  'tollgate-embed-local': '#c2410c',
  'gpt-4o': '#047857',
  'gpt-4o-mini': '#0e7490',
  'o3-mini': '#1e3a8a',
  'claude-sonnet-4-5': '#b45309',
  'claude-haiku-4-5': '#be185d',
  'gemini-2.5-pro': '#1f57cc',
  'gemini-2.5-flash': '#6d28d9',
  'deepseek-chat': '#b91c1c',
  'text-embedding-3-small': '#4d7c0f',
  'text-embedding-3-large': '#854d0e',
  'gemini-embedding-001': '#a21caf',
};

/** Legend and tooltip text: slate-700, far above 4.5:1 on white whatever the series colour. */
export const LEGEND_TEXT_COLOR = '#334155';

/** A model's own colour, before any clash in a chart is resolved: fixed for the catalogue, hashed otherwise. */
export function modelColor(model: string): PaletteColor {
  const fixed = FIXED_MODEL_COLORS[model];
  if (fixed) return fixed;
  let hash = 0x811c9dc5;
  for (let i = 0; i < model.length; i++) {
    hash ^= model.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return MODEL_PALETTE[hash % MODEL_PALETTE.length]!;
}

/** The colours for the models in one chart: each model's own colour unless another model there already has it. */
export function chartColors(models: readonly string[]): Map<string, string> {
  const unique = [...new Set(models)];
  // Fixed colours first, so a catalogue model never gives way to an unknown one; then ids in sorted order.
  const ordered = [...unique.filter((m) => m in FIXED_MODEL_COLORS).sort(), ...unique.filter((m) => !(m in FIXED_MODEL_COLORS)).sort()];
  const taken = new Set<string>();
  const colors = new Map<string, string>();
  for (const model of ordered) {
    const own = MODEL_PALETTE.indexOf(modelColor(model));
    const free = MODEL_PALETTE.map((_, step) => MODEL_PALETTE[(own + step) % MODEL_PALETTE.length]!).find((c) => !taken.has(c));
    const color = free ?? MODEL_PALETTE[own]!;
    taken.add(color);
    colors.set(model, color);
  }
  return colors;
}

/** WCAG 2 contrast ratio between two #rrggbb colours. */
export function contrastRatio(a: string, b: string): number {
  const luminance = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((i) => {
      const c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}
