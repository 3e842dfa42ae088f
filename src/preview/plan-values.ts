/**
 * How a preview shows a field's value. A preview's plan is published (log, summary, PR comment, the `plan` output),
 * and on a public repository all of them are public, so live values are shown only where they are plain settings:
 * a Secret's values never (any field), an annotation holding a serialized object (kubectl's last-applied
 * configuration embeds the whole object, a Secret's data included) never, an env value whose name says it is a
 * credential only as a hash that tells before from after, and with `preview-values: hidden` no value at all.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { PreviewValues } from '../desired/inputs.js';
import { isRecord } from '../lib/json.js';
import { clip } from '../lib/text.js';

export interface ValueView {
  values: PreviewValues;
  /**
   * Keys the hashes of credentials: a hash tells before from after within one plan, and cannot be looked up in a
   * table of common passwords. A new random one for each plan.
   */
  salt: string;
}

export const newValueView = (values: PreviewValues): ValueView => ({ values, salt: randomBytes(16).toString('hex') });

const VALUE_LIMIT = 200;
const NONE = '(none)';
const SECRET = '(secret value, not shown)';
const HIDDEN = '(not shown)';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const CREDENTIAL_NAME = /KEY|TOKEN|SECRET|PASSWORD|PASS|CREDENTIAL|PRIVATE|AUTH/i;

/** An annotation whose value is a serialized object (a JSON object or list): shown as changed, never its value. */
function isOpaqueAnnotation(path: string[], value: unknown): boolean {
  const n = path.length;
  if (n < 3 || path[n - 3] !== 'metadata' || path[n - 2] !== 'annotations') return false;
  if (path[n - 1] === LAST_APPLIED) return true;
  if (typeof value !== 'string') return false;
  try {
    const parsed: unknown = JSON.parse(value);
    return isRecord(parsed) || Array.isArray(parsed);
  } catch {
    return false;
  }
}

/** The `value` of an env variable named like a credential (`API_KEY`, `DB_PASSWORD`, `GITHUB_TOKEN`). */
function isCredentialEnv(path: string[]): boolean {
  const n = path.length;
  const item = /^\[(.*)\]$/.exec(path[n - 2] ?? '');
  return (
    n >= 3 && path[n - 1] === 'value' && path[n - 3] === 'env' && item !== null && CREDENTIAL_NAME.test(item[1] ?? '')
  );
}

/** A named list (containers, env): its items are addressed `[name]`, as the plan's field names address them. */
const itemKey = (item: unknown, i: number): string =>
  isRecord(item) && typeof item.name === 'string' ? `[${item.name}]` : String(i);

/** The value with every part the plan must not show replaced by its placeholder; `side` words the placeholder. */
function redacted(path: string[], value: unknown, view: ValueView, side: 'before' | 'after'): unknown {
  if (isOpaqueAnnotation(path, value)) return side === 'before' ? HIDDEN : '(changed, not shown)';
  if (isCredentialEnv(path) && typeof value === 'string') {
    const hash = createHash('sha256').update(view.salt).update(value).digest('hex').slice(0, 8);
    return side === 'before' ? `(not shown, hash ${hash})` : `(changed, hash ${hash})`;
  }
  if (Array.isArray(value)) return value.map((item, i) => redacted([...path, itemKey(item, i)], item, view, side));
  if (isRecord(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redacted([...path, k], v, view, side)]));
  }
  return value;
}

/** A field's value as the plan shows it: JSON, clipped, with what must not be published left out. */
export function shownValue(
  kind: string,
  path: string[],
  value: unknown,
  view: ValueView,
  side: 'before' | 'after',
): string {
  if (value === undefined) return NONE;
  if (kind === 'Secret') return SECRET;
  if (view.values === 'hidden') return side === 'before' ? HIDDEN : '(changed, not shown)';
  const safe = redacted(path, value, view, side);
  return clip(typeof safe === 'string' ? safe : JSON.stringify(safe), VALUE_LIMIT);
}
