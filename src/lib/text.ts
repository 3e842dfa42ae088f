/** Text cut to a length, saying so: a 1 MiB log line or event message must not become a 1 MiB line anywhere. */

/** What follows the `…` of a clipped text: a fixed note, or one made from the number of characters cut. */
export type ClipNote = string | ((cut: number) => string);

/** The note of a clipped log line: `… (1234 characters cut)`. */
export const charactersCut = (cut: number): string => `${cut} characters cut`;

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;

/**
 * `text` as it is when it has at most `limit` characters (UTF-16 code units), else cut. Without a note the cut text
 * fits in `limit`, the `…` its last character (for a field with a hard length, like a GitHub deployment's
 * description); with one, the first `limit` characters stay and `… (note)` follows. A surrogate pair (an emoji) is
 * never split: the cut moves one character earlier.
 */
export function clip(text: string, limit: number, note?: ClipNote): string {
  if (text.length <= limit) return text;
  const keep = Math.max(0, note === undefined ? limit - 1 : limit);
  const end = keep > 0 && isHighSurrogate(text.charCodeAt(keep - 1)) ? keep - 1 : keep;
  const kept = text.slice(0, end);
  if (note === undefined) return `${kept}…`;
  return `${kept}… (${typeof note === 'string' ? note : note(text.length - end)})`;
}
