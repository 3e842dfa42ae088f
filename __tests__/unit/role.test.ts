/**
 * One source for the least-privilege Role: what kube-ship may ask for (REQUIRED_ACCESS, checked by preflight,
 * REPORT_ACCESS, read for the report, and VERIFY_ACCESS, for verify and pre-deploy) is what the README tells users to grant and what the test bed grants its
 * deployer, no more and no less.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import {
  CANARY_ACCESS,
  CANARY_ROUTE_ACCESS,
  REPORT_ACCESS,
  REQUIRED_ACCESS,
  VERIFY_ACCESS,
} from '../../src/cluster/access.js';

const ROOT = join(import.meta.dirname, '../..');
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };

const grants = (rules: Rule[]): string[] =>
  rules
    .flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${res}.${g}`))))
    .sort();
const required = [
  ...REQUIRED_ACCESS,
  ...REPORT_ACCESS,
  ...VERIFY_ACCESS,
  ...CANARY_ACCESS,
  ...CANARY_ROUTE_ACCESS.route,
  ...CANARY_ROUTE_ACCESS.service,
]
  .map((a) => `${a.verb} ${a.subresource ? `${a.resource}/${a.subresource}` : a.resource}.${a.group}`)
  .sort();

describe('the least-privilege Role', () => {
  it("in the README's Permissions section is exactly what preflight checks", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /### Permissions[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const role = yaml.load(block) as { kind: string; rules: Rule[] };
    expect(role.kind).toBe('Role');
    expect(grants(role.rules)).toEqual(required);
  });

  it('the test bed grants its deployer is exactly what preflight checks', () => {
    // scripts/stack/up/bootstrap.sh applies every file of scripts/stack/objects/, its @PLACEHOLDERS@ filled in.
    const dir = join(ROOT, 'scripts/stack/objects');
    const documents = readdirSync(dir)
      .filter((f) => f.endsWith('.yaml'))
      .flatMap((f) => yaml.loadAll(readFileSync(join(dir, f), 'utf8').replace(/@[A-Z][A-Z0-9_]*@/g, 'ns')))
      .filter((d) => d !== null && d !== undefined) as { kind: string; metadata: { name: string }; rules: Rule[] }[];
    const roles = documents.filter((d) => d.kind === 'Role' && d.metadata.name === 'kube-ship-deployer');
    expect(roles).toHaveLength(1);
    expect(grants(roles[0]!.rules)).toEqual(required);
  });
});
