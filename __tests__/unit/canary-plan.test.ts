/**
 * The canary's plan in a preview: each target's steps from its live replicas (a Deployment's `NAME-canary` next to
 * its stable pods, a StatefulSet's highest ordinals by the partition), in the plan, the log and the report.
 */
import type { V1StatefulSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { CanaryStep } from '../../src/desired/canary.js';
import { canaryPlan } from '../../src/preview/canary-plan.js';
import { planDeploy, type Plan } from '../../src/preview/preview.js';
import { renderReport, SUMMARY_LIMIT } from '../../src/report/markdown.js';
import type { Report } from '../../src/report/report.js';
import { planLines } from '../../src/steps/preview.js';
import { successReport } from '../fixtures/reports.js';
import { FakeKube } from '../fakes/fake-kube.js';

const SUMMARY = { limit: SUMMARY_LIMIT, logLines: 50 };
const pods = (count: number): CanaryStep => ({ kind: 'pods', count });
const share = (percent: number): CanaryStep => ({ kind: 'percent', percent });
const deployment = (replicas: number) => ({ spec: { replicas, selector: {}, template: {} } });
const statefulSet = (replicas: number, partition?: number): V1StatefulSet => ({
  spec: {
    replicas,
    selector: {},
    serviceName: '',
    template: {},
    ...(partition === undefined ? {} : { updateStrategy: { rollingUpdate: { partition } } }),
  },
});

describe('the canary plan of a target', () => {
  it.each<[string, Parameters<typeof canaryPlan>, unknown]>([
    [
      'a Deployment: its canary next to every stable pod',
      ['deployment', deployment(10), [share(10), share(50)], false],
      [
        { share: '10%', canaryPods: 2, stablePods: 10 },
        { share: '50%', canaryPods: 10, stablePods: 10 },
      ],
    ],
    [
      'a StatefulSet: its highest ordinals, by the partition',
      ['statefulset', statefulSet(4), [share(25), share(50)], false],
      [
        { share: '25%', canaryPods: 1, stablePods: 3, partition: 3 },
        { share: '50%', canaryPods: 2, stablePods: 2, partition: 2 },
      ],
    ],
    [
      'a StatefulSet with a partition of its own: never under it',
      ['statefulset', statefulSet(4, 2), [pods(1), pods(3)], false],
      [
        { share: '1 pod', canaryPods: 1, stablePods: 3, partition: 3 },
        { share: '3 pods', canaryPods: 2, stablePods: 2, partition: 2 },
      ],
    ],
    ['already on the digest: none', ['deployment', deployment(3), [pods(1)], true], []],
    ['scaled to 0: none', ['statefulset', statefulSet(0), [pods(1)], false], []],
    ['a DaemonSet: none', ['daemonset', { spec: { selector: {}, template: {} } }, [pods(1)], false], []],
  ])('%s', (_name, args, expected) => {
    expect(canaryPlan(...args)).toEqual(expected);
  });

  it('is planned for each target of a preview with canary, and only then', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1', 3);
    const target = {
      kind: 'deployment' as const,
      namespace: 'ns',
      name: 'web',
      containers: [],
      input: 'deployments' as const,
    };
    const request = {
      targets: [target],
      image: 'reg/web',
      reference: 'reg/web:v2@sha256:b',
      digest: 'sha256:b',
      changeCause: 'c',
    };
    const planned = await planDeploy(kube, { ...request, canary: { steps: [pods(1)] } });
    expect(planned.targets[0]?.canary).toEqual([{ share: '1 pod', canaryPods: 1, stablePods: 3 }]);
    expect((await planDeploy(kube, request)).targets[0]?.canary).toBeUndefined();
  });
});

describe('the canary plan shown', () => {
  const plan: Plan = {
    targets: [
      {
        key: 'shop/statefulset/db',
        resourceVersion: '7',
        generation: 1,
        containers: [{ name: 'db', before: 'reg/db:v1', after: 'reg/db:v2@sha256:b' }],
        noop: false,
        canary: [
          { share: '25%', canaryPods: 1, stablePods: 3, partition: 3 },
          { share: '50%', canaryPods: 2, stablePods: 2, partition: 2 },
        ],
      },
      {
        key: 'shop/web',
        resourceVersion: '8',
        generation: 1,
        containers: [{ name: 'web', before: 'reg/web:v1', after: 'reg/web:v2@sha256:b' }],
        noop: false,
        canary: [{ share: '25%', canaryPods: 1, stablePods: 3 }],
      },
      { key: 'shop/api', resourceVersion: '9', generation: 1, containers: [], noop: true, canary: [] },
    ],
    objects: [],
    destructive: [],
  };

  it('in the report: each step, its canary and stable pods, and a StatefulSet its partition', () => {
    const report: Report = { ...successReport(), result: 'preview', plan, sha: 'feedface', failureReason: '' };
    const text = renderReport(report, SUMMARY);
    expect(text).toContain('| Target | Step | Share | Canary pods | Partition | Stable pods |');
    expect(text).toContain('| <code>shop/statefulset/db</code> | 1 | 25% | 1 | 3 | 3 |');
    expect(text).toContain('| <code>shop/statefulset/db</code> | 2 | 50% | 2 | 2 | 2 |');
    expect(text).toContain('| <code>shop/web</code> | 1 | 25% | 1 |  | 3 |');
    expect(text).toContain('| <code>shop/api</code> | | | no canary | | |');
    const without = { ...plan, targets: plan.targets.map(({ canary: _, ...t }) => t) };
    expect(renderReport({ ...report, plan: without }, SUMMARY)).not.toContain('Canary plan');
  });

  it('in the log, under each target', () => {
    const lines = planLines(plan);
    expect(lines).toContain('  canary 1/2 25%: 1 pod(s) of the release (partition 3: the highest ordinals), 3 stable');
    expect(lines).toContain('  canary 1/1 25%: 1 pod(s) of the release (NAME-canary), 3 stable');
    expect(lines).toContain('  no canary (already on the digest, or no pod to try the release on)');
  });
});
