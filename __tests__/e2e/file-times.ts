/**
 * A vitest reporter (vitest.e2e.config.ts, scripts/test-e2e.sh): the wall time of each test file, from its start to
 * its end as the run saw them (hooks and imports included), written to .test-results/e2e-files.txt (a table, longest
 * first, with when each file started; scripts/test.sh prints it) and .test-results/e2e-files.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

const OUT = join(import.meta.dirname, '../../.test-results');

export default class FileTimes implements Reporter {
  private readonly started = new Map<string, number>();
  private readonly ended = new Map<string, number>();
  private readonly runStarted = Date.now();

  onTestModuleStart(module: TestModule): void {
    this.started.set(module.moduleId, Date.now());
  }

  onTestModuleEnd(module: TestModule): void {
    this.ended.set(module.moduleId, Date.now());
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const files = modules
      .map((module) => {
        const start = this.started.get(module.moduleId) ?? this.runStarted;
        const end = this.ended.get(module.moduleId) ?? start;
        const states = [...module.children.allTests()].map((test) => test.result().state);
        return {
          file: relative(join(import.meta.dirname, '../..'), module.moduleId),
          project: module.project.name,
          seconds: Math.round((end - start) / 100) / 10,
          startedAt: Math.round((start - this.runStarted) / 1000),
          passed: states.filter((s) => s === 'passed').length,
          failed: states.filter((s) => s === 'failed').length,
          skipped: states.filter((s) => s === 'skipped' || s === 'pending').length,
        };
      })
      .sort((a, b) => b.seconds - a.seconds);
    const width = Math.max(4, ...files.map((f) => f.file.length));
    const row = (file: string, project: string, seconds: string, at: string, tests: string) =>
      `${file.padEnd(width)}  ${project.padEnd(7)}  ${seconds.padStart(7)}  ${at.padStart(8)}  ${tests}`;
    const total = (Date.now() - this.runStarted) / 1000;
    const sum = files.reduce((s, f) => s + f.seconds, 0);
    const table = [
      row('file', 'project', 'seconds', 'start at', 'ok/failed/skipped'),
      ...files.map((f) =>
        row(f.file, f.project, f.seconds.toFixed(1), `+${f.startedAt}s`, `${f.passed}/${f.failed}/${f.skipped}`),
      ),
      `end-to-end files: ${files.length}; wall clock ${total.toFixed(1)} seconds, the files' own times add up to ${sum.toFixed(1)}`,
    ].join('\n');
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, 'e2e-files.txt'), `${table}\n`);
    writeFileSync(join(OUT, 'e2e-files.json'), `${JSON.stringify({ seconds: total, files }, null, 2)}\n`);
  }
}
