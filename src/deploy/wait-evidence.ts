/**
 * The evidence of a wait that ended in a failure: the failed checks of `verify`, and for each failed workload the
 * pod its verdict names (or its first not-ready new pod), with events and logs, gathered in parallel, each bounded.
 */
import type { Kube, TargetState } from '../cluster/kube.js';
import { within } from '../lib/deadline.js';
import type { WorkloadKind } from '../cluster/workload.js';
import { collectEvidence, lastLines, LOG_LINES, type Evidence } from './evidence.js';
import type { CheckReport } from './verify.js';
import { newPods, type Verdict } from './verdict.js';
import type { WaitResult } from './wait.js';

/** Evidence is gathered for this long at most per target, in parallel with the restore. */
const EVIDENCE_LIMIT_MS = 5000;

type Failed = Extract<Verdict, { state: 'failed' }>;

/** A workload being watched: a target, or a workload of the manifests. */
export interface Watched {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  key: string;
}

/** The pod a failure is about: the one the verdict names, else the first not-ready pod of the current template. */
function failingPod(state: TargetState | undefined, target: Watched | undefined, verdict: Verdict) {
  if (state === undefined) return { pod: undefined, container: '' };
  if (verdict.state === 'failed' && verdict.pod) {
    return { pod: state.pods.get(verdict.pod), container: verdict.container ?? '' };
  }
  const workload = state.workloads.get(target?.name ?? '');
  const pods =
    (workload &&
      target &&
      newPods({
        kind: target.kind,
        workload,
        replicaSets: [...state.replicaSets.values()],
        revisions: [...state.revisions.values()],
        pods: [...state.pods.values()],
      })) ??
    [];
  const pod = pods.find((p) => !(p.status?.containerStatuses ?? []).every((c) => c.ready)) ?? pods[0];
  const container = (pod?.status?.containerStatuses ?? []).find((c) => !c.ready)?.name ?? '';
  return { pod, container };
}

/** The evidence of a check of `verify` that failed: what it saw, and a Job check's last log lines. */
function checkEvidence(check: CheckReport): Evidence {
  return {
    target: `verify ${check.label}`,
    pod: '',
    container: '',
    reason: 'VerifyFailed',
    message: `${check.what}: ${check.detail}`,
    restartCount: 0,
    events: [],
    logs: check.logs ? lastLines(check.logs, LOG_LINES) : [],
    logSource: check.logs ? "the Job's pod" : 'no log: the check saw the answer above',
  };
}

/** Step 4: evidence for every failed target, all at once, each bounded in time. */
export async function gatherEvidence(kube: Kube, wait: WaitResult, targets: Watched[]): Promise<Evidence[]> {
  const failedChecks = wait.checks.filter((c) => c.state === 'failed').map(checkEvidence);
  const failed = [...wait.verdicts].filter(
    (entry): entry is [string, Failed] =>
      entry[1].state === 'failed' && entry[1].reason !== 'Cancelled' && entry[1].reason !== 'VerifyFailed',
  );
  const fromPods = await Promise.all(
    failed.map(([key, verdict]) => {
      const state = wait.states.get(key);
      const { pod, container } = failingPod(
        state,
        targets.find((t) => t.key === key),
        verdict,
      );
      const namespace = key.slice(0, key.indexOf('/'));
      const request = {
        kube,
        target: key,
        namespace,
        pod,
        container,
        reason: verdict.reason,
        message: verdict.message,
      };
      return within(EVIDENCE_LIMIT_MS, collectEvidence(request), () => ({
        target: key,
        pod: pod?.metadata?.name ?? '',
        container,
        reason: verdict.reason,
        message: verdict.message,
        restartCount: 0,
        events: [],
        logs: [],
        logSource: `not gathered within ${EVIDENCE_LIMIT_MS / 1000}s`,
      }));
    }),
  );
  return [...failedChecks, ...fromPods];
}
