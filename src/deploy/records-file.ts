/**
 * The records the post step needs, in a file of their own under RUNNER_TEMP (readable by the runner's user only:
 * pod templates may carry environment values).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ObjectRecord } from './object-record.js';
import type { TargetRecord } from './target-record.js';

/** A path named `name` in a new directory of its own under RUNNER_TEMP. */
function newFile(env: NodeJS.ProcessEnv, name: string): string {
  return join(mkdtempSync(join(env.RUNNER_TEMP || tmpdir(), 'kube-ship-')), name);
}

/** Writes the records as JSON, readable by the runner's user only. */
function writePrivate(file: string, records: unknown[]): void {
  writeFileSync(file, JSON.stringify(records), { mode: 0o600 });
}

/** Writes the records to a new file and returns its path. */
export function saveRecords(records: TargetRecord[], env: NodeJS.ProcessEnv): string {
  const file = newFile(env, 'records.json');
  writePrivate(file, records);
  return file;
}

export function loadRecords(file: string): TargetRecord[] {
  return JSON.parse(readFileSync(file, 'utf8')) as TargetRecord[];
}

/** A new file for the manifests' records, written again after every object applied (`writeObjectRecords`). */
export function objectRecordsFile(env: NodeJS.ProcessEnv): string {
  return newFile(env, 'objects.json');
}

export function writeObjectRecords(file: string, records: ObjectRecord[]): void {
  writePrivate(file, records);
}

export function loadObjectRecords(file: string): ObjectRecord[] {
  return JSON.parse(readFileSync(file, 'utf8')) as ObjectRecord[];
}
