/**
 * The preview (input `preview: true`) on a pull_request event, with the fake GitHub API: the plan is the sticky
 * comment, every change is a server-side dry run on the real API server (admission included), and nothing changes.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGitHub, type FakeGitHub } from '../fake-github/server.js';
import {
  NAMESPACE,
  REGISTRY,
  ROOT,
  appInputs,
  createDeployment,
  freshNamespace,
  kubectl,
  kubectlJson,
  runAction,
  withoutMasks,
  workspaceDir,
} from './harness.js';
import { STEP_SHA } from './step-env.js';

const PR = 12;
const HEAD_SHA = 'feedface00000000000000000000000000000012';
let fake: FakeGitHub;
let eventPath: string;

function preview(inputs: Record<string, string>, event = eventPath) {
  return runAction(
    { environment: 'staging', comment: 'auto', 'github-token': 'ghs_e2e', preview: 'true', ...inputs },
    { env: { GITHUB_API_URL: fake.url, GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: event } },
  );
}

/** A pull_request event's payload for this pull request and head commit. */
function pullRequestEvent(pr: number, head: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'kube-ship-event-')), 'event.json');
  writeFileSync(
    path,
    JSON.stringify({ action: 'synchronize', number: pr, pull_request: { number: pr, head: { sha: head } } }),
  );
  return path;
}

const versionOf = (kind: string, name: string, ns = NAMESPACE) =>
  kubectlJson<{ metadata: { resourceVersion: string; generation?: number } }>(['get', kind, name, '-n', ns]).metadata;

const EXAMPLE = join(ROOT, 'examples/web/k8s');
const example = (file: string) => readFileSync(join(EXAMPLE, file), 'utf8');

/**
 * A fresh namespace and a folder of manifests (file name -> text) deployed there once; the inputs that deploy or
 * preview them again (with `tags` set per run).
 */
async function deployedManifests(ns: string, files: Record<string, string>, tag: string) {
  freshNamespace(ns);
  const dir = workspaceDir(`${ns}-`);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  const inputs = {
    ...appInputs('web', tag, ns),
    image: `${REGISTRY}/demo/web`,
    deployments: '',
    namespace: ns,
    manifests: relative(ROOT, dir),
  };
  const deployed = await runAction({ ...inputs, bake: '0s' });
  expect(deployed.exitCode, deployed.log).toBe(0);
  return { dir, inputs };
}

