// The raw transport: HTTP/1.1 keep-alive connections on plain `net` sockets for requests whose
// bytes never change (a fixed method, URL, headers and body per RequestSpec), which is every
// request of the closed and open models. The request head (and a small body) is built once into a
// Buffer and written in one call; responses are parsed in place by response-parser.ts from one
// read buffer shared by every socket of the thread (`onread`, so a read allocates nothing), and
// their bodies are skipped rather than handed on. No pipelining: one request per connection at a
// time; a request with no free connection waits in a FIFO queue, and a connection that finishes
// a response takes the next queued request at once, without an event-loop turn.
//
// Why not undici here (it is still used for streams, TLS and anything this cannot prebuild): with
// undici, `ballast load --users 64` against a raw node:http hello world saturated its one thread
// at 0.88x autocannon's req/s (BENCHMARKS.md, "ballast load", run 5), and a CPU profile put ~27%
// of its samples in undici's JavaScript and WebAssembly llhttp (request objects, header strings,
// parser callbacks, one setImmediate per request before a keep-alive socket is reused) beside the
// socket writes themselves (~20%, which any client pays), while recorder and histograms were
// ~2%. This path does what autocannon does. Measured in one run (run 6 there, 2-core Xeon, 64
// users): 25.3k req/s at 53% of a core (21 us of generator CPU per request) against undici's
// 24.1k req/s at 87% (36 us), i.e. 0.58x the CPU per request; both were server-bound on that host.
// `--transport undici` forces the old path.
//
// Timeouts are counted in ticks of one coarse sweep per pool (a tenth of the request timeout,
// between 5 ms and 1 s) instead of a timer per request: a request with no progress (no byte
// written or read) for `requestTimeoutMs` fails as a BALLAST_ERR_LOAD_TIMEOUT within +10% of it.
// Idle connections are closed before the server's `Keep-Alive: timeout=N` hint runs out (with
// undici's 2 s margin), so a reused connection is not closed under a request in the common case.

import * as net from 'node:net';
import { createError } from '../../errors.ts';
import { ResponseParser, type ResponseSink } from './response-parser.ts';
import type { RequestSpec } from '../types.ts';

/** The part of the handler protocol (transport.ts) the raw transport calls: no body bytes. */
export interface RawHandler {
  onConnect(abort: (error?: Error) => void): void;
  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean;
  /** `receivedMs`: when the event loop learned the response's last bytes had arrived (turnClock). */
  onComplete(trailers: string[] | null, receivedMs: number): void;
  onError(error: Error): void;
}

export interface RawRequest {
  /** The head, and the body when it is small, written in one call. */
  bytes: Buffer;
  /** A large body, written after `bytes`; null otherwise. */
  body: Buffer | null;
  isHead: boolean;
}

export interface RawPoolOptions {
  host: string;
  port: number;
  connections: number;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** Idle keep-alive time when the server gives no hint, ms. */
  keepAliveTimeoutMs?: number;
}

/** Bodies up to this size are copied behind the head so the request is one write. */
const inlineBodyBytes = 64 * 1024;
/** undici's keepAliveTimeoutThreshold: stop reusing a connection this long before the server's hint expires. */
const keepAliveMarginMs = 2000;
const defaultKeepAliveMs = 60_000;
const maxKeepAliveMs = 600_000;

/** Headers the raw transport writes itself, or whose meaning it would have to implement. */
const reservedHeaders = new Set(['connection', 'content-length', 'transfer-encoding', 'expect', 'upgrade', 'keep-alive', 'te', 'trailer', 'proxy-connection']);
const tokenPattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// eslint-disable-next-line no-control-regex
const badValuePattern = /[\0\r\n]/;
const payloadMethods = new Set(['POST', 'PUT', 'PATCH']);

/** Why `spec` cannot go through the raw transport, or undefined when it can. */
export function rawIneligibility(spec: RequestSpec): string | undefined {
  const url = new URL(spec.url);
  if (url.protocol !== 'http:') return `${url.protocol.slice(0, -1)} URLs go through undici (TLS)`;
  if (!tokenPattern.test(spec.method) || spec.method === 'CONNECT') return `method \`${spec.method}\` needs undici`;
  if (badValuePattern.test(spec.path) || spec.path.includes(' ')) return 'the path has characters that are not allowed in a request line';
  for (let i = 0; i < spec.headers.length; i += 2) {
    const name = spec.headers[i].toLowerCase();
    if (reservedHeaders.has(name)) return `header \`${name}\` changes the framing or the connection, which only undici implements`;
    if (!tokenPattern.test(name) || badValuePattern.test(spec.headers[i + 1])) return `header \`${name}\` has characters that are not allowed in a header`;
  }
  return undefined;
}

