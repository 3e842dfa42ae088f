import { describe, expect, it } from 'vitest';
import { charactersCut, clip } from '../../src/lib/text.js';

describe('clip', () => {
  it.each([
    // [text, limit, note, expected]
    ['abcde', 5, undefined, 'abcde'],
    ['abcdef', 5, undefined, 'abcd…'],
    ['', 0, undefined, ''],
    ['ab', 1, undefined, '…'],
    ['abcde', 5, 'cut', 'abcde'],
    ['abcdef', 5, 'cut', 'abcde… (cut)'],
    ['abcdefgh', 5, charactersCut, 'abcde… (3 characters cut)'],
    ['abcdef', 0, charactersCut, '… (6 characters cut)'],
  ] as const)('clip(%j, %d, …) is %j', (text, limit, note, expected) => {
    expect(clip(text, limit, note)).toBe(expected);
  });

  it('without a note, a cut text is exactly `limit` characters long', () => {
    expect(clip('x'.repeat(500), 139)).toHaveLength(139);
  });

  it('never splits a surrogate pair: the cut moves one character earlier, and the count says so', () => {
    const text = `abc${'😀'}def`; // the emoji is characters 3 and 4
    expect(clip(text, 4, charactersCut)).toBe('abc… (5 characters cut)');
    expect(clip(text, 5, 'cut')).toBe('abc😀… (cut)');
    expect(clip(text, 5)).toBe('abc…');
    expect(clip(text, 6)).toBe('abc😀…');
  });
});
