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
import { KubeError, type ApplyOptions, type KindInfo, type KubeObject, type ObjectRef } from './kube.js';
import { toKubeError } from './kube-watch.js';

export const FIELD_MANAGER = 'kube-ship';

interface Send {
  method: HttpMethod;
  ref: ObjectRef;
  body?: unknown;
  contentType?: string;
  query?: Record<string, string>;
}

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

  async send<T>({ method, ref, body, contentType, query }: Send): Promise<T> {
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
    return this.requestPromise(context) as Promise<T>;
  }

  protected override async processResponse<T>(response: ResponseContext): Promise<T> {
    const text = await response.body.text();
    if (response.httpStatusCode >= 200 && response.httpStatusCode <= 299) return JSON.parse(text || '{}') as T;
    throw new ApiException(response.httpStatusCode, 'Unsuccessful HTTP Request', text, response.headers);
  }
}

/** The part of the Kube adapter that handles any object. */
export function objectClient(config: KubeConfig, timeoutMs: number) {
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
        throw toKubeError(new Error(`no answer within ${timeoutMs / 1000}s`), what);
      }
      throw toKubeError(error, what);
    }
  };
  return {
    kindInfo: (apiVersion: string, kind: string) => guarded(`discover ${kind}`, () => api.info(apiVersion, kind)),

    async getObject(ref: ObjectRef): Promise<KubeObject | undefined> {
      try {
        return await guarded(`get ${named(ref)}`, () => api.send<KubeObject>({ method: HttpMethod.GET, ref }));
      } catch (error) {
        if (error instanceof KubeError && error.status === 404) return undefined;
        throw error;
      }
    },

    applyObject: (object: KubeObject, { dryRun, force }: ApplyOptions) =>
      guarded(`apply ${named(refOf(object))}`, () =>
        api.send<KubeObject>({
          method: HttpMethod.PATCH,
          ref: refOf(object),
          body: object,
          contentType: 'application/apply-patch+yaml',
          query: {
            fieldManager: FIELD_MANAGER,
            ...(force ? { force: 'true' } : {}),
            ...(dryRun ? { dryRun: 'All' } : {}),
          },
        }),
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