/** The bytes of `spec` as a raw request (call rawIneligibility first), headers as undici would send them. */
export function buildRawRequest(spec: RequestSpec, body: Buffer | null): RawRequest {
  const url = new URL(spec.url);
  let head = `${spec.method} ${spec.path} HTTP/1.1\r\n`;
  let hasHost = false;
  for (let i = 0; i < spec.headers.length; i += 2) if (spec.headers[i].toLowerCase() === 'host') hasHost = true;
  if (!hasHost) head += `host: ${url.host}\r\n`;
  head += 'connection: keep-alive\r\n';
  for (let i = 0; i < spec.headers.length; i += 2) head += `${spec.headers[i]}: ${spec.headers[i + 1]}\r\n`;
  const length = body?.length ?? 0;
  if (length > 0 || payloadMethods.has(spec.method)) head += `content-length: ${length}\r\n`;
  head += '\r\n';
  const headBytes = Buffer.from(head, 'latin1');
  const isInline = body === null || body.length <= inlineBodyBytes;
  return {
    bytes: isInline && body !== null && body.length > 0 ? Buffer.concat([headBytes, body]) : headBytes,
    body: isInline ? null : body,
    isHead: spec.method === 'HEAD',
  };
}

/** Every socket of this thread reads into this buffer; a read is parsed before the next one. */
const sharedReadBuffer = Buffer.allocUnsafe(64 * 1024);
const noHeaders: Buffer[] = [];
function noop(): void {}

// The turn clock: one performance.now() per event-loop turn, read at the turn's first socket read
// and shared by every response read in that turn's I/O phase. The sockets of a turn were reported
// readable by one epoll_wait (libuv polls again within the phase only after 1,024 events), so
// their bytes had arrived by its first callback; timing each response in its own callback would
// add the time this thread spent parsing and recording the responses before it, a generator cost
// that a C tool like wrk barely has. Measured against the wire (bench/load --mode wire: tcpdump
// on lo, open model at 5,000 req/s against a raw node:http hello world, 4 runs each): service
// time minus the wire's request-to-response time was +100..+130 us at p50 and +175..+600 us at
// p99 with this clock, +125..+152 and +390..+967 us with a clock read per callback; wrk's was
// +124..+137 and +243..+256 us. setImmediate ends the turn (the check phase follows the poll
// phase), so a later turn never reuses the stamp; a request written after it (a connection reused
// inside the turn) is never answered before it was sent (TimedRequestHandler takes the later).
let turnMs = -1;
function endTurn(): void {
  turnMs = -1;
}
function turnClock(): number {
  if (turnMs < 0) {
    turnMs = performance.now();
    setImmediate(endTurn);
  }
  return turnMs;
}

/**
 * The head of a FIFO kept as an array (and, for the request queue, a parallel one) read from
 * `head` on: once all is read the arrays are emptied, and once the read part is at least 1,024
 * entries and half of the array it is cut off, so a long-lived queue neither grows without bound
 * nor pays a shift() per entry. Returns the new head.
 */
function advanceHead(head: number, list: unknown[], parallel?: unknown[]): number {
  if (head === list.length) {
    list.length = 0;
    if (parallel) parallel.length = 0;
    return 0;
  }
  if (head >= 1024 && head * 2 >= list.length) {
    list.splice(0, head);
    parallel?.splice(0, head);
    return 0;
  }
  return head;
}

function closedError(message: string): Error {
  return createError('BALLAST_ERR_LOAD_CLOSED', message);
}

class Connection implements ResponseSink {
  readonly socket: net.Socket;
  readonly parser: ResponseParser;
  handler: RawHandler | null = null;
  isConnected = false;
  isClosed = false;
  /** Pool tick of the last byte written or read (or of the connect attempt). */
  activityTick: number;
  /** Idle ticks after which this connection is closed rather than reused. */
  keepAliveTicks: number;
  #pool: RawPool;
  #waiting: RawRequest | null;
  #abort = (error?: Error) => this.fail(error ?? closedError('request aborted'));

