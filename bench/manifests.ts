/**
 * P11: a first deploy of the example's manifests (examples/web/k8s: Deployment, Service, Ingress, ConfigMap) into a
 * fresh empty namespace, time to healthy. kube-ship: the bundled action with `manifests`, building and pushing the
 * sample app (`bake: 0s`); its whole step, and from its Apply group to the verdict and to its exit. The tool people
 * use instead: `kubectl apply -f` of a copy of the same files with the image replaced by the digest reference
 * kube-ship pushed, then `kubectl rollout status deployment/web --timeout=120s`, in another fresh namespace; the
 * wall time of the two commands. Both with the stack's admin kubeconfig.
 */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  REGISTRY,
  ROOT,
  env,
  expectResult,
  kubectl,
  median,
  now,
  result,
  say,
  secs,
  startAction,
  startKubectl,
  type ActionProc,
  type Line,
  type Result,
} from './lib.js';

export interface ManifestsOptions {
  runs: number;
}

const EXAMPLE = 'examples/web/k8s';
const IMAGE = `${REGISTRY}/demo/web`;
const OBJECTS = ['ConfigMap', 'Service', 'Deployment', 'Ingress'];

/** What each side checked before calling the deploy healthy, printed with the rows. */
export const CHECKED = {
  ours: "preflight server-side dry run of all 4 objects, the pushed digest read back from the registry, the rollout watched with fail-fast (kubectl's rule, pods checked for failures), bake 0s",
  kubectl:
    '`kubectl rollout status` only (no dry run, no digest check, no pod failure checks: a broken rollout waits for the progress deadline, 600 s in the example)',
};

/** A fresh empty namespace: deleted (and waited for) if an earlier run left it, then created. */
function freshNamespace(name: string): string {
  kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=true']);
  kubectl(['create', 'namespace', name]);
  return name;
}

/** A copy of the example's files in which the Deployment's image is `ref`. */
function exampleWithImage(ref: string): string {
  const dir = mkdtempSync(join(process.env.BENCH_TMP ?? '/tmp', 'p11-'));
  for (const file of readdirSync(join(ROOT, EXAMPLE))) {
    const text = readFileSync(join(ROOT, EXAMPLE, file), 'utf8');
    const edited = file === 'deployment.yaml' ? text.replace(/image: \S+/, `image: ${ref}`) : text;
    if (file === 'deployment.yaml' && !edited.includes(`image: ${ref}`)) throw new Error(`P11: no image in ${file}`);
    writeFileSync(join(dir, file), edited);
  }
  return dir;
}

interface ShipRun {
  /** The step, start -> exit. */
  step: number;
  /** The "Apply" group's first line -> the "Verdict" line. */
  applyToVerdict: number;
  /** The "Apply" group's first line -> the step's exit. */
  applyToExit: number;
  /** The step without its "Build and push" group. */
  withoutBuild: number;
  buildPush: number;
  preflight: number;
  ref: string;
}

const at = (a: ActionProc, re: RegExp, what: string): Line => {
  const line = a.lines.find((l) => re.test(l.text));
  if (!line) throw new Error(`P11: no ${what} line in kube-ship's log`);
  return line;
};

/** kube-ship's first deploy of the manifests, building the sample app with a variant of its own. */
async function ship(ns: string, tag: string): Promise<ShipRun> {
  const a = startAction({
    image: IMAGE,
    tags: tag,
    context: join(ROOT, 'examples/web'),
    'build-args': `VARIANT=${tag}\nBASE_IMAGE=${env.BASE_IMAGE ?? 'kube-ship/busybox:latest'}`,
    deployments: '',
    manifests: EXAMPLE,
    namespace: ns,
    bake: '0s',
    'fail-fast': 'true',
  });
  const fin = await expectResult(a, 'success');
  if (fin.code !== 0) throw new Error(`P11: kube-ship exited ${fin.code}`);
  const objects = JSON.parse(fin.outputs.objects ?? '{}') as Record<string, string>;
  for (const kind of OBJECTS) {
    const created = Object.entries(objects).some(([k, v]) => k.startsWith(`${kind} ${ns}/`) && v === 'created');
    if (!created) throw new Error(`P11: ${kind} not created: ${JSON.stringify(objects)}`);
  }
  // What it checked, from its own log: the dry run, the digest in the registry, the rollout.
  at(a, /^Manifests: .*4 objects, dry run accepted$/, 'dry run');
  at(a, /is sha256:[0-9a-f]{64} in the registry$/, 'digest');
  at(a, new RegExp(`^${ns}/web: deployment "web" successfully rolled out$`), 'rolled out');
  const preflightEnd = at(a, /^::group::Build and push$/, 'Build and push');
  const buildEnd = at(a, /^::group::Digest$/, 'Digest');
  const applied = at(a, /^::group::Apply$/, 'Apply');
  const verdict = at(a, /^Verdict /, 'Verdict');
  const step = fin.t - a.startedAt;
  const buildPush = buildEnd.t - preflightEnd.t;
  return {
    step,
    applyToVerdict: verdict.t - applied.t,
    applyToExit: fin.t - applied.t,
    withoutBuild: step - buildPush,
    buildPush,
    preflight: preflightEnd.t - a.startedAt,
    ref: fin.outputs.image ?? '',
  };
}

