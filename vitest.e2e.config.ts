import { basename } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Files that stop a part of the stack every file uses (etcd, the API server, the Docker engine): they run alone. */
const ALONE = ['__tests__/e2e/restarts.e2e.test.ts'];
/** Files at the same time on the shared stack (E2E_WORKERS to change); each deploys into a namespace of its own. */
const WORKERS = Number(process.env.E2E_WORKERS ?? 5);
/**
 * About how long each file takes (seconds, from .test-results/e2e-files.txt of a full run on a 2-core machine): the
 * longest start first, so that the short ones fill in around them. A file not listed counts as 60 s.
 */
const SECONDS: Record<string, number> = {
  'verdict-slow': 160,
  action: 157,
  'faults-registry': 150,
  verdict: 132,
  act: 123,
  faults: 80,
  'faults-network': 75,
  workloads: 71,
  manifests: 59,
  stack: 79,
  cancel: 46,
  preview: 37,
  build: 32,
  conventions: 21,
  github: 17,
  security: 45,
  hostile: 9,
  verify: 145,
  jobs: 50,
  canary: 75,
  kustomize: 22,
  'canary-sts': 65,
  'canary-runs': 16,
  'canary-route': 35,
  'canary-manifests': 35,
  helm: 130,
};
const seconds = (spec: TestSpecification) => SECONDS[basename(spec.moduleId, '.e2e.test.ts')] ?? 60;

/** The longest files first (vitest's own order needs the durations of an earlier run, which a fresh clone lacks). */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const group = (spec: TestSpecification) => spec.project.config.sequence.groupOrder;
    return [...(await super.sort(files))].sort((a, b) => group(a) - group(b) || seconds(b) - seconds(a));
  }
}

// End-to-end tests run the bundled dist/ against the real local stack. They share one cluster: each file deploys into
// a namespace of its own (named by the setup file), so most files run at the same time; then the files of ALONE, one
// at a time, with nothing else running. The file-times reporter writes each file's time to .test-results/.
export default defineConfig({
  test: {
    environment: 'node',
    testTimeout: 240_000,
    hookTimeout: 240_000,
    setupFiles: ['__tests__/e2e/file-namespace.ts'],
    reporters: ['default', './__tests__/e2e/file-times.ts'],
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['__tests__/e2e/**/*.test.ts'],
          exclude: ALONE,
          maxWorkers: WORKERS,
          // Not 0: vitest runs a group 0 of one worker after the others (E2E_WORKERS=1 would run ALONE first).
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: { name: 'alone', include: ALONE, fileParallelism: false, sequence: { groupOrder: 2 } },
      },
    ],
  },
});
