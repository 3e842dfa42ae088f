/**
 * The last step of `npm run build`: ncc minifies without compressing, so dist/ keeps every class and function of
 * the packages it bundles, used or not: all of client-node's generated API groups (sixty-odd), when kube-ship calls
 * three. Every start of the step parses the whole bundle before its first request to the cluster, so this pass
 * drops what nothing references (oxc's minifier, from rolldown) and renames nothing: function and class names are
 * kept, as ncc keeps them. Run as `node scripts/prune-dist.ts [dir]` (default dist/); prints each file's size.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { minifySync } from 'rolldown/utils';

const dir = process.argv[2] ?? join(import.meta.dirname, '..', 'dist');

for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
  const path = join(dir, file);
  const source = readFileSync(path, 'utf8');
  const { code, errors } = minifySync(file, source, {
    module: true,
    compress: {
      target: 'node24',
      keepNames: { function: true, class: true },
      // Fewer rewrites: unreferenced code goes, statements stay as ncc wrote them.
      sequences: false,
      joinVars: false,
    },
    mangle: false,
    codegen: { removeWhitespace: true },
  });
  if (errors.length > 0) throw new Error(`${file}: ${errors.map((e) => e.message).join('; ')}`);
  writeFileSync(path, code);
  console.log(`${file}: ${(source.length / 1024).toFixed(0)} kB -> ${(code.length / 1024).toFixed(0)} kB`);
}
