/**
 * What the deploy engine decided, per target and per manifest object: its own result types, which the report reads
 * (the engine never imports the report).
 */
import type { WorkloadKind } from '../cluster/workload.js';
import type { ObjectOutcome } from './object-record.js';

export type TargetOutcome =
  'success' | 'no-op' | 'failed' | 'rolled-back' | 'rollback-failed' | 'not-restored' | 'superseded' | 'interrupted';

export interface TargetResult {
  key: string;
  kind: WorkloadKind;
  containers: string[];
  imagesBefore: Record<string, string>;
  imageAfter: string;
  revisionBefore: string;
  revisionAfter: string;
  /** Its resourceVersion just before the deploy changed it (what a preview's stamp is compared with). */
  resourceVersionBefore?: string;
  replicas: number;
  outcome: TargetOutcome;
  message: string;
  /** Seconds from the start of the deploy to the verdict (after the bake). */
  seconds: number;
  /** Seconds from the start of the deploy until kubectl's rule was met, when it was. */
  rolledOutSeconds?: number;
  /** Seconds the new pods were watched after that. */
  bakedSeconds?: number;
  /** Restarts of the new pods' containers, all told, when the wait ended. */
  restarts?: number;
  /** What the rollback did, when it did something other than restore the recorded template. */
  restoreNote?: string;
  /** Its pods' labels (its pod template's, as read for the deploy): which Services route to it. */
  podLabels?: Record<string, string>;
}

/** What the deploy (and its rollback) did to one object of the manifests. */
export interface ObjectResult {
  /** `Kind namespace/name`. */
  key: string;
  /** `file document N`. */
  source: string;
  outcome: ObjectOutcome;
  /** Its resourceVersion just before the apply; empty when it did not exist. */
  resourceVersionBefore?: string;
  /** Why it was not restored, or whose later change was kept. */
  note?: string;
}

/**
 * `superseded`: another change took over our containers during the wait; nothing was rolled back. `cancelled`: the
 * job was cancelled; whatever was patched was restored (not waited for).
 */
export type DeployResultKind = 'success' | 'rolled-back' | 'failed' | 'no-op' | 'superseded' | 'cancelled' | 'preview';
