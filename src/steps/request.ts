/**
 * The one request of this run, built once from the inputs, the checked targets and manifests and the digest: a
 * preview plans it, a deploy carries it out, so what was previewed is what would be deployed.
 */
import { changeCause } from '../deploy/patch.js';
import type { PostRecords } from '../deploy/records-file.js';
import type { DeployRequest } from '../deploy/rollout.js';
import type { Report } from '../report/report.js';
import type { Inputs } from '../desired/inputs.js';
import { withImage } from '../desired/manifests.js';
import type { Checked } from './check-cluster.js';

export type RequestInputs = Pick<
  Inputs,
  'image' | 'timeout' | 'rollback' | 'rollback-timeout' | 'fail-fast' | 'allowed-restarts' | 'bake' | 'force-conflicts'
>;

export interface RequestOptions {
  checked: Checked;
  digest: string;
  /** The image reference deployed (`image:tag@digest`) and the run it comes from, as the report has them. */
  run: Pick<Report, 'reference' | 'sha' | 'actor' | 'runUrl'>;
  signal: AbortSignal;
  /** Where the records the post step needs are saved. */
  records: PostRecords;
}

export function deployRequest(inputs: RequestInputs, options: RequestOptions): DeployRequest {
  const { checked, run, records } = options;
  return {
    targets: checked.targets,
    image: inputs.image,
    reference: run.reference,
    digest: options.digest,
    changeCause: changeCause(run.reference, run.sha, run.actor, run.runUrl),
    timeoutMs: inputs.timeout,
    rollback: inputs.rollback,
    rollbackTimeoutMs: inputs['rollback-timeout'],
    failFast: inputs['fail-fast'],
    allowedRestarts: inputs['allowed-restarts'],
    bakeMs: inputs.bake,
    signal: options.signal,
    onPatched: (patched) => records.saveTargets(patched),
    manifests: checked.manifests && {
      ...withImage(checked.manifests.objects, inputs.image, run.reference),
      force: inputs['force-conflicts'],
      onApplied: (applied) => records.saveObjects(applied),
    },
  };
}
