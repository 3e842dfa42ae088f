/**
 * The `chart` input's pure parts: its inputs read and refused, the chart spec, every argv sent to helm, helm's
 * answers read, and the post-renderer that gives the digest to the chart's containers (hooks included).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load, loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../src/desired/inputs.js';
import { chartSpec, ociChartName, type ChartSpec } from '../../src/desired/chart.js';
import {
  dryRunManifest,
  historyArgs,
  isPending,
  manifestArgs,
  parseHelmVersion,
  parseHistory,
  rollbackArgs,
  supportedHelm,
  uninstallArgs,
  upgradeArgs,
} from '../../src/helm/helm.js';
import { POST_RENDER_ARG, postRender } from '../../src/helm/post-render.js';
import { createHelm, PLUGIN_NAME } from '../../src/helm/helm-cli.js';
import type { Run } from '../../src/image/exec.js';
import { releaseObjects } from '../../src/deploy/chart-release.js';

const read = (over: Record<string, string>) => (name: string) => ({ image: 'ghcr.io/acme/web', ...over })[name] ?? '';

describe('chart inputs', () => {
  it('reads chart, values, set, release and chart-version', () => {
    const inputs = parseInputs(
      read({ chart: 'charts/web', values: 'a.yaml\nb.yaml', set: 'replicas=2\nfault=', release: 'shop' }),
      'abcdef1',
    );
    expect(inputs).toMatchObject({
      chart: 'charts/web',
      values: ['a.yaml', 'b.yaml'],
      set: ['replicas=2', 'fault='],
      release: 'shop',
      'chart-version': '',
      deployments: [],
      manifests: [],
    });
  });

  it.each([
    [
      { chart: 'c', deployments: 'web' },
      'Input "chart": is set together with deployments, workloads, manifests or kustomize',
    ],
    [
      { chart: 'c', manifests: 'k8s' },
      'Input "chart": is set together with deployments, workloads, manifests or kustomize',
    ],
    [{ chart: 'c', canary: '1 pod 10s' }, 'Input "canary": is not supported with "chart" yet'],
    [{ chart: 'c', set: 'novalue' }, 'Input "set": "novalue" is not KEY=value'],
    [{ deployments: 'web', release: 'x' }, 'Input "release": is set without "chart"'],
    [{ deployments: 'web', values: 'v.yaml' }, 'Input "values": is set without "chart"'],
  ])('refuses %o', (over, message) => {
    expect(() => parseInputs(read(over), 'abcdef1')).toThrow(message);
  });
});

describe('chartSpec', () => {
  const workspace = mkdtempSync(join(tmpdir(), 'kube-ship-chart-'));
  mkdirSync(join(workspace, 'chart'));
  writeFileSync(join(workspace, 'chart/Chart.yaml'), 'apiVersion: v2\nname: web\nversion: 0.1.0\n');
  writeFileSync(join(workspace, 'prod.yaml'), 'replicas: 3\n');
  mkdirSync(join(workspace, 'empty'));
  const inputs = { chart: 'chart', values: [], set: [], release: '', 'chart-version': '' };

  it('names the release after the chart, with paths in the workspace', () => {
    expect(chartSpec({ ...inputs, values: ['prod.yaml'] }, workspace)).toEqual({
      chart: join(workspace, 'chart'),
      remote: false,
      values: [join(workspace, 'prod.yaml')],
      set: [],
      release: 'web',
      version: '',
    });
    expect(chartSpec({ ...inputs, release: 'shop' }, workspace).release).toBe('shop');
  });

  it('takes an oci:// chart as it is, named after its last path segment', () => {
    const spec = chartSpec({ ...inputs, chart: 'oci://ghcr.io/acme/charts/api', 'chart-version': '1.2.0' }, workspace);
    expect(spec).toMatchObject({
      chart: 'oci://ghcr.io/acme/charts/api',
      remote: true,
      release: 'api',
      version: '1.2.0',
    });
    expect(ociChartName('oci://r.example/x/web:1.0')).toBe('web');
  });

  it.each([
    [{ chart: 'missing' }, 'Input "chart": "missing" is not a directory of the workspace'],
    [{ chart: 'empty' }, 'Input "chart": "empty" has no Chart.yaml with a name'],
    [{ 'chart-version': '1.0.0' }, 'Input "chart-version": is set, but "chart" is a chart directory'],
    [{ values: ['nope.yaml'] }, 'Input "values": "nope.yaml" is not a file of the workspace'],
    [{ release: 'Web_1' }, 'Input "release": "Web_1" is not a valid release name'],
  ])('refuses %o', (over, message) => {
    expect(() => chartSpec({ ...inputs, ...over }, workspace)).toThrow(message);
  });
});

describe('helm argv', () => {
  const cluster = { kubeconfig: '/tmp/k/kubeconfig', context: 'prod' };
  const on = ['--kubeconfig', '/tmp/k/kubeconfig', '--kube-context', 'prod', '--namespace', 'shop'];
  const spec: ChartSpec = {
    chart: '/w/chart',
    remote: false,
    values: ['/w/a.yaml', '/w/b.yaml'],
    set: ['replicas=2', 'x=y=z'],
    release: 'web',
    version: '',
  };
  const renderer = {
    plugin: 'kube-ship-image',
    args: ['ghcr.io/acme/web', 'ghcr.io/acme/web:v1@sha256:ab', '/r.json'],
  };

  it.each([
    [
      'upgrade --install, values in order, no wait, the post-renderer and its arguments',
      upgradeArgs(spec, 'shop', cluster, renderer, { timeoutMs: 600_000, dryRun: false }),
      ['upgrade', 'web', '/w/chart', '--install', ...on, '--values', '/w/a.yaml', '--values', '/w/b.yaml'].concat(
        ['--set', 'replicas=2', '--set', 'x=y=z', '--timeout', '600s', '--post-renderer', 'kube-ship-image'],
        ['--post-renderer-args', 'ghcr.io/acme/web', '--post-renderer-args', 'ghcr.io/acme/web:v1@sha256:ab'],
        ['--post-renderer-args', '/r.json'],
      ),
    ],
    [
      'an oci:// chart at a version, as a server-side dry run',
      upgradeArgs(
        { ...spec, chart: 'oci://r/c/web', values: [], set: [], version: '1.2.0' },
        'shop',
        cluster,
        renderer,
        {
          timeoutMs: 1500,
          dryRun: true,
        },
      ),
      ['upgrade', 'web', 'oci://r/c/web', '--install', ...on, '--version', '1.2.0', '--timeout', '2s'].concat(
        ['--post-renderer', 'kube-ship-image', '--post-renderer-args', 'ghcr.io/acme/web'],
        [
          '--post-renderer-args',
          'ghcr.io/acme/web:v1@sha256:ab',
          '--post-renderer-args',
          '/r.json',
          '--dry-run=server',
          '--output',
          'json',
        ],
      ),
    ],
    [
      'history: the newest revision only',
      historyArgs({ release: 'web', namespace: 'shop' }, cluster),
      ['history', 'web', ...on, '--max', '1', '--output', 'json'],
    ],
    [
      'manifest of the newest revision',
      manifestArgs({ release: 'web', namespace: 'shop' }, cluster),
      ['get', 'manifest', 'web', ...on],
    ],
    [
      'manifest of a revision',
      manifestArgs({ release: 'web', namespace: 'shop' }, cluster, 3),
      ['get', 'manifest', 'web', ...on, '--revision', '3'],
    ],
    [
      'rollback to the recorded revision, never "the previous one", without --wait',
      rollbackArgs({ release: 'web', namespace: 'shop' }, cluster, 4, 300_000),
      ['rollback', 'web', '4', ...on, '--timeout', '300s'],
    ],
    [
      'uninstall',
      uninstallArgs({ release: 'web', namespace: 'shop' }, cluster, 60_000),
      ['uninstall', 'web', ...on, '--timeout', '60s'],
    ],
  ])('%s', (_name, argv, expected) => {
    expect(argv).toEqual(expected);
  });
});

describe("helm's answers", () => {
  it.each([
    ['v4.3.2', [4, 3, 2], true],
    ['v3.13.0', [3, 13, 0], true],
    ['v3.12.3', [3, 12, 3], false],
    ['v2.17.0', [2, 17, 0], false],
    ['version.BuildInfo{Version:"v3.16.1", GitCommit:""}', [3, 16, 1], true],
  ] as const)('%s', (text, version, supported) => {
    const parsed = parseHelmVersion(text);
    expect(parsed).toEqual(version);
    expect(parsed && supportedHelm(parsed)).toBe(supported);
  });

  it('reads the newest revision of the history, and which statuses are pending', () => {
    const json = JSON.stringify([
      { revision: 3, status: 'superseded' },
      { revision: 4, status: 'pending-upgrade' },
    ]);
    expect(parseHistory(json)).toEqual({ revision: 4, status: 'pending-upgrade' });
    expect(parseHistory('[]')).toBeUndefined();
    expect(['pending-install', 'pending-upgrade', 'pending-rollback'].every(isPending)).toBe(true);
    expect(['deployed', 'failed', 'superseded'].some(isPending)).toBe(false);
  });

  it("reads the manifest of a dry run's release, and nothing from what is not one", () => {
    expect(dryRunManifest(JSON.stringify({ name: 'web', manifest: 'kind: ConfigMap\n' }))).toBe('kind: ConfigMap\n');
    expect(dryRunManifest('Error: not JSON')).toBe('');
    expect(dryRunManifest('{"name":"web"}')).toBe('');
  });

  it("places the manifest's objects in the release namespace unless they name one", () => {
    const manifest =
      '---\n# Source: web/templates/a.yaml\nkind: Deployment\napiVersion: apps/v1\nmetadata:\n  name: web\n---\nkind: Service\napiVersion: v1\nmetadata:\n  name: web\n  namespace: other\n';
    expect(releaseObjects(manifest, 'shop').map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)).toEqual(
      ['Deployment shop/web', 'Service other/web'],
    );
  });
});

describe('postRender', () => {
  const stream = [
    '---',
    '# Source: web/templates/deployment.yaml',
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: web',
    '  annotations:',
    '    postrenderer.helm.sh/postrender-filename: web/templates/deployment.yaml',
    'spec:',
    '  template:',
    '    spec:',
    '      initContainers:',
    '        - name: init',
    '          image: ghcr.io/acme/web:old',
    '      containers:',
    '        - name: app',
    '          image: "ghcr.io/acme/web:1.0"',
    '        - name: proxy',
    '          image: envoyproxy/envoy:v1',
    '---',
    'apiVersion: batch/v1',
    'kind: Job',
    'metadata:',
    '  name: web-migrate',
    '  annotations:',
    '    helm.sh/hook: pre-upgrade',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: migrate',
    '          image: ghcr.io/acme/web',
    '---',
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: web-config',
    'data:',
    '  ENABLED: "true"',
    '---',
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: web-hook-config',
    '  annotations:',
    '    helm.sh/hook: pre-install',
    '',
  ].join('\n');
  const reference = 'ghcr.io/acme/web:v2@sha256:' + 'a'.repeat(64);

  it("gives the reference to every container of image's repository, hooks included, and keeps the rest", () => {
    const { text, rendered } = postRender(stream, 'ghcr.io/acme/web', reference);
    const docs = loadAll(text) as {
      kind: string;
      spec?: unknown;
      data?: unknown;
      metadata: { annotations?: unknown };
    }[];
    expect(docs.map((d) => d.kind)).toEqual(['Deployment', 'Job', 'ConfigMap', 'ConfigMap']);
    expect(docs[0]?.spec).toEqual({
      template: {
        spec: {
          initContainers: [{ name: 'init', image: reference }],
          containers: [
            { name: 'app', image: reference },
            { name: 'proxy', image: 'envoyproxy/envoy:v1' },
          ],
        },
      },
    });
    // Helm reads the file annotation back to group the documents; the string "true" stays a string.
    expect(docs[0]?.metadata.annotations).toEqual({
      'postrenderer.helm.sh/postrender-filename': 'web/templates/deployment.yaml',
    });
    expect(docs[2]?.data).toEqual({ ENABLED: 'true' });
    expect(load(text.split('---\n')[1] ?? '')).toMatchObject({
      spec: { template: { spec: { containers: [{ name: 'migrate', image: reference }] } } },
    });
    expect(rendered.uses.map((u) => [u.key, u.containers])).toEqual([
      ['Deployment web', ['app', 'init']],
      ['Job web-migrate', ['migrate']],
    ]);
    // Only Jobs are hooks kube-ship watches: a hook ConfigMap has no pods.
    expect(rendered.hooks).toEqual([{ namespace: '', name: 'web-migrate', hook: 'pre-upgrade' }]);
  });

  it('changes nothing in a chart without that image', () => {
    const { rendered } = postRender(stream, 'ghcr.io/acme/other', reference);
    expect(rendered.uses).toEqual([]);
  });
});

describe('createHelm', () => {
  const calls: { args: string[]; env: Record<string, string> | undefined }[] = [];
  const run: Run = async (_command, args, options = {}) => {
    calls.push({ args, env: options.env });
    if (args[0] === 'version') return { exitCode: 0, stdout: 'v4.3.2', stderr: '' };
    if (args[0] === 'env') return { exitCode: 0, stdout: '/home/runner/.local/share/helm/plugins\n', stderr: '' };
    if (args[0] === 'history') return { exitCode: 1, stdout: '', stderr: 'Error: release: not found\n' };
    return { exitCode: 0, stdout: '', stderr: '' };
  };

  it("writes a private kubeconfig and the post-renderer plugin, ahead of the runner's own plugins", async () => {
    const env = { RUNNER_TEMP: mkdtempSync(join(tmpdir(), 'kube-ship-helm-test-')) };
    const helm = createHelm({ run, kubeconfig: 'apiVersion: v1\n', context: 'prod', env, node: '/n', bundle: '/b.js' });
    expect(await helm.version()).toBe('v4.3.2');
    expect(await helm.latest({ release: 'web', namespace: 'shop' })).toBeUndefined();
    const history = calls.find((c) => c.args[0] === 'history');
    const kubeconfig = history?.args[history.args.indexOf('--kubeconfig') + 1] ?? '';
    expect(readFileSync(kubeconfig, 'utf8')).toBe('apiVersion: v1\n');
    expect(statSync(kubeconfig).mode & 0o777).toBe(0o600);
    const [ours, theirs] = (history?.env?.HELM_PLUGINS ?? '').split(':');
    expect(theirs).toBe('/home/runner/.local/share/helm/plugins');
    expect(JSON.parse(readFileSync(join(ours ?? '', PLUGIN_NAME, 'plugin.yaml'), 'utf8'))).toMatchObject({
      type: 'postrenderer/v1',
      runtime: 'subprocess',
      runtimeConfig: { platformCommand: [{ command: '/n', args: ['/b.js', POST_RENDER_ARG] }] },
    });
    helm.close();
    expect(existsSync(kubeconfig)).toBe(false);
  });
});
