/**
 * A loaded kubeconfig: its clusters, users and contexts (parsed by client-node's own `config_types`, so every field
 * reads as client-node reads it), the current context, and what a request to its cluster carries (TLS material and
 * headers, credentials from a token, a token file, client certificates, basic auth, an exec plugin or an auth
 * provider, through client-node's own authenticators).
 *
 * It stands in for client-node's KubeConfig, which imports every typed API of the library (`gen/index.js`, most of
 * the bundle): loading that alone costs about 50 MiB and a quarter of a second before the first request. What is
 * used of client-node here is its kubeconfig types and authenticators; the OIDC provider, which needs more of the
 * library, is loaded only for a user that has it.
 */
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import {
  exportCluster,
  exportContext,
  exportUser,
  newClusters,
  newContexts,
  newUsers,
  type Cluster,
  type Context,
  type User,
} from '@kubernetes/client-node/dist/config_types.js';
import { ExecAuth } from '@kubernetes/client-node/dist/exec_auth.js';
import { FileAuth } from '@kubernetes/client-node/dist/file_auth.js';
import * as yaml from 'js-yaml';

export type { Cluster, Context, User };

/** What a request carries: TLS material for the connection, headers for every request. */
export interface RequestAuth {
  headers: Record<string, string>;
  tls: TlsMaterial;
}

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer | string;
  key?: Buffer | string;
  rejectUnauthorized?: boolean;
  servername?: string;
}

/** The options object client-node's authenticators write to (headers, and a plugin's client certificate). */
interface AuthOptions extends TlsMaterial {
  headers: Record<string, string>;
}

/** A client-node authenticator: what each of ExecAuth, FileAuth, the cloud providers and OIDC is. */
interface Authenticator {
  isAuthProvider(user: User): boolean | undefined | null;
  applyAuthentication(user: User, opts: AuthOptions): Promise<void>;
}

const SERVICEACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

export class ClientConfig {
  clusters: Cluster[] = [];
  users: User[] = [];
  contexts: Context[] = [];
  private currentContext = '';
  private readonly execAuth = new ExecAuth() as unknown as Authenticator;
  private readonly fileAuth = new FileAuth() as unknown as Authenticator;
  /** Providers loaded when a user names them (gcp, azure, oidc), one instance each: they keep their tokens. */
  private readonly providers = new Map<string, Promise<Authenticator>>();
  /** What fileMaterial read, and for which cluster and user (objects: a new context or a changed entry reads anew). */
  private files: { cluster: Cluster | null; user: User | null; tls: TlsMaterial } | undefined;

  loadFromString(text: string): void {
    this.loadFromDocument(yaml.load(text) ?? {});
  }

  /** A kubeconfig already parsed (kubeconfig.ts parses it once, for its secrets, and hands it on). */
  loadFromDocument(parsed: unknown): void {
    const document = (parsed ?? {}) as Record<string, unknown>;
    this.clusters = newClusters(document.clusters);
    this.contexts = newContexts(document.contexts);
    this.users = newUsers(document.users);
    this.currentContext = String(document['current-context'] ?? '');
  }

  loadFromClusterAndUser(cluster: Cluster, user: User): void {
    this.clusters = [cluster];
    this.users = [user];
    this.contexts = [{ name: 'loaded-context', cluster: cluster.name, user: user.name }];
    this.currentContext = 'loaded-context';
  }

