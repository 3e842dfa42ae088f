/**
 * What the bundle gets for the npm package `undici`. @actions/core imports @actions/http-client, which imports undici
 * for one class, ProxyAgent, used only to send the runner's own HTTP requests through a proxy (OIDC tokens,
 * @actions/github's default fetch); loading undici whole costs every run about 20 MiB and 80 ms before anything
 * happens. kube-ship sends its API server requests on node:http2 and its GitHub and registry requests with Node's
 * own fetch, so none of that path is taken: these stand-ins keep the imports satisfied and say so if one is used.
 */
const unavailable = (what) =>
  new Error(`${what} of undici is not in kube-ship's bundle (bundle/undici.js): this path is not one kube-ship takes`);

export class Agent {
  constructor(options) {
    this.options = options;
  }
  dispatch() {
    throw unavailable(this.constructor.name);
  }
  close() {
    return Promise.resolve();
  }
  destroy() {
    return Promise.resolve();
  }
}

export class ProxyAgent extends Agent {}

/** Node's own fetch (itself undici): a dispatcher of the stand-ins above would have none of its own. */
export const fetch = (input, init) => globalThis.fetch(input, init === undefined ? init : { ...init, dispatcher: undefined });
