/**
 * Canary first with `manifests`: a Deployment of the manifests whose pod template would change a live one is held
 * back from the apply and canaried like a target, its canary made from what the manifests make of it (a server-side
 * dry run of the apply: the new template, the image given) beside the live one, which is not touched until the
 * steps pass. Everything else is applied first, as without a canary (the ConfigMaps and Secrets the canary's pods
 * need included). A Deployment the manifests create has nothing stable to compare with and gets no canary.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import type { Kube } from '../cluster/kube.js';
import { logRetry, retryingTransient } from '../cluster/retry.js';
import type { Log } from '../lib/log.js';
import type { ChosenContainer } from '../desired/targets.js';
import type { ImageUse, ManifestObject } from '../desired/manifests.js';
import { objectKey } from '../desired/manifests.js';
import { refOf } from './apply.js';
import { same } from './object-record.js';
import { recordWith, type TargetRecord } from './target-record.js';

/** A Deployment of the manifests held back for the canary: the manifest, the live Deployment, what it would become. */
export interface HeldDeployment {
  object: ManifestObject;
  /** The live Deployment, as recorded before the canary (never changed by it). */
  record: TargetRecord;
  /** What the apply would make of it (the server's dry run): the canary's template comes from it. */
  desired: V1Deployment;
  /** The live replicas, which size the canary. */
  replicas: number;
}

/** The containers of the desired template the manifests give the image, with the image each has live. */
function containersOf(desired: V1Deployment, live: V1Deployment, names: string[]): ChosenContainer[] {
  const liveImages = new Map(
    [...(live.spec?.template.spec?.containers ?? []), ...(live.spec?.template.spec?.initContainers ?? [])].map((c) => [
      c.name,
      c.image ?? '',
    ]),
  );
  const spec = desired.spec?.template.spec;
  return (['containers', 'initContainers'] as const).flatMap((kind) =>
    (spec?.[kind] ?? []).flatMap((c, index) =>
      names.includes(c.name) ? [{ kind, index, name: c.name, image: liveImages.get(c.name) ?? '' }] : [],
    ),
  );
}

/** The live Deployment's record, as a target's: what the report shows of it when the canary stops the release. */
function recordOfLive(live: V1Deployment, containers: ChosenContainer[]): TargetRecord {
  const target = {
    kind: 'deployment' as const,
    namespace: live.metadata?.namespace ?? '',
    name: live.metadata?.name ?? '',
  };
  return recordWith(target, live, containers);
}

/**
 * Splits the manifests (in apply order) into what is applied before the canary and the Deployments held back for
 * it: each Deployment that exists and whose pod template the apply would change. A Deployment whose dry run the
 * server refuses is left to the apply, which then says why.
 */
export async function holdForCanary(
  kube: Kube,
  objects: ManifestObject[],
  options: { force: boolean; uses: ImageUse[]; retryMs: number },
  log: Log,
): Promise<{ first: ManifestObject[]; held: HeldDeployment[] }> {
  const first: ManifestObject[] = [];
  const held: HeldDeployment[] = [];
  const deadline = Date.now() + options.retryMs;
  for (const m of objects) {
    if (m.object.kind !== 'Deployment' || m.object.apiVersion !== 'apps/v1') {
      first.push(m);
      continue;
    }
    const key = objectKey(m.object);
    try {
      const retry = logRetry(log, key);
      const live = (await retryingTransient(() => kube.getObject(refOf(m.object)), deadline, retry)) as
        V1Deployment | undefined;
      const dry = async () => (await kube.applyObject(m.object, { dryRun: true, force: options.force })).object;
      const desired = live && ((await retryingTransient(dry, deadline, retry)) as unknown as V1Deployment);
      if (live === undefined || desired === undefined || same(desired.spec?.template, live.spec?.template)) {
        first.push(m);
        continue;
      }
      const names = options.uses.find((u) => u.key === key)?.containers ?? [];
      const record = recordOfLive(live, containersOf(desired, live, names));
      held.push({ object: m, record, desired, replicas: live.spec?.replicas ?? 1 });
    } catch {
      first.push(m);
    }
  }
  return { first, held };
}
