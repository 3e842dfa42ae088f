import { describe, expect, it } from 'vitest';
import { bakeFloorMs, parseVerify, type CheckSpec } from '../../src/desired/verify.js';
import {
  expandQuery,
  judgeHttp,
  judgePrometheus,
  overall,
  record,
  startTrack,
  type CheckTrack,
} from '../../src/deploy/verify-state.js';

const ISSUE_EXAMPLE = `
- http: {port: 8080, path: /healthz}
- http: {service: web, port: 80, path: /, status: 200, body: 'ok'}
- http: {url: 'https://staging.acme.dev/healthz'}
- prometheus: {url: 'http://prometheus:9090', query: 'sum(rate(http_requests_total{code=~"5..",pod=~"$pods"}[1m]))', max: 0}
- job: deploy/smoke-test.yaml
`;

describe('parseVerify', () => {
  it('reads every kind of the README example, with the defaults', () => {
    const checks = parseVerify(ISSUE_EXAMPLE);
    expect(checks.map((c) => c.label)).toEqual(['http #1', 'http #2', 'http #3', 'prometheus #4', 'job #5']);
    expect(checks[0]).toMatchObject({
      target: { via: 'pods', port: 8080 },
      path: '/healthz',
      status: [],
      graceMs: 20_000,
    });
    expect(checks[1]).toMatchObject({ target: { via: 'service', name: 'web', port: 80 }, status: [200] });
    expect(checks[2]).toMatchObject({ target: { via: 'url', url: 'https://staging.acme.dev/healthz' } });
    expect(checks[3]).toMatchObject({ source: { via: 'url' }, max: 0, minSamples: 1, onNoData: 'fail' });
    expect(checks[4]).toMatchObject({ kind: 'job', file: 'deploy/smoke-test.yaml', timeoutMs: 300_000 });
    expect(parseVerify('')).toEqual([]);
  });

  it('takes a Service in another namespace, for http and prometheus', () => {
    const [http, prom] = parseVerify(
      "- http: {service: shop/web, port: 80}\n- prometheus: {service: 'monitoring/prometheus:9090', query: up, min: 1}",
    );
    expect(http).toMatchObject({ target: { via: 'service', namespace: 'shop', name: 'web', port: 80 } });
    expect(prom).toMatchObject({ source: { via: 'service', namespace: 'monitoring', name: 'prometheus', port: 9090 } });
  });

  it.each([
    ['http: {port: 8080}', 'not a list'],
    ['- ftp: {port: 21}', 'exactly one of http, prometheus, job'],
    ['- http: {path: /}', 'needs port'],
    ['- http: {port: 8080, path: healthz}', 'must start with /'],
    ['- http: {port: 8080, colour: red}', 'unknown option(s) colour'],
    ['- http: {url: "ftp://x"}', 'must be http:// or https://'],
    ['- http: {url: "https://u:p@x"}', 'must not carry credentials'],
    ['- http: {port: 8080, body: "("}', 'not a regular expression'],
    ['- http: {port: 8080, grace: soon}', 'not a duration'],
    ['- prometheus: {query: up, max: 0}', 'needs url or service'],
    ['- prometheus: {url: "http://p:9090", query: up}', 'needs max or min'],
    ['- prometheus: {url: "http://p:9090", query: up, max: 0, on-no-data: maybe}', 'not one of fail, pass'],
    ['- prometheus: {service: "prometheus", query: up, max: 0}', 'NAME:PORT'],
    ['- job: ""', 'must name a Job manifest file'],
    ['- [', 'not valid YAML'],
  ])('refuses %j, naming the fix', (raw, message) => {
    expect(() => parseVerify(raw)).toThrow(message);
  });

  it('the bake floor is the longest grace plus one interval, Job checks aside', () => {
    const checks = parseVerify('- http: {port: 1, grace: 30s, interval: 2s}\n- http: {port: 1}\n- job: j.yaml');
    expect(bakeFloorMs(checks)).toBe(32_000);
  });
});

const [http] = parseVerify('- http: {port: 8080, grace: 20s}');
const [job] = parseVerify('- job: j.yaml');

function runAll(track: CheckTrack, runs: [number, 'pass' | 'fail' | 'error'][]) {
  const lines: string[] = [];
  for (const [at, outcome] of runs) {
    const step = record(track, { outcome, detail: outcome === 'pass' ? '200' : '503 ""' }, at);
    track = step.track;
    if (step.line) lines.push(step.line);
  }
  return { track, lines };
}

