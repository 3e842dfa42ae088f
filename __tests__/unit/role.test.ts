/**
 * One source for the least-privilege Role: what preflight checks (REQUIRED_ACCESS) is what the README tells users
 * to grant and what the test bed grants its deployer, no more and no less.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { REQUIRED_ACCESS } from '../../src/access.js';

const ROOT = join(import.meta.dirname, '../..');
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };

const grants = (rules: Rule[]): string[] =>
  rules
    .flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${res}.${g}`))))
    .sort();
const required = REQUIRED_ACCESS.map(
  (a) => `${a.verb} ${a.subresource ? `${a.resource}/${a.subresource}` : a.resource}.${a.group}`,
).sort();

describe('the least-privilege Role', () => {
  it("in the README's Permissions section is exactly what preflight checks", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /### Permissions[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const role = yaml.load(block) as { kind: string; rules: Rule[] };
    expect(role.kind).toBe('Role');
    expect(grants(role.rules)).toEqual(required);
  });

  it('the test bed grants its deployer is exactly what preflight checks', () => {
    const up = readFileSync(join(ROOT, 'scripts/stack/up.sh'), 'utf8');
    const documents = up.split(/^---$/m).map((d) => d.replace(/\$NS/g, 'ns'));
    const doc = documents.find((d) => /^kind: Role$/m.test(d) && /name: kube-ship-deployer/.test(d)) ?? '';
    const role = yaml.load(doc.slice(doc.indexOf('apiVersion:'))) as { rules: Rule[] };
    expect(grants(role.rules)).toEqual(required);
  });
});
