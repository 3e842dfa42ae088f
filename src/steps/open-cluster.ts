/**
 * The cluster the deploy talks to: the kubeconfig loaded and every secret in it masked, the client made by the
 * caller's factory, and a credential plugin's token issued (and masked) before any request could log it.
 */
import type { Kube } from '../cluster/kube.js';
import { issuedToken, loadCluster, type ClusterConfig } from '../cluster/kubeconfig.js';
import { deadline } from '../lib/deadline.js';
import type { Log } from '../lib/log.js';
import type { Secrets } from '../lib/secrets.js';
import type { Inputs } from '../desired/inputs.js';

/** How long a kubeconfig's credential plugin may take to issue a token. */
const CREDENTIAL_TIMEOUT_MS = 30_000;

export interface OpenClusterOptions {
  env: NodeJS.ProcessEnv;
  secrets: Secrets;
  log: Log;
  /** Makes the client for a loaded kubeconfig (the real adapter in the action). */
  connect: (config: ClusterConfig['config']) => Kube;
}

export interface OpenCluster {
  kube: Kube;
  /** Where targets and manifests without a namespace go: the input, the context's namespace, or `default`. */
  defaultNamespace: string;
  /** The loaded kubeconfig and its current context, for a tool that must reach the same cluster (helm). */
  config: ClusterConfig['config'];
}

export async function openCluster(
  inputs: Pick<Inputs, 'kubeconfig' | 'kube-context' | 'allow-http' | 'namespace'>,
  { env, secrets, log, connect }: OpenClusterOptions,
): Promise<OpenCluster> {
  const cluster = loadCluster(
    inputs.kubeconfig,
    inputs['kube-context'],
    env,
    (s, whole) => secrets.add(s, { lines: !whole }),
    { allowHttp: inputs['allow-http'] },
  );
  const kube = connect(cluster.config);
  log.info(`Cluster: ${kube.server} (from ${cluster.source}, context ${cluster.config.getCurrentContext()})`);
  const plugin = cluster.credentialCommand;
  if (plugin !== undefined) log.info(`The kubeconfig runs a credential command on this runner: ${plugin}`);
  secrets.add(
    await deadline(
      CREDENTIAL_TIMEOUT_MS,
      issuedToken(cluster.config),
      `the kubeconfig's credential command (${plugin}) did not answer within ${CREDENTIAL_TIMEOUT_MS / 1000}s; check that it runs on this runner without prompting`,
    ),
  );
  if (inputs['allow-http'] && kube.server.startsWith('http://')) {
    log.warning(
      `allow-http: the cluster ${kube.server} is reached over plain HTTP; its credentials are not encrypted.`,
    );
  }
  return { kube, defaultNamespace: inputs.namespace || cluster.contextNamespace || 'default', config: cluster.config };
}