  /** Without a request, the connection joins the pool's idle ones once connected (preconnect). */
  constructor(pool: RawPool, request: RawRequest | null, handler: RawHandler | null, options: RawPoolOptions, onSettled?: () => void) {
    this.#pool = pool;
    this.parser = new ResponseParser(this);
    this.activityTick = pool.tick;
    this.keepAliveTicks = pool.ticksFor((options.keepAliveTimeoutMs ?? defaultKeepAliveMs) - keepAliveMarginMs);
    this.#waiting = request;
    this.handler = handler;
    this.socket = net.connect({
      host: options.host,
      port: options.port,
      onread: { buffer: sharedReadBuffer, callback: (length: number, buffer: Uint8Array) => this.#onRead(length, buffer) },
    });
    this.socket.setNoDelay(true);
    this.socket.on('connect', () => {
      this.isConnected = true;
      const waiting = this.#waiting;
      const waitingHandler = this.handler;
      this.#waiting = null;
      if (waiting !== null && waitingHandler !== null) this.send(waiting, waitingHandler);
      else pool.release(this);
      onSettled?.();
    });
    if (onSettled !== undefined) this.socket.once('close', onSettled);
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('end', () => this.#onEnd());
    this.socket.on('close', () => this.#onClose());
  }

  send(request: RawRequest, handler: RawHandler): void {
    this.handler = handler;
    this.activityTick = this.#pool.tick;
    this.parser.start(request.isHead);
    handler.onConnect(this.#abort);
    this.socket.write(request.bytes);
    if (request.body !== null) this.socket.write(request.body);
  }

  onResponseHead(status: number): void {
    this.handler?.onHeaders(status, noHeaders, noop, '');
  }

  #onRead(length: number, buffer: Uint8Array): boolean {
    const receivedMs = turnClock();
    this.activityTick = this.#pool.tick;
    if (this.handler === null || this.#waiting !== null) {
      // Bytes nobody asked for: the connection's state is unknown, so it cannot be reused.
      this.#pool.discard(this);
      return false;
    }
    let end: number;
    try {
      end = this.parser.execute(buffer, 0, length);
    } catch (error) {
      this.fail(error as Error);
      return false;
    }
    if (this.parser.isComplete) this.#complete(end < length, receivedMs);
    return true;
  }

  #complete(mustClose: boolean, receivedMs: number): void {
    const handler = this.handler!;
    this.handler = null;
    const hintMs = this.parser.keepAliveTimeoutMs;
    if (hintMs >= 0) this.keepAliveTicks = this.#pool.ticksFor(Math.min(hintMs, maxKeepAliveMs) - keepAliveMarginMs);
    if (mustClose || !this.parser.shouldKeepAlive || this.keepAliveTicks <= 0) this.#pool.discard(this);
    else this.#pool.release(this);
    handler.onComplete(null, receivedMs);
  }

  #onEnd(): void {
    if (this.handler !== null && this.#waiting === null && this.parser.finish()) {
      // A body delimited by the close: it ended when the end was read.
      this.#complete(true, performance.now());
      return;
    }
    this.fail(closedError('the server closed the connection before the response was complete'));
  }

  #onClose(): void {
    this.fail(closedError('the connection closed before the response was complete'));
  }

  /** Ends this connection; the request on it, if any, fails with `error`. */
  fail(error: Error): void {
    const handler = this.handler;
    this.handler = null;
    this.#waiting = null;
    this.#pool.discard(this);
    handler?.onError(error);
  }

  destroy(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.socket.destroy();
  }
}

export class RawPool {
  /** Incremented by the sweep; connections note it on every byte, so progress costs no clock read. */
  tick = 0;
  #options: RawPoolOptions;
  #periodMs: number;
  #requestTicks: number;
  #connectTicks: number;
  #all = new Set<Connection>();
  /**
   * Idle connections, oldest first: a request takes the one idle longest (FIFO), so traffic
   * spreads over all `connections` as it does from wrk or autocannon and from that many clients.
   * Reusing the most recent one instead kept a few warm sockets busy, which the server answered
   * faster than wrk's traffic: in 3 interleaved runs each, its p50 on the wire was 176-188 us with
   * that reuse and 205-227 us with this one. Against wrk (bench/load --mode wire, 8 rounds each,
   * BENCHMARKS runs 15 and 16), ballast's p50 went from -17.4 % to -8.7 % of wrk's, while the two
   * tools' own measurement errors stayed within 50 us of each other at p50-p99.
   */
  #idle: Connection[] = [];
  #idleHead = 0;
  #queuedRequests: RawRequest[] = [];
  #queuedHandlers: RawHandler[] = [];
  #queueHead = 0;
  #sweepTimer: NodeJS.Timeout | undefined;
  #isDestroyed = false;

  constructor(options: RawPoolOptions) {
    this.#options = options;
    this.#periodMs = Math.min(1000, Math.max(5, Math.floor(options.requestTimeoutMs / 10)));
    // One extra tick: a timeout never fires early, whatever the phase of the sweep.
    this.#requestTicks = Math.ceil(options.requestTimeoutMs / this.#periodMs) + 1;
    this.#connectTicks = Math.ceil(options.connectTimeoutMs / this.#periodMs) + 1;
  }

