/**
 * What the manifests input may reveal or leave behind, on the real API server: a Secret value YAML reads as a number
 * (which the API server's refusal would quote), a manifest file whose name carries workflow commands (which the
 * runner would run if it reached the log raw), and the records file the post step reads (which held Secret data on
 * the runner's disk).
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  REGISTRY,
  ROOT,
  appInputs,
  freshNamespace,
  kubectl,
  kubectlJson,
  runAction,
  withoutMasks,
  workspaceDir,
} from './harness.js';

const EXAMPLE = 'examples/web/k8s';
const IMAGE = `${REGISTRY}/demo/web`;

const namespace = (name: string): string => freshNamespace(`kube-ship-sec-${name}`);

function inputs(ns: string, manifests: string, extra: Record<string, string> = {}) {
  return {
    ...appInputs('web', 'sec-v1', 'security', { bake: '1s' }),
    image: IMAGE,
    deployments: '',
    namespace: ns,
    manifests,
    ...extra,
  };
}

/** The example's files copied to a folder under the workspace (changed by `edit`), plus `more` (name -> text). */
function exampleWith(more: Record<string, string>, edit = (_file: string, text: string) => text): string {
  const dir = workspaceDir('security-');
  for (const file of ['configmap.yaml', 'deployment.yaml', 'service.yaml']) {
    writeFileSync(join(dir, file), edit(file, readFileSync(join(ROOT, EXAMPLE, file), 'utf8')));
  }
  for (const [file, text] of Object.entries(more)) writeFileSync(join(dir, file), text);
  return relative(ROOT, dir);
}

const secret = (data: string) =>
  `apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-secret\ntype: Opaque\nstringData:\n${data}\n`;

/** Every file under `dir`, with its text. */
function filesUnder(dir: string): { path: string; text: string }[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => ({ path, text: readFileSync(path, 'utf8') }));
}

/** Lines the runner would take as a workflow command: `::` first after leading whitespace. */
const commandLines = (log: string, data: string): string[] =>
  log.split('\n').filter((line) => /^\s*::/.test(line) && line.includes(data));

