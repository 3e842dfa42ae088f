/**
 * The records the post step needs, in a file of their own under RUNNER_TEMP (readable by the runner's user only:
 * pod templates may carry environment values).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ObjectRecord } from './object-record.js';
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

/** A new file for the manifests' records, written again after every object applied (`writeObjectRecords`). */
export function objectRecordsFile(env: NodeJS.ProcessEnv): string {
  return join(mkdtempSync(join(env.RUNNER_TEMP || tmpdir(), 'kube-ship-')), 'objects.json');
}

export function writeObjectRecords(file: string, records: ObjectRecord[]): void {
  writeFileSync(file, JSON.stringify(records), { mode: 0o600 });
}

export function loadObjectRecords(file: string): ObjectRecord[] {
  return JSON.parse(readFileSync(file, 'utf8')) as ObjectRecord[];
}
