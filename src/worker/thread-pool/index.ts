// The thread worker class: the worker's main thread keeps sockets, parsing, limits, admission and
// deadlines (http-server.ts), and the app runs in `threads` worker threads. To http-server the
// pool is just a Fetch app: `app.fetch(request, ctx)` streams the request to the least busy
// thread and resolves with a Response whose body streams back from it.
//
// Why threads and not more processes: a CPU-heavy handler then only takes its own thread, the
// sockets stay responsive, and a handler stuck in `while (true) {}` can be terminated (V8 can stop
// a thread's JS at any instruction) and replaced, with every client still getting an answer
// (504 at the deadline for its own, 503 for the others on that thread). The price: each request
// crosses threads (a structured clone of its head, one copy of each body chunk), and each thread
// loads its own copy of the app (memory, boot time).
//
// Stuck detection is by ping, not by guess: when a request is aborted (client gone, or the
// deadline), the thread is told and pinged; no pong within `stuckGraceMs` means its event loop
// is not coming back, and the thread is terminated and replaced. Routing uses a cheaper signal: a
// busy thread stamps a shared heartbeat every few ms, and a thread whose stamp has gone stale is
// blocked right now, so new requests go elsewhere.

import { Worker } from 'node:worker_threads';
import type { Logger } from '../../log.ts';
import { createError, type ErrorCode } from '../../errors.ts';
import { parseAppSpec, type LoadedApp, type RequestContext } from '../app-loader.ts';
import { createInboundBody, CreditGate, type InboundBody } from './body-channel.ts';
import { bodyWindowBytes, isNullBodyStatus, ownedCopy, type FlatHeaders, type FromThread, type ToThread } from './protocol.ts';
import type { ThreadWorkerData } from './thread-main.ts';

export interface ThreadPool {
  /** A LoadedApp of kind 'fetch' that runs each request in one of the threads. */
  app: LoadedApp;
  close(): Promise<void>;
  stats(): { threads: number; busy: number; replaced: number };
}

export interface ThreadPoolOptions {
  appSpec: string;
  appKind: 'auto' | 'fetch' | 'node';
  threads: number;
  workerId: number;
  log: Logger;
  /** How long an aborted request's thread may take to answer a ping before it is replaced (ms). */
  stuckGraceMs?: number;
}

/** Busy threads stamp the shared heartbeat this often (ms), and on every message. */
const heartbeatMs = 5;
/**
 * A busy thread silent for longer than this is blocked: routed to only when all are (ms). A
 * healthy busy thread stamps every `heartbeatMs`, so 15 ms of silence means its loop is held by
 * one piece of synchronous work, which is exactly when it should not get more requests.
 */
const blockedAfterMs = 15;
/** Replacement boots that fail are retried with this backoff (ms), doubling up to the cap. */
const retryBootMs = 1000;
const retryBootMaxMs = 30_000;

const threadEntry = new URL('./thread-main.ts', import.meta.url);

interface PendingRequest {
  readonly id: number;
  readonly thread: HandlerThread;
  readonly requestId: string;
  readonly url: string;
  readonly head: PromiseWithResolvers<Response>;
  isHeadSettled: boolean;
  isDone: boolean;
  /** The response body, once the head said it streams. */
  body: InboundBody | undefined;
  /** The request body's window toward the thread. */
  upload: CreditGate | undefined;
  detachAbort: (() => void) | undefined;
}

interface ResponsivenessCheck {
  readonly seq: number;
  readonly timer: NodeJS.Timeout;
  /** The aborted request that prompted the check: the likely culprit if the thread is stuck. */
  readonly request: PendingRequest;
}

interface HandlerThread {
  /** 1-based slot number, kept by replacements: "thread 2" stays thread 2. */
  readonly slot: number;
  readonly worker: Worker;
  readonly heartbeat: Int32Array;
  readonly requests: Map<number, PendingRequest>;
  isReady: boolean;
  isRetired: boolean;
  check: ResponsivenessCheck | undefined;
  /** Set by the worker's 'error' event, reported when it exits. */
  crash: unknown;
}

function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  if (start === -1) return '/';
  const query = url.indexOf('?', start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}

function rebuildError(message: Extract<FromThread, { t: 'error' }>): Error {
  const error = message.code?.startsWith('BALLAST_ERR_') ? createError(message.code as ErrorCode, message.message) : new Error(message.message);
  if (message.stack) error.stack = message.stack;
  return error;
}

function describeReason(reason: unknown): { reason: string; name: string } {
  if (reason instanceof Error || reason instanceof DOMException) return { reason: reason.message, name: reason.name };
  return { reason: String(reason ?? 'aborted'), name: 'AbortError' };
}

