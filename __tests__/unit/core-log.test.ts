/**
 * What reaches the runner's stdout, the one channel it reads workflow commands from: kube-ship's own log (core-log)
 * with a manifest file whose name is an attack. Output is captured at the process's edge (stdout), as the runner
 * reads it.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { failStep, logTo } from '../../src/core-log.js';
import { post } from '../../src/post.js';
import { messageOf } from '../../src/lib/errors.js';
import { logMessage } from '../../src/lib/log-text.js';
import { Secrets } from '../../src/lib/secrets.js';
import { parseManifests } from '../../src/desired/manifests.js';
import { checkCluster } from '../../src/steps/check-cluster.js';
import { FakeKube } from '../fakes/fake-kube.js';

/** A file name a pull request can commit: a newline, then workflow commands (one that would silence the log). */
const HOSTILE = 'web\n::error::x\n::stop-commands::abc\n\u202elmay ##[add-mask]y.yaml';

let stdout: string[];
beforeEach(() => {
  stdout = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

/** The lines the runner reads, each checked for what it would run as a command. */
const printedLines = (): string[] =>
  stdout
    .join('')
    .split(/\r?\n|\r/)
    .filter((l) => l !== '');
const commands = (): string[] => printedLines().filter((l) => /^\s*::/.test(l));

describe('a hostile manifest file name in the log', () => {
  it('is one line of text in logMessage, never a command, with no bidi character and no ##[', () => {
    const message = logMessage(`k8s/${HOSTILE} is not valid YAML`);
    expect(message.split('\n')).toEqual([
      'k8s/web',
      '» ::error::x',
      '» ::stop-commands::abc',
      'lmay ##\u200b[add-mask]y.yaml is not valid YAML',
    ]);
  });

  it("reaches stdout as the step's failure in exactly one ::error:: command", () => {
    let message = '';
    try {
      parseManifests([{ file: `k8s/${HOSTILE}`, text: 'a: [' }]);
    } catch (error) {
      message = messageOf(error);
    }
    expect(message).toContain('::stop-commands::abc');
    failStep(message);
    expect(commands()).toHaveLength(1);
    expect(commands()[0]).toMatch(/^::error::Input "manifests": k8s\/web%0A» ::error::x%0A» ::stop-commands::abc%0A/);
    expect(stdout.join('')).not.toMatch(/\u202e|##\[/);
  });

  it('reaches stdout as a warning in one ::warning:: command', () => {
    logTo(new Secrets()).warning(`k8s/${HOSTILE} was skipped`);
    expect(commands()).toHaveLength(1);
    expect(commands()[0]).toMatch(/^::warning::/);
    expect(stdout.join('')).not.toMatch(/\u202e|##\[/);
  });

  it('is printed as one plain line when preflight names the files it read', async () => {
    const root = mkdtempSync(join(tmpdir(), 'kube-ship-hostile-'));
    mkdirSync(join(root, 'k8s'));
    writeFileSync(
      join(root, 'k8s', HOSTILE),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec:\n  selector: { matchLabels: { app: web } }\n  template:\n    metadata: { labels: { app: web } }\n    spec: { containers: [{ name: app, image: reg/web:v1 }] }\n',
    );
    const log = logTo(new Secrets());
    await checkCluster(
      new FakeKube(),
      {
        deployments: [],
        workloads: [],
        image: 'reg/web',
        manifests: ['k8s'],
        pinned: undefined,
        tags: ['v1'],
        'force-conflicts': false,
        preview: false,
        verify: [],
        'pre-deploy': [],
        canary: [],
        'canary-route': undefined,
      },
      { defaultNamespace: 'ns', secrets: new Secrets(), workspace: root, log },
    );
    const line = printedLines().find((l) => l.startsWith('Manifests: '));
    expect(line).toMatch(
      /^Manifests: k8s\/web ⏎ ::error::x ⏎ ::stop-commands::abc ⏎ lmay ##\u200b\[add-mask\]y\.yaml: 2 objects/,
    );
    expect(commands()).toEqual([]);
  });
});

describe("the post step's failure", () => {
  it('when its records file cannot be read, quoting a hostile key, is one ::error:: command', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kube-ship-post-'));
    const file = join(dir, 'records.json');
    writeFileSync(file, JSON.stringify([{ key: `ns/${HOSTILE}`, kind: 'deployment', namespace: 'ns', name: 'web' }]));
    vi.stubEnv('STATE_records-file', file);
    vi.stubEnv('STATE_finished', '');
    vi.stubEnv('STATE_logged-in-registry', '');
    try {
      await post();
    } finally {
      vi.unstubAllEnvs();
    }
    expect(stdout.join('')).toContain('::stop-commands::abc');
    expect(commands()).toHaveLength(1);
    expect(commands()[0]).toMatch(/^::error::/);
    expect(stdout.join('')).not.toMatch(/\u202e|##\[/);
  });
});