  /** Whole sweep periods in `ms` (0 or less: never idle long enough to be reused). */
  ticksFor(ms: number): number {
    return Math.floor(ms / this.#periodMs);
  }

  get connectionCount(): number {
    return this.#all.size;
  }

  dispatch(request: RawRequest, handler: RawHandler): void {
    if (this.#isDestroyed) {
      queueMicrotask(() => handler.onError(closedError('the connection pool was closed')));
      return;
    }
    const connection = this.#takeIdle();
    if (connection !== undefined) {
      connection.send(request, handler);
      return;
    }
    if (this.#all.size < this.#options.connections) {
      this.#open(request, handler);
      return;
    }
    this.#queuedRequests.push(request);
    this.#queuedHandlers.push(handler);
  }

  /**
   * Opens connections up to `connections` before any request needs them, as wrk does at its start;
   * they wait idle. Resolves when each has connected or failed (a failure is not an error here: the
   * requests that need the connection will open it again and report what happens).
   */
  preconnect(): Promise<void> {
    const missing = this.#options.connections - this.#all.size;
    if (this.#isDestroyed || missing <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let pending = missing;
      const settle = () => {
        if (--pending === 0) resolve();
      };
      for (let index = 0; index < missing; index++) {
        let isSettled = false;
        this.#all.add(new Connection(this, null, null, this.#options, () => {
          if (isSettled) return;
          isSettled = true;
          settle();
        }));
      }
      this.#startSweep();
    });
  }

  #startSweep(): void {
    if (this.#sweepTimer === undefined) {
      this.#sweepTimer = setInterval(() => this.#sweep(), this.#periodMs);
      this.#sweepTimer.unref();
    }
  }

  #open(request: RawRequest, handler: RawHandler): void {
    this.#all.add(new Connection(this, request, handler, this.#options));
    this.#startSweep();
  }

  #takeIdle(): Connection | undefined {
    if (this.#idleHead === this.#idle.length) return undefined;
    const connection = this.#idle[this.#idleHead];
    this.#idleHead = advanceHead(this.#idleHead + 1, this.#idle);
    return connection;
  }

  #hasQueued(): boolean {
    return this.#queueHead < this.#queuedRequests.length;
  }

  #dequeue(connection: Connection | undefined): void {
    const request = this.#queuedRequests[this.#queueHead];
    const handler = this.#queuedHandlers[this.#queueHead];
    this.#queueHead = advanceHead(this.#queueHead + 1, this.#queuedRequests, this.#queuedHandlers);
    if (connection !== undefined) connection.send(request, handler);
    else this.#open(request, handler);
  }

  /** A connection finished a response and may be reused. */
  release(connection: Connection): void {
    if (this.#hasQueued()) this.#dequeue(connection);
    else this.#idle.push(connection);
  }

  /** A connection ends (error, close, or not reusable); a queued request gets a new one. */
  discard(connection: Connection): void {
    if (!this.#all.delete(connection)) return;
    const at = this.#idle.indexOf(connection, this.#idleHead);
    if (at !== -1) this.#idle.splice(at, 1);
    connection.destroy();
    if (!this.#isDestroyed && this.#hasQueued() && this.#all.size < this.#options.connections) this.#dequeue(undefined);
  }

  #sweep(): void {
    const tick = ++this.tick;
    for (const connection of this.#all) {
      const silentTicks = tick - connection.activityTick;
      if (connection.handler !== null) {
        if (!connection.isConnected && silentTicks > this.#connectTicks) {
          connection.fail(createError('BALLAST_ERR_LOAD_TIMEOUT', `could not connect within ${this.#options.connectTimeoutMs} ms`));
        } else if (connection.isConnected && silentTicks > this.#requestTicks) {
          connection.fail(createError('BALLAST_ERR_LOAD_TIMEOUT', `no response progress for ${this.#options.requestTimeoutMs} ms`));
        }
      } else if (silentTicks > connection.keepAliveTicks) {
        this.discard(connection);
      }
    }
  }

  /** Ends every connection at once; requests in flight or queued fail. */
  async destroy(): Promise<void> {
    this.#isDestroyed = true;
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    const queued = this.#queuedHandlers.slice(this.#queueHead);
    this.#queuedRequests.length = 0;
    this.#queuedHandlers.length = 0;
    this.#queueHead = 0;
    for (const connection of [...this.#all]) connection.fail(closedError('the connection pool was closed'));
    for (const handler of queued) handler.onError(closedError('the connection pool was closed'));
  }
}
