import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['__tests__/unit/**/*.test.ts'],
    environment: 'node',
    // No unit test changes global state (fake timers are put back after each test), so the files of one worker
    // share their modules: @kubernetes/client-node and Octokit are evaluated once per worker, not once per file.
    isolate: false,
  },
});
