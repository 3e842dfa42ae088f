/**
 * Any API object by apiVersion and kind (manifests), on @kubernetes/client-node's KubernetesObjectApi: its discovery
 * (cached per API version) finds each kind's resource and scope; the requests are sent here as plain JSON, so what
 * is applied is exactly what the manifest says and what is read back is the server's JSON, not model classes.
 */
import {
  ApiException,
  HttpMethod,
  KubernetesObjectApi,
  type KubeConfig,
  type KubernetesObject,
  type ResponseContext,
} from '@kubernetes/client-node';
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
import { toKubeError } from './kube-watch.js';

export const FIELD_MANAGER = 'kube-ship';

interface Send {
  method: HttpMethod;
  ref: ObjectRef;
  body?: unknown;
  contentType?: string;
  query?: Record<string, string>;
}

/** An answer: its HTTP status (a created object's 201 is told from an update's 200) and its JSON. */
interface Reply<T> {
  status: number;
  body: T;
}

/** What `send` passes as the response type: its answer keeps the HTTP status (see `processResponse`). */
const WITH_STATUS = 'kube-ship:with-status';
/** What `proxy` passes: any status is an answer, and the body is text (an app's, not the API's JSON). */
const RAW = 'kube-ship:raw';
/** The most of a proxied answer's body that is kept (checks show its first bytes and match a pattern on it). */
export const PROXY_BODY_LIMIT = 64 * 1024;

/** KubernetesObjectApi with JSON in and out, and a time limit per request. */
class ObjectApi extends KubernetesObjectApi {
  timeoutMs = 15_000;

  async info(apiVersion: string, kind: string): Promise<KindInfo> {
    let found;
    try {
      found = await this.resource(apiVersion, kind);
    } catch (error) {
      const failure = toKubeError(error, `discover ${kind} in ${apiVersion}`);
      if (failure.status !== 404) throw failure;
    }
    if (found === undefined) throw new KubeError(404, `the cluster serves no ${kind} in ${apiVersion}`, 'NotFound');
    return { namespaced: found.namespaced, resource: found.name };
  }

  async send<T>({ method, ref, body, contentType, query }: Send): Promise<Reply<T>> {
    const header: KubernetesObject = {
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
    };
    const path = await this.specUriPath(header, 'read');
    const context = this.configuration.baseServer.makeRequestContext(path, method);
    context.setHeaderParam('Accept', 'application/json');
    for (const [name, value] of Object.entries(query ?? {})) context.setQueryParam(name, value);
    if (body !== undefined) {
      context.setHeaderParam('Content-Type', contentType ?? 'application/json');
      context.setBody(JSON.stringify(body));
    }
    context.setSignal(AbortSignal.timeout(this.timeoutMs));
    return this.requestPromise(context, WITH_STATUS) as Promise<Reply<T>>;
  }

  /** A GET through the API server's pod or service proxy: whatever status it answers is the reply. */
  async proxy({ kind, namespace, name, port, path, timeoutMs, signal }: ProxyRequest): Promise<ProxyReply> {
    const target = new URL(path, 'http://proxied');
    const resource = `/api/v1/namespaces/${encodeURIComponent(namespace)}/${kind}/${encodeURIComponent(name)}:${port}`;
    const context = this.configuration.baseServer.makeRequestContext(
      `${resource}/proxy${target.pathname}`,
      HttpMethod.GET,
    );
    for (const [key, value] of target.searchParams) context.setQueryParam(key, value);
    const timeout = AbortSignal.timeout(timeoutMs);
    context.setSignal(signal ? AbortSignal.any([signal, timeout]) : timeout);
    return this.requestPromise(context, RAW) as Promise<ProxyReply>;
  }

