/**
 * The test bed is real: scripts/stack/smoke.sh builds and pushes through the real engine and registries, rolls a
 * Deployment through the real controller, crash-loops it into ProgressDeadlineExceeded, undoes it, and checks the
 * least-privilege kubeconfig against real RBAC. Each check prints one "ok" line; all of them must be there.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT, env } from './harness.js';

it('the local stack passes its smoke test', () => {
  const result = spawnSync('bash', [join(ROOT, 'scripts/stack/smoke.sh')], { env, encoding: 'utf8', timeout: 180_000 });
  const output = `${result.stdout}\n${result.stderr}`;
  expect(result.status, output).toBe(0);
  for (const check of [
    /ok .* multi-stage BuildKit build from .* \(no pull\)/,
    /ok .* Docker-Content-Digest sha256:[0-9a-f]{64} equals the pushed digest/,
    /ok .* auth registry: 401 without login, push after login, same digest/,
    /ok .* \d+ nodes Ready/,
    /ok .* set image to the pushed digest: rollout status succeeded/,
    /ok .* crashloop image: CrashLoopBackOff, restartCount rising/,
    /ok .* rollout status failed: Progressing=False reason ProgressDeadlineExceeded/,
    /ok .* kubectl logs --previous through the API server ends with: panic: cannot connect to database/,
    /ok .* rollout undo brought back/,
    /ok .* deployer kubeconfig: patch in \S+ allowed, 403 Forbidden in default/,
    /ok .* pullfail image: Pending, ErrImagePull then ImagePullBackOff, Warning Failed event/,
    /ok .* neverready image: Running, container running with ready=false/,
  ]) {
    expect(output).toMatch(check);
  }
  expect(output).toMatch(/smoke test passed/);
});