/** kubectl apply -f of the copy, then rollout status: the wall time of the two. */
async function kubectlDeploy(ns: string, ref: string): Promise<number> {
  const dir = exampleWithImage(ref);
  const started = now();
  const applied = startKubectl(['apply', '-n', ns, '-f', dir]);
  const ax = await applied.exited;
  if (ax.code !== 0) throw new Error(`P11: kubectl apply failed: ${applied.lines.map((l) => l.text).join('\n')}`);
  const status = startKubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=120s']);
  const sx = await status.exited;
  if (sx.code !== 0)
    throw new Error(`P11: kubectl rollout status failed: ${status.lines.map((l) => l.text).join('\n')}`);
  const wall = sx.t - started;
  const live = kubectl([
    'get',
    'deployment',
    'web',
    '-n',
    ns,
    '-o',
    'jsonpath={.spec.template.spec.containers[0].image}',
  ]);
  if (live !== ref) throw new Error(`P11: kubectl's Deployment runs ${live}, not ${ref}`);
  return wall;
}

export async function benchManifests(opts: ManifestsOptions): Promise<Result[]> {
  const stamp = Date.now().toString(36);
  const shipRuns: ShipRun[] = [];
  const base: number[] = [];
  const namespaces: string[] = [];
  for (let i = 0; i < opts.runs; i += 1) {
    const ours = freshNamespace(`kube-ship-bench-p11-ks-${i + 1}`);
    const theirs = freshNamespace(`kube-ship-bench-p11-kc-${i + 1}`);
    namespaces.push(ours, theirs);
    const r = await ship(ours, `p11-${stamp}-${i + 1}`);
    const k = await kubectlDeploy(theirs, r.ref);
    shipRuns.push(r);
    base.push(k);
    say(
      `P11 run ${i + 1}: kube-ship step ${secs(r.step).toFixed(2)} s (build+push ${secs(r.buildPush).toFixed(2)} s, apply -> verdict ${secs(r.applyToVerdict).toFixed(2)} s, apply -> exit ${secs(r.applyToExit).toFixed(2)} s), kubectl apply + rollout status ${secs(k).toFixed(2)} s`,
    );
  }
  kubectl(['delete', 'namespace', ...namespaces, '--ignore-not-found', '--wait=false']);
  const m = (f: (r: ShipRun) => number): string => secs(median(shipRuns.map(f))).toFixed(2);
  const baseTool = '`kubectl apply -f` (digest reference) + `kubectl rollout status --timeout=120s`';
  return [
    result(
      'P11',
      'first deploy of examples/web/k8s (4 objects), fresh namespace: step start -> exit, build+push included',
      's',
      shipRuns.map((r) => secs(r.step)),
      base.map(secs),
      `${baseTool}, image already pushed`,
      `kube-ship's step (medians): start -> end of preflight (dry run included) ${m((r) => r.preflight)} s, build+push ${m((r) => r.buildPush)} s`,
    ),
    result(
      'P11b',
      'the same, the step without its Build and push group (preflight, dry run, digest, apply, rollout, report)',
      's',
      shipRuns.map((r) => secs(r.withoutBuild)),
      base.map(secs),
      baseTool,
    ),
    result(
      'P11c',
      'the same: Apply group -> step exit',
      's',
      shipRuns.map((r) => secs(r.applyToExit)),
      base.map(secs),
      baseTool,
    ),
    result(
      'P11d',
      'the same: Apply group -> verdict line',
      's',
      shipRuns.map((r) => secs(r.applyToVerdict)),
      base.map(secs),
      baseTool,
    ),
  ];
}
