/**
 * API requests each test of a file cost, counted at the server, printed when the file ends (the README's fault table
 * takes them from there). Counted: the audit log's requests of the file's own ServiceAccounts (the identities its
 * steps run as, e.g. `ownDeployer()`) and of the stack's throttled one; the tests' own kubectl is the admin, and the
 * other files' steps run as other identities.
 */
import { afterAll, afterEach, beforeEach } from 'vitest';
import { Audit, DEPLOYER_NAMESPACE, NAMESPACE, serviceAccountUser } from './harness.js';

export function countRequestsPerTest(): void {
  const audit = new Audit();
  const throttled = serviceAccountUser(DEPLOYER_NAMESPACE, 'kube-ship-throttled');
  const ours = (user: string) => user.startsWith(`system:serviceaccount:${NAMESPACE}:`) || user === throttled;
  const costs: string[] = [];
  let mark = 0;
  beforeEach(() => {
    mark = audit.mark();
  });
  afterEach(async ({ task }) => {
    // The step's last requests reach the audit log a moment after it exits.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    costs.push(`  ${task.name}: ${audit.since(mark, ours).length}`);
  });
  afterAll(() => console.log(`API requests per fault (audit log):\n${costs.join('\n')}`));
}
