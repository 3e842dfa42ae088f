import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  changeCause,
  deployPatch,
  patchToDigest,
  planRestore,
  rollbackPatch,
  sameTemplate,
  type RestoreRecord,
} from '../../src/deploy/patch.js';
import type { ChosenContainer } from '../../src/desired/targets.js';

const app = { kind: 'containers' as const, index: 0, name: 'app', image: 'ghcr.io/acme/web:1' };
const migrate = { kind: 'initContainers' as const, index: 1, name: 'migrate', image: 'ghcr.io/acme/web:1' };
const ref = 'ghcr.io/acme/web:abc1234@sha256:ffff';

describe('deployPatch', () => {
  it('replaces only the chosen images, each guarded by a test of its name, with the resourceVersion precondition', () => {
    expect(deployPatch('42', { 'deployment.kubernetes.io/revision': '3' }, [app, migrate], ref, 'why')).toEqual([
      { op: 'replace', path: '/metadata/resourceVersion', value: '42' },
      { op: 'test', path: '/spec/template/spec/containers/0/name', value: 'app' },
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: ref },
      { op: 'test', path: '/spec/template/spec/initContainers/1/name', value: 'migrate' },
      { op: 'replace', path: '/spec/template/spec/initContainers/1/image', value: ref },
      { op: 'add', path: '/metadata/annotations/kubernetes.io~1change-cause', value: 'why' },
    ]);
  });

  it('creates the annotations map when the Deployment has none', () => {
    expect(deployPatch('1', undefined, [app], ref, 'why').at(-1)).toEqual({
      op: 'add',
      path: '/metadata/annotations',
      value: { 'kubernetes.io/change-cause': 'why' },
    });
  });
});

describe('patchToDigest', () => {
  const to = { digest: 'sha256:ffff', reference: ref, changeCause: 'why' };
  const live = { metadata: { resourceVersion: '42', annotations: {} } };
  const onDigest = (c: ChosenContainer) => ({ ...c, image: `ghcr.io/acme/web:old@${to.digest}` });

  it('asks nothing when every chosen container already runs the digest, whatever its tag', () => {
    expect(patchToDigest(live, [onDigest(app), onDigest(migrate)], to)).toBeUndefined();
  });

  it('patches every chosen container when one does not, with the resourceVersion read', () => {
    const containers = [onDigest(app), migrate];
    expect(patchToDigest(live, containers, to)).toEqual(deployPatch('42', {}, containers, ref, 'why'));
  });
});

describe('rollbackPatch', () => {
  const template = {
    metadata: { labels: { app: 'web' } },
    spec: { containers: [{ name: 'app', image: 'ghcr.io/acme/web:1' }] },
  };
  it('puts back the whole recorded template and its change-cause', () => {
    expect(rollbackPatch('50', { 'kubernetes.io/change-cause': 'new' }, template, 'old')).toEqual([
      { op: 'replace', path: '/metadata/resourceVersion', value: '50' },
      { op: 'replace', path: '/spec/template', value: template },
      { op: 'add', path: '/metadata/annotations/kubernetes.io~1change-cause', value: 'old' },
    ]);
  });
  it('removes a change-cause the Deployment did not have before', () => {
    expect(rollbackPatch('50', { 'kubernetes.io/change-cause': 'new' }, template, undefined).at(-1)).toEqual({
      op: 'remove',
      path: '/metadata/annotations/kubernetes.io~1change-cause',
    });
    expect(rollbackPatch('50', {}, template, undefined)).toHaveLength(2);
  });
});

