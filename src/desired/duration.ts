/** Durations in inputs: Go-style (`10m`, `90s`, `1h30m`, `500ms`) or plain seconds. */
import { InputError } from '../lib/errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go-style duration (`10m`, `90s`, `1h30m`, `500ms`) or plain seconds (`600`) into milliseconds. */
export function parseDuration(name: string, raw: string, fallbackMs: number, allowZero = false): number {
  const value = raw.trim();
  if (value === '') return fallbackMs;
  const fix = `write a duration such as 10m, 90s or 1h30m`;
  if (/^\d+$/.test(value)) {
    const ms = Number(value) * 1000;
    if (ms <= 0 && !allowZero) throw new InputError(name, `"${value}" must be more than zero; ${fix}.`);
    return ms;
  }
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) {
    throw new InputError(name, `"${value}" is not a duration; ${fix}.`);
  }
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_MS[p[2] ?? 's'] ?? 0), 0);
  if (ms <= 0 && !allowZero) throw new InputError(name, `"${value}" must be more than zero; ${fix}.`);
  return ms;
}
