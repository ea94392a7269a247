// How a request leaves the generator. Requests whose bytes can be built once (every request of the
// closed and open models over plain http: a fixed method, URL, headers and body) go out on the raw
// transport (raw-pool.ts: `net` sockets, a prebuilt Buffer head, our own small response parser),
// which costs a fraction of undici's CPU per request; see its header for the measurement. The rest
// goes through undici Pools (keep-alive, one per origin, `connections` sockets, no pipelining) with
// the low-level dispatch() API: each in-flight request is one small handler object, reused by its
// user or from a free list, and the body is consumed chunk by chunk without buffering. That is
// https, SSE streams (their executor needs the body), headers that change the framing or the
// connection (`connection`, `transfer-encoding`, `expect`…), and everything when the group says
// `--transport undici`. We implement undici's callback handler protocol
// (onConnect/onHeaders/onData/onComplete/onError) rather than the newer controller one because the
// newer one wraps every request in an adapter, a controller and a parsed header object, which is
// measurable at 50k req/s; the callback protocol is what undici's core calls in either case.
// Slow clients (slow headers, upload or read) need control below HTTP, so they use raw `net`
// sockets (slow-client.ts) that speak the same handler protocol to the executors.

import type { Socket } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import type { ErrorKind, GroupSpec, RequestSpec } from '../types.ts';
import { buildRawRequest, RawPool, rawIneligibility, type RawRequest } from './raw-pool.ts';
import { sendSlowRequest } from './slow-client.ts';

/** The part of undici's handler protocol the executors implement. */
export interface RequestHandler {
  onConnect(abort: (error?: Error) => void): void;
  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: string[] | null): void;
  onError(error: Error): void;
}

/**
 * The undici callbacks both executors share: time the moment the request is written to a
 * connection, keep the status, drain the body, and report the end (status 0 with the error on
 * failure) to `finish`. One object per user or arrival, so a request allocates nothing here.
 */
export abstract class TimedRequestHandler implements RequestHandler {
  sentMs = 0;
  status = 0;
  /** When the request ended: for the raw transport the moment its response was read (see its turn clock), else the callback's own. */
  doneMs = 0;

  protected abstract finish(status: number, error: Error | undefined): void;

  onConnect(): void {
    this.sentMs = performance.now();
  }
  onHeaders(statusCode: number): boolean {
    this.status = statusCode;
    return true;
  }
  onData(): boolean {
    return true;
  }
  onComplete(_trailers?: string[] | null, receivedMs?: number): void {
    this.doneMs = receivedMs === undefined ? performance.now() : Math.max(receivedMs, this.sentMs);
    this.finish(this.status, undefined);
  }
  onError(error: Error): void {
    this.doneMs = performance.now();
    this.finish(0, error);
  }
}

export interface PreparedRequest {
  spec: RequestSpec;
  options: Dispatcher.DispatchOptions;
  body: Buffer | null;
  /** The undici pool of the request's origin; null when it goes out on the raw transport. */
  pool: Pool | null;
  /** The raw transport's pool and prebuilt bytes, or null (undici, slow clients). */
  rawPool: RawPool | null;
  raw: RawRequest | null;
}

/**
 * Whether a group's requests go out on the raw transport: `auto` and `raw` use it for every
 * request it can carry (plan.ts refuses `raw` for the others), `undici` never. Streams and slow
 * clients have their own paths.
 */
export function usesRawTransport(group: GroupSpec, spec: RequestSpec, isStream: boolean): boolean {
  if (isStream || group.transport === 'undici') return false;
  if (group.slow.headersMs > 0 || group.slow.uploadBytesPerSecond > 0 || group.slow.readBytesPerSecond > 0) return false;
  return rawIneligibility(spec) === undefined;
}

/** Maps an error to the outcome kinds of the report. */
export function classifyError(error: unknown): ErrorKind {
  const code = (error as { code?: string } | undefined)?.code ?? '';
  const causeCode = ((error as { cause?: { code?: string } } | undefined)?.cause?.code) ?? '';
  const codes = `${code} ${causeCode}`;
  if (/TIMEOUT|ETIMEDOUT/.test(codes)) return 'timeout';
  if (/ECONNREFUSED/.test(codes)) return 'refused';
  if (/ECONNRESET|EPIPE|UND_ERR_SOCKET|UND_ERR_CLOSED|ECONNABORTED|BALLAST_ERR_LOAD_CLOSED/.test(codes)) return 'reset';
  return 'other';
}

