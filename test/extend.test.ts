import { describe, expect, it } from 'vitest';
import { extended } from '../lib/extend';

describe('extended', () => {
  it('is { ...source, ...additions }: a copy, later keys winning, the source untouched', () => {
    const source = { a: 1, b: 2 };
    const copy = extended(source, { b: 3, c: 4 });
    expect(copy).toEqual({ a: 1, b: 3, c: 4 });
    expect(Object.keys(copy)).toEqual(['a', 'b', 'c']);
    expect(source).toEqual({ a: 1, b: 2 });
    expect(copy).not.toBe(source);
  });

  it('keeps an own "__proto__" key from parsed JSON as data, never as the copy\'s prototype', () => {
    const hostile = JSON.parse('{"id": "x", "__proto__": {"polluted": true}}') as Record<string, unknown>;
    const copy = extended(hostile, { billing: 1 }) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(copy.polluted).toBeUndefined();
    expect(JSON.parse(JSON.stringify(copy))).toEqual(JSON.parse('{"id": "x", "__proto__": {"polluted": true}, "billing": 1}'));
    expect(Object.hasOwn(copy, '__proto__')).toBe(true);
  });
});
