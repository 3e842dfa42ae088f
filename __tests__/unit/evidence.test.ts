import { describe, expect, it } from 'vitest';
import { LOG_LINE_CHARS, lastLines } from '../../src/evidence.js';

describe('lastLines', () => {
  it('keeps the last lines, each cut at the limit with a note, a 1 MiB line included', () => {
    const log = `first\n${'A'.repeat(1024 * 1024)}\npanic: hostile\n\n`;
    const lines = lastLines(log, 2);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(`${'A'.repeat(LOG_LINE_CHARS)}… (${1024 * 1024 - LOG_LINE_CHARS} characters cut)`);
    expect(lines[1]).toBe('panic: hostile');
  });
});