/**
 * The connection pools and request templates of one group in one thread, plus a smooth weighted
 * round robin over its URLs (nginx's algorithm: exact proportions, evenly interleaved, no PRNG).
 */
export class GroupTransport {
  readonly requests: PreparedRequest[];
  readonly isSlow: boolean;
  #pools = new Map<string, Pool>();
  #rawPools = new Map<string, RawPool>();
  #slowSockets = new Set<Socket>();
  #group: GroupSpec;
  #weights: number[];
  #current: number[];
  #totalWeight: number;

  constructor(group: GroupSpec, connections: number, options: { isStream?: boolean } = {}) {
    this.#group = group;
    this.isSlow = group.slow.headersMs > 0 || group.slow.uploadBytesPerSecond > 0 || group.slow.readBytesPerSecond > 0;
    const undiciPool = (origin: string): Pool => {
      let pool = this.#pools.get(origin);
      if (pool === undefined) {
        pool = new Pool(origin, {
          connections: Math.max(1, connections),
          pipelining: 1,
          keepAliveTimeout: 60_000,
          keepAliveMaxTimeout: 600_000,
          headersTimeout: group.requestTimeoutMs,
          // A stream's body never ends; a silent stream is still a failure after requestTimeout.
          bodyTimeout: group.requestTimeoutMs,
          connectTimeout: Math.min(group.requestTimeoutMs, 10_000),
        });
        this.#pools.set(origin, pool);
      }
      return pool;
    };
    const rawPool = (spec: RequestSpec): RawPool => {
      let pool = this.#rawPools.get(spec.origin);
      if (pool === undefined) {
        const url = new URL(spec.origin);
        pool = new RawPool({
          host: url.hostname.replace(/^\[|\]$/g, ''),
          port: Number(url.port || 80),
          connections: Math.max(1, connections),
          requestTimeoutMs: group.requestTimeoutMs,
          connectTimeoutMs: Math.min(group.requestTimeoutMs, 10_000),
        });
        this.#rawPools.set(spec.origin, pool);
      }
      return pool;
    };
    const isStream = options.isStream === true;
    this.requests = group.requests.map((spec) => {
      const body = spec.bodyBase64 ? Buffer.from(spec.bodyBase64, 'base64') : null;
      const headers = isStream ? [...spec.headers, 'accept', 'text/event-stream', 'cache-control', 'no-cache'] : spec.headers;
      const isRaw = usesRawTransport(group, spec, isStream);
      return {
        spec,
        pool: isRaw || this.isSlow ? null : undiciPool(spec.origin),
        rawPool: isRaw ? rawPool(spec) : null,
        raw: isRaw ? buildRawRequest(spec, body) : null,
        body,
        options: { origin: spec.origin, path: spec.path, method: spec.method as Dispatcher.HttpMethod, headers, body },
      };
    });
    this.#weights = group.requests.map((spec) => spec.weight);
    this.#current = this.#weights.map(() => 0);
    this.#totalWeight = this.#weights.reduce((sum, weight) => sum + weight, 0);
  }

  pick(): PreparedRequest {
    if (this.requests.length === 1) return this.requests[0];
    let best = 0;
    for (let i = 0; i < this.#current.length; i++) {
      this.#current[i] += this.#weights[i];
      if (this.#current[i] > this.#current[best]) best = i;
    }
    this.#current[best] -= this.#totalWeight;
    return this.requests[best];
  }

  send(request: PreparedRequest, handler: RequestHandler): void {
    if (this.isSlow) {
      sendSlowRequest(request, this.#group.slow, this.#group.requestTimeoutMs, handler, this.#slowSockets);
      return;
    }
    if (request.rawPool !== null) request.rawPool.dispatch(request.raw!, handler);
    else request.pool!.dispatch(request.options, handler as unknown as Dispatcher.DispatchHandler);
  }

  /** Opens every raw pool's connections ahead of the load (undici's pools still connect on demand). */
  preconnect(): Promise<void> {
    return Promise.all([...this.#rawPools.values()].map((pool) => pool.preconnect())).then(() => undefined);
  }

  /** Ends every connection at once; requests still in flight fail (the executor knows they were interrupted). */
  async destroy(): Promise<void> {
    for (const socket of this.#slowSockets) socket.destroy();
    for (const pool of this.#rawPools.values()) await pool.destroy();
    await Promise.all([...this.#pools.values()].map((pool) => pool.destroy().catch(() => undefined)));
  }
}