describe('planRestore', () => {
  const recorded = {
    metadata: { labels: { app: 'web' } },
    spec: { containers: [{ name: 'app', image: 'ghcr.io/acme/web:1' }] },
  };
  const applied = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: ref }] } };
  const record: RestoreRecord = {
    uid: 'u1',
    containers: [app],
    template: recorded,
    changeCause: 'old',
    revision: '3',
    applied: { template: applied, reference: ref, changeCause: 'ours' },
  };
  const live = (template: unknown, over: { uid?: string; cause?: string } = {}) => ({
    metadata: {
      uid: over.uid ?? 'u1',
      resourceVersion: '9',
      annotations: { 'kubernetes.io/change-cause': over.cause ?? 'ours' },
    },
    spec: { template: template as typeof applied },
  });
  const withEnv = { ...applied, spec: { containers: [{ name: 'app', image: ref, env: [{ name: 'A', value: '1' }] }] } };

  it('unchanged since our patch: the whole recorded template and change-cause go back', () => {
    expect(planRestore(record, live(applied))).toEqual({
      kind: 'patch',
      only: 'template',
      ops: [
        { op: 'replace', path: '/metadata/resourceVersion', value: '9' },
        { op: 'replace', path: '/spec/template', value: recorded },
        { op: 'add', path: '/metadata/annotations/kubernetes.io~1change-cause', value: 'old' },
      ],
      note: 'restored the recorded template (revision 3)',
    });
  });

  it('changed by someone else: only our images are reverted, guarded by tests, and their change is kept', () => {
    expect(planRestore(record, live(withEnv))).toEqual({
      kind: 'patch',
      only: 'images',
      ops: [
        { op: 'replace', path: '/metadata/resourceVersion', value: '9' },
        { op: 'test', path: '/spec/template/spec/containers/0/name', value: 'app' },
        { op: 'test', path: '/spec/template/spec/containers/0/image', value: ref },
        { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'ghcr.io/acme/web:1' },
        { op: 'add', path: '/metadata/annotations/kubernetes.io~1change-cause', value: 'old' },
      ],
      note: 'someone else changed its pod template during the deploy: reverted only our images and kept their change',
    });
  });

  it('unchanged template, but a change-cause someone else wrote since: the template goes back, their cause stays', () => {
    expect(planRestore(record, live(applied, { cause: 'kubectl annotate: hotfix' }))).toEqual({
      kind: 'patch',
      only: 'template',
      ops: [
        { op: 'replace', path: '/metadata/resourceVersion', value: '9' },
        { op: 'replace', path: '/spec/template', value: recorded },
        { op: 'add', path: '/metadata/annotations/kubernetes.io~1change-cause', value: 'kubectl annotate: hotfix' },
      ],
      note: 'restored the recorded template (revision 3)',
    });
  });

  it('keeps a change-cause someone else wrote since', () => {
    const plan = planRestore(record, live(withEnv, { cause: 'kubectl set env' }));
    expect(plan.kind === 'patch' && plan.ops.some((op) => op.path.includes('change-cause'))).toBe(false);
  });

  it.each([
    ['the Deployment was re-created', live(applied, { uid: 'u2' }), /deleted and created again/],
    [
      'our container was changed again',
      live({ ...applied, spec: { containers: [{ name: 'app', image: 'ghcr.io/acme/web:3' }] } }),
      /changed again by someone else/,
    ],
  ])('%s: nothing is touched', (_name, deployment, note) => {
    const plan = planRestore(record, deployment);
    expect(plan.kind).toBe('leave');
    expect(plan.note).toMatch(note);
  });

  it('already on the recorded template: nothing to do', () => {
    expect(planRestore(record, live(recorded)).kind).toBe('nothing');
  });
});

describe('helpers', () => {
  it('changeCause names the reference, commit, actor and run', () => {
    expect(changeCause(ref, '0123456789abcdef', 'octocat', 'https://github.com/acme/web/actions/runs/1')).toBe(
      'kube-ship deployed ghcr.io/acme/web:abc1234@sha256:ffff commit 0123456789ab by octocat https://github.com/acme/web/actions/runs/1',
    );
  });
  it('sameTemplate ignores key order, undefined and null, and compares dates as the server prints them', () => {
    expect(sameTemplate({ a: 1, b: { c: undefined, d: [1, 2] } }, { b: { d: [1, 2], e: null }, a: 1 })).toBe(true);
    expect(sameTemplate({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(canonicalJson({ t: new Date('2026-01-01T00:00:00Z') })).toBe(
      canonicalJson({ t: '2026-01-01T00:00:00.000Z' }),
    );
  });
});
