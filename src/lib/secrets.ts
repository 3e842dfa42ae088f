/**
 * Every secret the step knows, in one place: each value is masked in the job log (line by line, as the runner
 * masks only whole registered values) and scrubbed, replaced by `***`, from anything that leaves the step by
 * another channel (failure reason, evidence, summary, PR comment, Deployment status, outputs), before any escaping
 * changes how it is spelled. Text from the cluster also loses URL user-info (`scheme://user:pass@`) and the user
 * name a registry's pull rate-limit message carries.
 */

/** Shorter values are not scrubbed (they would shred ordinary words); the runner still masks them in the log. */
const MIN_SCRUBBED = 4;

export class Secrets {
  private readonly values = new Set<string>();

  /** `mask`: how a value is hidden in the log (core.setSecret in the action). */
  constructor(private readonly mask: (value: string) => void = () => undefined) {}

  /**
   * Registers a secret: the whole value and, unless `lines` is false, each of its lines (a PEM key, a token file).
   * A document such as a kubeconfig is registered whole (its secret fields are registered one by one): masking
   * each of its lines would mask words like `kind: Config` everywhere in the log.
   */
  add(value: string | undefined, { lines = true }: { lines?: boolean } = {}): void {
    if (value === undefined || value.trim() === '') return;
    const parts = lines ? [value, ...value.split(/\r?\n/).map((l) => l.trim())] : [value];
    for (const part of parts) {
      if (part === '' || this.values.has(part)) continue;
      this.values.add(part);
      this.mask(part);
    }
  }

  /** The text with every registered value, URL user-info and credential-bearing message part replaced. */
  scrub(text: string): string {
    let out = text;
    const longestFirst = [...this.values].filter((v) => v.length >= MIN_SCRUBBED).sort((a, b) => b.length - a.length);
    for (const value of longestFirst) out = out.split(value).join('***');
    return redactCredentials(out);
  }

  /** A deep copy of `value` with every string in it scrubbed (for the report and outputs). */
  scrubAll<T>(value: T): T {
    return JSON.parse(JSON.stringify(value), (_key, v: unknown) => (typeof v === 'string' ? this.scrub(v) : v)) as T;
  }
}

/** URL user-info and the user name in a registry's pull rate-limit message (as werf/kubedog redacts it). */
export function redactCredentials(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, '$1***@')
    .replace(/(pull rate limit as )'[^']*'/gi, "$1'***'");
}