  /** The JSON; for `send`'s requests (asked `WITH_STATUS`), with the HTTP status. Discovery takes the JSON alone. */
  protected override async processResponse<T>(response: ResponseContext, type?: string): Promise<T> {
    if (type === RAW) return (await proxyReply(response)) as T;
    const text = await response.body.text();
    if (response.httpStatusCode >= 200 && response.httpStatusCode <= 299) {
      const body: unknown = JSON.parse(text || '{}');
      const reply: Reply<unknown> = { status: response.httpStatusCode, body };
      return (type === WITH_STATUS ? reply : body) as T;
    }
    throw new ApiException(response.httpStatusCode, 'Unsuccessful HTTP Request', text, response.headers);
  }
}

/**
 * A proxied answer: its status and the start of its body, and whether the API server gave it itself (a Status
 * object: the proxy refused, found no endpoint, or could not reach the pod) rather than the app behind it.
 */
async function proxyReply(response: ResponseContext): Promise<ProxyReply> {
  const body = (await response.body.text()).slice(0, PROXY_BODY_LIMIT);
  let fromServer = false;
  if (response.httpStatusCode >= 400 && (response.headers['content-type'] ?? '').startsWith('application/json')) {
    try {
      const parsed = JSON.parse(body) as { kind?: unknown; apiVersion?: unknown };
      fromServer = parsed.kind === 'Status' && parsed.apiVersion === 'v1';
    } catch {
      // the app's own JSON error, cut or not JSON at all
    }
  }
  return { status: response.httpStatusCode, body, fromServer };
}

/** The part of the Kube adapter that handles any object. */
export function objectClient(config: KubeConfig, timeoutMs: number, unanswered: () => void = () => undefined) {
  const api = config.makeApiClient(ObjectApi);
  api.timeoutMs = timeoutMs;
  const named = (ref: ObjectRef): string => `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
  const refOf = (o: KubeObject): ObjectRef => ({
    apiVersion: o.apiVersion,
    kind: o.kind,
    namespace: o.metadata.namespace,
    name: o.metadata.name,
  });
  const guarded = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      if ((error as { name?: string } | null)?.name === 'TimeoutError') {
        unanswered();
        throw toKubeError(new Error(`no answer within ${timeoutMs / 1000}s`), what);
      }
      throw toKubeError(error, what);
    }
  };
  return {
    kindInfo: (apiVersion: string, kind: string) => guarded(`discover ${kind}`, () => api.info(apiVersion, kind)),

    async getObject(ref: ObjectRef): Promise<KubeObject | undefined> {
      try {
        const reply = await guarded(`get ${named(ref)}`, () => api.send<KubeObject>({ method: HttpMethod.GET, ref }));
        return reply.body;
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
      const reply = await guarded(`apply ${named(refOf(object))}`, () =>
        api.send<KubeObject>({
          method: HttpMethod.PATCH,
          ref: refOf(object),
          body: object,
          contentType: 'application/apply-patch+yaml',
          query: {
            fieldManager: fieldManager ?? FIELD_MANAGER,
            ...(force ? { force: 'true' } : {}),
            ...(dryRun ? { dryRun: 'All' } : {}),
          },
        }),
      );
      return { object: reply.body, created: reply.status === 201 };
    },

    async patchObject(ref: ObjectRef, ops: JsonPatchOp[]): Promise<KubeObject> {
      const reply = await guarded(`patch ${named(ref)}`, () =>
        api.send<KubeObject>({
          method: HttpMethod.PATCH,
          ref,
          body: ops,
          contentType: 'application/json-patch+json',
          query: { fieldManager: FIELD_MANAGER },
        }),
      );
      return reply.body;
    },

    proxyGet: (request: ProxyRequest) =>
      guarded(`GET ${request.path} through the ${request.kind} proxy of ${request.namespace}/${request.name}`, () =>
        api.proxy(request),
      ),

    async deleteObject(ref: ObjectRef, uid: string): Promise<void> {
      await guarded(`delete ${named(ref)}`, () =>
        api.send({
          method: HttpMethod.DELETE,
          ref,
          body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions: { uid } },
        }),
      );
    },
  };
}
