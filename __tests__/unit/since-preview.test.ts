import { describe, expect, it } from 'vitest';
import { COMMENT_LIMIT, renderReport } from '../../src/report/markdown.js';
import type { Plan } from '../../src/preview/preview.js';
import { outputsOf, type Report } from '../../src/report/report.js';
import { changedSince, readStamp, sincePreview, stampLine, stampOf } from '../../src/preview/since-preview.js';
import { successReport } from '../fixtures/reports.js';

const MARKER = '<!-- kube-ship:comment environment=staging -->';
const plan: Plan = {
  targets: [
    { key: 'web/frontend', resourceVersion: '100', generation: 4, containers: [], noop: false },
    { key: 'web/worker', resourceVersion: '200', generation: 2, containers: [], noop: false },
  ],
  objects: [
    {
      key: 'Service web/frontend',
      source: 'k8s/s.yaml document 1',
      action: 'create',
      resourceVersion: '',
      changes: [],
    },
  ],
  destructive: [],
};

describe("a preview's stamp", () => {
  it('rides hidden in the preview comment, right after the marker, and reads back as it was', () => {
    const body = renderReport(
      { ...successReport(), result: 'preview', plan, sha: 'feedface14' },
      {
        limit: COMMENT_LIMIT,
        logLines: 20,
        marker: MARKER,
      },
    );
    expect(body.split('\n')[1]).toBe(stampLine(stampOf(plan, 'feedface14')));
    expect(readStamp(body)).toEqual({
      sha: 'feedface14',
      targets: { 'web/frontend': '100', 'web/worker': '200' },
      objects: { 'Service web/frontend': '' },
    });
  });

  it('is not in a deploy report, nor in a summary (no marker)', () => {
    expect(renderReport(successReport(), { limit: COMMENT_LIMIT, logLines: 20, marker: MARKER })).not.toContain(
      'kube-ship:preview',
    );
    const summary = renderReport({ ...successReport(), result: 'preview', plan }, { limit: 1e6, logLines: 20 });
    expect(summary).not.toContain('kube-ship:preview');
  });

  it('is refused when it is not one: bad base64, wrong shapes, text that could reach the log', () => {
    const line = (value: unknown) =>
      `<!-- kube-ship:preview ${Buffer.from(JSON.stringify(value)).toString('base64url')} -->`;
    expect(readStamp('no stamp here')).toBeUndefined();
    expect(readStamp('<!-- kube-ship:preview !!! -->')).toBeUndefined();
    expect(readStamp(line({ sha: 'abc', targets: { a: 1 }, objects: {} }))).toBeUndefined();
    expect(readStamp(line({ sha: 'abc', targets: { a: '1\n::error::x' }, objects: {} }))).toBeUndefined();
    expect(readStamp(line({ sha: '<b>', targets: {}, objects: {} }))).toBeUndefined();
    expect(readStamp(line({ sha: 'abc', targets: [], objects: {} }))).toBeUndefined();
    expect(readStamp(line({ sha: 'abc', targets: { a: '1' }, objects: {} }))).toEqual({
      sha: 'abc',
      targets: { a: '1' },
      objects: {},
    });
  });
});

