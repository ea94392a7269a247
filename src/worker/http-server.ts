// The worker's HTTP front: limits and timeouts first (so bad input never reaches the app),
// then admission (at most `workerConnections` requests in the app at once, the rest queued),
// then the app, through the Fetch adapter or straight to a Node listener. It also owns the
// drain: stop accepting, let in-flight requests finish with `Connection: close`, let idle
// keep-alive connections close at their announced timeout, and only then exit, so no client
// sees a reset.

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { Profiler } from '../introspection/profiler.ts';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.ts';
import { BallastError, createError, defaultMessage, statusOf, type ErrorCode } from '../errors.ts';
import type { ServeSettings } from '../config/settings.ts';
import type { BindAddress } from '../config/parse.ts';
import type { LoadedApp, RequestContext } from './app-loader.ts';
import { createAdmission, type Admission, type ShedReason } from './admission.ts';
import { compileRoutes, pathOf } from './routes.ts';
import { startLoopPressure } from './loop-pressure.ts';
import type { AccessLog } from './access-log.ts';
import type { WorkerMetrics } from '../introspection/metrics.ts';
import type { SlowReport } from '../introspection/reports.ts';
import { instrumentOutboundHttp, requestContext, waitingMs, type RequestTrace } from '../introspection/request-context.ts';
import { toFetchRequest, writeFetchResponse } from './fetch-adapter.ts';
import { DeadlineQueue, type DeadlineNode } from './deadlines.ts';

export interface WorkerServerOptions {
  settings: ServeSettings;
  app: LoadedApp;
  workerId: number;
  log: Logger;
  accessLog?: AccessLog;
  metrics?: WorkerMetrics;
  profiler?: Profiler;
  /** The value of an authorised `x-ballast-profile` header. */
  profileKey?: string;
  /** Called for a request slower than settings.slowMs, with its timeline. */
  onSlowRequest?: (report: Omit<SlowReport, 'kind' | 'workerId' | 'pid' | 'time'>) => void;
  /** Called once when `maxRequests` (with this worker's jitter) is reached. */
  onMaxRequests?: () => void;
  maxRequests: number;
}

export interface WorkerStats {
  requests: number;
  inFlight: number;
  queued: number;
  limit: number;
  connections: number;
  deadlines: number;
  shed: Record<ShedReason | 'stream-limit', number>;
  streams: number;
}

/** A listening socket's libuv handle as it travels over IPC (opaque here). */
export type ListenHandle = object;

export interface InFlightRequest {
  method: string;
  path: string;
  reqId: string;
  /** performance.now() at arrival */
  startedAt: number;
}

export interface WorkerServer {
  /** The requests in progress, oldest first, with their age in ms. */
  inFlight(): Array<Omit<InFlightRequest, 'startedAt'> & { ageMs: number }>;
  /**
   * reusePort: each address gets its own SO_REUSEPORT socket, or listens on `inherited[i]`, the
   * socket a previous worker of this slot listened on (kept by the supervisor).
   */
  listen(addresses: readonly BindAddress[], reusePort: boolean, inherited?: ReadonlyArray<ListenHandle | undefined>): Promise<Array<{ host: string; port: number }>>;
  /** The listening sockets' handles, one per address, for the supervisor's copies. */
  listenHandles(): ListenHandle[];
  /** Also accepts from another slot's socket, into the server of address `index`, until release(slot). */
  adopt(slot: number, index: number, handle: ListenHandle): Promise<void>;
  /** Stops accepting from an adopted slot's sockets (this process's copies only: the sockets stay open). */
  release(slot: number): void;
  /** Stops accepting and waits for connections to finish; force-closes what is left at the deadline. */
  drain(gracefulTimeoutMs: number, afterStopAccepting?: () => Promise<void>): Promise<{ forcedConnections: number }>;
  readonly stats: WorkerStats;
}

const requestIdPattern = /^[\x21-\x7e]{1,128}$/;

/** Node's OutgoingMessage#_storeHeader(statusLine, headers): every response head is built by it. */
const storeHeader = (http.OutgoingMessage.prototype as unknown as { _storeHeader(firstLine: string, headers: unknown): void })._storeHeader;
if (typeof storeHeader !== 'function') throw new Error('this Node.js has no OutgoingMessage#_storeHeader: ballast cannot add x-request-id');