export async function createThreadPool(options: ThreadPoolOptions): Promise<ThreadPool> {
  const { appSpec, appKind, workerId, log } = options;
  const stuckGraceMs = options.stuckGraceMs ?? 1000;
  const epochMs = Date.now();
  const threads: HandlerThread[] = [];
  let nextRequestId = 0;
  let nextPingSeq = 0;
  let cursor = 0;
  let replaced = 0;
  let isClosed = false;

  function nowStamp(): number {
    return (Date.now() - epochMs) | 0;
  }

  function post(thread: HandlerThread, message: ToThread, transfer?: ArrayBuffer[]): void {
    if (!thread.isRetired) thread.worker.postMessage(message, transfer);
  }

  /**
   * Starts a thread; `booted` resolves once its app is loaded and rejects with the app's load
   * error. Requests may be routed to it before (they queue on its port until it listens).
   */
  function startThread(slot: number): { thread: HandlerThread; booted: Promise<HandlerThread> } {
    const heartbeat = new SharedArrayBuffer(4);
    const workerData: ThreadWorkerData = { appSpec, appKind, workerId, heartbeat, epochMs, heartbeatMs };
    const worker = new Worker(threadEntry, { workerData, name: `ballast worker ${workerId} thread ${slot}` });
    const thread: HandlerThread = {
      slot,
      worker,
      heartbeat: new Int32Array(heartbeat),
      requests: new Map(),
      isReady: false,
      isRetired: false,
      check: undefined,
      crash: undefined,
    };
    const booted = Promise.withResolvers<HandlerThread>();
    worker.on('message', (message: FromThread) => {
      if (message.t === 'ready') {
        thread.isReady = true;
        booted.resolve(thread);
      } else if (message.t === 'boot-error') {
        const cause = new Error(message.message);
        if (message.stack) cause.stack = message.stack;
        const code: ErrorCode = message.code === 'BALLAST_ERR_APP_SHAPE' ? 'BALLAST_ERR_APP_SHAPE' : 'BALLAST_ERR_APP_LOAD';
        thread.isRetired = true;
        void worker.terminate();
        booted.reject(createError(code, message.message, cause));
      } else {
        onThreadMessage(thread, message);
      }
    });
    worker.on('messageerror', (error) => log.error({ err: error, thread: slot }, 'a message from a handler thread could not be read'));
    worker.on('error', (error) => {
      thread.crash = error;
    });
    worker.on('exit', (code) => {
      if (!thread.isReady) {
        // Died while loading: whoever started it (boot or replace) decides what happens next.
        thread.isRetired = true;
        const detail = thread.crash instanceof Error ? `: ${thread.crash.message}` : '';
        booted.reject(createError('BALLAST_ERR_APP_LOAD', `handler thread ${slot} exited (code ${code}) while loading ${appSpec}${detail}`, thread.crash));
        return;
      }
      if (thread.isRetired) return;
      const error = thread.crash;
      const reason = error instanceof Error ? `crashed: ${error.message}` : `exited with code ${code}`;
      retire(thread, `thread ${slot} ${reason}: replaced`, { err: error, exitCode: code });
    });
    return { thread, booted: booted.promise };
  }

  /** Takes a thread out of service, fails what it was running, and starts its replacement. */
  function retire(thread: HandlerThread, message: string, fields: Record<string, unknown>, culprit?: PendingRequest): void {
    if (thread.isRetired) return;
    thread.isRetired = true;
    thread.isReady = false;
    if (thread.check) clearTimeout(thread.check.timer);
    thread.check = undefined;
    void thread.worker.terminate();
    replaced++;
    const failed = [...thread.requests.values()].filter((request) => request !== culprit);
    log.warn({ thread: thread.slot, threadId: thread.worker.threadId, failedRequests: failed.length, ...fields }, message);
    for (const request of failed) fail(request, createError('BALLAST_ERR_THREAD_REPLACED'));
    if (!isClosed) void replace(thread.slot, retryBootMs);
  }

  async function replace(slot: number, backoffMs: number): Promise<void> {
    const { thread, booted } = startThread(slot);
    const index = threads.findIndex((candidate) => candidate.slot === slot);
    threads[index] = thread;
    try {
      await booted;
      if (isClosed) {
        thread.isRetired = true;
        await thread.worker.terminate();
        return;
      }
      log.info({ thread: slot, threadId: thread.worker.threadId }, `thread ${slot} ready`);
    } catch (error) {
      for (const request of [...thread.requests.values()]) fail(request, createError('BALLAST_ERR_THREAD_REPLACED'));
      if (isClosed) return;
      log.error({ err: error, thread: slot, retryInMs: backoffMs }, `thread ${slot} could not be replaced: ${(error as Error).message}`);
      setTimeout(() => void replace(slot, Math.min(backoffMs * 2, retryBootMaxMs)), backoffMs).unref();
    }
  }

  /**
   * The thread with the lowest load: requests in flight, plus how long a busy thread has been
   * silent (its heartbeat age, one request's worth per `blockedAfterMs`). A thread that has just
   * started a CPU-heavy handler looks a little busier at once and much busier within
   * milliseconds, so a quick request is not queued behind a 5 s computation. Ties rotate.
   * Scores: requests in flight (+ a fraction for silence under `blockedAfterMs`); blocked threads
   * 1e6 + ms of silence; a thread with a pending stuck check 2e6; one still booting 4e6.
   */
  function pick(): HandlerThread | undefined {
    let best: HandlerThread | undefined;
    let bestScore = Infinity;
    const count = threads.length;
    const now = nowStamp();
    for (let k = 0; k < count; k++) {
      const thread = threads[(cursor + k) % count]!;
      if (thread.isRetired) continue;
      let score = thread.requests.size;
      if (!thread.isReady) score += 4e6;
      else if (thread.check) score += 2e6; // aborted work, no pong yet: maybe stuck
      else if (score > 0) {
        const silentMs = Math.max(0, (now - Atomics.load(thread.heartbeat, 0)) | 0);
        // Blocked threads rank after every live one, and among themselves by silence: when a
        // starved machine makes every thread late, the one that was heard from last wins, not
        // the one 4 s into a computation.
        score += silentMs > blockedAfterMs ? 1e6 + Math.min(silentMs, 9e5) : silentMs / blockedAfterMs;
      }
      if (score < bestScore) {
        best = thread;
        bestScore = score;
        if (score === 0) break;
      }
    }
    cursor = (cursor + 1) % Math.max(count, 1);
    return best;
  }

  function settleDone(request: PendingRequest): void {
    if (request.isDone) return;
    request.isDone = true;
    request.thread.requests.delete(request.id);
    request.upload?.close();
    request.detachAbort?.();
  }

  /** Fails a request in the main thread: the head if it has not come, else the body stream. */
  function fail(request: PendingRequest, error: unknown): void {
    const hadHead = request.isHeadSettled;
    settleDone(request);
    if (!hadHead) {
      request.isHeadSettled = true;
      request.head.reject(error);
    } else {
      request.body?.fail(error);
    }
  }

  /** The client went away or the deadline passed: tell the thread, and make sure it is alive. */
  function abort(request: PendingRequest, reason: unknown): void {
    if (request.isDone) return;
    const { thread } = request;
    fail(request, reason);
    post(thread, { t: 'abort', id: request.id, ...describeReason(reason) });
    checkResponsive(thread, request);
  }

  function checkResponsive(thread: HandlerThread, request: PendingRequest): void {
    if (thread.check || thread.isRetired) return;
    const seq = ++nextPingSeq;
    const timer = setTimeout(() => {
      if (thread.check?.seq !== seq) return;
      const path = pathOf(request.url);
      retire(thread, `thread ${thread.slot} stuck in ${request.requestId} ${path}: replaced`, { reason: 'stuck', reqId: request.requestId, path, stuckGraceMs }, request);
    }, stuckGraceMs);
    timer.unref();
    thread.check = { seq, timer, request };
    post(thread, { t: 'ping', seq });
  }

  function onThreadMessage(thread: HandlerThread, message: FromThread): void {
    switch (message.t) {
      case 'head': {
        const request = thread.requests.get(message.id);
        if (!request || request.isHeadSettled) return;
        request.isHeadSettled = true;
        try {
          const headers = new Headers();
          const flat: FlatHeaders = message.headers;
          for (let i = 0; i < flat.length; i += 2) headers.append(flat[i]!, flat[i + 1]!);
          const init: ResponseInit = { status: message.status, statusText: message.statusText, headers };
          if (message.end) {
            settleDone(request);
            const body = isNullBodyStatus(message.status) ? null : message.body;
            request.head.resolve(new Response(body, init));
            return;
          }
          request.body = createInboundBody(
            (bytes) => post(thread, { t: 'credit', id: request.id, bytes }),
            (reason) => abort(request, reason ?? new DOMException('the response body was cancelled', 'AbortError')),
          );
          request.head.resolve(new Response(request.body.stream, init));
        } catch (error) {
          // An invalid head (a status Response() refuses): the request fails, the thread stops it.
          fail(request, createError('BALLAST_ERR_BAD_RESPONSE', `the app's response is invalid: ${(error as Error).message}`));
          post(thread, { t: 'abort', id: request.id, reason: 'invalid response', name: 'AbortError' });
        }
        return;
      }
      case 'chunk':
        thread.requests.get(message.id)?.body?.push(message.chunk);
        return;
      case 'end': {
        const request = thread.requests.get(message.id);
        if (!request) return;
        settleDone(request);
        request.body?.end();
        return;
      }
      case 'error': {
        const request = thread.requests.get(message.id);
        if (request) fail(request, rebuildError(message));
        return;
      }
      case 'credit':
        thread.requests.get(message.id)?.upload?.refund(message.bytes);
        return;
      case 'pong':
        if (thread.check && message.seq >= thread.check.seq) {
          clearTimeout(thread.check.timer);
          thread.check = undefined;
        }
        return;
      case 'log': {
        const fields = { thread: thread.slot, threadId: thread.worker.threadId, stack: message.stack };
        if (message.level === 'warn') log.warn(fields, message.msg);
        else log.error(fields, message.msg);
        return;
      }
      default:
        return;
    }
  }

  /** Streams the request body to the thread, a window at a time. */
  async function pumpUpload(request: PendingRequest, body: ReadableStream<Uint8Array>): Promise<void> {
    const gate = new CreditGate(bodyWindowBytes);
    request.upload = gate;
    const reader = body.getReader();
    try {
      for (;;) {
        const open = gate.whenOpen();
        if (open) await open;
        const { done, value } = await reader.read();
        // Once the request is over (answered without reading the whole body, or aborted), the
        // rest is read and dropped, so a keep-alive connection stays in step; max-body-size
        // bounds it.
        if (request.isDone) {
          if (done) return;
          continue;
        }
        if (done) {
          post(request.thread, { t: 'body-end', id: request.id });
          return;
        }
        if (value.byteLength === 0) continue;
        const chunk = ownedCopy(value);
        gate.spend(chunk.byteLength);
        post(request.thread, { t: 'body-chunk', id: request.id, chunk }, [chunk.buffer]);
      }
    } catch (error) {
      if (!request.isDone) post(request.thread, { t: 'body-error', id: request.id, message: (error as Error)?.message ?? String(error) });
    } finally {
      reader.releaseLock();
    }
  }

  function fetchInThread(request: Request, ctx: RequestContext): Promise<Response> {
    if (isClosed) return Promise.reject(createError('BALLAST_ERR_SHUTTING_DOWN'));
    if (ctx.signal.aborted) return Promise.reject(ctx.signal.reason);
    const thread = pick();
    if (!thread) return Promise.reject(createError('BALLAST_ERR_THREAD_REPLACED', 'no handler thread is available'));
    const pending: PendingRequest = {
      id: ++nextRequestId,
      thread,
      requestId: ctx.requestId,
      url: request.url,
      head: Promise.withResolvers<Response>(),
      isHeadSettled: false,
      isDone: false,
      body: undefined,
      upload: undefined,
      detachAbort: undefined,
    };
    // An idle thread has no fresh heartbeat; it is about to start one.
    if (thread.requests.size === 0) Atomics.store(thread.heartbeat, 0, nowStamp());
    thread.requests.set(pending.id, pending);
    const headers: FlatHeaders = [];
    for (const [name, value] of request.headers) headers.push(name, value);
    const hasBody = request.body !== null;
    post(thread, { t: 'request', id: pending.id, method: request.method, url: request.url, headers, requestId: ctx.requestId, hasBody });
    if (request.body) void pumpUpload(pending, request.body);
    const onAbort = () => abort(pending, ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    pending.detachAbort = () => ctx.signal.removeEventListener('abort', onAbort);
    return pending.head.promise;
  }

  // Boot: all threads load the app in parallel; the first failure fails the pool.
  const started = Array.from({ length: options.threads }, (_, index) => startThread(index + 1));
  for (const { thread } of started) threads.push(thread);
  const results = await Promise.allSettled(started.map(({ booted }) => booted));
  const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failure) {
    isClosed = true;
    await Promise.all(threads.map((thread) => {
      thread.isRetired = true;
      return thread.worker.terminate();
    }));
    throw failure.reason;
  }
  const { file } = parseAppSpec(appSpec);

  return {
    app: { kind: 'fetch', fetch: fetchInThread, file },
    async close() {
      isClosed = true;
      const closing: Array<Promise<number>> = [];
      for (const thread of threads) {
        if (thread.check) clearTimeout(thread.check.timer);
        for (const request of [...thread.requests.values()]) fail(request, createError('BALLAST_ERR_SHUTTING_DOWN'));
        if (!thread.isRetired) {
          thread.isRetired = true;
          closing.push(thread.worker.terminate());
        }
      }
      await Promise.all(closing);
    },
    stats() {
      let ready = 0;
      let busy = 0;
      for (const thread of threads) {
        if (thread.isReady && !thread.isRetired) ready++;
        if (thread.requests.size > 0) busy++;
      }
      return { threads: ready, busy, replaced };
    },
  };
}
