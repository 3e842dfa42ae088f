/** The runner's variables and files for one step, the same for the end-to-end tests and the benches. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/** The commit every step runs at (GITHUB_SHA), unless a test gives another. */
export const STEP_SHA = '0123456789abcdef0123456789abcdef01234567';

export interface StepEnvironment {
  env: Record<string, string>;
  files: { GITHUB_OUTPUT: string; GITHUB_STEP_SUMMARY: string; GITHUB_STATE: string };
  dir: string;
}

/**
 * What the runner gives a step: `base` (the environment it runs in), INPUT_* (input names upper-cased, hyphens
 * kept), GITHUB_* for a push to acme/web, and fresh files for outputs, summary and state in a temporary RUNNER_TEMP.
 * `extra` overrides any of it. Needs no stack, so the stack-free start-up bench uses it too.
 */
export function stepEnvironment(
  base: Record<string, string>,
  inputs: Record<string, string>,
  extra: Record<string, string> = {},
): StepEnvironment {
  const dir = mkdtempSync(join(tmpdir(), 'kube-ship-run-'));
  const files = {
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary'),
    GITHUB_STATE: join(dir, 'state'),
  };
  for (const file of Object.values(files)) writeFileSync(file, '');
  const inputEnv = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v]));
  const childEnv: Record<string, string> = {
    ...base,
    GITHUB_ACTIONS: 'true',
    GITHUB_SHA: STEP_SHA,
    GITHUB_REPOSITORY: 'acme/web',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_RUN_ID: '42',
    GITHUB_ACTOR: 'octocat',
    GITHUB_EVENT_NAME: 'push',
    GITHUB_WORKSPACE: ROOT,
    RUNNER_TEMP: dir,
    INPUT_ENVIRONMENT: 'default',
    INPUT_COMMENT: 'never',
    INPUT_TIMEOUT: '3m',
    // The default bake (30s) would add half a minute to every good deploy; tests of the bake set their own.
    INPUT_BAKE: '2s',
    INPUT_NETWORK: 'host',
    ...files,
    ...inputEnv,
    ...extra,
  };
  delete childEnv.ACTIONS_STEP_DEBUG;
  return { env: childEnv, files, dir };
}