/** Whether headers handed to writeHead (an object, or a flat or nested array) name x-request-id. */
function namesRequestId(headers: unknown): boolean {
  if (Array.isArray(headers)) {
    const nested = Array.isArray(headers[0]);
    for (let i = 0; i < headers.length; i += nested ? 1 : 2) {
      const name: unknown = nested ? (headers[i] as unknown[])[0] : headers[i];
      if (typeof name === 'string' && name.length === 12 && name.toLowerCase() === 'x-request-id') return true;
    }
    return false;
  }
  for (const name in headers as object) if (name.length === 12 && name.toLowerCase() === 'x-request-id') return true;
  return false;
}

/**
 * Adds `x-request-id` to the head as Node builds it: as a ready line after the status line, so an
 * app that passes its headers to writeHead as an object keeps Node's fast path (no header merge,
 * no copy of its object, no validation of a value ballast made or already checked). An app that
 * sets its own x-request-id (any case, setHeader or writeHead) sends that one instead.
 */
class BallastResponse extends http.ServerResponse {
  /** Printable ASCII only (generated, or checked against requestIdPattern). */
  requestId = '';
  /** The request's state while ballast runs it (see Exchange). */
  exchange: Exchange | undefined = undefined;

  _storeHeader(firstLine: string, headers: unknown): void {
    const id = this.requestId;
    // `headers` is everything the head will hold: the app's writeHead object or array, or (once
    // it used setHeader) Node's own table, keyed by lower-cased name.
    if (id && !(headers && namesRequestId(headers))) firstLine += `x-request-id: ${id}\r\n`;
    storeHeader.call(this, firstLine, headers);
  }
}

/**
 * One request from arrival to the response's close. Everything the close handler, the deadline
 * and the in-flight list need lives here, so a request costs this one object and a shared
 * listener instead of a closure (and a timer) per stage.
 */
class Exchange implements DeadlineNode {
  readonly req: IncomingMessage;
  readonly res: BallastResponse;
  readonly reqId: string;
  /** The URL's path (no query). */
  readonly path: string;
  /** performance.now() at arrival */
  readonly startedAt: number;
  /** The socket's bytesWritten at arrival. */
  readonly bytesBefore: number;
  /**
   * The slow-request timeline (the AsyncLocalStorage store while the app runs). Its own small
   * object: an app's continuation that outlives the request keeps only this alive.
   */
  trace: RequestTrace | undefined = undefined;
  queueWaitMs = 0;
  admission: Admission | undefined = undefined;
  onDone: (() => void) | undefined = undefined;
  isStream = false;
  /** Fetch apps and streams: ctx.signal. */
  controller: AbortController | undefined = undefined;
  timedOut = false;
  /** The request's x-ballast-profile header, if any. */
  profileHeader: string | undefined = undefined;
  // The in-flight list (arrival order).
  isActive = false;
  prevActive: Exchange | undefined = undefined;
  nextActive: Exchange | undefined = undefined;
  // DeadlineNode
  deadlineAt = 0;
  deadlinePrev: DeadlineNode | undefined = undefined;
  deadlineNext: DeadlineNode | undefined = undefined;
  deadlineQueue: DeadlineQueue<DeadlineNode> | undefined = undefined;

  constructor(req: IncomingMessage, res: BallastResponse, reqId: string, path: string, startedAt: number, bytesBefore: number) {
    this.req = req;
    this.res = res;
    this.reqId = reqId;
    this.path = path;
    this.startedAt = startedAt;
    this.bytesBefore = bytesBefore;
  }
}

/** The request line (not the headers) overflowed when no line break arrived before the limit. */
function isRequestLineOverflow(rawPacket: unknown, limit: number): boolean {
  if (!Buffer.isBuffer(rawPacket)) return false;
  const lineEnd = rawPacket.indexOf('\r\n');
  return lineEnd === -1 || lineEnd > limit;
}

const errorBodies = new Map<ErrorCode, { body: string; length: number }>();
/** The plain-text body answered for an error code (built once per code: a refused request under overload costs only its write). */
function errorBody(code: ErrorCode): { body: string; length: number } {
  let cached = errorBodies.get(code);
  if (!cached) {
    const body = `${statusOf(code)} ${defaultMessage(code)} (${code})\n`;
    cached = { body, length: Buffer.byteLength(body) };
    errorBodies.set(code, cached);
  }
  return cached;
}

