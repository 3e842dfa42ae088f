import { describe, expect, it } from 'vitest';
import type { Evidence } from '../../src/deploy/evidence.js';
import { COMMENT_LIMIT, escapePre, escapeText, renderReport, SUMMARY_LIMIT } from '../../src/report/markdown.js';
import { outputsOf, type Report } from '../../src/report/report.js';
import {
  CRASHLOOP_EVIDENCE,
  errorReport,
  noOpReport,
  previewReport,
  rolledBackReport,
  successReport,
} from '../fixtures/reports.js';

const SUMMARY = { limit: SUMMARY_LIMIT, logLines: 50 };
const COMMENT = { limit: COMMENT_LIMIT, logLines: 20, marker: '<!-- kube-ship:comment environment=staging -->' };

describe('renderReport', () => {
  it.each<[string, () => Report, string[], string[]]>([
    [
      'success',
      successReport,
      [
        '### ✅ Deployed to staging',
        '<code>ghcr.io/acme/web:3f9c2ab@4f6e1b2c9d8a</code> · commit <code>3f9c2ab</code> · 97.6s',
        '<a href="https://staging.acme.example">https://staging.acme.example</a>',
        '<a href="https://github.com/acme/web/actions/runs/9876543210/attempts/1">workflow run</a>',
        '| Target | Image before → after | Revision | Replicas | Result | Time |',
        '| <code>web/frontend</code><br>app | <code>1e2d3c4@9a8b7c6d5e4f</code> → <code>3f9c2ab@4f6e1b2c9d8a</code> | 11 → 12 | 3 | ✅&nbsp;rolled&nbsp;out | 38.4s |',
        '| <code>web/worker</code><br>worker, migrate |',
        '<details><summary>Build: buildx, 41.3s build, 6.2s push, 9/12 steps cached</summary>',
        '| <code>ghcr.io/acme/web</code> | <code>3f9c2ab</code> <code>pr-7</code> | <code>sha256:4f6e1b2c9d8a7f3e5b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a</code> |',
      ],
      ['**Why:**', 'Restored', '<pre>'],
    ],
    [
      'rolled back, with evidence',
      rolledBackReport,
      [
        '### ↩️ Deploy to staging failed and was rolled back',
        '> **Why:** web/frontend: CrashLoopBackOff: pod frontend-7d9f8c6b5-x2k4q container app: CrashLoopBackOff: back-off 40s',
        '| 11 → 13 | 3 | ↩️&nbsp;restored | 21.7s |',
        '**Restored:** <code>web/frontend</code> to revision 11 (now 13), <code>web/worker</code> to revision 7 (now 9)',
        '<details><summary><b>web/frontend</b>: CrashLoopBackOff in pod <code>frontend-7d9f8c6b5-x2k4q</code>, container <code>app</code></summary>',
        '**Last exit:** code 1 (Error); restarts: 4',
        '| Warning | Count | Message |',
        '| BackOff | 6 | Back-off restarting failed container app in pod frontend-7d9f8c6b5-x2k4q&#95;web(0b6c1e4a-3f1d-4c2b-9e8a-7f6d5c4b3a21) |',
        '| Unhealthy | 3 | Readiness probe failed: Get &quot;http://10.244.0.17:8080/healthz&quot;: dial tcp 10.244.0.17:8080: connect: connection refused |',
        '**Last 8 log lines**, previous run (before the last restart):',
        '<pre>2026-07-02T09:14:03.118Z INFO  starting web 3f9c2ab (node v24.21.0, pid 1)\n',
        '2026-07-02T09:14:03.253Z FATAL exiting with code 1</pre>',
      ],
      ['✅'],
    ],
    [
      'no-op',
      noOpReport,
      [
        '### ➖ Nothing to deploy: staging already runs this image',
        '| <code>web/frontend</code><br>app | <code>3f9c2ab@4f6e1b2c9d8a</code> (unchanged) | 11 | 3 | ➖&nbsp;unchanged | 0s |',
        '12/12 steps cached',
      ],
      ['**Why:**', ' → <code>', '<pre>'],
    ],
    [
      'error before any change',
      errorReport,
      [
        '### ❌ Deploy to staging failed before changing anything',
        '<code>ghcr.io/acme/web</code> · commit <code>3f9c2ab</code> · 1.4s',
        "> **Why:** Preflight failed:<br>- web/frontend: deployments.apps &quot;frontend&quot; not found in namespace web<br>- the kubeconfig's identity may not patch deployments.apps in namespace web",
      ],
      ['| Target', '<details>'],
    ],
  ])('%s', (_name, make, present, absent) => {
    const markdown = renderReport(make(), SUMMARY);
    for (const text of present) expect(markdown).toContain(text);
    for (const text of absent) expect(markdown).not.toContain(text);
  });

  it('puts the marker first in the comment and shows fewer log lines there', () => {
    const long = { ...CRASHLOOP_EVIDENCE, logs: Array.from({ length: 50 }, (_, i) => `line ${i + 1}`) };
    const report = { ...rolledBackReport(), evidence: [long] };
    const comment = renderReport(report, COMMENT);
    expect(comment.startsWith(`${COMMENT.marker}\n### `)).toBe(true);
    expect(comment).toContain(
      '**Last 20 log lines**, previous run (before the last restart), 30 earlier lines cut to fit:',
    );
    expect(comment).toContain('<pre>line 31\n');
    expect(renderReport(report, SUMMARY)).toContain('**Last 50 log lines**, previous run (before the last restart):');
  });

  it('names the environment only when it is not "default"', () => {
    expect(renderReport({ ...successReport(), environment: 'default' }, SUMMARY)).toContain('### ✅ Deployed\n');
    expect(renderReport({ ...noOpReport(), environment: 'default' }, SUMMARY)).toContain(
      '### ➖ Nothing to deploy: already running this image\n',
    );
  });

  it('says when the rollback did not finish', () => {
    const report: Report = {
      ...rolledBackReport(),
      result: 'failed',
      rollbackError: 'web/frontend: ProgressDeadlineExceeded: @ops',
    };
    const markdown = renderReport(report, SUMMARY);
    expect(markdown).toContain('### ❌ Deploy to staging failed and the rollback did not finish');
    expect(markdown).toContain('> **Rollback problem:** web/frontend: ProgressDeadlineExceeded: @&#8203;ops');
  });
});