describe('preview', () => {
  beforeAll(async () => {
    fake = await startFakeGitHub();
    eventPath = pullRequestEvent(PR, HEAD_SHA);
  });
  afterAll(async () => {
    await fake?.stop();
  });

  it('posts one comment with before and after per target, tied to the head commit, and changes nothing', async () => {
    createDeployment('pv-web', `${REGISTRY}/e2e/pv-web:initial`);
    const before = versionOf('deployment', 'pv-web');
    const run = await preview(appInputs('pv-web', 'pv1', 'preview-1'));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('preview');
    expect(versionOf('deployment', 'pv-web')).toEqual(before);
    const plan = JSON.parse(run.outputs.plan ?? '{}') as {
      sha: string;
      targets: { key: string; resourceVersion: string; containers: { before: string; after: string }[] }[];
    };
    expect(plan.sha).toBe(HEAD_SHA);
    expect(plan.targets[0]).toMatchObject({
      key: `${NAMESPACE}/pv-web`,
      resourceVersion: before.resourceVersion,
      containers: [{ before: `${REGISTRY}/e2e/pv-web:initial`, after: run.outputs.image }],
    });
    const comments = fake.commentsOn(PR);
    expect(comments).toHaveLength(1);
    const body = comments[0]!.body;
    expect(body).toContain('### 🔍 Preview of the deploy to staging: 1 change, the cluster accepts it');
    expect(body).toContain(`Plan for commit <code>${HEAD_SHA}</code>`);
    expect(body).toContain(`<code>${before.resourceVersion}</code> | ✅&nbsp;accepted`);
    expect(run.summary).toContain('🔍 Preview');
    // A new push to the pull request updates the same comment.
    const again = await preview(appInputs('pv-web', 'pv2', 'preview-2'));
    expect(again.exitCode, again.log).toBe(0);
    expect(fake.commentsOn(PR)).toHaveLength(1);
    expect(fake.commentsOn(PR)[0]!.body).toContain('pv2@');
  });

  it("says the deploy would fail, with the API server's message, when admission refuses the patch", async () => {
    createDeployment('pv-guarded', `${REGISTRY}/e2e/pv-guarded:initial`);
    const policy = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: 'kube-ship-e2e-no-forbidden-tags' },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['deployments'] },
          ],
        },
        validations: [
          {
            expression: "object.spec.template.spec.containers.all(c, !c.image.contains(':forbidden'))",
            message: 'images tagged forbidden may not run here',
          },
        ],
      },
    };
    const binding = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: 'kube-ship-e2e-no-forbidden-tags' },
      spec: {
        policyName: 'kube-ship-e2e-no-forbidden-tags',
        validationActions: ['Deny'],
        matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NAMESPACE } } },
      },
    };
    kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [policy, binding] }));
    try {
      const before = versionOf('deployment', 'pv-guarded');
      // The policy takes a moment to be enforced: ask until the dry run is refused, at most 20 s.
      let run = await preview(appInputs('pv-guarded', 'forbidden', 'preview-guarded'));
      for (let i = 0; i < 10 && !run.log.includes('would fail'); i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        run = await preview(appInputs('pv-guarded', 'forbidden', 'preview-guarded'));
      }
      expect(run.exitCode, run.log).toBe(1);
      expect(run.outputs.result).toBe('preview');
      expect(run.log).toContain('would fail');
      expect(run.log).toContain('images tagged forbidden may not run here');
      expect(run.summary).toContain('1 would fail');
      expect(run.summary).toContain('images tagged forbidden may not run here');
      expect(versionOf('deployment', 'pv-guarded')).toEqual(before);
    } finally {
      kubectl([
        'delete',
        'validatingadmissionpolicybinding,validatingadmissionpolicy',
        'kube-ship-e2e-no-forbidden-tags',
      ]);
    }
  });

  it('shows the objects of manifests that would be created and changed, Secret values never shown', async () => {
    const ns = 'kube-ship-m-preview';
    const secret = (value: string) =>
      `apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-secret\nstringData:\n  PASSWORD: ${value}\n`;
    const { dir, inputs } = await deployedManifests(
      ns,
      {
        'configmap.yaml': example('configmap.yaml'),
        'deployment.yaml': example('deployment.yaml'),
        'secret.yaml': secret('first-s3cret-value'),
      },
      'pvm1',
    );
    // The change: a new Secret value, a new ConfigMap value, and a Service that does not exist yet.
    writeFileSync(join(dir, 'secret.yaml'), secret('second-s3cret-value'));
    writeFileSync(
      join(dir, 'configmap.yaml'),
      example('configmap.yaml').replace('GREETING: hello', 'GREETING: bonjour'),
    );
    writeFileSync(join(dir, 'service.yaml'), example('service.yaml'));
    const versions = ['configmap/web-config', 'secret/web-secret', 'deployment/web'].map((o) =>
      versionOf(o.split('/')[0]!, o.split('/')[1]!, ns),
    );
    const run = await preview({ ...inputs, tags: 'pvm1' });
    expect(run.exitCode, run.log).toBe(0);
    const body = fake.commentsOn(PR).at(-1)!.body;
    expect(body).toContain(
      `| <code>Service ${ns}/web</code> | <code>${relative(ROOT, dir)}/service.yaml document 1</code> | 🆕&nbsp;would&nbsp;create |`,
    );
    expect(body).toContain(`<code>ConfigMap ${ns}/web-config</code>`);
    expect(body).toContain('| <code>data.GREETING</code> | <code>hello</code> | <code>bonjour</code> |');
    expect(body).toContain('(secret value, not shown)');
    // The log registers the values as secrets (the runner masks them everywhere); nothing else carries them.
    const shownLog = withoutMasks(run.log);
    expect(run.log).toContain('::add-mask::second-s3cret-value');
    for (const text of [body, run.summary, shownLog, run.outputs.plan ?? '']) {
      expect(text).not.toContain('s3cret-value');
      expect(text).not.toContain(Buffer.from('second-s3cret-value').toString('base64'));
    }
    expect(
      ['configmap/web-config', 'secret/web-secret', 'deployment/web'].map((o) =>
        versionOf(o.split('/')[0]!, o.split('/')[1]!, ns),
      ),
    ).toEqual(versions);
    expect(kubectl(['get', 'service', 'web', '-n', ns, '--ignore-not-found', '-o', 'name']).trim()).toBe('');
  });

  it("says the deploy would fail, with the API server's message, when the real quota admission refuses an apply", async () => {
    const ns = 'kube-ship-m-preview-quota';
    const files = ['configmap.yaml', 'deployment.yaml', 'service.yaml'];
    const { dir, inputs } = await deployedManifests(ns, Object.fromEntries(files.map((f) => [f, example(f)])), 'pvq1');
    // The namespace may have no load balancers; the change under review asks for one.
    kubectl(['create', 'quota', 'no-load-balancers', '-n', ns, '--hard=services.loadbalancers=0']);
    const quotaReady = () =>
      kubectlJson<{ status?: { hard?: Record<string, string> } }>([
        'get',
        'resourcequota',
        'no-load-balancers',
        '-n',
        ns,
      ]).status?.hard !== undefined;
    for (let i = 0; i < 20 && !quotaReady(); i += 1) await new Promise((resolve) => setTimeout(resolve, 500));
    writeFileSync(
      join(dir, 'service.yaml'),
      example('service.yaml').replace('spec:\n', 'spec:\n  type: LoadBalancer\n'),
    );
    const service = versionOf('service', 'web', ns);
    const run = await preview({ ...inputs, tags: 'pvq2' });
    expect(run.exitCode, run.log).toBe(1);
    expect(run.outputs.result, run.log).toBe('preview');
    expect(run.log).toContain('would fail');
    expect(run.log).toMatch(/exceeded quota: no-load-balancers/);
    expect(run.summary).toContain('1 would fail');
    expect(run.summary).toMatch(/exceeded quota: no-load-balancers/);
    expect(fake.commentsOn(PR).at(-1)!.body).toMatch(/exceeded quota: no-load-balancers/);
    expect(versionOf('service', 'web', ns)).toEqual(service);
    expect(kubectl(['get', 'service', 'web', '-n', ns, '-o', 'jsonpath={.spec.type}'])).toBe('ClusterIP');
  });

  it('the deploy after the merge says which targets the cluster changed since the preview, on the same comment', async () => {
    const merged = 14;
    const head = 'feedface00000000000000000000000000000014';
    createDeployment('pv-kept', `${REGISTRY}/e2e/pv-kept:initial`);
    createDeployment('pv-moved', `${REGISTRY}/e2e/pv-kept:initial`);
    const inputs = appInputs('pv-kept', 'merged', 'preview-merged', {
      deployments: `${NAMESPACE}/pv-kept\n${NAMESPACE}/pv-moved`,
    });
    const planned = await preview(inputs, pullRequestEvent(merged, head));
    expect(planned.exitCode, planned.log).toBe(0);
    // After the review, someone else changes one of the two in the cluster.
    kubectl(['annotate', 'deployment', 'pv-moved', '-n', NAMESPACE, 'example.com/changed-by=someone-else']);
    const moved = versionOf('deployment', 'pv-moved');
    const kept = versionOf('deployment', 'pv-kept');
    // The merge: the push of its commit (the run's GITHUB_SHA) deploys; GitHub knows which pull request made it.
    fake.merge(merged, STEP_SHA, head);
    const asked = fake.requests.length;
    const run = await runAction(
      { ...inputs, environment: 'staging', comment: 'auto', 'github-token': 'ghs_e2e' },
      { env: { GITHUB_API_URL: fake.url } },
    );
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(JSON.parse(run.outputs['since-preview'] ?? '{}')).toEqual({
      sha: head,
      head,
      headPreviewed: true,
      changed: [`${NAMESPACE}/pv-moved`],
      unplanned: [],
    });
    expect(run.log).toContain(`::warning::${NAMESPACE}/pv-moved changed in the cluster since the preview of feedfac`);
    expect(run.summary).toContain('Changed in the cluster since the preview of commit <code>feedfac</code>');
    expect(run.summary).toMatch(
      new RegExp(
        `\\| <code>${NAMESPACE}/pv-moved</code> \\| <code>\\d+</code> \\| <code>${moved.resourceVersion}</code> \\| ⚠️&nbsp;changed since the preview \\|`,
      ),
    );
    expect(run.summary).toContain(
      `| <code>${NAMESPACE}/pv-kept</code> | <code>${kept.resourceVersion}</code> | <code>${kept.resourceVersion}</code> | ✅&nbsp;as previewed |`,
    );
    // The preview's comment on the merged pull request became the deploy's report.
    const comments = fake.commentsOn(merged);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).not.toContain('Preview of the deploy');
    expect(comments[0]!.body).toContain('⚠️&nbsp;changed since the preview');
    // Finding the preview and updating the comment ask for the token's login once between them.
    const requests = fake.requests.slice(asked).map((r) => `${r.method} ${r.path}`);
    expect(requests.filter((r) => r === 'POST /graphql')).toHaveLength(1);
  });

  it('publishes no live credential: a Secret applied by kubectl (its last-applied annotation) and a token in env', async () => {
    const ns = 'kube-ship-pv-live';
    freshNamespace(ns);
    const LIVE_PASSWORD = 'live-s3cret-passw0rd';
    const LIVE_TOKEN = 'sk_live_0123456789abcdefLIVE';
    const NEW_TOKEN = 'sk_live_0123456789abcdefNEW';
    const secret = (value: string) =>
      `apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-secret\nstringData:\n  PASSWORD: ${value}\n`;
    const withToken = (token: string) =>
      example('deployment.yaml').replace(
        '          envFrom:\n',
        `          env:\n            - name: API_TOKEN\n              value: ${token}\n          envFrom:\n`,
      );
    // What is live, as someone applied it with kubectl (client-side: the annotation embeds the whole Secret).
    kubectl(['apply', '-n', ns, '-f', '-'], secret(LIVE_PASSWORD));
    kubectl(['apply', '-n', ns, '-f', '-'], example('configmap.yaml'));
    kubectl(['apply', '-n', ns, '-f', '-'], withToken(LIVE_TOKEN));
    expect(withToken(LIVE_TOKEN)).toContain(LIVE_TOKEN);
    const dir = workspaceDir(`${ns}-`);
    writeFileSync(join(dir, 'secret.yaml'), secret('new-s3cret-passw0rd'));
    writeFileSync(join(dir, 'configmap.yaml'), example('configmap.yaml'));
    writeFileSync(join(dir, 'deployment.yaml'), withToken(NEW_TOKEN));
    const run = await preview({
      ...appInputs('web', 'pvlive', 'preview-live'),
      image: `${REGISTRY}/demo/web`,
      deployments: '',
      namespace: ns,
      manifests: relative(ROOT, dir),
      'force-conflicts': 'true',
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('preview');
    const body = fake.commentsOn(PR).at(-1)!.body;
    expect(body).toContain(`<code>Deployment ${ns}/web</code>`);
    const shownLog = withoutMasks(run.log);
    for (const text of [body, run.summary, shownLog, run.outputs.plan ?? '']) {
      for (const value of [LIVE_PASSWORD, LIVE_TOKEN, NEW_TOKEN]) {
        expect(text).not.toContain(value);
        expect(text).not.toContain(Buffer.from(value).toString('base64'));
      }
    }
  });
});