export function createWorkerServer(options: WorkerServerOptions): WorkerServer {
  const { settings, app, workerId, log, accessLog, metrics } = options;
  const profileKey = options.profileKey ? Buffer.from(options.profileKey) : undefined;
  if (settings.slowMs > 0) instrumentOutboundHttp();
  const pressure = settings.concurrency === 'adaptive' ? startLoopPressure() : undefined;
  // Set by every new connection, read (and cleared) by adaptive admission's pump: see acceptTurns.
  let hasNewConnection = false;
  const defaultAdmission = createAdmission({
    limit: settings.workerConnections,
    queue: settings.queue,
    queueTimeoutMs: settings.queueTimeout,
    mode: settings.concurrency,
    pressure: pressure ? () => pressure.value : undefined,
    takeNewConnection: () => {
      const had = hasNewConnection;
      hasNewConnection = false;
      return had;
    },
  });
  /** One deadline queue per distinct duration (the server's --timeout and the routes' own). */
  const deadlineQueues = new Map<number, DeadlineQueue<Exchange>>();
  const deadlineQueueFor = (timeoutMs: number): DeadlineQueue<Exchange> | undefined => {
    if (!(timeoutMs > 0)) return undefined;
    let queue = deadlineQueues.get(timeoutMs);
    if (!queue) deadlineQueues.set(timeoutMs, (queue = new DeadlineQueue<Exchange>(timeoutMs, expireDeadline)));
    return queue;
  };
  const defaultDeadlines = deadlineQueueFor(settings.timeout);
  const routes = compileRoutes(settings.routes).map((route) => ({
    ...route,
    open: 0,
    deadlines: route.timeoutMs === undefined ? defaultDeadlines : deadlineQueueFor(route.timeoutMs),
    // A route with its own concurrency is a bulkhead: its own slots and queue, static.
    admission: route.kind === 'request' && route.concurrency !== undefined
      ? createAdmission({ limit: route.concurrency, queue: route.queue ?? settings.queue, queueTimeoutMs: settings.queueTimeout, mode: 'static' })
      : undefined,
  }));
  const exemptPaths = new Set(settings.exemptPaths);
  const retryAfterSeconds = String(Math.max(1, Math.round(settings.retryAfter / 1000)));
  const counters = { deadlines: 0, shed: { 'queue-full': 0, 'queue-timeout': 0, overload: 0, 'stream-limit': 0 } };
  let shedLogTimer: NodeJS.Timeout | undefined;
  const streamControllers = new Set<AbortController>();
  const servers: http.Server[] = [];
  /** Other slots' sockets this worker accepts from (reuseport), by slot: see adopt(). */
  const adopted = new Map<number, net.Server[]>();
  const sockets = new Set<Socket>();
  /**
   * Requests in progress (queued ones included), oldest first, with what a stall report needs to
   * name them: a list linked through the Exchanges, since arrival order is age order.
   */
  let oldestActive: Exchange | undefined;
  let newestActive: Exchange | undefined;
  function addActive(exchange: Exchange): void {
    exchange.isActive = true;
    exchange.prevActive = newestActive;
    if (newestActive) newestActive.nextActive = exchange;
    else oldestActive = exchange;
    newestActive = exchange;
  }
  function removeActive(exchange: Exchange): void {
    if (!exchange.isActive) return;
    exchange.isActive = false;
    const { prevActive: prev, nextActive: next } = exchange;
    if (prev) prev.nextActive = next;
    else oldestActive = next;
    if (next) next.prevActive = prev;
    else newestActive = prev;
    exchange.prevActive = undefined;
    exchange.nextActive = undefined;
  }
  let draining = false;
  let onLastSocketClosed: (() => void) | undefined;
  let requests = 0;
  let defaultHost = 'localhost';
  // Request ids: unique per worker and run, and far cheaper than a UUID per request.
  const requestIdPrefix = `${workerId}-${Date.now().toString(36)}-`;
  let requestCounter = 0;
  /** The request-head fields checkLimits picks up for onRequest (one request at a time). */
  const head: { requestId: string | undefined; contentLength: string | undefined; profile: string | undefined } = { requestId: undefined, contentLength: undefined, profile: undefined };

  function sendError(res: ServerResponse, code: ErrorCode, closeConnection = false): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const { body, length } = errorBody(code);
    if (closeConnection) res.shouldKeepAlive = false;
    res.writeHead(statusOf(code), {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': length,
      'x-ballast-error': code,
    });
    res.end(body);
  }

  /** `now`: performance.now() at the response's end, when the caller has already read the clock. */
  function logAccess(req: IncomingMessage, res: ServerResponse, reqId: string, startedAt: number, queueWaitMs: number, bytesBefore: number, now = performance.now()): void {
    const status = res.writableFinished ? res.statusCode : 499;
    const durationMs = now - startedAt;
    metrics?.observeRequest(status, durationMs, queueWaitMs);
    if (!accessLog) return;
    accessLog.write({
      reqId,
      method: req.method ?? '',
      path: req.url ?? '',
      // 499 (nginx's convention): the client went away before the response was complete.
      status,
      bytes: req.socket.bytesWritten - bytesBefore,
      durationMs,
      queueWaitMs,
      endedAt: now,
    });
  }

  /**
   * 414/431/413 before the app sees anything; returns the error to answer, if any. The three
   * headers ballast reads are picked up in the same pass over rawHeaders (into `head`), as
   * req.headers would give them (duplicate x-* values joined with ", ", the first
   * content-length). (Node itself reads req.headers for every HTTP/1.1 request, so this saves
   * only the lookups, not building that object.)
   */
  function checkLimits(req: IncomingMessage): ErrorCode | undefined {
    head.requestId = undefined;
    head.contentLength = undefined;
    head.profile = undefined;
    const requestLineLength = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 10; // "GET /x HTTP/1.1"
    if (requestLineLength > settings.limitRequestLine) return 'BALLAST_ERR_URI_TOO_LONG';
    const raw = req.rawHeaders;
    if (raw.length / 2 > settings.limitRequestFields) return 'BALLAST_ERR_HEADERS_TOO_LARGE';
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      if (name.length + value.length + 2 > settings.limitRequestFieldSize) return 'BALLAST_ERR_HEADERS_TOO_LARGE';
      // Lengths first: a name is lower-cased only when it could be one of the three.
      if (name.length === 12 && name.toLowerCase() === 'x-request-id') head.requestId = head.requestId === undefined ? value : `${head.requestId}, ${value}`;
      else if (name.length === 14 && name.toLowerCase() === 'content-length') head.contentLength ??= value;
      else if (name.length === 17 && name.toLowerCase() === 'x-ballast-profile') head.profile = head.profile === undefined ? value : `${head.profile}, ${value}`;
    }
    const declared = head.contentLength;
    if (declared !== undefined && Number(declared) > settings.maxBodySize) return 'BALLAST_ERR_BODY_TOO_LARGE';
    return undefined;
  }

  /** Chunked bodies have no declared length: count bytes as the parser pushes them. */
  function guardBodySize(req: IncomingMessage, res: ServerResponse, hasDeclaredLength: boolean): void {
    if (hasDeclaredLength || req.method === 'GET' || req.method === 'HEAD') return;
    let received = 0;
    const push = req.push;
    req.push = function guardedPush(chunk: unknown, encoding?: BufferEncoding) {
      if (chunk !== null && (chunk as Buffer).length !== undefined) {
        received += (chunk as Buffer).length;
        if (received > settings.maxBodySize) {
          log.warn({ code: 'BALLAST_ERR_BODY_TOO_LARGE', path: req.url, limit: settings.maxBodySize }, 'request body over max-body-size');
          sendError(res, 'BALLAST_ERR_BODY_TOO_LARGE', true);
          req.push = push;
          req.destroy(createError('BALLAST_ERR_BODY_TOO_LARGE'));
          return false;
        }
      }
      return push.call(this, chunk, encoding);
    };
  }

  function reportAppError(error: unknown, req: IncomingMessage, res: ServerResponse, reqId: string): void {
    const code: ErrorCode = error instanceof BallastError ? error.code : 'BALLAST_ERR_APP_HANDLER';
    const status = error instanceof BallastError ? error.status : 500;
    if (status >= 500 && status !== 500) {
      // Errors of ballast's own making that map to a status (a replaced thread: 503).
      log.warn({ code, reqId, method: req.method, path: req.url }, error instanceof Error ? error.message : String(error));
      sendError(res, code, !req.complete);
      return;
    }
    log.error({ err: error, code, reqId, method: req.method, path: req.url }, 'the app failed to handle a request');
    sendError(res, code === 'BALLAST_ERR_BAD_RESPONSE' ? code : 'BALLAST_ERR_APP_HANDLER', !req.complete);
  }

  async function runFetch(exchange: Exchange, controller: AbortController): Promise<void> {
    if (app.kind !== 'fetch') return;
    const { req, res, reqId } = exchange;
    const ctx: RequestContext = { signal: controller.signal, requestId: reqId, workerId };
    try {
      const response = await app.fetch(toFetchRequest(req, controller.signal, defaultHost), ctx);
      if (!(response instanceof Response)) {
        throw createError('BALLAST_ERR_BAD_RESPONSE', `the app returned ${response === undefined ? 'undefined' : typeof response} instead of a Response`);
      }
      if (res.destroyed || exchange.timedOut) {
        await response.body?.cancel().catch(() => {});
        return;
      }
      await writeFetchResponse(res, response, req.method === 'HEAD');
    } catch (error) {
      if (controller.signal.aborted && (res.destroyed || exchange.timedOut)) return; // already answered, or nobody to answer
      reportAppError(error, req, res, reqId);
    }
  }

  function runNode(req: IncomingMessage, res: ServerResponse, reqId: string): void {
    if (app.kind !== 'node') return;
    try {
      const result = app.listener(req, res) as Promise<unknown> | undefined;
      if (result && typeof result.then === 'function') result.then(undefined, (error: unknown) => reportAppError(error, req, res, reqId));
    } catch (error) {
      reportAppError(error, req, res, reqId);
    }
  }

  function invokeApp(exchange: Exchange): void {
    if (app.kind === 'fetch') void runFetch(exchange, exchange.controller!);
    else runNode(exchange.req, exchange.res, exchange.reqId);
  }

  function invokeTraced(exchange: Exchange): void {
    if (exchange.trace) requestContext.run(exchange.trace, invokeApp, exchange);
    else invokeApp(exchange);
  }

  /** After ballast answered for the app (504), the app's own writes go nowhere instead of throwing. */
  function detachFromApp(res: ServerResponse): void {
    const self = res as unknown as Record<string, unknown>;
    for (const method of ['setHeader', 'appendHeader', 'writeHead', 'removeHeader', 'end']) self[method] = () => res;
    self.write = () => true;
    self.flushHeaders = () => {};
  }

  /** The deadline covers the start of the response: 504, ctx.signal aborted, the slot freed. */
  function expireDeadline(exchange: Exchange, timeoutMs: number): void {
    const { req, res } = exchange;
    if (res.headersSent || res.destroyed) return;
    exchange.timedOut = true;
    counters.deadlines++;
    metrics?.deadline();
    const reason = `deadline of ${timeoutMs} ms exceeded`;
    exchange.controller?.abort(new DOMException(reason, 'TimeoutError'));
    log.warn({ code: 'BALLAST_ERR_DEADLINE', reqId: exchange.reqId, method: req.method, path: req.url, timeoutMs }, `${reason}: answered 504, slot freed`);
    res.setHeader('x-ballast-deadline', `${timeoutMs}ms`);
    sendError(res, 'BALLAST_ERR_DEADLINE', !req.complete);
    detachFromApp(res);
  }

  /** The end of a request that ran (shared by all of them; `this` is the response). */
  function onRunClose(this: BallastResponse): void {
    const exchange = this.exchange;
    if (!exchange) return;
    this.exchange = undefined;
    const { req, res, controller, startedAt, queueWaitMs, trace } = exchange;
    // One clock read for the slow report, the slot's hold time, the metrics and the access log.
    const now = performance.now();
    exchange.deadlineQueue?.remove(exchange);
    if (trace) reportIfSlow(req, res, trace, queueWaitMs, now);
    if (controller && !res.writableFinished && !controller.signal.aborted) controller.abort(new DOMException('the client went away', 'AbortError'));
    if (exchange.isStream && controller) streamControllers.delete(controller);
    // The slot was taken when the queue wait ended (immediately when there was none).
    exchange.admission?.release(now - startedAt - queueWaitMs);
    exchange.onDone?.();
    removeActive(exchange);
    logAccess(req, res, exchange.reqId, startedAt, queueWaitMs, exchange.bytesBefore, now);
  }

  /**
   * Runs the app for one request: with the admission slot it holds (if any), its deadline (if
   * any). A stream request (`onStreamDone` given) has neither, and is aborted (so the app ends
   * the stream) when the worker drains.
   */
  function run(exchange: Exchange, queueWaitMs: number, admission: Admission | undefined, deadlines: DeadlineQueue<Exchange> | undefined, onStreamDone?: () => void): void {
    const { req, res } = exchange;
    const isStream = onStreamDone !== undefined;
    exchange.queueWaitMs = queueWaitMs;
    exchange.admission = admission;
    // A Node listener has no ctx.signal: only Fetch apps (and streams, for the drain) need one.
    if (app.kind === 'fetch' || isStream) exchange.controller = new AbortController();
    if (settings.slowMs > 0 && !isStream) exchange.trace = { reqId: exchange.reqId, startedAt: exchange.startedAt, spans: [] };
    if (isStream) {
      exchange.isStream = true;
      exchange.onDone = onStreamDone;
      streamControllers.add(exchange.controller!);
    }
    res.exchange = exchange;
    res.on('close', onRunClose);
    // The deadline counts from the end of the queue wait, as the slot does.
    deadlines?.add(exchange, exchange.startedAt + queueWaitMs);
    if (draining) res.shouldKeepAlive = false;
    const profiler = options.profiler;
    if (profiler && !isStream && wantsProfile(exchange)) {
      // The profile covers the whole worker thread from here to the response's end.
      void profiler.start(`request ${req.method} ${exchange.path} (${exchange.reqId})`).then((started) => {
        if (started) {
          res.setHeader('x-ballast-profile', exchange.reqId);
          res.once('close', () => void profiler.stop());
        }
        invokeTraced(exchange);
      });
      return;
    }
    invokeTraced(exchange);
  }

  /** An authorised profile header (HMAC of the admin token), or an armed "next N requests to /path". */
  function wantsProfile(exchange: Exchange): boolean {
    const { req, profileHeader: header } = exchange;
    if (header !== undefined && profileKey) {
      const given = Buffer.from(header);
      if (given.length === profileKey.length && timingSafeEqual(given, profileKey)) return true;
      log.warn({ path: req.url, remote: req.socket.remoteAddress }, 'x-ballast-profile header with a wrong token: ignored, no profile taken');
    }
    return options.profiler?.takeArmed(exchange.path) ?? false;
  }

  function reportIfSlow(req: IncomingMessage, res: ServerResponse, trace: RequestTrace, queueWaitMs: number, now: number): void {
    const durationMs = now - trace.startedAt;
    if (durationMs < settings.slowMs || !options.onSlowRequest) return;
    const waiting = waitingMs(trace.spans, durationMs);
    options.onSlowRequest({
      reqId: trace.reqId,
      method: req.method ?? '',
      path: (req.url ?? '').slice(0, 200),
      status: res.writableFinished ? res.statusCode : 499,
      durationMs,
      queueWaitMs,
      waitingMs: waiting,
      ownMs: Math.max(0, durationMs - queueWaitMs - waiting),
      spans: trace.spans,
    });
  }

  function shed(exchange: Exchange, queueWaitMs: number, reason: ShedReason | 'stream-limit'): void {
    const { req, res } = exchange;
    counters.shed[reason]++;
    metrics?.shed(reason);
    noteShed();
    const code: ErrorCode = reason === 'queue-full' ? 'BALLAST_ERR_QUEUE_FULL' : reason === 'queue-timeout' ? 'BALLAST_ERR_QUEUE_TIMEOUT' : reason === 'overload' ? 'BALLAST_ERR_OVERLOAD' : 'BALLAST_ERR_STREAM_LIMIT';
    res.setHeader('retry-after', retryAfterSeconds);
    res.setHeader('x-ballast-shed', reason);
    // An unread body would be taken for the next request: close such connections.
    sendError(res, code, !req.complete);
    res.once('close', () => {
      removeActive(exchange);
      logAccess(req, res, exchange.reqId, exchange.startedAt, queueWaitMs, exchange.bytesBefore);
    });
  }

  /** One summary line per second while shedding, instead of a line per refused request. */
  function noteShed(): void {
    if (shedLogTimer) return;
    const before = { ...counters.shed };
    shedLogTimer = setTimeout(() => {
      shedLogTimer = undefined;
      const delta = Object.fromEntries(Object.entries(counters.shed).map(([k, v]) => [k, v - before[k as keyof typeof before]]).filter(([, v]) => (v as number) > 0));
      log.warn({ shed: delta, inFlight: defaultAdmission.inFlight, queued: defaultAdmission.queued, limit: defaultAdmission.limit }, `overload: refused ${Object.values(delta).reduce((a, b) => (a as number) + (b as number), 0)} request(s) with 503 in the last second`);
    }, 1000);
    shedLogTimer.unref();
  }

  function onRequest(req: IncomingMessage, res: BallastResponse): void {
    const startedAt = performance.now();
    const bytesBefore = req.socket.bytesWritten;
    requests++;
    if (requests === options.maxRequests) options.onMaxRequests?.();
    if (draining) res.shouldKeepAlive = false;

    const limitError = checkLimits(req);
    // A refused head may not have been read to the end: the error path asks Node for the id.
    const incomingId = limitError ? req.headers['x-request-id'] : head.requestId;
    const reqId = typeof incomingId === 'string' && requestIdPattern.test(incomingId) ? incomingId : `${requestIdPrefix}${(++requestCounter).toString(36)}`;
    res.requestId = reqId;

    if (limitError) {
      log.warn({ code: limitError, method: req.method, path: req.url?.slice(0, 200), remote: req.socket.remoteAddress }, defaultMessage(limitError));
      // The body (if any) is not read, so the connection cannot be reused.
      sendError(res, limitError, true);
      res.once('close', () => logAccess(req, res, reqId, startedAt, 0, bytesBefore));
      return;
    }
    guardBodySize(req, res, head.contentLength !== undefined);
    const path = pathOf(req.url);
    const exchange = new Exchange(req, res, reqId, path, startedAt, bytesBefore);
    exchange.profileHeader = head.profile;
    addActive(exchange);

    if (exemptPaths.has(path)) {
      run(exchange, 0, undefined, undefined);
      return;
    }
    const route = routes.length > 0 ? routes.find((r) => r.matches(path)) : undefined;
    if (route?.kind === 'stream') {
      if (route.open >= (route.concurrency ?? Infinity)) {
        shed(exchange, 0, 'stream-limit');
        return;
      }
      route.open++;
      run(exchange, 0, undefined, undefined, () => { route.open--; });
      return;
    }
    const admission = route?.admission ?? defaultAdmission;
    const deadlines = route ? route.deadlines : defaultDeadlines;

    if (admission.tryAcquire()) {
      run(exchange, 0, admission, deadlines);
      return;
    }
    const waiter = admission.enqueue();
    if (typeof waiter === 'string') {
      shed(exchange, 0, waiter);
      return;
    }
    const onEarlyClose = () => {
      // The client gave up while queued: its place is given back, and it is logged as 499.
      if (admission.cancel(waiter)) {
        removeActive(exchange);
        logAccess(req, res, reqId, startedAt, performance.now() - startedAt, bytesBefore);
      }
    };
    res.once('close', onEarlyClose);
    void waiter.promise.then((admitted) => {
      res.off('close', onEarlyClose);
      if (!admitted.ok) {
        shed(exchange, admitted.queueWaitMs, admitted.reason);
        return;
      }
      if (res.destroyed) {
        admission.release();
        removeActive(exchange);
        logAccess(req, res, reqId, startedAt, admitted.queueWaitMs, bytesBefore);
        return;
      }
      run(exchange, admitted.queueWaitMs, admission, deadlines);
    });
  }

  function onClientError(error: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
    if (error.code === 'ECONNRESET' || error.code === 'EPIPE' || !socket.writable) {
      socket.destroy();
      return;
    }
    let code: ErrorCode;
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      code = isRequestLineOverflow(error.rawPacket, settings.limitRequestLine) ? 'BALLAST_ERR_URI_TOO_LONG' : 'BALLAST_ERR_HEADERS_TOO_LARGE';
    } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      code = 'BALLAST_ERR_REQUEST_TIMEOUT';
    } else {
      code = 'BALLAST_ERR_BAD_REQUEST';
    }
    log.warn({ code, parserError: error.code, remote: socket.remoteAddress }, `${defaultMessage(code)}: ${error.message}`);
    // A response already under way on this socket cannot be followed by an error response.
    if ((socket as Socket & { _httpMessage?: ServerResponse })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const { body, length } = errorBody(code);
    socket.end(
      `HTTP/1.1 ${statusOf(code)} ${defaultMessage(code)}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${length}\r\nx-ballast-error: ${code}\r\n\r\n${body}`,
    );
  }

  function createServer(): http.Server {
    const server = http.createServer(
      {
        keepAliveTimeout: settings.keepAliveTimeout,
        headersTimeout: settings.headersTimeout,
        requestTimeout: settings.requestTimeout,
        // Node checks the two timeouts above on this interval (30 s by default): too coarse for
        // a slowloris guard.
        connectionsCheckingInterval: Math.min(1000, settings.headersTimeout),
        maxHeaderSize: settings.limitRequestLine + 4 * settings.limitRequestFieldSize,
        // One more than the limit, so an over-long list is seen (Node silently truncates).
        maxHeadersCount: settings.limitRequestFields + 1,
        requireHostHeader: false,
        ServerResponse: BallastResponse,
      } as http.ServerOptions,
      onRequest as http.RequestListener,
    );
    server.on('clientError', onClientError);
    server.on('connection', (socket: Socket) => {
      hasNewConnection = true;
      sockets.add(socket);
      socket.once('close', () => {
        sockets.delete(socket);
        if (sockets.size === 0) onLastSocketClosed?.();
      });
    });
    return server;
  }

  return {
    inFlight() {
      const now = performance.now();
      const list: Array<Omit<InFlightRequest, 'startedAt'> & { ageMs: number }> = [];
      for (let r = oldestActive; r; r = r.nextActive) {
        list.push({ method: r.req.method ?? '', path: (r.req.url ?? '').slice(0, 200), reqId: r.reqId, ageMs: Math.round(now - r.startedAt) });
      }
      return list;
    },

    get stats() {
      return {
        requests,
        inFlight: defaultAdmission.inFlight,
        queued: defaultAdmission.queued,
        limit: defaultAdmission.limit,
        connections: sockets.size,
        deadlines: counters.deadlines,
        shed: { ...counters.shed },
        streams: routes.reduce((sum, route) => sum + route.open, 0),
      };
    },

    async listen(addresses, reusePort, inherited) {
      const bound: Array<{ host: string; port: number }> = [];
      for (const [index, address] of addresses.entries()) {
        const server = createServer();
        servers.push(server);
        const handle = inherited?.[index];
        await new Promise<void>((resolve, reject) => {
          server.once('error', (error) => reject(createError('BALLAST_ERR_BIND', `cannot listen on ${address.host}:${address.port}: ${error.message}`, error)));
          // Round-robin: the supervisor owns the socket and hands connections out (cluster's
          // default). reuseport: each worker binds its own socket and the kernel spreads load,
          // or takes over the socket its slot's previous worker accepted from, queue and all.
          if (handle) server.listen(handle, 2048, resolve);
          else server.listen({ host: address.host, port: address.port, exclusive: reusePort, reusePort, backlog: 2048 }, resolve);
        });
        const actual = server.address() as net.AddressInfo;
        bound.push({ host: address.host, port: actual.port });
      }
      const first = bound[0];
      if (first) defaultHost = `${first.host.includes(':') ? `[${first.host}]` : first.host}:${first.port}`;
      return bound;
    },

    listenHandles() {
      return servers.map((server) => (server as unknown as { _handle: ListenHandle })._handle);
    },

    async adopt(slot, index, handle) {
      const target = servers[index];
      if (!target || draining) return;
      // A plain net.Server accepts; the connections go to the address's HTTP server, with the
      // socket options that server would have given them.
      const options = target as unknown as { allowHalfOpen?: boolean; noDelay?: boolean; keepAlive?: boolean; keepAliveInitialDelay?: number; highWaterMark?: number };
      const acceptor = net.createServer({ allowHalfOpen: options.allowHalfOpen ?? true, noDelay: options.noDelay ?? true, keepAlive: options.keepAlive ?? false, keepAliveInitialDelay: options.keepAliveInitialDelay ?? 0, highWaterMark: options.highWaterMark });
      acceptor.on('connection', (socket: Socket) => target.emit('connection', socket));
      let list = adopted.get(slot);
      if (!list) adopted.set(slot, (list = []));
      list.push(acceptor);
      await new Promise<void>((resolve, reject) => {
        acceptor.once('error', reject);
        acceptor.listen(handle, 2048, resolve);
      });
    },

    release(slot) {
      for (const acceptor of adopted.get(slot) ?? []) acceptor.close();
      adopted.delete(slot);
    },

    async drain(gracefulTimeoutMs, afterStopAccepting) {
      draining = true;
      for (const slot of [...adopted.keys()]) this.release(slot);
      // net.Server#close, not http.Server#close: the latter also drops idle keep-alive
      // connections at once, racing clients that are sending their next request right now.
      // Idle connections are instead closed by their keep-alive timeout (announced to the
      // client), and any request that arrives first is answered with `Connection: close`.
      for (const server of servers) net.Server.prototype.close.call(server);
      // Connections the supervisor handed out before it learned we stopped accepting are still on
      // their way: wait until it confirms, or a worker with no connections would exit under them.
      await afterStopAccepting?.();
      for (let r = oldestActive; r; r = r.nextActive) if (!r.res.headersSent) r.res.shouldKeepAlive = false;
      // Long-lived streams would hold the drain to its deadline: ask the app to end them now.
      for (const controller of streamControllers) controller.abort(new DOMException('the server is draining', 'AbortError'));

      if (sockets.size > 0) {
        log.info(
          { connections: sockets.size, inFlight: defaultAdmission.inFlight, keepAliveTimeoutMs: settings.keepAliveTimeout },
          `draining: waiting for ${sockets.size} connection(s); idle keep-alive ones close at their announced timeout`,
        );
        const { promise: allClosed, resolve } = Promise.withResolvers<void>();
        onLastSocketClosed = resolve;
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<void>((done) => { timer = setTimeout(done, gracefulTimeoutMs); });
        await Promise.race([allClosed, timedOut]);
        clearTimeout(timer);
      }
      pressure?.stop();
      const forcedConnections = sockets.size;
      if (forcedConnections > 0) {
        log.warn({ connections: forcedConnections, inFlight: defaultAdmission.inFlight, gracefulTimeoutMs }, 'graceful timeout reached: closing remaining connections');
        for (const socket of sockets) socket.destroy();
      }
      return { forcedConnections };
    },
  };
}
