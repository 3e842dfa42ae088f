/**
 * Setup file of the end-to-end tests (vitest.e2e.config.ts): runs before each test file, in its worker, and names
 * the namespace that file deploys into, kube-ship-e2e-<file> (kube-ship-e2e-verdict for verdict.e2e.test.ts). The
 * harness reads it when the file imports it and makes the namespace; files run at the same time on one stack and
 * never meet.
 */
import { basename } from 'node:path';
import { expect } from 'vitest';

const file = basename(expect.getState().testPath ?? '').replace(/\.e2e\.test\.ts$/, '');
process.env.KUBE_SHIP_E2E_NAMESPACE = `kube-ship-e2e-${file.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`;
