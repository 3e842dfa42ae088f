/**
 * Canary shares by a Gateway API HTTPRoute (`canary-route`), end to end on the local stack (the Gateway API CRDs, no
 * gateway controller: the tests read the weights kube-ship writes): the weights of each step, the route's rules put
 * back exactly on promotion, after a canary stopped by its checks, on a cancel, and by the post step after a
 * SIGKILL; the canary's Service gone each time.
 */
import { describe, expect, it } from 'vitest';
import {
  NAMESPACE,
  appInputs,
  createDeployment,
  deployerOfThisFile,
  initialImage,
  kubectl,
  kubectlJson,
  runAction,
} from './harness.js';

const deployer = deployerOfThisFile();
/** The sample app's inputs with a canary, deployed by the least-privilege deployer (the README's Role). */
const routed = (name: string, tag: string, extra: Record<string, string>) => ({
  ...appInputs(name, tag, name, extra),
  kubeconfig: deployer(),
});

interface BackendRef {
  name: string;
  port?: number;
  weight?: number;
}
interface Route {
  metadata: { resourceVersion: string };
  spec: { rules: { backendRefs: BackendRef[] }[] };
}

const route = (name: string): Route => kubectlJson<Route>(['get', 'httproute', name, '-n', NAMESPACE]);

/** The route's weights, as `name=weight` per backend, rules apart: `r=90 r-canary=10 | other=100`. */
const weightsOf = (r: Route): string =>
  r.spec.rules.map((rule) => rule.backendRefs.map((b) => `${b.name}=${b.weight ?? 1}`).join(' ')).join(' | ');

/** The route's field owners (who owns which field, since when): put back with its rules. */
const owners = (name: string): unknown =>
  kubectlJson<{ metadata: { managedFields: unknown } }>([
    'get',
    'httproute',
    name,
    '-n',
    NAMESPACE,
    '--show-managed-fields',
  ]).metadata.managedFields;

/** Whether the canary's Service exists now. */
const canaryService = (name: string): boolean =>
  kubectl(['get', 'service', `${name}-canary`, '-n', NAMESPACE, '--ignore-not-found', '-o', 'name']).trim() !== '';

const canaryDeployment = (name: string): boolean =>
  kubectl(['get', 'deployment', `${name}-canary`, '-n', NAMESPACE, '--ignore-not-found', '-o', 'name']).trim() !== '';

/**
 * The app's Deployment, its Service (port 80 to the app's 8080) and an HTTPRoute sending to it with `backendRefs`
 * (default: the Service alone), made afresh with no canary left by an earlier run.
 */
function createRouted(name: string, replicas: number, backendRefs?: BackendRef[]): Route {
  for (const kind of ['deployment', 'service']) {
    kubectl(['delete', kind, `${name}-canary`, '-n', NAMESPACE, '--ignore-not-found', '--wait=true']);
  }
  createDeployment(name, initialImage(name), { replicas });
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NAMESPACE },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  };
  const httpRoute = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      parentRefs: [{ name: 'gateway' }],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
          backendRefs: backendRefs ?? [{ name, port: 80 }],
        },
        { backendRefs: [{ name: 'elsewhere', port: 80 }] },
      ],
    },
  };
  kubectl(['delete', 'httproute', name, '-n', NAMESPACE, '--ignore-not-found', '--wait=true']);
  kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [service, httpRoute] }));
  return route(name);
}

/** Every distinct set of weights the route held while `run` went, in order, read every 200 ms. */
async function watchingWeights<T>(name: string, run: () => Promise<T>) {
  const seen: string[] = [];
  const look = (): void => {
    const weights = weightsOf(route(name));
    if (seen[seen.length - 1] !== weights) seen.push(weights);
  };
  look();
  const poll = setInterval(look, 200);
  try {
    return { result: await run(), seen };
  } finally {
    clearInterval(poll);
    look();
  }
}

const stepsOf = (outputs: Record<string, string>) => JSON.parse(outputs.canary ?? '[]') as { result: string }[];

