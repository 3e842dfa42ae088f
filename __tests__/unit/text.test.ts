import { describe, expect, it } from 'vitest';
import { charactersCut, clip } from '../../src/lib/text.js';

describe('clip', () => {
  it.each([
    { text: 'abcde', limit: 5, note: undefined, expected: 'abcde' },
    { text: 'abcdef', limit: 5, note: undefined, expected: 'abcd…' },
    { text: '', limit: 0, note: undefined, expected: '' },
    { text: 'ab', limit: 1, note: undefined, expected: '…' },
    { text: 'abcde', limit: 5, note: 'cut', expected: 'abcde' },
    { text: 'abcdef', limit: 5, note: 'cut', expected: 'abcde… (cut)' },
    { text: 'abcdefgh', limit: 5, note: charactersCut, expected: 'abcde… (3 characters cut)' },
    { text: 'abcdef', limit: 0, note: charactersCut, expected: '… (6 characters cut)' },
  ])('$text cut at $limit, note $note: $expected', ({ text, limit, note, expected }) => {
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
