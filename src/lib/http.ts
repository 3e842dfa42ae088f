/**
 * Plain HTTP GETs from the runner (`verify`'s url checks, a Prometheus reached by URL), as an interface with one
 * adapter on fetch. Any status is an answer; only no answer at all (refused, reset, timed out) throws.
 */
export interface HttpAnswer {
  status: number;
  /** The start of the body, as text. */
  body: string;
}

export interface HttpGet {
  get(url: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<HttpAnswer>;
}

/** The most of a body that is read. */
export const HTTP_BODY_LIMIT = 64 * 1024;

/** Reads at most `limit` bytes of a body, then stops reading. */
async function readStart(response: Response, limit: number): Promise<string> {
  const reader = response.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => undefined);
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

export const fetchHttp: HttpGet = {
  async get(url, { timeoutMs, signal }) {
    const timeout = AbortSignal.timeout(timeoutMs);
    const response = await fetch(url, {
      redirect: 'manual',
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    return { status: response.status, body: await readStart(response, HTTP_BODY_LIMIT) };
  },
};
