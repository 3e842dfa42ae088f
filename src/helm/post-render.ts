/**
 * The post-renderer helm runs on the chart's rendered manifests (hooks included: Helm 4 sends them in one stream):
 * every container of `image`'s repository gets the deployed reference, whatever the chart's values call it
 * (desired/manifests.ts's `withImage`), and the hook Jobs are noted so kube-ship can watch their pods while helm
 * waits for them. The action's own bundle is the plugin's command (index.ts starts `runPostRender` when called with
 * POST_RENDER_ARG); what it did is written to a file the main step reads.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dump, loadAll } from 'js-yaml';
import { isRecord } from '../lib/json.js';
import type { KubeObject } from '../cluster/kube.js';
import { withImage, type ManifestObject } from '../desired/manifests.js';
import type { HookJob, Rendered } from './helm.js';

/** The first argument of the bundle when helm runs it as the post-renderer. */
export const POST_RENDER_ARG = 'kube-ship-post-render';

/** The annotation Helm 4 puts on each rendered document: the chart file it came from. */
const FILENAME_ANNOTATION = 'postrenderer.helm.sh/postrender-filename';

const HOOK_ANNOTATION = 'helm.sh/hook';

/** The documents of a rendered stream that are objects (empty documents and comments dropped). */
function objectsOf(text: string): ManifestObject[] {
  const out: ManifestObject[] = [];
  loadAll(text).forEach((doc, i) => {
    if (!isRecord(doc) || typeof doc.kind !== 'string') return;
    const object = doc as unknown as KubeObject;
    const file = object.metadata?.annotations?.[FILENAME_ANNOTATION] ?? 'the chart';
    out.push({ file, document: i + 1, object });
  });
  return out;
}

/** The Jobs among the objects that Helm runs as hooks. */
function hookJobs(objects: ManifestObject[]): HookJob[] {
  return objects.flatMap(({ object }) => {
    const hook = object.metadata?.annotations?.[HOOK_ANNOTATION];
    if (object.kind !== 'Job' || hook === undefined) return [];
    return [{ namespace: object.metadata.namespace ?? '', name: object.metadata.name, hook }];
  });
}

/** The rendered stream with the reference given, and what got it. Pure. */
export function postRender(text: string, image: string, reference: string): { text: string; rendered: Rendered } {
  const objects = objectsOf(text);
  const given = withImage(objects, image, reference, { required: false });
  const out = given.objects.map((m) => dump(m.object, { lineWidth: -1, noRefs: true })).join('---\n');
  return { text: out, rendered: { uses: given.uses, hooks: hookJobs(objects) } };
}

/** The plugin's process: stdin -> stdout, what it did to `report` (args: image, reference, report file). */
export function runPostRender(args: string[]): void {
  const [image, reference, report] = args;
  if (image === undefined || reference === undefined || report === undefined) {
    process.stderr.write('kube-ship post-renderer: expected the image, the reference and the report file\n');
    process.exitCode = 2;
    return;
  }
  const { text, rendered } = postRender(readFileSync(0, 'utf8'), image, reference);
  writeFileSync(report, JSON.stringify(rendered), { mode: 0o600 });
  process.stdout.write(text);
}
