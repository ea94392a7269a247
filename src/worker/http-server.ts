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
import { BallastError, createError, defaultMessage, type ErrorCode } from '../errors.ts';
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
  listen(addresses: readonly BindAddress[], reusePort: boolean): Promise<Array<{ host: string; port: number }>>;
  /** Stops accepting and waits for connections to finish; force-closes what is left at the deadline. */
  drain(gracefulTimeoutMs: number, afterStopAccepting?: () => Promise<void>): Promise<{ forcedConnections: number }>;
  readonly stats: WorkerStats;
}

const requestIdPattern = /^[\x21-\x7e]{1,128}$/;

/**
 * Adds `x-request-id` when the head is written rather than with setHeader up front: an app that
 * passes its headers to writeHead as an object then keeps Node's fast path (no header merge).
 */
class BallastResponse extends http.ServerResponse {
  requestId = '';

  override writeHead(statusCode: number, ...rest: unknown[]): this {
    if (this.requestId && !this.headersSent) {
      const headersIndex = typeof rest[0] === 'string' ? 1 : 0;
      const headers = rest[headersIndex];
      if (headers && typeof headers === 'object' && !Array.isArray(headers)) {
        rest[headersIndex] = { 'x-request-id': this.requestId, ...headers };
      } else if (!this.hasHeader('x-request-id')) {
        this.setHeader('x-request-id', this.requestId);
      }
    }
    return (super.writeHead as (...args: unknown[]) => this).call(this, statusCode, ...rest);
  }
}

/** The request line (not the headers) overflowed when no line break arrived before the limit. */
function isRequestLineOverflow(rawPacket: unknown, limit: number): boolean {
  if (!Buffer.isBuffer(rawPacket)) return false;
  const lineEnd = rawPacket.indexOf('\r\n');
  return lineEnd === -1 || lineEnd > limit;
}

