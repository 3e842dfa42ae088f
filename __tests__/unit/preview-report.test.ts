import { describe, expect, it } from 'vitest';
import { COMMENT_LIMIT, renderReport } from '../../src/report/markdown.js';
import type { Plan } from '../../src/preview/preview.js';
import { outputsOf, type Report } from '../../src/report/report.js';
import { successReport } from '../fixtures/reports.js';

const COMMENT = { limit: COMMENT_LIMIT, logLines: 20, marker: '<!-- kube-ship:comment environment=staging -->' };

const plan: Plan = {
  targets: [
    {
      key: 'shop/web',
      resourceVersion: '4711',
      generation: 3,
      containers: [{ name: 'app', before: 'ghcr.io/acme/web:v1@sha256:aa', after: 'ghcr.io/acme/web:v2@sha256:bb' }],
      noop: false,
      refusal: 'admission webhook "policy" denied: <script>alert(1)</script> @org/team',
    },
  ],
  objects: [
    {
      key: 'ConfigMap shop/web-config',
      source: 'k8s/config.yaml document 1',
      action: 'change',
      resourceVersion: '12',
      changes: [{ field: 'data.MODE', before: 'normal', after: 'fast' }],
    },
    {
      key: 'Service shop/web',
      source: 'k8s/service.yaml document 1',
      action: 'create',
      resourceVersion: '',
      changes: [],
    },
  ],
  destructive: ['Deployment shop/web: replicas 3 → 1'],
};

const preview: Report = { ...successReport(), result: 'preview', plan, sha: 'feedface12', failureReason: '' };

describe('a preview report', () => {
  const body = renderReport(preview, COMMENT);

  it('says in one line what would change and whether the cluster would refuse it', () => {
    expect(body).toContain('### 🔍 Preview of the deploy to staging: 3 changes, 1 would fail');
  });

  it('calls out destructive changes before anything else of the plan', () => {
    expect(body.indexOf('**Destructive:** Deployment shop/web: replicas 3 → 1')).toBeGreaterThan(-1);
    expect(body.indexOf('Destructive')).toBeLessThan(body.indexOf('| Target |'));
  });

  it('ties the plan to the commit and each target to its live resourceVersion', () => {
    expect(body).toContain('Plan for commit <code>feedface12</code>');
    expect(body).toContain('<code>4711</code>');
  });

  it("shows the API server's refusal escaped, never as markup or mentions", () => {
    expect(body).not.toContain('<script>');
    expect(body).not.toMatch(/(^|[^&#\w])@org\/team/);
    expect(body).toContain('would&nbsp;fail');
  });

  it('lists created and changed objects, with the changed fields collapsed', () => {
    expect(body).toContain(
      '| <code>Service shop/web</code> | <code>k8s/service.yaml document 1</code> | 🆕&nbsp;would&nbsp;create |',
    );
    expect(body).toContain('<details><summary>ConfigMap shop/web-config: 1 field</summary>');
    expect(body).toContain('| <code>data.MODE</code> | <code>normal</code> | <code>fast</code> |');
  });

  it("shows a manifest container's image change as tag and short digest, like the targets' images", () => {
    const withImage: Report = {
      ...preview,
      image: 'ghcr.io/acme/web',
      plan: {
        ...plan,
        objects: [
          {
            key: 'Deployment shop/web',
            source: 'k8s/deployment.yaml document 1',
            action: 'change',
            resourceVersion: '9',
            changes: [
              {
                field: 'spec.template.spec.containers[web].image',
                before: `ghcr.io/acme/web:v1@sha256:${'a'.repeat(64)}`,
                after: `ghcr.io/acme/web:v2@sha256:${'b'.repeat(64)}`,
              },
            ],
          },
        ],
      },
    };
    expect(renderReport(withImage, COMMENT)).toContain(
      '| <code>spec.template.spec.containers&#91;web&#93;.image</code> | <code>v1@aaaaaaaaaaaa</code> | <code>v2@bbbbbbbbbbbb</code> |',
    );
  });

  it('gives the plan as a JSON output, with the commit', () => {
    const out = outputsOf(preview, undefined);
    expect(out.result).toBe('preview');
    expect(JSON.parse(out.plan ?? '')).toMatchObject({ sha: 'feedface12', destructive: plan.destructive });
    expect(outputsOf(successReport(), undefined).plan).toBe('');
  });
});