describe('canary-route', () => {
  it("sets the route's weights at each step, and puts its rules back exactly on promotion", async () => {
    const before = createRouted('r-good', 4);
    const owned = owners('r-good');
    const inputs = routed('r-good', 'v2', { canary: '10%, 50%', 'canary-route': 'r-good', bake: '1s' });
    const { result: run, seen } = await watchingWeights('r-good', () => runAction(inputs));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(stepsOf(run.outputs)).toMatchObject([{ result: 'passed' }, { result: 'passed' }]);
    expect(seen).toEqual([
      'r-good=1 | elsewhere=1',
      'r-good=90 r-good-canary=10 | elsewhere=1',
      'r-good=50 r-good-canary=50 | elsewhere=1',
      'r-good=1 | elsewhere=1',
    ]);
    expect(run.log).toContain("r-good also selects the canary's 1 pod(s), so they get about 28%");
    expect(route('r-good').spec).toEqual(before.spec);
    expect(owners('r-good')).toEqual(owned);
    expect(canaryService('r-good')).toBe(false);
    expect(canaryDeployment('r-good')).toBe(false);
  });

  it('a Ready release that answers 500 is stopped by the checks: the weights back exactly, the Service gone', async () => {
    const before = createRouted('r-500', 2, [
      { name: 'r-500', port: 80, weight: 3 },
      { name: 'r-500-old', port: 80, weight: 1 },
    ]);
    const verify = '- http: {port: 8080, grace: 3s, interval: 1s, timeout: 3s}';
    const inputs = routed('r-500', 'http500-r', { canary: '20%', 'canary-route': 'r-500', verify });
    const { result: run, seen } = await watchingWeights('r-500', () => runAction(inputs));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result, run.outputs['failure-reason']).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/^canary 20%: .*verify http #1 failed: pod r-500-canary-/);
    // Its own weight split 80/20, the other backend's kept in proportion (times 100).
    expect(seen).toContain('r-500=240 r-500-canary=60 r-500-old=100 | elsewhere=1');
    expect(route('r-500').spec).toEqual(before.spec);
    expect(canaryService('r-500')).toBe(false);
    expect(canaryDeployment('r-500')).toBe(false);
  });

  it('a SIGKILL at a step leaves the route to the post step, which puts its rules back and deletes the canary', async () => {
    const before = createRouted('r-kill', 2);
    const owned = owners('r-kill');
    const inputs = routed('r-kill', 'v2', { canary: '50%', 'canary-route': 'r-kill', bake: '60s' });
    const run = await runAction(inputs, {
      during: [{ when: ({ log }) => log.includes('baking 60s'), act: 'SIGKILL' }],
    });
    expect(run.exitCode).not.toBe(0);
    expect(weightsOf(route('r-kill'))).toBe('r-kill=50 r-kill-canary=50 | elsewhere=1');
    expect(canaryService('r-kill')).toBe(true);
    const post = await runAction(inputs, { post: true, state: run.state });
    expect(post.exitCode, post.log).toBe(0);
    expect(post.log).toContain(`HTTPRoute ${NAMESPACE}/r-kill: its recorded weights restored`);
    expect(route('r-kill').spec).toEqual(before.spec);
    expect(owners('r-kill')).toEqual(owned);
    expect(canaryService('r-kill')).toBe(false);
    expect(canaryDeployment('r-kill')).toBe(false);
  });

  it("a cancel at a step puts the route's rules back and deletes the canary before the step ends", async () => {
    const before = createRouted('r-cancel', 2);
    const inputs = routed('r-cancel', 'v2', { canary: '50%', 'canary-route': 'r-cancel', bake: '60s' });
    const run = await runAction(inputs, {
      during: [{ when: ({ log }) => log.includes('baking 60s'), act: 'runner-cancel' }],
    });
    expect(run.outputs.result).toBe('cancelled');
    expect(run.log).toContain('r-cancel weighs 50, r-cancel-canary 50');
    expect(route('r-cancel').spec).toEqual(before.spec);
    expect(canaryService('r-cancel')).toBe(false);
    expect(canaryDeployment('r-cancel')).toBe(false);
  });

  it('a route that does not exist is refused in preflight, before the build', async () => {
    createDeployment('r-none', initialImage('r-none'), { replicas: 1 });
    const inputs = routed('r-none', 'v2', { canary: '10%', 'canary-route': 'r-missing' });
    const run = await runAction(inputs);
    expect(run.exitCode).toBe(1);
    expect(run.log).toContain(`canary-route: HTTPRoute ${NAMESPACE}/r-missing does not exist`);
    expect(run.log).not.toContain('::group::Build');
  });
});
