/**
 * Evidence of a failed rollout: what the failing pod's container says (waiting reason, last termination), its
 * Warning events (deduplicated), and the last log lines of the crashed run. Gathered once, at the verdict, and
 * never allowed to fail the report: a missing log is noted, not thrown.
 */
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { messageOf } from '../lib/errors.js';
import { charactersCut, clip } from '../lib/text.js';
import type { Kube } from '../cluster/kube.js';

export interface EventLine {
  type: string;
  reason: string;
  message: string;
  count: number;
}

export interface Evidence {
  target: string;
  pod: string;
  container: string;
  reason: string;
  message: string;
  restartCount: number;
  lastTermination?: { exitCode: number; reason: string; message: string };
  events: EventLine[];
  logs: string[];
  /** Which run the log lines are from, or why there are none. */
  logSource: string;
}

export const LOG_LINES = 50;

/** Warning events, oldest first, one line per distinct reason and message with the counts added up. */
export function warningEvents(events: CoreV1Event[]): EventLine[] {
  const lines = new Map<string, EventLine>();
  for (const e of events) {
    if (e.type !== 'Warning') continue;
    const reason = e.reason ?? '';
    const message = (e.message ?? '').trim();
    const key = `${reason}\u0000${message}`;
    const count = e.count ?? e.series?.count ?? 1;
    const line = lines.get(key);
    if (line) line.count += count;
    else lines.set(key, { type: 'Warning', reason, message, count });
  }
  return [...lines.values()];
}

/** Longest log line kept: a 1 MiB line is cut here, and says so. */
export const LOG_LINE_CHARS = 2000;

/** Last `max` lines of a log (trailing blank lines dropped), each cut at LOG_LINE_CHARS. */
export function lastLines(log: string, max: number): string[] {
  const lines = log.replace(/\r/g, '').split('\n');
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.slice(-max).map((l) => clip(l, LOG_LINE_CHARS, charactersCut));
}

export interface EvidenceRequest {
  kube: Kube;
  target: string;
  namespace: string;
  pod: V1Pod | undefined;
  container: string;
  reason: string;
  message: string;
}

/** Read at most this much of a log, whatever its line lengths. */
export const LOG_BYTES = 64 * 1024;

/** Collects the evidence for one failing pod and container. */
export async function collectEvidence({
  kube,
  target,
  namespace,
  pod,
  container,
  reason,
  message,
}: EvidenceRequest): Promise<Evidence> {
  const podName = pod?.metadata?.name ?? '';
  const statuses = [...(pod?.status?.initContainerStatuses ?? []), ...(pod?.status?.containerStatuses ?? [])];
  const status = statuses.find((s) => s.name === container);
  const terminated = status?.lastState?.terminated ?? status?.state?.terminated;
  const evidence: Evidence = {
    target,
    pod: podName,
    container,
    reason,
    message,
    restartCount: status?.restartCount ?? 0,
    events: [],
    logs: [],
    logSource: 'no pod',
  };
  if (terminated) {
    evidence.lastTermination = {
      exitCode: terminated.exitCode,
      reason: terminated.reason ?? '',
      message: (terminated.message ?? '').trim(),
    };
  }
  if (podName === '') return evidence;
  try {
    evidence.events = warningEvents(await kube.listEvents(namespace, podName));
  } catch (error) {
    evidence.events = [{ type: 'Warning', reason: 'EventsUnavailable', message: messageOf(error), count: 1 }];
  }
  const previous = evidence.restartCount > 0 || status?.lastState?.terminated !== undefined;
  const started = previous || status?.state?.running !== undefined;
  if (!started) {
    evidence.logSource = 'the container never started, so it has no log';
    return evidence;
  }
  try {
    const log = await kube.readLog({
      namespace,
      pod: podName,
      container,
      previous,
      tailLines: LOG_LINES,
      limitBytes: LOG_BYTES,
    });
    evidence.logs = lastLines(log, LOG_LINES);
    evidence.logSource = previous ? 'previous run (before the last restart)' : 'current run';
  } catch (error) {
    evidence.logSource = `log unavailable: ${messageOf(error)}`;
  }
  return evidence;
}