function errorBody(code: ErrorCode, status: number): string {
  return `${status} ${defaultMessage(code)} (${code})\n`;
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
  const routes = compileRoutes(settings.routes).map((route) => ({
    ...route,
    open: 0,
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
  const sockets = new Set<Socket>();
  /** Responses in progress, with what a stall report needs to name them. */
  const active = new Map<ServerResponse, InFlightRequest>();
  let draining = false;
  let onLastSocketClosed: (() => void) | undefined;
  let requests = 0;
  let defaultHost = 'localhost';
  // Request ids: unique per worker and run, and far cheaper than a UUID per request.
  const requestIdPrefix = `${workerId}-${Date.now().toString(36)}-`;
  let requestCounter = 0;

  function sendError(res: ServerResponse, code: ErrorCode, closeConnection = false): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const status = createError(code).status;
    const body = errorBody(code, status);
    if (closeConnection) res.shouldKeepAlive = false;
    res.writeHead(status, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
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
    });
  }

  /** 414/431/413 before the app sees anything; returns the error to answer, if any. */
  function checkLimits(req: IncomingMessage): ErrorCode | undefined {
    const requestLineLength = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 10; // "GET /x HTTP/1.1"
    if (requestLineLength > settings.limitRequestLine) return 'BALLAST_ERR_URI_TOO_LONG';
    const raw = req.rawHeaders;
    if (raw.length / 2 > settings.limitRequestFields) return 'BALLAST_ERR_HEADERS_TOO_LARGE';
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.length + raw[i + 1]!.length + 2 > settings.limitRequestFieldSize) return 'BALLAST_ERR_HEADERS_TOO_LARGE';
    }
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > settings.maxBodySize) return 'BALLAST_ERR_BODY_TOO_LARGE';
    return undefined;
  }

  /** Chunked bodies have no declared length: count bytes as the parser pushes them. */
  function guardBodySize(req: IncomingMessage, res: ServerResponse): void {
    if (req.headers['content-length'] !== undefined || req.method === 'GET' || req.method === 'HEAD') return;
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

  async function runFetch(req: IncomingMessage, res: ServerResponse, reqId: string, controller: AbortController, isTimedOut: () => boolean): Promise<void> {
    if (app.kind !== 'fetch') return;
    const ctx: RequestContext = { signal: controller.signal, requestId: reqId, workerId };
    try {
      const response = await app.fetch(toFetchRequest(req, controller.signal, defaultHost), ctx);
      if (!(response instanceof Response)) {
        throw createError('BALLAST_ERR_BAD_RESPONSE', `the app returned ${response === undefined ? 'undefined' : typeof response} instead of a Response`);
      }
      if (res.destroyed || isTimedOut()) {
        await response.body?.cancel().catch(() => {});
        return;
      }
      await writeFetchResponse(res, response, req.method === 'HEAD');
    } catch (error) {
      if (controller.signal.aborted && (res.destroyed || isTimedOut())) return; // already answered, or nobody to answer
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

  /** After ballast answered for the app (504), the app's own writes go nowhere instead of throwing. */
  function detachFromApp(res: ServerResponse): void {
    const self = res as unknown as Record<string, unknown>;
    for (const method of ['setHeader', 'appendHeader', 'writeHead', 'removeHeader', 'end']) self[method] = () => res;
    self.write = () => true;
    self.flushHeaders = () => {};
  }

  /** How one request runs: which admission it holds, its deadline, stream bookkeeping. */
  interface RunOptions {
    admission: Admission | undefined;
    timeoutMs: number;
    onDone?: () => void;
    /** Stream requests: aborted (so the app ends the stream) when the worker drains. */
    isStream?: boolean;
  }

  function run(req: IncomingMessage, res: ServerResponse, reqId: string, startedAt: number, queueWaitMs: number, bytesBefore: number, lane: RunOptions): void {
    // A Node listener has no ctx.signal: only Fetch apps (and streams, for the drain) need one.
    const controller = app.kind === 'fetch' || lane.isStream ? new AbortController() : undefined;
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const trace: RequestTrace | undefined = settings.slowMs > 0 && !lane.isStream ? { reqId, startedAt, spans: [] } : undefined;
    if (lane.isStream && controller) streamControllers.add(controller);
    res.once('close', () => {
      // One clock read for the slow report, the slot's hold time, the metrics and the access log.
      const now = performance.now();
      clearTimeout(timer);
      if (trace) reportIfSlow(req, res, trace, queueWaitMs, now);
      if (controller && !res.writableFinished && !controller.signal.aborted) controller.abort(new DOMException('the client went away', 'AbortError'));
      if (lane.isStream && controller) streamControllers.delete(controller);
      // The slot was taken when the queue wait ended (immediately when there was none).
      lane.admission?.release(now - startedAt - queueWaitMs);
      lane.onDone?.();
      active.delete(res);
      logAccess(req, res, reqId, startedAt, queueWaitMs, bytesBefore, now);
    });
    if (lane.timeoutMs > 0) {
      timer = setTimeout(() => {
        if (res.headersSent || res.destroyed) return; // the deadline covers the start of the response
        timedOut = true;
        counters.deadlines++;
        metrics?.deadline();
        const reason = `deadline of ${lane.timeoutMs} ms exceeded`;
        controller?.abort(new DOMException(reason, 'TimeoutError'));
        log.warn({ code: 'BALLAST_ERR_DEADLINE', reqId, method: req.method, path: req.url, timeoutMs: lane.timeoutMs }, `${reason}: answered 504, slot freed`);
        res.setHeader('x-ballast-deadline', `${lane.timeoutMs}ms`);
        sendError(res, 'BALLAST_ERR_DEADLINE', !req.complete);
        detachFromApp(res);
      }, lane.timeoutMs);
    }
    if (draining) res.shouldKeepAlive = false;
    const invoke = () => {
      if (app.kind === 'fetch') void runFetch(req, res, reqId, controller!, () => timedOut);
      else runNode(req, res, reqId);
    };
    const invokeTraced = () => (trace ? requestContext.run(trace, invoke) : invoke());
    const profiler = options.profiler;
    if (profiler && !lane.isStream && wantsProfile(req)) {
      // The profile covers the whole worker thread from here to the response's end.
      void profiler.start(`request ${req.method} ${pathOf(req.url)} (${reqId})`).then((started) => {
        if (started) {
          res.setHeader('x-ballast-profile', reqId);
          res.once('close', () => void profiler.stop());
        }
        invokeTraced();
      });
      return;
    }
    invokeTraced();
  }

  /** An authorised profile header (HMAC of the admin token), or an armed "next N requests to /path". */
  function wantsProfile(req: IncomingMessage): boolean {
    const header = req.headers['x-ballast-profile'];
    if (typeof header === 'string' && profileKey) {
      const given = Buffer.from(header);
      if (given.length === profileKey.length && timingSafeEqual(given, profileKey)) return true;
      log.warn({ path: req.url, remote: req.socket.remoteAddress }, 'x-ballast-profile header with a wrong token: ignored, no profile taken');
    }
    return options.profiler?.takeArmed(pathOf(req.url)) ?? false;
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

  function shed(req: IncomingMessage, res: ServerResponse, reqId: string, startedAt: number, queueWaitMs: number, bytesBefore: number, reason: ShedReason | 'stream-limit'): void {
    counters.shed[reason]++;
    metrics?.shed(reason);
    noteShed();
    const code: ErrorCode = reason === 'queue-full' ? 'BALLAST_ERR_QUEUE_FULL' : reason === 'queue-timeout' ? 'BALLAST_ERR_QUEUE_TIMEOUT' : reason === 'overload' ? 'BALLAST_ERR_OVERLOAD' : 'BALLAST_ERR_STREAM_LIMIT';
    res.setHeader('retry-after', retryAfterSeconds);
    res.setHeader('x-ballast-shed', reason);
    // An unread body would be taken for the next request: close such connections.
    sendError(res, code, !req.complete);
    res.once('close', () => {
      active.delete(res);
      logAccess(req, res, reqId, startedAt, queueWaitMs, bytesBefore);
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

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now();
    const bytesBefore = req.socket.bytesWritten;
    requests++;
    if (requests === options.maxRequests) options.onMaxRequests?.();
    if (draining) res.shouldKeepAlive = false;

    const incomingId = req.headers['x-request-id'];
    const reqId = typeof incomingId === 'string' && requestIdPattern.test(incomingId) ? incomingId : `${requestIdPrefix}${(++requestCounter).toString(36)}`;
    (res as BallastResponse).requestId = reqId;

    const limitError = checkLimits(req);
    if (limitError) {
      log.warn({ code: limitError, method: req.method, path: req.url?.slice(0, 200), remote: req.socket.remoteAddress }, defaultMessage(limitError));
      // The body (if any) is not read, so the connection cannot be reused.
      sendError(res, limitError, true);
      res.once('close', () => logAccess(req, res, reqId, startedAt, 0, bytesBefore));
      return;
    }
    guardBodySize(req, res);
    active.set(res, { method: req.method ?? '', path: req.url ?? '', reqId, startedAt });

    const path = pathOf(req.url);
    if (exemptPaths.has(path)) {
      run(req, res, reqId, startedAt, 0, bytesBefore, { admission: undefined, timeoutMs: 0 });
      return;
    }
    const route = routes.length > 0 ? routes.find((r) => r.matches(path)) : undefined;
    if (route?.kind === 'stream') {
      if (route.open >= (route.concurrency ?? Infinity)) {
        shed(req, res, reqId, startedAt, 0, bytesBefore, 'stream-limit');
        return;
      }
      route.open++;
      run(req, res, reqId, startedAt, 0, bytesBefore, { admission: undefined, timeoutMs: 0, isStream: true, onDone: () => { route.open--; } });
      return;
    }
    const admission = route?.admission ?? defaultAdmission;
    const timeoutMs = route?.timeoutMs ?? settings.timeout;

    if (admission.tryAcquire()) {
      run(req, res, reqId, startedAt, 0, bytesBefore, { admission, timeoutMs });
      return;
    }
    const waiter = admission.enqueue();
    if (typeof waiter === 'string') {
      shed(req, res, reqId, startedAt, 0, bytesBefore, waiter);
      return;
    }
    const onEarlyClose = () => {
      // The client gave up while queued: its place is given back, and it is logged as 499.
      if (admission.cancel(waiter)) {
        active.delete(res);
        logAccess(req, res, reqId, startedAt, performance.now() - startedAt, bytesBefore);
      }
    };
    res.once('close', onEarlyClose);
    void waiter.promise.then((admitted) => {
      res.off('close', onEarlyClose);
      if (!admitted.ok) {
        shed(req, res, reqId, startedAt, admitted.queueWaitMs, bytesBefore, admitted.reason);
        return;
      }
      if (res.destroyed) {
        admission.release();
        active.delete(res);
        logAccess(req, res, reqId, startedAt, admitted.queueWaitMs, bytesBefore);
        return;
      }
      run(req, res, reqId, startedAt, admitted.queueWaitMs, bytesBefore, { admission, timeoutMs });
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
    const status = createError(code).status;
    const body = errorBody(code, status);
    socket.end(
      `HTTP/1.1 ${status} ${defaultMessage(code)}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nx-ballast-error: ${code}\r\n\r\n${body}`,
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
      onRequest,
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
      return [...active.values()]
        .sort((a, b) => a.startedAt - b.startedAt)
        .map((r) => ({ method: r.method, path: r.path.slice(0, 200), reqId: r.reqId, ageMs: Math.round(now - r.startedAt) }));
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

    async listen(addresses, reusePort) {
      const bound: Array<{ host: string; port: number }> = [];
      for (const address of addresses) {
        const server = createServer();
        servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once('error', (error) => reject(createError('BALLAST_ERR_BIND', `cannot listen on ${address.host}:${address.port}: ${error.message}`, error)));
          // Round-robin: the supervisor owns the socket and hands connections out (cluster's
          // default). reuseport: each worker binds its own socket and the kernel spreads load.
          server.listen({ host: address.host, port: address.port, exclusive: reusePort, reusePort, backlog: 2048 }, resolve);
        });
        const actual = server.address() as net.AddressInfo;
        bound.push({ host: address.host, port: actual.port });
      }
      const first = bound[0];
      if (first) defaultHost = `${first.host.includes(':') ? `[${first.host}]` : first.host}:${first.port}`;
      return bound;
    },

    async drain(gracefulTimeoutMs, afterStopAccepting) {
      draining = true;
      // net.Server#close, not http.Server#close: the latter also drops idle keep-alive
      // connections at once, racing clients that are sending their next request right now.
      // Idle connections are instead closed by their keep-alive timeout (announced to the
      // client), and any request that arrives first is answered with `Connection: close`.
      for (const server of servers) net.Server.prototype.close.call(server);
      // Connections the supervisor handed out before it learned we stopped accepting are still on
      // their way: wait until it confirms, or a worker with no connections would exit under them.
      await afterStopAccepting?.();
      for (const res of active.keys()) if (!res.headersSent) res.shouldKeepAlive = false;
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
