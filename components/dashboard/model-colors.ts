/**
 * One colour per model, the same on every load and in every chart: the model id hashed (FNV-1a)
 * into a fixed palette. Order of appearance does not matter, so adding a model to a chart never
 * repaints the others. Every colour has at least 3:1 contrast on white (WCAG's bar for graphics);
 * two models can share a colour, so the legend and tooltip, not colour alone, name them.
 */
export const MODEL_PALETTE = ['#1f57cc', '#047857', '#b45309', '#b91c1c', '#6d28d9', '#0e7490', '#be185d', '#4d7c0f', '#475569', '#c2410c'] as const;

/** Legend and tooltip text: slate-700, far above 4.5:1 on white whatever the series colour. */
export const LEGEND_TEXT_COLOR = '#334155';

export function modelColor(model: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < model.length; i++) {
    hash ^= model.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return MODEL_PALETTE[hash % MODEL_PALETTE.length]!;
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
