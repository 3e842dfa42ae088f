import { defineConfig } from 'vitest/config';

// End-to-end tests run the bundled dist/ against the real local stack; they share one cluster, so files run
// one at a time.
export default defineConfig({
  test: {
    include: ['__tests__/e2e/**/*.test.ts'],
    environment: 'node',
    testTimeout: 240_000,
    hookTimeout: 240_000,
    fileParallelism: false,
  },
});