describe('escaping hostile cluster text', () => {
  it('keeps a hostile manifest file name in its one table cell, in the summary and in the reason', () => {
    const file = 'k8s/web\n::error::x\n::stop-commands::abc\n| <b>x</b> |.yaml';
    const report = previewReport();
    report.plan!.objects[0]!.source = `${file} document 1`;
    report.failureReason = `${file} is not valid YAML`;
    const markdown = renderReport(report, SUMMARY);
    const row = markdown
      .split('\n')
      .find((l) => l.startsWith('| <code>ConfigMap') && l.includes('::stop-commands::abc'));
    expect(row).toMatch(
      /^\| <code>ConfigMap web\/frontend-config<\/code> \| <code>k8s\/web ::error::x ::stop-commands::abc &#124; &lt;b&gt;x&lt;\/b&gt; &#124;\.yaml document 1<\/code> \|/,
    );
    expect(markdown).toContain(
      '> **Why:** k8s/web<br>::error::x<br>::stop-commands::abc<br>&#124; &lt;b&gt;x&lt;/b&gt; &#124;.yaml is not valid YAML',
    );
    expect(markdown.split('\n').filter((l) => /^\s*::/.test(l))).toEqual([]);
  });

  it.each([
    ['HTML', '<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['a closing details tag', '</details></summary>', '&lt;/details&gt;&lt;/summary&gt;'],
    ['a team mention', 'ping @acme/oncall now', 'ping @&#8203;acme/oncall now'],
    ['an issue reference', 'see #123', 'see #&#8203;123'],
    ['table pipes', 'a | b || c', 'a &#124; b &#124;&#124; c'],
    ['a markdown link', '[click me](https://evil.example)', '&#91;click me&#93;(https://evil.example)'],
    ['an image', '![x](https://evil.example/x.png)', '&#33;&#91;x&#93;(https://evil.example/x.png)'],
    [
      'emphasis and code',
      '**bold** _it_ `code` ~~gone~~',
      '&#42;&#42;bold&#42;&#42; &#95;it&#95; &#96;code&#96; &#126;&#126;gone&#126;&#126;',
    ],
    ['an entity already escaped', '&lt;b&gt; &#64;', '&amp;lt;b&amp;gt; &amp;#&#8203;64;'],
    ['newlines', 'one\ntwo\r\n  three', 'one two three'],
    ['terminal colours', '\u001b[31mred\u001b[0m\u0007', 'red'],
    ['bidi overrides and C1 controls', 'user\u202egnp.exe \u2066x\u2069 \u009b1m', 'usergnp.exe x 1m'],
  ])('escapeText: %s', (_name, input, expected) => {
    expect(escapeText(input)).toBe(expected);
  });

  it.each([
    ['HTML', '<img src=x onerror=alert(1)> & </pre>', '&lt;img src=x onerror=alert(1)&gt; &amp; &lt;/pre&gt;'],
    ['markdown is left alone inside <pre>', '**not bold** | [x](y) @org', '**not bold** | [x](y) @org'],
    ['terminal colours', '\u001b[1;32mINFO\u001b[0m ready', 'INFO ready'],
    ['bidi overrides and C1 controls', 'run \u202eexe.txt\u0085 now', 'run exe.txt now'],
  ])('escapePre: %s', (_name, input, expected) => {
    expect(escapePre(input)).toBe(expected);
  });

  it('cuts very long lines and says so', () => {
    expect(escapePre('x'.repeat(5000))).toBe(`${'x'.repeat(400)}… (line cut)`);
    expect(escapeText('y'.repeat(5000))).toBe(`${'y'.repeat(1000)}… (cut)`);
  });

  it('keeps a hostile report inert from end to end', () => {
    const hostile: Evidence = {
      ...CRASHLOOP_EVIDENCE,
      target: 'web/<b>frontend</b>',
      reason: 'CrashLoopBackOff</summary></details><script>x()</script>',
      message: '@acme/admins [urgent](https://evil.example) | x |\n# Heading',
      events: [{ type: 'Warning', reason: 'Failed|x', message: '</td></tr></table> @everyone', count: 1 }],
      logs: ['</pre><script>steal()</script>', '@org/team see [link](https://evil.example)'],
    };
    const markdown = renderReport({ ...rolledBackReport(), evidence: [hostile] }, SUMMARY);
    expect(markdown).not.toMatch(/<script>|<\/pre><|<b>frontend|@acme|@everyone|\n# Heading/);
    // Markdown is not rendered inside <pre>; everywhere else a link must not survive.
    expect(markdown.replace(/<pre>[^]*?<\/pre>/g, '')).not.toContain('](https://evil');
    expect(markdown).toContain(
      '<pre>&lt;/pre&gt;&lt;script&gt;steal()&lt;/script&gt;\n@org/team see [link](https://evil.example)</pre>',
    );
    expect(markdown).toContain('| Failed&#124;x | 1 | &lt;/td&gt;&lt;/tr&gt;&lt;/table&gt; @&#8203;everyone |');
    expect(markdown.match(/<details>/g)?.length).toBe(markdown.match(/<\/details>/g)?.length);
  });

  it('links only http(s) URLs given by the workflow', () => {
    const markdown = renderReport({ ...successReport(), environmentUrl: 'javascript:alert(1)' }, SUMMARY);
    expect(markdown).not.toContain('href="javascript');
    expect(markdown).toContain(' · javascript:alert(1) · ');
  });

  it('escapes a quote in the environment URL, so the link cannot grow attributes', () => {
    const url = 'https://staging.example/"onmouseover="alert(1)';
    const markdown = renderReport({ ...successReport(), environmentUrl: url }, SUMMARY);
    expect(markdown).toContain('<a href="https://staging.example/&quot;onmouseover=&quot;alert(1)">');
    expect(markdown).not.toContain('"onmouseover="');
  });
});

describe('size bounds', () => {
  const bigEvidence = (i: number): Evidence => ({
    ...CRASHLOOP_EVIDENCE,
    target: `web/app-${i}`,
    events: Array.from({ length: 40 }, (_, j) => ({
      type: 'Warning',
      reason: `Reason${j}`,
      message: 'm'.repeat(3000),
      count: j,
    })),
    logs: Array.from({ length: 50 }, (_, j) => `${j} ${'z'.repeat(2000)}`),
  });

  it.each([
    ['comment', COMMENT_LIMIT, 20],
    ['summary', SUMMARY_LIMIT, 50],
  ])('a huge %s stays under its limit and says what was cut', (_name, limit, logLines) => {
    const report = { ...rolledBackReport(), evidence: Array.from({ length: 60 }, (_, i) => bigEvidence(i)) };
    const markdown = renderReport(report, { limit, logLines });
    expect(markdown.length).toBeLessThanOrEqual(limit);
    expect(markdown).toContain('web/app-0');
    expect(markdown).toMatch(/\d+ of 60 evidence sections cut to stay within GitHub's size limit/);
    expect(markdown).toContain('| … | | 25 more events not shown |');
    expect(markdown.match(/<details/g)?.length).toBe(markdown.match(/<\/details>/g)?.length);
    expect(markdown.match(/<pre>/g)?.length).toBe(markdown.match(/<\/pre>/g)?.length);
  });

  it('drops log lines before whole sections when that is enough', () => {
    const noisy = (i: number): Evidence => ({ ...bigEvidence(i), events: [] });
    const report = { ...rolledBackReport(), evidence: [noisy(0), noisy(1), noisy(2)] };
    const markdown = renderReport(report, { limit: 20_000, logLines: 20 });
    expect(markdown.length).toBeLessThanOrEqual(20_000);
    expect(markdown).toContain('web/app-2');
    expect(markdown).toContain(
      '**Last 10 log lines**, previous run (before the last restart), 40 earlier lines cut to fit:',
    );
    expect(markdown).not.toContain('evidence sections cut');
  });

  it('counts the limit in UTF-8 bytes, as GitHub does: CJK evidence stays under it', () => {
    const cjk = (i: number): Evidence => ({
      ...CRASHLOOP_EVIDENCE,
      target: `web/app-${i}`,
      logs: Array.from({ length: 50 }, () => '数据库连接失败'.repeat(50)),
    });
    const report = { ...rolledBackReport(), evidence: Array.from({ length: 30 }, (_, i) => cjk(i)) };
    const markdown = renderReport(report, { limit: COMMENT_LIMIT, logLines: 20 });
    expect(Buffer.byteLength(markdown, 'utf8')).toBeLessThanOrEqual(COMMENT_LIMIT);
    expect(markdown.length).toBeLessThan(COMMENT_LIMIT / 2);
  });

  it('cuts target rows when even the table is too long', () => {
    const base = successReport();
    const targets = Array.from({ length: 3000 }, (_, i) => ({ ...base.targets[0]!, key: `web/frontend-${i}` }));
    const markdown = renderReport({ ...base, targets }, { limit: COMMENT_LIMIT, logLines: 20 });
    expect(markdown.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    expect(markdown).toMatch(/\| … \| \| \d+ more targets not shown \|/);
    expect(markdown).toContain("Report cut to stay within GitHub's size limit");
  });
});

describe('the canary in the report', () => {
  it('shows each step (share, pods, verdict, time), what it meant, and the output lists the steps', () => {
    const report: Report = {
      ...rolledBackReport(),
      canary: [
        { share: '10%', replicas: 2, result: 'passed', seconds: 31.5, message: 'healthy; 1 of 1 checks passing' },
        { share: '50%', replicas: 10, result: 'failed', seconds: 12, message: 'web/web-canary: <b>crash</b>' },
      ],
    };
    const text = renderReport(report, SUMMARY);
    expect(text).toContain('| Step | Share | Canary pods | Result | Checks and verdict | Time |');
    expect(text).toContain('| 1 | 10% | 2 | ✅&nbsp;passed | <code>healthy; 1 of 1 checks passing</code> | 31.5s |');
    expect(text).toContain(
      '| 2 | 50% | 10 | ❌&nbsp;failed | <code>web/web-canary: &lt;b&gt;crash&lt;/b&gt;</code> | 12s |',
    );
    expect(text).toContain('The canary was stopped and deleted; the stable Deployment was not changed.');
    expect(JSON.parse(outputsOf(report, undefined).canary ?? '')).toEqual([
      { share: '10%', replicas: 2, result: 'passed', seconds: 31.5 },
      { share: '50%', replicas: 10, result: 'failed', seconds: 12 },
    ]);
  });

  it.each<[string, ('deployment' | 'statefulset')[], boolean, string[], string[]]>([
    ['a Deployment stopped', ['deployment'], false, ['stable Deployment was not changed'], ["StatefulSet's"]],
    [
      'a StatefulSet stopped',
      ['statefulset'],
      false,
      ["StatefulSet's template and partition were put back"],
      ['stable Deployment'],
    ],
    [
      'a StatefulSet promoted',
      ['statefulset'],
      true,
      ["StatefulSet's partition was then put back"],
      ['stable Deployment'],
    ],
    [
      'both promoted',
      ['deployment', 'statefulset'],
      true,
      ['stable Deployment was then patched', "StatefulSet's partition was then put back"],
      [],
    ],
  ])('says what became of the targets: %s', (_name, kinds, promoted, said, unsaid) => {
    const base = rolledBackReport();
    const report: Report = {
      ...base,
      targets: kinds.map((kind, i) => ({ ...base.targets[0]!, key: `web/t-${i}`, kind })),
      canary: [{ share: '1 pod', replicas: 1, result: promoted ? 'passed' : 'failed', seconds: 1, message: 'm' }],
    };
    const text = renderReport(report, SUMMARY);
    for (const words of said) expect(text).toContain(words);
    for (const words of unsaid) expect(text).not.toContain(words);
  });

  it('is left out without a canary', () => {
    expect(renderReport(successReport(), SUMMARY)).not.toContain('Canary');
    expect(outputsOf(successReport(), undefined).canary).toBe('[]');
  });
});
