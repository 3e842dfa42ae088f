/**
 * The chart engine on a fake Helm (this file's: it "releases" by changing the fake cluster's Deployment, as helm
 * would) and the fake Kubernetes: the rollback goes to the revision recorded before the deploy, a failed first
 * install keeps its evidence before it is uninstalled, and a release left pending is refused untouched.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { releaseChart, type ChartRequest } from '../../src/deploy/chart-release.js';
import type { Helm, ReleaseRevision } from '../../src/helm/helm.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';
import { onFakeTime } from '../fakes/fake-time.js';

const digest = 'sha256:' + 'b'.repeat(64);

const manifest = (image: string) =>
  [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: web',
    'spec:',
    '  selector:',
    '    matchLabels: {app: web}',
    '  template:',
    '    spec:',
    `      containers: [{name: app, image: "${image}"}]`,
  ].join('\n');

/** A Helm that keeps revisions of one release, each the image it gave `ns/web`; every call is written to `calls`. */
class FakeHelm implements Helm {
  calls: string[] = [];
  revisions: (ReleaseRevision & { image: string })[] = [];
  constructor(private readonly kube: FakeKube) {}
  private setImage(image: string | undefined): void {
    if (image === undefined) {
      this.kube.deployments.delete('ns/web');
      return;
    }
    if (!this.kube.deployment('web')) this.kube.addDeployment('web', image);
    else this.kube.edit('ns', 'web', (d) => (d.spec!.template.spec!.containers[0]!.image = image));
  }
  private add(status: string, image: string): void {
    for (const r of this.revisions) if (r.status === 'deployed') r.status = 'superseded';
    this.revisions.push({ revision: this.revisions.length + 1, status, image });
    this.setImage(image);
  }
  async version() {
    return 'v4.3.2';
  }
  async latest() {
    this.calls.push('latest');
    const last = this.revisions.at(-1);
    return last && { revision: last.revision, status: last.status };
  }
  async upgrade(_spec: unknown, _ns: string, image: { image: string; reference: string }) {
    this.calls.push('upgrade');
    this.add('deployed', image.reference);
    const uses = [{ key: 'Deployment web', source: 'the chart', containers: ['app'], written: {} }];
    return { ok: true, message: '', stdout: '', rendered: { uses, hooks: [] } };
  }
  async manifest(_ref: unknown, revision?: number) {
    this.calls.push(revision === undefined ? 'manifest' : `manifest ${revision}`);
    const wanted = revision === undefined ? this.revisions.at(-1) : this.revisions[revision - 1];
    return manifest(wanted?.image ?? '');
  }
  async rollback(_ref: unknown, revision: number) {
    this.calls.push(`rollback ${revision}`);
    this.add('deployed', this.revisions[revision - 1]?.image ?? '');
    return { ok: true, message: '', stdout: '' };
  }
  async uninstall() {
    this.calls.push(`uninstall (logs read before: ${this.kube.logRequests.length})`);
    this.revisions = [];
    this.setImage(undefined);
    return { ok: true, message: '', stdout: '' };
  }
}

