import { describe, expect, it } from 'vitest';
import { parseDuration, parseInputs, parseList } from '../../src/desired/inputs.js';

const base: Record<string, string> = { image: 'ghcr.io/acme/web', deployments: 'web' };
const read = (over: Record<string, string>) => (name: string) => ({ ...base, ...over })[name] ?? '';

describe('parseInputs', () => {
  it('applies the defaults', () => {
    const inputs = parseInputs(read({}), '0123456789abcdef');
    expect(inputs).toMatchObject({
      build: true,
      push: true,
      context: '.',
      tags: ['0123456'],
      timeout: 600_000,
      'allowed-restarts': 0,
      bake: 30_000,
      'rollback-timeout': 300_000,
      rollback: true,
      'fail-fast': true,
      comment: 'auto',
      'preview-values': 'shown',
      environment: 'default',
      deployments: [{ kind: 'deployment', namespace: undefined, name: 'web', containers: [], input: 'deployments' }],
      workloads: [],
    });
  });

  it('takes one kustomization directory in place of deployments, workloads and manifests', () => {
    const inputs = parseInputs(
      read({ deployments: '', kustomize: '  k8s/overlays/prod\n# staging next\n' }),
      'abcdef0',
    );
    expect(inputs).toMatchObject({ kustomize: 'k8s/overlays/prod', deployments: [], manifests: [] });
    expect(parseInputs(read({}), 'abcdef0').kustomize).toBe('');
  });

  it('parses lists, targets and durations', () => {
    const inputs = parseInputs(
      read({
        deployments: 'web\n# a comment\n\nshop/api:app,sidecar\n',
        tags: 'v1.2.3\nlatest',
        'build-args': 'A=1\nB=two=2',
        platforms: 'linux/amd64, linux/arm64',
        timeout: '1h30m',
      }),
      '',
    );
    expect(inputs.deployments).toEqual([
      { kind: 'deployment', namespace: undefined, name: 'web', containers: [], input: 'deployments' },
      { kind: 'deployment', namespace: 'shop', name: 'api', containers: ['app', 'sidecar'], input: 'deployments' },
    ]);
    expect(inputs.tags).toEqual(['v1.2.3', 'latest']);
    expect(inputs['build-args']).toEqual(['A=1', 'B=two=2']);
    expect(inputs.platforms).toEqual(['linux/amd64', 'linux/arm64']);
    expect(inputs.timeout).toBe(5_400_000);
  });

  it('parses workloads by kind, as kubectl names the kinds', () => {
    const inputs = parseInputs(
      read({
        deployments: '',
        workloads: 'sts/db\ndata/StatefulSet/db:postgres\nds/agent\nshop/deploy/web\ndaemonsets/agent2',
      }),
      'abc',
    );
    expect(inputs.deployments).toEqual([]);
    expect(inputs.workloads).toEqual([
      { kind: 'statefulset', namespace: undefined, name: 'db', containers: [], input: 'workloads' },
      { kind: 'statefulset', namespace: 'data', name: 'db', containers: ['postgres'], input: 'workloads' },
      { kind: 'daemonset', namespace: undefined, name: 'agent', containers: [], input: 'workloads' },
      { kind: 'deployment', namespace: 'shop', name: 'web', containers: [], input: 'workloads' },
      { kind: 'daemonset', namespace: undefined, name: 'agent2', containers: [], input: 'workloads' },
    ]);
  });

  it.each([
    ['db', '"db" names no KIND/NAME'],
    ['a/b/c/d', '"a/b/c/d" names no KIND/NAME'],
    ['job/db', '"job/db": "job" is not a kind kube-ship deploys'],
    ['constructor/db', '"constructor/db": "constructor" is not a kind kube-ship deploys'],
    ['__proto__/db', '"__proto__/db": "__proto__" is not a kind kube-ship deploys'],
    ['sts/DB', '"sts/DB": "DB" is not a valid name'],
    ['Data/sts/db', '"Data/sts/db": "Data" is not a valid namespace'],
    ['sts/db:', '"sts/db:" has ":" but no container names'],
    ['sts/db:a:b', '"sts/db:a:b" has more than one ":"'],
  ])('rejects the workload %s, naming the input', (line, message) => {
    expect(() => parseInputs(read({ deployments: '', workloads: line }), 'abc')).toThrow(
      `Input "workloads": ${message}`,
    );
  });

  it.each([
    [
      { image: '' },
      'Input "image": is required; set the image repository (e.g. image: ghcr.io/acme/web with tags: v1, or tags: ghcr.io/acme/web:v1).',
    ],
    [
      { image: 'ghcr.io/acme/web:1.0' },
      'Input "image": "ghcr.io/acme/web:1.0" has a tag or digest, but a build makes the digest; give the repository only and put tags in "tags" (or set build: false to deploy that image).',
    ],
    [
      { image: 'ghcr.io/Acme/Web' },
      'Input "image": "ghcr.io/Acme/Web" is not a valid repository; use lower case, e.g. ghcr.io/acme/web.',
    ],
    [
      { deployments: '' },
      'Input "deployments": is required (or "workloads", "manifests", "kustomize" or "chart"); list the Deployments to update, one NAME or NAMESPACE/NAME per line, or the workloads as KIND/NAME or NAMESPACE/KIND/NAME (deployment, statefulset, daemonset), or the manifest files to apply, a kustomization directory, or the Helm chart to release.',
    ],
    [
      { deployments: 'a/b/c' },
      'Input "deployments": "a/b/c" has more than one "/"; write NAME or NAMESPACE/NAME, optionally followed by :CONTAINER[,CONTAINER...].',
    ],
    [
      { deployments: 'web:' },
      'Input "deployments": "web:" has ":" but no container names; write NAME or NAMESPACE/NAME, optionally followed by :CONTAINER[,CONTAINER...].',
    ],
    [
      { deployments: 'Web' },
      'Input "deployments": "Web": "Web" is not a valid name; write NAME or NAMESPACE/NAME, optionally followed by :CONTAINER[,CONTAINER...].',
    ],
    [
      { timeout: '10 minutes' },
      'Input "timeout": "10 minutes" is not a duration; write a duration such as 10m, 90s or 1h30m.',
    ],
    [{ timeout: '0s' }, 'Input "timeout": "0s" must be more than zero; write a duration such as 10m, 90s or 1h30m.'],
    [{ rollback: 'yes' }, 'Input "rollback": "yes" is not a boolean; write true or false.'],
    [
      { 'allowed-restarts': '-1' },
      'Input "allowed-restarts": "-1" is not a whole number from 0 to 1000; write e.g. 0 or 2.',
    ],
    [{ bake: 'soon' }, 'Input "bake": "soon" is not a duration; write a duration such as 10m, 90s or 1h30m.'],
    [
      { 'rollback-timeout': '0' },
      'Input "rollback-timeout": "0" must be more than zero; write a duration such as 10m, 90s or 1h30m.',
    ],
    [{ comment: 'sometimes' }, 'Input "comment": "sometimes" is not one of auto, always, never.'],
    [
      { deployments: '', manifests: 'k8s/web.yaml', kustomize: 'k8s/overlays/prod' },
      'Input "kustomize": is set together with "manifests"; use one of them: list the manifest files as resources of the kustomization, or deploy them in a step of their own.',
    ],
    [
      { deployments: '', kustomize: 'k8s/overlays/staging\nk8s/overlays/prod' },
      'Input "kustomize": names 2 directories; name one kustomization directory per step (one overlay that lists the others as resources builds them together).',
    ],
    [
      { 'preview-values': 'masked' },
      'Input "preview-values": "masked" is not one of shown, hidden; set hidden to publish no value of any object in a preview.',
    ],
    [{ 'pr-number': '#12' }, 'Input "pr-number": "#12" is not a pull request number.'],
    [
      { tags: 'bad tag!' },
      'Input "tags": "bad tag!" is not a valid tag; use letters, digits, "_", "." and "-" (max 128).',
    ],
    [{ 'build-args': 'NOVALUE' }, 'Input "build-args": "NOVALUE" is not KEY=value; write one KEY=value per line.'],
    [{ secrets: 'hunter2' }, 'Input "secrets": a line is not KEY=value; write one KEY=value per line.'],
    [
      { 'registry-username': 'bot' },
      'Input "registry-password": is set without its pair; set both registry-username and registry-password, or neither to use the existing Docker login.',
    ],
    [
      { push: 'false' },
      'Input "push": is false, but kube-ship deploys what it pushes; set push: true, or use docker/build-push-action for a build-only check.',
    ],
    [{ namespace: 'Prod' }, 'Input "namespace": "Prod" is not a valid namespace name.'],
  ])('rejects %o', (over, message) => {
    expect(() => parseInputs(read(over), 'abcdef1234')).toThrow(message);
  });

  it('takes bake 0s (off), a restart budget and a rollback limit', () => {
    const inputs = parseInputs(read({ bake: '0s', 'allowed-restarts': '2', 'rollback-timeout': '90s' }), 'abc');
    expect(inputs).toMatchObject({ bake: 0, 'allowed-restarts': 2, 'rollback-timeout': 90_000 });
  });

  it('takes full references in tags as build-push-action and metadata-action write them, image then optional', () => {
    const inputs = parseInputs(read({ image: '', tags: 'ghcr.io/acme/web:1.2.3\nghcr.io/acme/web:latest' }), 'abc');
    expect(inputs).toMatchObject({ image: 'ghcr.io/acme/web', tags: ['1.2.3', 'latest'], pinned: undefined });
    expect(parseInputs(read({ tags: 'ghcr.io/acme/web:1.2.3\nedge' }), 'abc').tags).toEqual(['1.2.3', 'edge']);
  });

  it.each([
    [
      { tags: 'ghcr.io/acme/web:1\nghcr.io/acme/api:1' },
      'Input "tags": names several repositories (ghcr.io/acme/web, ghcr.io/acme/api); deploy one image per step',
    ],
    [
      { image: 'ghcr.io/acme/web', tags: 'ghcr.io/acme/api:1' },
      'Input "tags": names ghcr.io/acme/api but "image" is ghcr.io/acme/web; make them the same repository, or leave "image" out.',
    ],
    [
      { build: 'false', image: 'ghcr.io/acme/web@sha256:abc' },
      'Input "image": "ghcr.io/acme/web@sha256:abc" has a digest that is not sha256:<64 hex>.',
    ],
  ])('rejects image and tags %o', (over, message) => {
    expect(() => parseInputs(read(over), 'abc')).toThrow(message);
  });

  it('with build: false, deploys a digest pinned in image, with or without its tag', () => {
    const digest = `sha256:${'f'.repeat(64)}`;
    expect(parseInputs(read({ build: 'false', image: `ghcr.io/acme/web@${digest}` }), 'abc')).toMatchObject({
      image: 'ghcr.io/acme/web',
      pinned: { digest },
    });
    expect(parseInputs(read({ build: 'false', image: `ghcr.io/acme/web:1.4@${digest}` }), 'abc').pinned).toEqual({
      digest,
      tag: '1.4',
    });
    expect(parseInputs(read({ build: 'false', image: 'ghcr.io/acme/web:1.4' }), 'abc').tags).toEqual(['1.4']);
  });

  it('needs a tag when there is no commit', () => {
    expect(() => parseInputs(read({}), '')).toThrow(
      'Input "tags": is empty and GITHUB_SHA is not set; give at least one tag.',
    );
  });

  it('never shows a secret value in its error', () => {
    try {
      parseInputs(read({ secrets: 'supersecretvalue' }), 'abc1234');
      expect.unreachable();
    } catch (error) {
      expect(String(error)).not.toContain('supersecretvalue');
    }
  });
});

describe('parseDuration', () => {
  it.each([
    ['10m', 600_000],
    ['90s', 90_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['120', 120_000],
    ['', 42],
  ])('%s -> %d ms', (raw, ms) => {
    expect(parseDuration('timeout', raw, 42)).toBe(ms);
  });
});

describe('parseList', () => {
  it('drops blanks and comments and trims', () => {
    expect(parseList('  a \r\n\n# c\nb')).toEqual(['a', 'b']);
  });
});