  /** The in-cluster service account, as client-node loads it (its token file is read again every minute). */
  loadFromCluster(env: NodeJS.ProcessEnv): void {
    const host = env.KUBERNETES_SERVICE_HOST ?? '';
    const port = env.KUBERNETES_SERVICE_PORT ?? '';
    const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
    const server = `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
    let namespace: string | undefined;
    try {
      namespace = readFileSync(`${SERVICEACCOUNT}/namespace`, 'utf8');
    } catch {
      namespace = undefined;
    }
    this.clusters = [{ name: 'inCluster', server, caFile: `${SERVICEACCOUNT}/ca.crt`, skipTLSVerify: false }];
    this.users = [
      { name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile: `${SERVICEACCOUNT}/token` } } },
    ];
    this.contexts = [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser', namespace }];
    this.currentContext = 'inClusterContext';
  }

  getContexts(): Context[] {
    return this.contexts;
  }

  getCurrentContext(): string {
    return this.currentContext;
  }

  setCurrentContext(name: string): void {
    this.currentContext = name;
  }

  getContextObject(name: string): Context | null {
    return this.contexts.find((c) => c.name === name) ?? null;
  }

  getCurrentCluster(): Cluster | null {
    const context = this.getContextObject(this.currentContext);
    return context === null ? null : (this.clusters.find((c) => c.name === context.cluster) ?? null);
  }

  getCurrentUser(): User | null {
    const context = this.getContextObject(this.currentContext);
    return context === null ? null : (this.users.find((u) => u.name === context.user) ?? null);
  }

  /** The kubeconfig as one JSON document (for a tool that must reach the same cluster, and the post step). */
  exportConfig(): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: this.clusters.map(exportCluster),
      users: this.users.map(exportUser),
      contexts: this.contexts.map(exportContext),
      preferences: {},
      'current-context': this.currentContext,
    });
  }

  /**
   * What the next request carries: the cluster's CA and TLS settings, the user's certificate, and its headers
   * (basic auth, impersonation, a bearer token, which wins over basic auth as in client-node), with an exec plugin or
   * auth provider asked as client-node asks it (each caches what it issued until it expires).
   */
  async requestAuth(): Promise<RequestAuth> {
    const user = this.getCurrentUser();
    const opts: AuthOptions = { headers: {} };
    if (user) {
      if (user.username) {
        opts.headers.Authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
      }
      if (user.impersonateUser) opts.headers['Impersonate-User'] = user.impersonateUser;
      const authenticator = await this.authenticatorFor(user);
      if (authenticator) await authenticator.applyAuthentication(user, opts);
      if (user.token) opts.headers.Authorization = `Bearer ${user.token}`;
    }
    // The kubeconfig's own material is handed on as one object unless a plugin issued a certificate, so that the
    // connection made of it is known as such without comparing bytes (transport.ts).
    const files = this.fileMaterial();
    const { cert, key } = opts;
    if (cert === undefined && key === undefined) return { headers: opts.headers, tls: files };
    return {
      headers: opts.headers,
      tls: { ...files, ...(cert !== undefined && { cert }), ...(key !== undefined && { key }) },
    };
  }

  /** The cluster's TLS settings and CA and the user's certificate and key, read once for each cluster and user. */
  private fileMaterial(): TlsMaterial {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    if (this.files?.cluster === cluster && this.files.user === user) return this.files.tls;
    const tls: TlsMaterial = {};
    if (cluster?.skipTLSVerify) tls.rejectUnauthorized = false;
    if (cluster?.tlsServerName) tls.servername = cluster.tlsServerName;
    const ca = fileOrData(cluster?.caFile, cluster?.caData);
    const cert = fileOrData(user?.certFile, user?.certData);
    const key = fileOrData(user?.keyFile, user?.keyData);
    if (ca) tls.ca = ca;
    if (cert) tls.cert = cert;
    if (key) tls.key = key;
    this.files = { cluster, user, tls };
    return tls;
  }

  /** The authenticator client-node would pick for `user`: gcp, azure, exec, a token file, then OIDC. */
  private async authenticatorFor(user: User): Promise<Authenticator | undefined> {
    const provider = (user.authProvider as { name?: string } | undefined)?.name;
    if (provider === 'gcp' || provider === 'google') return this.provider('gcp');
    if (provider === 'azure') return this.provider('azure');
    if (this.execAuth.isAuthProvider(user)) return this.execAuth;
    if (this.fileAuth.isAuthProvider(user)) return this.fileAuth;
    if (provider === 'oidc') return this.provider('oidc');
    return undefined;
  }

  private provider(name: 'gcp' | 'azure' | 'oidc'): Promise<Authenticator> {
    let loaded = this.providers.get(name);
    if (loaded === undefined) {
      loaded = loadProvider(name);
      this.providers.set(name, loaded);
    }
    return loaded;
  }
}

/** A cloud or OIDC auth provider of client-node, loaded only when a kubeconfig's user names it. */
async function loadProvider(name: 'gcp' | 'azure' | 'oidc'): Promise<Authenticator> {
  if (name === 'gcp') {
    const { GoogleCloudPlatformAuth } = await import('@kubernetes/client-node/dist/gcp_auth.js');
    return new GoogleCloudPlatformAuth() as unknown as Authenticator;
  }
  if (name === 'azure') {
    const { AzureAuth } = await import('@kubernetes/client-node/dist/azure_auth.js');
    return new AzureAuth() as unknown as Authenticator;
  }
  const { OpenIDConnectAuth } = await import('@kubernetes/client-node/dist/oidc_auth.js');
  return new OpenIDConnectAuth() as unknown as Authenticator;
}

/** A file's bytes, else base64 data decoded, as client-node reads CA, certificate and key. */
function fileOrData(file: string | undefined, data: string | undefined): Buffer | undefined {
  if (file) return readFileSync(file);
  if (data) return Buffer.from(data, 'base64');
  return undefined;
}