function request(reference: string, over: Partial<ChartRequest> = {}): ChartRequest {
  return {
    spec: { chart: '/w/chart', remote: false, values: [], set: [], release: 'web', version: '' },
    namespace: 'ns',
    image: 'reg/web',
    reference,
    timeoutMs: 5000,
    rollback: true,
    rollbackTimeoutMs: 5000,
    failFast: true,
    allowedRestarts: 0,
    bakeMs: 0,
    signal: new AbortController().signal,
    ...over,
  };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('releaseChart', () => {
  it('releases by digest and watches the release until rolled out', async () => {
    const kube = new FakeKube();
    const helm = new FakeHelm(kube);
    const recorded: number[] = [];
    const result = await onFakeTime(
      releaseChart(
        kube,
        helm,
        request(`reg/web:v1@${digest}`, { onRecorded: (r) => recorded.push(r.revision) }),
        recordingLog(),
      ),
    );
    expect(result).toMatchObject({ result: 'success', failureReason: '' });
    expect(result.targets[0]).toMatchObject({ key: 'ns/web', outcome: 'success', containers: ['app'] });
    expect(recorded[0]).toBe(0);
    expect(helm.calls).toEqual(['latest', 'upgrade', 'manifest']);
  });

  it("tells the release's Secret values once helm made the revision, before the release is watched", async () => {
    const kube = new FakeKube();
    class WithSecret extends FakeHelm {
      override async manifest(ref: unknown, revision?: number) {
        const secret = 'apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: hunter2-in-chart}';
        return `${await super.manifest(ref, revision)}\n---\n${secret}`;
      }
    }
    const helm = new WithSecret(kube);
    const told: { values: string[]; calls: string[] }[] = [];
    const onSecrets = (values: string[]) => told.push({ values, calls: [...helm.calls] });
    await onFakeTime(releaseChart(kube, helm, request(`reg/web:v1@${digest}`, { onSecrets }), recordingLog()));
    expect(told).toEqual([{ values: ['hunter2-in-chart'], calls: ['latest', 'upgrade', 'manifest'] }]);
    expect(helm.calls).toEqual(['latest', 'upgrade', 'manifest', 'manifest']);
  });

  it('rolls a crash loop back to the revision recorded before the deploy, and watches it healthy', async () => {
    const kube = new FakeKube();
    const helm = new FakeHelm(kube);
    for (const v of ['v1', 'v2', 'v3'])
      await onFakeTime(releaseChart(kube, helm, request(`reg/web:${v}@${digest}`), recordingLog()));
    // Revision 2 failed by hand since: the newest, not "the previous deployed one", is what this deploy found.
    helm.revisions[1]!.status = 'failed';
    const log = recordingLog();
    const result = await onFakeTime(releaseChart(kube, helm, request(`reg/web:crash@${digest}`), log));
    expect(result).toMatchObject({ result: 'rolled-back', rollbackError: undefined });
    expect(result.failureReason).toMatch(/CrashLoopBackOff/);
    expect(result.evidence[0]).toMatchObject({ target: 'ns/web', reason: 'CrashLoopBackOff' });
    expect(helm.calls.slice(-6)).toEqual(['manifest 3', 'upgrade', 'manifest', 'latest', 'rollback 3', 'manifest']);
    expect(kube.deployment('web')?.spec?.template.spec?.containers[0]?.image).toBe(`reg/web:v3@${digest}`);
    expect(log.lines).toContain('Rolling back web to revision 3, the one before this deploy');
  });

  it('keeps the evidence of a failed first install, then uninstalls it', async () => {
    const kube = new FakeKube();
    const helm = new FakeHelm(kube);
    const result = await onFakeTime(releaseChart(kube, helm, request(`reg/web:crash@${digest}`), recordingLog()));
    expect(result.result).toBe('rolled-back');
    expect(result.evidence[0]?.logs).toContain('panic: cannot connect to database');
    // The crashed pod's log was read before the uninstall took the pod away.
    expect(helm.calls.at(-1)).toMatch(/^uninstall \(logs read before: [1-9]/);
    expect(kube.deployment('web')).toBeUndefined();
  });

  it('with rollback: false, leaves the failed release as helm left it', async () => {
    const kube = new FakeKube();
    const helm = new FakeHelm(kube);
    await onFakeTime(releaseChart(kube, helm, request(`reg/web:v1@${digest}`), recordingLog()));
    const result = await onFakeTime(
      releaseChart(kube, helm, request(`reg/web:crash@${digest}`, { rollback: false }), recordingLog()),
    );
    expect(result.result).toBe('failed');
    expect(helm.calls.some((c) => c.startsWith('rollback'))).toBe(false);
  });

  it('refuses a release left pending-upgrade, changing nothing', async () => {
    const kube = new FakeKube();
    const helm = new FakeHelm(kube);
    await onFakeTime(releaseChart(kube, helm, request(`reg/web:v1@${digest}`), recordingLog()));
    helm.revisions.push({ revision: 2, status: 'pending-upgrade', image: 'reg/web:v9' });
    helm.calls = [];
    const result = await onFakeTime(releaseChart(kube, helm, request(`reg/web:v2@${digest}`), recordingLog()));
    expect(result.result).toBe('failed');
    expect(result.failureReason).toContain('release web is pending-upgrade');
    expect(helm.calls).toEqual(['latest']);
  });
});
