import { describe, expect, it } from 'vitest';
import { toKubeError } from '../../src/cluster/api.js';
import { MAX_BACKOFF_MS, nextStep, selectorString } from '../../src/cluster/kube-watch.js';
import { KubeError } from '../../src/cluster/kube.js';

const error = (status: number, retryAfterMs?: number) => ({
  kind: 'error' as const,
  error: new KubeError(status, `HTTP ${status}`, '', retryAfterMs),
});

describe('nextStep', () => {
  it.each([
    ['a watch closed by the server', { kind: 'closed' as const }, 1, { action: 'rewatch' }],
    ['a watch quiet past the client limit', { kind: 'closed' as const, idle: true }, 1, { action: 'rewatch' }],
    ['410 Gone', { kind: 'gone' as const }, 1, { action: 'relist' }],
    ['a refused connection (API server restarting)', error(0), 1, { action: 'retry', delayMs: 250 }],
    ['503, the third time in a row', error(503), 3, { action: 'retry', delayMs: 1000 }],
    ['500, many times in a row: capped', error(500), 20, { action: 'retry', delayMs: MAX_BACKOFF_MS }],
    ['429 with Retry-After', error(429, 3000), 1, { action: 'retry', delayMs: 3000 }],
    ['429 without Retry-After', error(429), 2, { action: 'retry', delayMs: 500 }],
  ] as const)('%s -> %j', (_name, outcome, failures, step) => {
    expect(nextStep(outcome, failures)).toEqual(step);
  });

  it.each([401, 403, 404, 400, 422])('%i ends it, with the status kept', (status) => {
    const step = nextStep(error(status), 1);
    expect(step.action).toBe('fail');
    expect(step.action === 'fail' && step.error.status).toBe(status);
  });
});

describe('selectorString', () => {
  it('writes matchLabels and every matchExpressions operator as labelSelector does', () => {
    expect(
      selectorString({
        matchLabels: { app: 'web', tier: 'front' },
        matchExpressions: [
          { key: 'env', operator: 'In', values: ['prod', 'staging'] },
          { key: 'canary', operator: 'NotIn', values: ['true'] },
          { key: 'team', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('app=web,tier=front,env in (prod,staging),canary notin (true),team,!legacy');
  });
});

describe('toKubeError', () => {
  it('keeps the status of a watch refused with an HTTP status, and Retry-After of an ApiException', () => {
    const refused = Object.assign(new Error('Forbidden'), { statusCode: 403 });
    expect(toKubeError(refused, 'watch pods')).toMatchObject({ status: 403 });
    const throttled = { code: 429, body: '{"message":"slow down"}', headers: { 'retry-after': '2' } };
    expect(toKubeError(throttled, 'list pods')).toMatchObject({
      status: 429,
      message: 'list pods: slow down',
      retryAfterMs: 2000,
    });
    const dropped = new Error('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:6443') });
    expect(toKubeError(dropped, 'list pods')).toMatchObject({
      status: 0,
      message: 'list pods: fetch failed (connect ECONNREFUSED 127.0.0.1:6443)',
    });
  });

  it('keeps the field paths of a refusal, so a message that quotes a value need not be shown', () => {
    const body = {
      message: '.stringData.api-key: expected string, got &value.valueUnstructured{Value:8837465529910342}',
      reason: 'BadRequest',
      details: { causes: [{ field: '.stringData.api-key', message: 'expected string' }, { message: 'no field' }] },
    };
    expect(toKubeError({ code: 400, body: JSON.stringify(body) }, 'apply Secret shop/db')).toMatchObject({
      status: 400,
      reason: 'BadRequest',
      fields: ['.stringData.api-key'],
    });
  });
});