describe('record: a failure is a verdict only when it lasts its grace', () => {
  it('a 15 s blip of 503 within a 20 s grace ends passing', () => {
    const { track, lines } = runAll(startTrack(http as CheckSpec), [
      [0, 'fail'],
      [5000, 'fail'],
      [10_000, 'fail'],
      [15_000, 'pass'],
      [20_000, 'pass'],
    ]);
    expect(track.state).toBe('passing');
    expect(track.failures).toBe(3);
    expect(lines[0]).toContain('0s of its 20s grace');
    expect(lines.at(-1)).toBe('http #1: passing (200)');
  });

  it('a failure that lasts the grace fails the check, and nothing after changes it', () => {
    const { track, lines } = runAll(startTrack(http as CheckSpec), [
      [0, 'pass'],
      [5000, 'error'],
      [15_000, 'fail'],
      [25_000, 'fail'],
      [30_000, 'pass'],
    ]);
    expect(track.state).toBe('failed');
    expect(lines.at(-1)).toContain('failed (failing: 503 "", for 20s with a grace of 20s)');
  });

  it('a pass resets the grace', () => {
    const { track } = runAll(startTrack(http as CheckSpec), [
      [0, 'fail'],
      [15_000, 'pass'],
      [20_000, 'fail'],
      [35_000, 'fail'],
    ]);
    expect(track.state).toBe('failing');
  });

  it("a Job's failure is final at once", () => {
    expect(runAll(startTrack(job as CheckSpec), [[0, 'fail']]).track.state).toBe('failed');
  });

  it('overall: failed if one failed, passing only when all pass', () => {
    const passing = { ...startTrack(http as CheckSpec), state: 'passing' as const };
    const pending = startTrack(job as CheckSpec);
    expect(overall([passing, passing])).toBe('passing');
    expect(overall([passing, pending])).toBe('pending');
    expect(overall([{ ...pending, state: 'failed' }, passing])).toBe('failed');
  });
});

describe('judgeHttp', () => {
  const spec = parseVerify("- http: {port: 8080, body: '^ok'}")[0] as Extract<CheckSpec, { kind: 'http' }>;
  const exact = parseVerify('- http: {port: 8080, status: [204, 418]}')[0] as Extract<CheckSpec, { kind: 'http' }>;
  it.each([
    [spec, { status: 200, body: 'ok web-1' }, 'pass'],
    [spec, { status: 302, body: 'ok' }, 'pass'],
    [spec, { status: 200, body: 'not ok' }, 'fail'],
    [spec, { status: 500, body: 'ok' }, 'fail'],
    [spec, { status: 403, body: '{"kind":"Status"}', fromServer: true }, 'error'],
    [exact, { status: 418, body: '' }, 'pass'],
    [exact, { status: 200, body: '' }, 'fail'],
  ])('%#: %j', (s, reply, outcome) => {
    expect(judgeHttp(s, reply).outcome).toBe(outcome);
  });

  it('shows the status and the first bytes of the body, clipped', () => {
    const run = judgeHttp(spec, { status: 500, body: `boom ${'x'.repeat(500)}` });
    expect(run.detail).toMatch(/^500 "boom x+/);
    expect(run.detail.length).toBeLessThan(220);
  });
});

describe('judgePrometheus', () => {
  const max = parseVerify("- prometheus: {url: 'http://p:9090', query: q, max: 0.5}")[0] as Extract<
    CheckSpec,
    { kind: 'prometheus' }
  >;
  const vector = (...values: string[]) => ({
    status: 'success',
    data: { resultType: 'vector', result: values.map((v) => ({ metric: {}, value: [1, v] })) },
  });
  it.each([
    [vector('0'), 'pass'],
    [vector('0.2', '0.4'), 'pass'],
    [vector('0.2', '0.9'), 'fail'],
    [vector(), 'inconclusive'],
    [vector('NaN'), 'inconclusive'],
    [{ status: 'success', data: { resultType: 'scalar', result: [1, '3'] } }, 'fail'],
    [{ status: 'error', error: 'parse error at char 3' }, 'error'],
    [{ status: 'success', data: { resultType: 'matrix', result: [] } }, 'error'],
    ['<html>', 'error'],
  ])('%#: %j', (answer, outcome) => {
    expect(judgePrometheus(max, answer).outcome).toBe(outcome);
  });

  it('min, min-samples and on-no-data', () => {
    const spec = { ...max, max: undefined, min: 1, minSamples: 2 };
    expect(judgePrometheus(spec, vector('3', '4')).outcome).toBe('pass');
    expect(judgePrometheus(spec, vector('3', '0')).detail).toContain('below min 1');
    expect(judgePrometheus(spec, vector('3')).detail).toContain('1 of 2 samples');
    expect(judgePrometheus({ ...spec, onNoData: 'pass' }, vector()).outcome).toBe('pass');
  });
});

describe('expandQuery', () => {
  it('puts in the pod names as a regex and the namespace', () => {
    expect(expandQuery('x{pod=~"$pods",namespace="$namespace"}', ['web-1', 'web.2'], 'shop')).toBe(
      'x{pod=~"web-1|web\\\\.2",namespace="shop"}',
    );
  });
  it('drops names Kubernetes would not allow, so the query keeps its syntax', () => {
    expect(expandQuery('x{pod=~"$pods"}', ['a"}or vector(1)#'], 'ns')).toBe('x{pod=~"^$"}');
  });
});
