/**
 * Helm, as the chart engine sees it: one interface (the real adapter runs the helm binary, helm-cli.ts; unit tests
 * pass a fake), and the pure functions that build every argv sent to helm and read what it answers.
 */
import type { ChartSpec } from '../desired/chart.js';
import type { ImageUse } from '../desired/manifests.js';

/** One revision of a release, as `helm history -o json` lists it. */
export interface ReleaseRevision {
  revision: number;
  /** deployed, superseded, failed, pending-install, pending-upgrade, pending-rollback, uninstalling, ... */
  status: string;
}

/** What a post-renderer run saw: the containers given the reference, and the hook Jobs of the chart. */
export interface Rendered {
  uses: ImageUse[];
  hooks: HookJob[];
}

/** A Job of the chart that Helm runs as a hook (a migration before an upgrade, usually). */
export interface HookJob {
  /** '' when the chart leaves it to the release namespace. */
  namespace: string;
  name: string;
  /** The `helm.sh/hook` annotation: pre-install, pre-upgrade, post-upgrade, ... */
  hook: string;
}

export interface HelmCommandResult {
  ok: boolean;
  /** Helm's own last error line, when it failed. */
  message: string;
  stdout: string;
}

/** Where a release lives: its name and namespace. */
export interface ReleaseRef {
  release: string;
  namespace: string;
}

export interface UpgradeOptions {
  /** Stop helm (SIGTERM) when aborted. */
  signal: AbortSignal;
  /** Helm's own limit for hooks (its --timeout). */
  timeoutMs: number;
  /** `--dry-run=server`: render and check with the API server, change nothing. */
  dryRun?: boolean;
  /** Told helm's process id once it runs (a killed step's post step stops that helm before it rolls back). */
  onStarted?: (pid: number) => void;
  /** Called as soon as the post-renderer has run (before helm sends anything): what it gave the reference to. */
  onRendered?: (rendered: Rendered) => void;
}

export interface Helm {
  /** `helm version`'s semantic version, e.g. `v4.3.2`. */
  version(): Promise<string>;
  /** The release's newest revision, or undefined when there is no such release. */
  latest(ref: ReleaseRef): Promise<ReleaseRevision | undefined>;
  /** `helm upgrade --install` without helm's wait, the image reference given by the post-renderer. */
  upgrade(
    spec: ChartSpec,
    namespace: string,
    image: { image: string; reference: string },
    options: UpgradeOptions,
  ): Promise<HelmCommandResult & { rendered: Rendered }>;
  /** The release's manifest (the newest revision, or `revision`): multi-document YAML. */
  manifest(ref: ReleaseRef, revision?: number): Promise<string>;
  rollback(ref: ReleaseRef, revision: number, timeoutMs: number): Promise<HelmCommandResult>;
  uninstall(ref: ReleaseRef, timeoutMs: number): Promise<HelmCommandResult>;
}

/** The oldest helm kube-ship drives: --dry-run=server and OCI charts without flags are v3.13's. */
export const HELM_MINIMUM = { major: 3, minor: 13 };

/** The version in `helm version --template {{.Version}}` (or its long form): `v4.3.2` -> [4, 3, 2]. */
export function parseHelmVersion(text: string): [number, number, number] | undefined {
  const match = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

/** Whether a helm version is one kube-ship drives. */
export function supportedHelm(version: [number, number, number]): boolean {
  const [major, minor] = version;
  return major > HELM_MINIMUM.major || (major === HELM_MINIMUM.major && minor >= HELM_MINIMUM.minor);
}

/** Helm's --timeout from milliseconds (whole seconds, at least 1). */
export function helmDuration(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

/** `--kubeconfig` and `--kube-context`: helm talks to the cluster kube-ship talks to. */
export interface HelmCluster {
  kubeconfig: string;
  context: string;
}

function clusterArgs(cluster: HelmCluster, namespace: string): string[] {
  return ['--kubeconfig', cluster.kubeconfig, '--kube-context', cluster.context, '--namespace', namespace];
}

/** The post-renderer plugin and its arguments (the image, the reference, the file it reports to). */
export interface PostRenderer {
  plugin: string;
  args: string[];
}

export function upgradeArgs(
  spec: ChartSpec,
  namespace: string,
  cluster: HelmCluster,
  renderer: PostRenderer,
  options: { timeoutMs: number; dryRun: boolean },
): string[] {
  return [
    'upgrade',
    spec.release,
    spec.chart,
    '--install',
    ...clusterArgs(cluster, namespace),
    ...spec.values.flatMap((file) => ['--values', file]),
    ...spec.set.flatMap((line) => ['--set', line]),
    ...(spec.version !== '' ? ['--version', spec.version] : []),
    '--timeout',
    helmDuration(options.timeoutMs),
    '--post-renderer',
    renderer.plugin,
    ...renderer.args.flatMap((arg) => ['--post-renderer-args', arg]),
    // A dry run's release as JSON: its manifest is what the preview plans.
    ...(options.dryRun ? ['--dry-run=server', '--output', 'json'] : []),
  ];
}

export function historyArgs(ref: ReleaseRef, cluster: HelmCluster): string[] {
  return ['history', ref.release, ...clusterArgs(cluster, ref.namespace), '--max', '1', '--output', 'json'];
}

export function manifestArgs(ref: ReleaseRef, cluster: HelmCluster, revision?: number): string[] {
  return [
    'get',
    'manifest',
    ref.release,
    ...clusterArgs(cluster, ref.namespace),
    ...(revision !== undefined ? ['--revision', String(revision)] : []),
  ];
}

/** `helm rollback` without --wait: kube-ship watches the restored workloads itself. */
export function rollbackArgs(ref: ReleaseRef, cluster: HelmCluster, revision: number, timeoutMs: number): string[] {
  return [
    'rollback',
    ref.release,
    String(revision),
    ...clusterArgs(cluster, ref.namespace),
    '--timeout',
    helmDuration(timeoutMs),
  ];
}

export function uninstallArgs(ref: ReleaseRef, cluster: HelmCluster, timeoutMs: number): string[] {
  return ['uninstall', ref.release, ...clusterArgs(cluster, ref.namespace), '--timeout', helmDuration(timeoutMs)];
}

/** The newest revision in `helm history -o json`'s answer. */
export function parseHistory(json: string): ReleaseRevision | undefined {
  const list = JSON.parse(json) as { revision?: unknown; status?: unknown }[];
  const last = Array.isArray(list) ? list[list.length - 1] : undefined;
  if (last === undefined || typeof last.revision !== 'number') return undefined;
  return { revision: last.revision, status: typeof last.status === 'string' ? last.status : '' };
}

/** The manifest of the release in `helm upgrade --dry-run=server --output json`'s answer ('' when there is none). */
export function dryRunManifest(json: string): string {
  try {
    const release = JSON.parse(json) as { manifest?: unknown };
    return typeof release.manifest === 'string' ? release.manifest : '';
  } catch {
    return '';
  }
}

/** A release in the middle of an operation that never finished: Helm refuses to upgrade it until it is rolled back. */
export function isPending(status: string): boolean {
  return status.startsWith('pending-');
}
