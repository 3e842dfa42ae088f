import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { collectEvidence, LOG_LINE_CHARS, lastLines } from '../../src/deploy/evidence.js';
import { KubeError } from '../../src/cluster/kube.js';
import { FakeKube } from '../fakes/fake-kube.js';

describe('lastLines', () => {
  it('keeps the last lines, each cut at the limit with a note, a 1 MiB line included', () => {
    const log = `first\n${'A'.repeat(1024 * 1024)}\npanic: hostile\n\n`;
    const lines = lastLines(log, 2);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(`${'A'.repeat(LOG_LINE_CHARS)}… (${1024 * 1024 - LOG_LINE_CHARS} characters cut)`);
    expect(lines[1]).toBe('panic: hostile');
  });
});

/** A cluster that refuses both the events and the log of the pod. */
class RefusingKube extends FakeKube {
  override async listEvents(): Promise<never> {
    throw new KubeError(403, 'list events in shop: events is forbidden');
  }
  override async readLog(): Promise<never> {
    throw new KubeError(403, 'read log of shop/web-1/app: pods "web-1" is forbidden');
  }
}

describe('collectEvidence', () => {
  it('says why events and log are missing by the error message alone, and does not throw', async () => {
    const pod: V1Pod = {
      metadata: { name: 'web-1' },
      status: { containerStatuses: [{ name: 'app', image: '', imageID: '', ready: false, restartCount: 2 }] },
    };
    const evidence = await collectEvidence({
      kube: new RefusingKube(),
      target: 'shop/web',
      namespace: 'shop',
      pod,
      container: 'app',
      reason: 'CrashLoopBackOff',
      message: 'back-off',
    });
    expect(evidence.events).toEqual([
      { type: 'Warning', reason: 'EventsUnavailable', message: 'list events in shop: events is forbidden', count: 1 },
    ]);
    expect(evidence.logSource).toBe('log unavailable: read log of shop/web-1/app: pods "web-1" is forbidden');
    expect(evidence.logs).toEqual([]);
  });
});
