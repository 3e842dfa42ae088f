/**
 * Any API object by apiVersion and kind (manifests): discovery (each API version's resource list, asked once and
 * kept) finds each kind's resource and scope; the requests are plain JSON, so what is applied is exactly what the
 * manifest says and what is read back is the server's JSON.
 */
import { onceByKey } from '../lib/once.js';
import { apiRoot, resourcePath, type Api, type Query, type Reply } from './api.js';
import {
  KubeError,
  type Applied,
  type ApplyOptions,
  type JsonPatchOp,
  type KindInfo,
  type KubeObject,
  type ObjectRef,
  type ProxyReply,
  type ProxyRequest,
} from './kube.js';

export const FIELD_MANAGER = 'kube-ship';

/** The most of a proxied answer's body that is kept (checks show its first bytes and match a pattern on it). */
export const PROXY_BODY_LIMIT = 64 * 1024;

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

/** Each API version's resources, asked once (`/api/v1`, `/apis/GROUP/VERSION`). */
function discovery(api: Api) {
  const resources = onceByKey(
    (apiVersion) =>
      api
        .read<{ resources?: ApiResource[] }>(`discover ${apiVersion}`, { path: apiRoot(apiVersion) })
        .then((list) => list.resources ?? []),
    { forgetFailures: true },
  );
  return async (apiVersion: string, kind: string): Promise<KindInfo> => {
    let list: ApiResource[] = [];
    try {
      list = await resources(apiVersion);
    } catch (error) {
      if (!(error instanceof KubeError && error.status === 404)) throw error;
    }
    const found = list.find((r) => r.kind === kind && !r.name.includes('/'));
    if (found === undefined) throw new KubeError(404, `the cluster serves no ${kind} in ${apiVersion}`, 'NotFound');
    return { namespaced: found.namespaced, resource: found.name };
  };
}

/** The path of one object: its API version's, its namespace's (when the kind is namespaced), its resource's. */
function objectPath(ref: ObjectRef, info: KindInfo): string {
  return resourcePath(
    ref.apiVersion,
    info.resource,
    info.namespaced ? ref.namespace || 'default' : undefined,
    ref.name,
  );
}

/**
 * A proxied answer: its status and the start of its body, and whether the API server gave it itself (a Status
 * object: the proxy refused, found no endpoint, or could not reach the pod) rather than the app behind it.
 */
function proxyReply(reply: { status: number; headers: Record<string, string>; body: string }): ProxyReply {
  let fromServer = false;
  if (reply.status >= 400 && (reply.headers['content-type'] ?? '').startsWith('application/json')) {
    try {
      const parsed = JSON.parse(reply.body) as { kind?: unknown; apiVersion?: unknown };
      fromServer = parsed.kind === 'Status' && parsed.apiVersion === 'v1';
    } catch {
      // the app's own JSON error, cut or not JSON at all
    }
  }
  return { status: reply.status, body: reply.body, fromServer };
}

/** The part of the Kube adapter that handles any object. */
export function objectClient(api: Api) {
  const kindInfo = discovery(api);
  const named = (ref: ObjectRef): string => `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
  const refOf = (o: KubeObject): ObjectRef => ({
    apiVersion: o.apiVersion,
    kind: o.kind,
    namespace: o.metadata.namespace,
    name: o.metadata.name,
  });
  /** One request to the object's own path. */
  const send = async <T>(
    what: string,
    ref: ObjectRef,
    call: { method: string; body?: unknown; contentType?: string; query?: Query },
  ): Promise<Reply<T>> => {
    const path = objectPath(ref, await kindInfo(ref.apiVersion, ref.kind));
    return api.json<T>(`${what} ${named(ref)}`, { path, ...call });
  };
  return {
    kindInfo,

    async getObject(ref: ObjectRef): Promise<KubeObject | undefined> {
      try {
        return (await send<KubeObject>('get', ref, { method: 'GET' })).body;
      } catch (error) {
        if (error instanceof KubeError && error.status === 404) return undefined;
        throw error;
      }
    },

    /**
     * Whether the apply created the object is the API server's own answer: a server-side apply (a PATCH) that
     * creates answers 201 Created, one that updates 200 OK. A read before the apply cannot tell (someone else can
     * create or delete the object in between), and nothing in the object itself can without trusting clocks
     * (creationTimestamp, managedFields' time); the status is decided in the same write that made the object.
     */
    async applyObject(object: KubeObject, { dryRun, force, fieldManager }: ApplyOptions): Promise<Applied> {
      const reply = await send<KubeObject>('apply', refOf(object), {
        method: 'PATCH',
        body: object,
        contentType: 'application/apply-patch+yaml',
        query: {
          fieldManager: fieldManager ?? FIELD_MANAGER,
          force: force || undefined,
          dryRun: dryRun ? 'All' : undefined,
        },
      });
      return { object: reply.body, created: reply.status === 201 };
    },

    async patchObject(ref: ObjectRef, ops: JsonPatchOp[]): Promise<KubeObject> {
      const reply = await send<KubeObject>('patch', ref, {
        method: 'PATCH',
        body: ops,
        contentType: 'application/json-patch+json',
        query: { fieldManager: FIELD_MANAGER },
      });
      return reply.body;
    },

    /** A GET through the API server's pod or service proxy: whatever status it answers is the reply. */
    async proxyGet({ kind, namespace, name, port, path, timeoutMs, signal }: ProxyRequest): Promise<ProxyReply> {
      const target = new URL(path, 'http://proxied');
      const resource = `${resourcePath('v1', kind, namespace, name)}:${port}`;
      const reply = await api.raw(
        `GET ${path} through the ${kind} proxy of ${namespace}/${name}`,
        `${resource}/proxy${target.pathname}${target.search}`,
        {
          ms: timeoutMs,
          signal,
          limit: PROXY_BODY_LIMIT,
        },
      );
      return proxyReply(reply);
    },

    async deleteObject(ref: ObjectRef, uid: string): Promise<void> {
      await send('delete', ref, {
        method: 'DELETE',
        body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions: { uid } },
      });
    },
  };
}