describe('a deploy after a preview', () => {
  const stamp = stampOf(plan, 'feedface14');
  const since = sincePreview(
    { stamp, head: 'feedface14' },
    [
      { key: 'web/frontend', resourceVersionBefore: '100' },
      { key: 'web/worker', resourceVersionBefore: '250' },
      { key: 'web/new', resourceVersionBefore: '7' },
    ],
    [{ key: 'Service web/frontend', resourceVersionBefore: '' }],
  );

  it('tells a target the cluster changed since the preview from one it left alone and one the preview had not', () => {
    expect(since.targets.map((i) => [i.key, changedSince(i)])).toEqual([
      ['web/frontend', false],
      ['web/worker', true],
      ['web/new', false],
    ]);
    expect(since.targets[2]!.atPreview).toBeUndefined();
    // An object absent at the preview and still absent before the apply did not change.
    expect(changedSince(since.objects[0]!)).toBe(false);
    const created = sincePreview(
      { stamp, head: 'feedface14' },
      [],
      [{ key: 'Service web/frontend', resourceVersionBefore: '31' }],
    );
    expect(changedSince(created.objects[0]!)).toBe(true);
  });

  it('says so first in the report, row by row, and in the since-preview output', () => {
    const report: Report = { ...successReport(), sincePreview: since };
    const body = renderReport(report, { limit: COMMENT_LIMIT, logLines: 20, marker: MARKER });
    expect(body).toContain(
      '> **Changed in the cluster since the preview of commit <code>feedfac</code>:** <code>web/worker</code>.',
    );
    expect(body).toContain(
      '| <code>web/worker</code> | <code>200</code> | <code>250</code> | ⚠️&nbsp;changed since the preview |',
    );
    expect(body).toContain(
      '| <code>web/frontend</code> | <code>100</code> | <code>100</code> | ✅&nbsp;as previewed |',
    );
    expect(body).toContain('| <code>web/new</code> |  | <code>7</code> | ➕&nbsp;not in the preview |');
    expect(body).toContain('| <code>Service web/frontend</code> | (none) | (none) | ✅&nbsp;as previewed |');
    expect(body).toContain(
      '> **Not in the preview of commit <code>feedfac</code>:** <code>web/new</code>. No reviewed plan covers it.',
    );
    expect(JSON.parse(outputsOf(report, undefined)['since-preview']!)).toEqual({
      sha: 'feedface14',
      head: 'feedface14',
      headPreviewed: true,
      changed: ['web/worker'],
      unplanned: ['web/new'],
    });
    expect(outputsOf(successReport(), undefined)['since-preview']).toBe('');
  });

  it('says nothing changed when nothing did', () => {
    const calm = sincePreview(
      { stamp, head: 'feedface14' },
      [{ key: 'web/frontend', resourceVersionBefore: '100' }],
      [],
    );
    const body = renderReport({ ...successReport(), sincePreview: calm }, { limit: COMMENT_LIMIT, logLines: 20 });
    expect(body).toContain('**Since the preview of commit <code>feedfac</code>:** nothing it planned for was changed');
    expect(body).not.toContain('[!WARNING]');
  });

  it("plans nothing of a deploy whose merged head is another commit than the preview's", () => {
    const stale = sincePreview(
      { stamp, head: 'beefbeef99' },
      [{ key: 'web/frontend', resourceVersionBefore: '100' }],
      [],
    );
    expect(stale).toMatchObject({ headPreviewed: false, targets: [{ key: 'web/frontend', atPreview: undefined }] });
    const unknown = sincePreview(
      { stamp, head: undefined },
      [{ key: 'web/frontend', resourceVersionBefore: '100' }],
      [],
    );
    expect(unknown.headPreviewed).toBe(false);
    const body = renderReport({ ...successReport(), sincePreview: stale }, { limit: COMMENT_LIMIT, logLines: 20 });
    expect(body).toContain(
      '> **The merged head <code>beefbee</code> was never previewed:** the preview found is of commit <code>feedfac</code>.',
    );
    expect(body).not.toContain('nothing it planned for');
    expect(
      JSON.parse(outputsOf({ ...successReport(), sincePreview: stale }, undefined)['since-preview']!),
    ).toMatchObject({
      headPreviewed: false,
      changed: [],
      unplanned: ['web/frontend'],
    });
  });

  it("keeps the stamp it compared with in the deploy's comment, so that a re-run compares with it too", () => {
    const body = renderReport(
      { ...successReport(), sincePreview: since },
      { limit: COMMENT_LIMIT, logLines: 20, marker: MARKER },
    );
    expect(readStamp(body)).toEqual(stamp);
  });
});
