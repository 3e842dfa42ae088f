/**
 * The input `canary`: the steps a release takes on a few pods of its own before it replaces the stable ones. Empty
 * is no canary (the rolling update as before); `1` is one pod, `10%` a tenth of the traffic by pod count, and
 * `10%, 50%` two steps, each watched, baked and checked before the next.
 */
import { InputError } from '../lib/errors.js';

/** One step: a number of pods, or a share (percent, 1 to 99) of all the pods, stable and canary. */
export type CanaryStep = { kind: 'pods'; count: number } | { kind: 'percent'; percent: number };

const FIX = 'write pods (e.g. 1) or shares (e.g. 10%), comma-separated and increasing, e.g. "10%, 50%"';

/** How a step is shown in the log, the report and the output. */
export function stepLabel(step: CanaryStep): string {
  return step.kind === 'pods' ? `${step.count} pod${step.count === 1 ? '' : 's'}` : `${step.percent}%`;
}

function parseStep(word: string): CanaryStep {
  const percent = /^(\d+)\s*%$/.exec(word);
  if (percent) {
    const value = Number(percent[1]);
    if (value < 1 || value > 99) throw new InputError('canary', `"${word}" is not a share from 1% to 99%; ${FIX}.`);
    return { kind: 'percent', percent: value };
  }
  if (!/^\d+$/.test(word) || Number(word) < 1 || Number(word) > 1000) {
    throw new InputError('canary', `"${word}" is neither a number of pods (1 to 1000) nor a share; ${FIX}.`);
  }
  return { kind: 'pods', count: Number(word) };
}

const sizeOf = (step: CanaryStep): number => (step.kind === 'pods' ? step.count : step.percent);

/** Parses `canary`: [] when empty; the steps must be all pods or all shares, each larger than the one before. */
export function parseCanary(raw: string): CanaryStep[] {
  const words = raw
    .split(/[,\n]/)
    .map((w) => w.trim())
    .filter((w) => w !== '');
  const steps = words.map(parseStep);
  const [first] = steps;
  if (first && steps.some((s) => s.kind !== first.kind)) {
    throw new InputError('canary', `"${words.join(', ')}" mixes pods and shares; ${FIX}.`);
  }
  for (let i = 1; i < steps.length; i += 1) {
    const [before, step] = [steps[i - 1], steps[i]];
    if (before && step && sizeOf(step) <= sizeOf(before)) {
      throw new InputError('canary', `"${words.join(', ')}": each step must be larger than the one before; ${FIX}.`);
    }
  }
  return steps;
}
