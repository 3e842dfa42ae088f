/**
 * The records the post step needs, in a file of their own under RUNNER_TEMP (readable by the runner's user only:
 * pod templates may carry environment values).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TargetRecord } from './target-record.js';

/** Writes the records to a new file and returns its path. */
export function saveRecords(records: TargetRecord[], env: NodeJS.ProcessEnv): string {
  const dir = mkdtempSync(join(env.RUNNER_TEMP || tmpdir(), 'kube-ship-'));
  const file = join(dir, 'records.json');
  writeFileSync(file, JSON.stringify(records), { mode: 0o600 });
  return file;
}

export function loadRecords(file: string): TargetRecord[] {
  return JSON.parse(readFileSync(file, 'utf8')) as TargetRecord[];
}
