/**
 * The longest functions in src/, by lines from the first line of the declaration to its closing brace (nested
 * functions counted in their own right and inside their parent). Run as
 * `node --experimental-transform-types scripts/function-lengths.ts [count]`; prints the `count` longest (default 10).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const root = join(import.meta.dirname, '..');
const count = Number(process.argv[2] ?? 10);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** A name for a function node: its own, or the variable or property it is assigned to. */
function nameOf(node: ts.Node): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name && ts.isIdentifier(named.name)) return named.name.text;
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) {
    return parent.name.getText();
  }
  return '(anonymous)';
}

const lengths: { where: string; name: string; lines: number }[] = [];
for (const path of sources(join(root, 'src'))) {
  const file = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const start = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
      const end = file.getLineAndCharacterOfPosition(node.getEnd()).line;
      lengths.push({ where: `${relative(root, path)}:${start + 1}`, name: nameOf(node), lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
}
for (const { where, name, lines } of lengths.sort((a, b) => b.lines - a.lines).slice(0, count)) {
  console.log(`${String(lines).padStart(4)}  ${name}  ${where}`);
}
