/** Values parsed from JSON or YAML, looked at without trusting their shape. */

/** A map (a JSON object): not null, not a list. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