describe('what the manifests reveal or leave behind', () => {
  it('a Secret value YAML reads as a number is refused before any request, and appears in no channel', async () => {
    const ns = namespace('number');
    const KEY_VALUE = '8837465529910342';
    const run = await runAction(inputs(ns, exampleWith({ 'secret.yaml': secret(`  api-key: ${KEY_VALUE}`) })));
    expect(run.exitCode).toBe(1);
    expect(run.outputs['failure-reason']).toContain('api-key');
    expect(run.outputs['failure-reason']).toMatch(/quote/i);
    for (const [channel, text] of [
      ['log', withoutMasks(run.log)],
      ['summary', run.summary],
      ['outputs', JSON.stringify(run.outputs)],
    ] as const) {
      expect(text.includes(KEY_VALUE), `${channel} holds the value`).toBe(false);
    }
    // Refused before the build and before any object was sent: nothing of the manifests exists.
    expect(
      kubectl([
        'get',
        'secret/web-secret',
        'configmap/web-config',
        'deployment/web',
        '-n',
        ns,
        '--ignore-not-found',
        '-o',
        'name',
      ]).trim(),
    ).toBe('');
  });

  it('a manifest file whose name carries workflow commands reaches the log as text', async () => {
    const ns = namespace('filename');
    const hostile = 'x\n::error::pwned by a file name\n::stop-commands::pwnd\n.yaml';
    const dir = exampleWith({
      [hostile]: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: named\ndata:\n  a: b\n',
    });
    const run = await runAction(inputs(ns, dir));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(commandLines(run.log, 'pwned')).toEqual([]);
    expect(commandLines(run.log, 'stop-commands::pwnd')).toEqual([]);
    // The summary shows it as code, on one line.
    expect(run.summary).not.toMatch(/^::error::pwned/m);
  });

  it('leaves no records file, and no Secret value, on the runner', async () => {
    const ns = namespace('records');
    const VALUE = 'kube-ship-records-secret-0042';
    const temp = workspaceDir('runner-temp-');
    mkdirSync(temp, { recursive: true });
    const run = await runAction(inputs(ns, exampleWith({ 'secret.yaml': secret(`  token: "${VALUE}"`) })), {
      env: { RUNNER_TEMP: temp },
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(withoutMasks(run.log).includes(VALUE)).toBe(false);
    const left = filesUnder(temp);
    expect(left.filter((f) => f.text.includes(VALUE)).map((f) => f.path)).toEqual([]);
    expect(left.map((f) => relative(temp, f.path)).filter((p) => /record|object/i.test(p))).toEqual([]);
  });

  it('a rollback sets back what the deploy changed and keeps a scale made during the rollout', async () => {
    const ns = namespace('scale');
    const first = await runAction(inputs(ns, exampleWith({})));
    expect(first.exitCode, first.log).toBe(0);
    const broken = exampleWith({}, (file, text) =>
      file === 'deployment.yaml'
        ? text.replace('config-version: "1"', 'config-version: "2"\n        kube-ship.dev/fault: crashloop')
        : text,
    );
    const run = await runAction(inputs(ns, broken), {
      during: [
        {
          when: (seen) => seen.log.includes(`Deployment ${ns}/web: configured`),
          act: () => kubectl(['scale', 'deployment', 'web', '-n', ns, '--replicas=3']),
        },
      ],
    });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result, run.log).toBe('rolled-back');
    const live = kubectlJson<{
      spec: { replicas: number; template: { metadata: { annotations: Record<string, string> } } };
    }>(['get', 'deployment', 'web', '-n', ns]);
    // The template is back to what the deploy found; the replicas someone else set during the rollout stay.
    expect(live.spec.template.metadata.annotations['config-version']).toBe('1');
    expect(live.spec.template.metadata.annotations['kube-ship.dev/fault']).toBeUndefined();
    expect(live.spec.replicas).toBe(3);
  });

  it("an admission policy's message quoting a Secret value reaches no channel", async () => {
    const ns = namespace('admission');
    const VALUE = 'kube-ship-quoted-by-policy-77';
    const name = 'kube-ship-e2e-secret-quote';
    const policy = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['secrets'] },
          ],
        },
        validations: [
          {
            expression: "!has(object.data) || !('token' in object.data)",
            messageExpression: "'the token ' + string(object.data['token']) + ' is on the deny list'",
          },
        ],
      },
    };
    const binding = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name },
      spec: {
        policyName: name,
        validationActions: ['Deny'],
        matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } },
      },
    };
    kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [policy, binding] }));
    try {
      const dir = exampleWith({ 'secret.yaml': secret(`  token: "${VALUE}"`) });
      // The policy takes a moment to be enforced: ask until the dry run is refused, at most 20 s.
      let run = await runAction(inputs(ns, dir));
      for (let i = 0; i < 10 && run.exitCode === 0; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        kubectl(['delete', 'secret,configmap,deployment,service', '--all', '-n', ns]);
        run = await runAction(inputs(ns, dir));
      }
      expect(run.exitCode, run.log).toBe(1);
      expect(run.outputs['failure-reason']).toContain(`Secret ${ns}/web-secret`);
      for (const [channel, text] of [
        ['log', withoutMasks(run.log)],
        ['summary', run.summary],
        ['outputs', JSON.stringify(run.outputs)],
      ] as const) {
        expect(text.includes(VALUE), `${channel} holds the value`).toBe(false);
        // The policy sees the Secret's data as the API server keeps it: base64.
        expect(text.includes(Buffer.from(VALUE).toString('base64')), `${channel} holds it in base64`).toBe(false);
      }
    } finally {
      kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', name, '--ignore-not-found']);
    }
  });

  it('a failed first deploy deletes what it created but a CustomResourceDefinition, which it reports', async () => {
    const ns = namespace('crd');
    const crdName = 'widgets.e2e.kube-ship.dev';
    kubectl(['delete', 'crd', crdName, '--ignore-not-found']);
    const crd = [
      'apiVersion: apiextensions.k8s.io/v1',
      'kind: CustomResourceDefinition',
      `metadata:\n  name: ${crdName}`,
      'spec:\n  group: e2e.kube-ship.dev\n  scope: Namespaced',
      '  names:\n    kind: Widget\n    plural: widgets\n    singular: widget',
      '  versions:\n    - name: v1\n      served: true\n      storage: true',
      '      schema:\n        openAPIV3Schema:\n          type: object\n          x-kubernetes-preserve-unknown-fields: true',
    ].join('\n');
    try {
      const dir = exampleWith({ 'crd.yaml': `${crd}\n` }, (file, text) =>
        file === 'deployment.yaml'
          ? text.replace('config-version: "1"', 'config-version: "1"\n        kube-ship.dev/fault: crashloop')
          : text,
      );
      const run = await runAction(inputs(ns, dir));
      expect(run.exitCode).toBe(1);
      expect(run.outputs.result, run.log).toBe('rolled-back');
      const objects = JSON.parse(run.outputs.objects ?? '{}') as Record<string, string>;
      expect(objects[`Deployment ${ns}/web`]).toBe('deleted');
      expect(objects[`CustomResourceDefinition ${crdName}`]).toBe('not-restored');
      expect(kubectl(['get', 'crd', crdName, '--ignore-not-found', '-o', 'name']).trim()).toBe(
        `customresourcedefinition.apiextensions.k8s.io/${crdName}`,
      );
      expect(run.summary).toContain('left in place');
    } finally {
      kubectl(['delete', 'crd', crdName, '--ignore-not-found']);
    }
  });
});
