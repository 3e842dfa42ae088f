import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  loadObjectRecords,
  loadRecords,
  objectRecordsFile,
  saveRecords,
  writeObjectRecords,
} from '../../src/deploy/records-file.js';
import type { ObjectRecord } from '../../src/deploy/object-record.js';
import type { TargetRecord } from '../../src/deploy/target-record.js';

const temps: string[] = [];
const runnerTemp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'runner-temp-'));
  temps.push(dir);
  return { RUNNER_TEMP: dir };
};
afterAll(() => temps.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
const privateToUser = (file: string) => statSync(file).mode & 0o777;

describe('records files', () => {
  it("keeps the targets' records under RUNNER_TEMP, each deploy in a new directory, readable by the user only", () => {
    const env = runnerTemp();
    const records = [{ key: 'ns/web', template: { spec: { containers: [] } } }] as unknown as TargetRecord[];
    const file = saveRecords(records, env);
    expect(dirname(dirname(file))).toBe(env.RUNNER_TEMP);
    expect(saveRecords(records, env)).not.toBe(file);
    expect(privateToUser(file)).toBe(0o600);
    expect(loadRecords(file)).toEqual(records);
  });

  it("keeps the objects' records the same way, written again as they grow", () => {
    const env = runnerTemp();
    const file = objectRecordsFile(env);
    expect(dirname(dirname(file))).toBe(env.RUNNER_TEMP);
    const one = [{ key: 'ConfigMap ns/a' }] as unknown as ObjectRecord[];
    const two = [...one, { key: 'ConfigMap ns/b' }] as unknown as ObjectRecord[];
    writeObjectRecords(file, one);
    writeObjectRecords(file, two);
    expect(privateToUser(file)).toBe(0o600);
    expect(loadObjectRecords(file)).toEqual(two);
  });
});
