/**
 * The README's workflow examples are copied into real repositories: what they do beyond what actionlint checks
 * (scripts/lint-workflows.sh) is checked here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';

const README = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');

interface Job {
  environment?: string | { name: string; deployment?: boolean };
  steps?: { uses?: string; with?: Record<string, unknown> }[];
}

/** Every ```yaml block of the README that is a workflow, with its first line. */
function workflows(): { line: number; jobs: Record<string, Job> }[] {
  const out: { line: number; jobs: Record<string, Job> }[] = [];
  for (const match of README.matchAll(/^```yaml\n([\s\S]*?)^```/gm)) {
    const doc = yaml.load(match[1]!) as { jobs?: Record<string, Job> } | null;
    if (doc?.jobs) out.push({ line: README.slice(0, match.index).split('\n').length, jobs: doc.jobs });
  }
  return out;
}

describe("the README's workflow examples", () => {
  it('make one GitHub deployment record per run: a job with github-deployment: true has no deploying environment', () => {
    const jobs = workflows().flatMap(({ line, jobs }) =>
      Object.entries(jobs).map(([name, job]) => ({ line, name, job })),
    );
    const deploying = jobs.filter(({ job }) =>
      job.steps?.some((s) => s.uses?.startsWith('kube-ship/') && String(s.with?.['github-deployment']) === 'true'),
    );
    expect(deploying.length).toBeGreaterThanOrEqual(2);
    const twice = deploying
      .filter(({ job }) => job.environment !== undefined)
      .filter(({ job }) => typeof job.environment !== 'object' || job.environment.deployment !== false)
      .map(({ line, name }) => `README.md:${line} job ${name}`);
    expect(twice).toEqual([]);
  });
});
