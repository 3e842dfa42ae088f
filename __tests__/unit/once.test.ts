import { describe, expect, it } from 'vitest';
import { onceByKey } from '../../src/lib/once.js';

describe('onceByKey', () => {
  it('asks once per key and shares the answer; a failure is kept unless told to forget it', async () => {
    const asked: string[] = [];
    let fail = true;
    const make = (key: string): Promise<string> => {
      asked.push(key);
      return fail ? Promise.reject(new Error(key)) : Promise.resolve(`${key}!`);
    };
    const kept = onceByKey(make);
    await expect(kept('a')).rejects.toThrow('a');
    fail = false;
    await expect(kept('a')).rejects.toThrow('a');
    expect(await kept('b')).toBe('b!');
    expect(await kept('b')).toBe('b!');
    expect(asked).toEqual(['a', 'b']);

    fail = true;
    const forgetting = onceByKey(make, { forgetFailures: true });
    await expect(forgetting('c')).rejects.toThrow('c');
    fail = false;
    expect(await forgetting('c')).toBe('c!');
    expect(await forgetting('c')).toBe('c!');
    expect(asked).toEqual(['a', 'b', 'c', 'c']);
  });
});
