/**
 * action.yml is what the runner and act read before a line of kube-ship runs: it must parse, name the one bundle
 * for main and post, and declare exactly the inputs the action reads.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../src/desired/inputs.js';

const ROOT = join(import.meta.dirname, '../..');
const action = yaml.load(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as {
  runs: { using: string; main: string; post: string };
  inputs: Record<string, { default?: string }>;
};

describe('action.yml', () => {
  it('parses, and runs the one bundle on node24 as main and post', () => {
    expect(action.runs).toMatchObject({ using: 'node24', main: 'dist/index.js', post: 'dist/index.js' });
  });

  it('declares exactly the inputs the action reads, and its defaults parse', () => {
    const read: string[] = [];
    const defaults = (name: string): string => {
      read.push(name);
      return name === 'deployments'
        ? 'web'
        : name === 'image'
          ? 'ghcr.io/acme/web'
          : (action.inputs[name]?.default ?? '');
    };
    parseInputs(defaults, '0123456789abcdef');
    expect(new Set(read)).toEqual(new Set(Object.keys(action.inputs)));
  });
});
