/** Building a kustomization: the argv, which tool is found, and what a failed or missing build says. */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run as exec, type CommandResult, type Run } from '../../src/image/exec.js';
import { MANIFESTS_TOTAL_LIMIT } from '../../src/desired/manifest-files.js';
import {
  buildError,
  chooseTool,
  createKustomize,
  kustomizeArgv,
  onPath,
  type KustomizeTool,
} from '../../src/render/kustomize.js';

/** A directory holding an executable file for each name. */
function binDir(...names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'kube-ship-bin-'));
  for (const name of names) {
    writeFileSync(join(dir, name), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}

/** A command runner that answers every command with `result`, recording the argv. */
function fakeRun(result: Partial<CommandResult> = {}): Run & { calls: string[][] } {
  const calls: string[][] = [];
  const run = async (command: string, args: string[]) => {
    calls.push([command, ...args]);
    return { exitCode: 0, stdout: 'kind: ConfigMap\n', stderr: '', ...result };
  };
  return Object.assign(run, { calls });
}

describe('kustomizeArgv', () => {
  it.each<[number, KustomizeTool, string, string[]]>([
    [1, 'kustomize', '/w/k8s/overlays/prod', ['build', '/w/k8s/overlays/prod']],
    [2, 'kubectl', '/w/k8s/overlays/prod', ['kustomize', '/w/k8s/overlays/prod']],
    [3, 'kubectl', '/w/a dir; rm -rf /', ['kustomize', '/w/a dir; rm -rf /']],
    [4, 'kustomize', '/w/--enable-helm', ['build', '/w/--enable-helm']],
  ])('%i: %s %s', (_n, tool, dir, argv) => {
    expect(kustomizeArgv(tool, dir)).toEqual(argv);
  });
});

describe('chooseTool', () => {
  it.each<[string[], KustomizeTool | undefined]>([
    [['kustomize', 'kubectl'], 'kustomize'],
    [['kubectl'], 'kubectl'],
    [['kustomize'], 'kustomize'],
    [[], undefined],
  ])('with %j on PATH: %s', (found, tool) => {
    expect(chooseTool((t) => found.includes(t))).toBe(tool);
  });
});

describe('onPath', () => {
  it('finds an executable file in any directory of PATH, and nothing that is not executable', () => {
    const dir = binDir('kubectl');
    writeFileSync(join(dir, 'kustomize'), 'not executable', { mode: 0o644 });
    const path = ['/nonexistent', dir].join(delimiter);
    expect(onPath('kubectl', path)).toBe(true);
    expect(onPath('kustomize', path)).toBe(false);
    expect(onPath('kubectl', undefined)).toBe(false);
  });
});

describe('buildError', () => {
  it("quotes the last line of the build's error output, without controls and clipped", () => {
    const stderr = `Error: accumulating resources\n\x1b[31m::error::forged\u202e\x07\n` + 'x'.repeat(2000);
    const said = buildError({ exitCode: 1, stdout: 'apiVersion: v1', stderr });
    expect(said).toMatch(/^x{500}… \(cut\)$/);
    expect(buildError({ exitCode: 1, stdout: '', stderr: 'first\n\x1b[31mlast \u202ewords\x07\n' })).toBe('last words');
    expect(buildError({ exitCode: 2, stdout: 'only stdout', stderr: '' })).toBe('exit code 2');
  });
});

describe('createKustomize', () => {
  it('runs `kustomize build` when kustomize is on PATH, else `kubectl kustomize`', async () => {
    const run = fakeRun();
    const both = await createKustomize(run, { PATH: binDir('kustomize', 'kubectl') }).build('/w/k8s', 'k8s');
    const kubectlOnly = await createKustomize(run, { PATH: binDir('kubectl') }).build('/w/k8s', 'k8s');
    expect(run.calls).toEqual([
      ['kustomize', 'build', '/w/k8s'],
      ['kubectl', 'kustomize', '/w/k8s'],
    ]);
    expect([both.command, kubectlOnly.command]).toEqual(['kustomize build', 'kubectl kustomize']);
    expect(both.yaml).toBe('kind: ConfigMap\n');
  });

  it('names the input and the fix when neither tool is on PATH, and runs nothing', async () => {
    const run = fakeRun();
    await expect(createKustomize(run, { PATH: binDir('docker') }).build('/w/k8s', 'k8s')).rejects.toThrow(
      'Input "kustomize": "k8s" cannot be built: neither kustomize nor kubectl is on PATH; install one',
    );
    expect(run.calls).toEqual([]);
  });

  it("names the input, the command and the build's own (cleaned) error when the build fails", async () => {
    const stderr = 'Error: accumulating resources: \x1b[31mmissing.yaml\x1b[0m: no such file\n::add-mask::x\n';
    const run = fakeRun({ exitCode: 1, stdout: '', stderr });
    const failed = createKustomize(run, { PATH: binDir('kubectl') }).build('/w/k8s', 'k8s');
    await expect(failed).rejects.toThrow(
      'Input "kustomize": "k8s" did not build with kubectl kustomize (exit code 1): ::add-mask::x; fix the ' +
        'kustomization (run "kubectl kustomize k8s" to see the whole error).',
    );
  });

  it('stops a build that outlasts its limit, and names the input and the limit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kube-ship-bin-'));
    const pidFile = join(dir, 'pid');
    writeFileSync(join(dir, 'kubectl'), `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 30\n`);
    chmodSync(join(dir, 'kubectl'), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${dir}${delimiter}${path ?? ''}`; // the build is spawned from the process's PATH
    const started = Date.now();
    try {
      await expect(createKustomize(exec, { PATH: process.env.PATH }, 300).build('/w', 'k8s')).rejects.toThrow(
        'Input "kustomize": "k8s" did not build with kubectl kustomize within 0.3s, and the build was stopped',
      );
    } finally {
      process.env.PATH = path;
    }
    expect(Date.now() - started).toBeLessThan(5000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow(); // the build's process is gone
  });

  it('refuses more objects than all manifests together may hold', async () => {
    const run = fakeRun({ stdout: 'x'.repeat(MANIFESTS_TOTAL_LIMIT + 1) });
    await expect(createKustomize(run, { PATH: binDir('kubectl') }).build('/w/k8s', 'k8s')).rejects.toThrow(
      /^Input "kustomize": "k8s" built \d+ bytes of objects, over the limit of 8 MiB/,
    );
  });
});

describe('the example kustomize base', () => {
  it('holds the same objects as the example manifests (one source, copied where kustomize can read it)', () => {
    const example = join(import.meta.dirname, '../../examples/web');
    for (const file of ['configmap.yaml', 'deployment.yaml', 'service.yaml', 'ingress.yaml']) {
      const base = readFileSync(join(example, 'kustomize/base', file), 'utf8');
      expect(base, file).toBe(readFileSync(join(example, 'k8s', file), 'utf8'));
    }
  });
});
