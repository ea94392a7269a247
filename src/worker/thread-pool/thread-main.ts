// A handler thread: loads the app itself (its own module graph, its own event loop), then serves
// requests that the worker's main thread streams over the thread's port. Fetch apps get a real
// Request and `ctx = { signal, requestId, workerId, threadId }`; Node listeners get a real
// IncomingMessage/ServerResponse through node-bridge.ts. While it has work the thread stamps a
// shared heartbeat, so the main thread can route around a thread whose loop is blocked without
// sending it a message.

import { parentPort, workerData, threadId } from 'node:worker_threads';
import { createError, isBallastError } from '../../errors.ts';
import { loadApp, type LoadedApp, type RequestContext } from '../app-loader.ts';
import { createInboundBody, CreditGate, type InboundBody } from './body-channel.ts';
import { createNodeBridge, type NodeBridgeCall, type NodeBridgeRequest } from './node-bridge.ts';
import { bodyWindowBytes, ownedCopy, type FlatHeaders, type FromThread, type ToThread } from './protocol.ts';

export interface ThreadWorkerData {
  appSpec: string;
  appKind: 'auto' | 'fetch' | 'node';
  workerId: number;
  /** Int32Array[1] over this buffer: ms since `epochMs`, stamped every `heartbeatMs` while busy. */
  heartbeat: SharedArrayBuffer;
  epochMs: number;
  heartbeatMs: number;
}

export interface ThreadRequestContext extends RequestContext {
  /** The worker_threads id of the thread running this request. */
  readonly threadId: number;
}

interface ThreadRequest {
  readonly id: number;
  readonly controller: AbortController;
  body: InboundBody | undefined;
  /** Response body window; exists once the response streams. */
  gate: CreditGate | undefined;
  /** Stops whatever produces the response (body reader, in-memory connection). */
  cancel: (() => void) | undefined;
  isDone: boolean;
}

const data = workerData as ThreadWorkerData;
const port = parentPort!;
const beat = new Int32Array(data.heartbeat);
const requests = new Map<number, ThreadRequest>();
let heartbeatTimer: NodeJS.Timeout | undefined;

function post(message: FromThread, transfer?: ArrayBuffer[]): void {
  if (heartbeatTimer !== undefined) stampHeartbeat();
  port.postMessage(message, transfer);
}

function stampHeartbeat(): void {
  Atomics.store(beat, 0, (Date.now() - data.epochMs) | 0);
}

function describeError(error: unknown): { code?: string; message: string; stack?: string } {
  if (error instanceof Error) return { code: isBallastError(error) ? error.code : undefined, message: error.message, stack: error.stack };
  return { message: String(error) };
}

let app: LoadedApp;
let callNode: ((request: NodeBridgeRequest) => NodeBridgeCall) | undefined;

function begin(id: number): ThreadRequest {
  const request: ThreadRequest = { id, controller: new AbortController(), body: undefined, gate: undefined, cancel: undefined, isDone: false };
  requests.set(id, request);
  if (heartbeatTimer === undefined) {
    stampHeartbeat();
    heartbeatTimer = setInterval(stampHeartbeat, data.heartbeatMs);
  }
  return request;
}

function finish(request: ThreadRequest): void {
  if (request.isDone) return;
  request.isDone = true;
  request.gate?.close();
  requests.delete(request.id);
  if (requests.size === 0 && heartbeatTimer !== undefined) {
    clearInterval(heartbeatTimer);
    heartbeatTimer = undefined;
  }
}

function fail(request: ThreadRequest, error: unknown): void {
  if (request.isDone) return;
  post({ t: 'error', id: request.id, ...describeError(error) });
  request.cancel?.();
  finish(request);
}

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError(`the response body produced a ${typeof value}, expected Uint8Array chunks`);
}

/**
 * Settles `pending` if it is already available or becomes so within this turn of the event loop.
 * A body made from a string or bytes, or a listener's `res.end(body)`, completes at once; a
 * stream still being produced (SSE) does not. undefined when not ready.
 */
async function settleSoon<T>(pending: Promise<T>): Promise<{ value: T } | undefined> {
  let settled: { value: T } | undefined;
  let failure: { error: unknown } | undefined;
  pending.then((value) => { settled = { value }; }, (error: unknown) => { failure = { error }; });
  for (let hop = 0; hop < 4 && settled === undefined && failure === undefined; hop++) await null;
  // In-memory sockets deliver through process.nextTick, which only runs once the microtask
  // queue is empty: one macrotask hop lets the listener's response arrive.
  if (settled === undefined && failure === undefined) await new Promise((resolve) => setImmediate(resolve));
  if (failure !== undefined) throw failure.error;
  return settled;
}

function concat(chunks: Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Sends the head, and the body in one message when it is complete at once, else streams it. */
async function sendResponse(request: ThreadRequest, status: number, statusText: string, headers: FlatHeaders, body: AsyncIterator<unknown> | undefined): Promise<void> {
  const { id } = request;
  if (body === undefined) {
    post({ t: 'head', id, status, statusText, headers, body: null, end: true });
    finish(request);
    return;
  }
  const previousCancel = request.cancel;
  request.cancel = () => {
    previousCancel?.();
    void body.return?.().catch(() => {});
  };
  const ready: Uint8Array[] = [];
  let readySize = 0;
  let isEnded = false;
  let pending: Promise<IteratorResult<unknown>> | undefined = body.next();
  while (readySize < bodyWindowBytes) {
    const result = await settleSoon(pending!);
    if (result === undefined) break;
    pending = undefined;
    if (result.value.done) {
      isEnded = true;
      break;
    }
    const chunk = toBytes(result.value.value);
    ready.push(chunk);
    readySize += chunk.byteLength;
    if (readySize < bodyWindowBytes) pending = body.next();
  }
  if (request.isDone) return;
  if (isEnded) {
    const whole = concat(ready, readySize);
    post({ t: 'head', id, status, statusText, headers, body: whole, end: true }, [whole.buffer]);
    finish(request);
    return;
  }
  const gate = new CreditGate(bodyWindowBytes);
  request.gate = gate;
  post({ t: 'head', id, status, statusText, headers, body: null, end: false });
  for (const chunk of ready) {
    const copy = ownedCopy(chunk);
    gate.spend(copy.byteLength);
    post({ t: 'chunk', id, chunk: copy }, [copy.buffer]);
  }
  for (;;) {
    const open = gate.whenOpen();
    if (open) await open;
    if (request.isDone) return;
    const result = await (pending ?? body.next());
    pending = undefined;
    if (request.isDone) return;
    if (result.done) break;
    const copy = ownedCopy(toBytes(result.value));
    if (copy.byteLength === 0) continue;
    gate.spend(copy.byteLength);
    post({ t: 'chunk', id, chunk: copy }, [copy.buffer]);
  }
  post({ t: 'end', id });
  finish(request);
}

function toHeaders(flat: FlatHeaders): Headers {
  const headers = new Headers();
  for (let i = 0; i < flat.length; i += 2) headers.append(flat[i]!, flat[i + 1]!);
  return headers;
}

function flattenHeaders(headers: Headers): FlatHeaders {
  const flat: FlatHeaders = [];
  for (const [name, value] of headers) if (name !== 'set-cookie') flat.push(name, value);
  for (const cookie of headers.getSetCookie()) flat.push('set-cookie', cookie);
  return flat;
}

async function serveFetch(request: ThreadRequest, message: Extract<ToThread, { t: 'request' }>): Promise<void> {
  if (app.kind !== 'fetch') return;
  const { signal } = request.controller;
  const init: RequestInit & { duplex?: 'half' } = { method: message.method, headers: toHeaders(message.headers), signal };
  if (request.body) {
    init.body = request.body.stream;
    init.duplex = 'half';
  }
  const ctx: ThreadRequestContext = { signal, requestId: message.requestId, workerId: data.workerId, threadId };
  const response = await app.fetch(new Request(message.url, init), ctx);
  if (!(response instanceof Response)) {
    throw createError('BALLAST_ERR_BAD_RESPONSE', `the app returned ${response === undefined ? 'undefined' : typeof response} instead of a Response`);
  }
  if (request.isDone) {
    await response.body?.cancel().catch(() => {});
    return;
  }
  const reader = response.body?.getReader();
  const iterator: AsyncIterator<unknown> | undefined = reader && {
    next: () => reader.read() as Promise<IteratorResult<unknown>>,
    return: async () => {
      await reader.cancel().catch(() => {});
      return { done: true, value: undefined };
    },
  };
  await sendResponse(request, response.status, response.statusText, flattenHeaders(response.headers), iterator);
}

async function serveNode(request: ThreadRequest, message: Extract<ToThread, { t: 'request' }>): Promise<void> {
  let call: NodeBridgeCall | undefined;
  call = callNode!({
    method: message.method,
    url: message.url,
    headers: message.headers,
    body: request.body?.stream,
    onAppError: (error) => fail(request, error),
  });
  request.cancel = () => call?.abort();
  const response = await call.response;
  if (request.isDone) return;
  request.cancel = () => call?.abort();
  await sendResponse(request, response.status, response.statusText, response.headers, response.body);
  call.finish();
  call = undefined;
}

function onRequest(message: Extract<ToThread, { t: 'request' }>): void {
  const request = begin(message.id);
  if (message.hasBody) {
    request.body = createInboundBody(
      (bytes) => post({ t: 'credit', id: message.id, bytes }),
      () => {},
    );
  }
  const serve = app.kind === 'fetch' ? serveFetch : serveNode;
  serve(request, message).catch((error: unknown) => fail(request, error));
}

function onMessage(message: ToThread): void {
  if (heartbeatTimer !== undefined) stampHeartbeat();
  switch (message.t) {
    case 'request':
      onRequest(message);
      break;
    case 'body-chunk':
      requests.get(message.id)?.body?.push(message.chunk);
      break;
    case 'body-end':
      requests.get(message.id)?.body?.end();
      break;
    case 'body-error':
      requests.get(message.id)?.body?.fail(new Error(message.message));
      break;
    case 'credit':
      requests.get(message.id)?.gate?.refund(message.bytes);
      break;
    case 'abort': {
      const request = requests.get(message.id);
      if (!request) break;
      finish(request);
      request.controller.abort(new DOMException(message.reason, message.name));
      request.body?.fail(request.controller.signal.reason);
      request.cancel?.();
      break;
    }
    case 'ping':
      post({ t: 'pong', seq: message.seq });
      break;
  }
}

// On a boot failure the thread reports and then has nothing left to do; the pool terminates it.
const loaded = await loadApp(data.appSpec, data.appKind).then(
  (value) => value,
  (error: unknown) => {
    const cause = (error as { cause?: unknown }).cause;
    const detail = describeError(error);
    post({
      t: 'boot-error',
      code: detail.code ?? 'BALLAST_ERR_APP_LOAD',
      message: detail.message,
      stack: cause instanceof Error ? cause.stack : detail.stack,
    });
    return undefined;
  },
);
/**
 * Request, Response and web streams are loaded lazily in each isolate, on first use: tens of
 * milliseconds of compilation (hundreds on a busy machine) that would otherwise land on this
 * thread's first requests. Pay it before reporting ready.
 */
async function warmUp(): Promise<void> {
  const request = new Request('http://localhost/', { method: 'POST', body: createInboundBody(() => {}, () => {}).stream, duplex: 'half', headers: { 'x-warm': '1' } } as RequestInit);
  void request.signal;
  const response = new Response(new TextEncoder().encode('warm'), { status: 200, headers: toHeaders(['content-type', 'text/plain']) });
  flattenHeaders(response.headers);
  const reader = response.body!.getReader();
  while (!(await reader.read()).done);
  await new Response('warm').text();
}

if (loaded) {
  await warmUp().catch(() => {});
  app = loaded;
  callNode = app.kind === 'node' ? createNodeBridge(app.listener) : undefined;
  // The app's own stray rejections are logged, as the process class does, instead of killing
  // the thread (Node's default for worker threads).
  process.on('unhandledRejection', (reason) => {
    const detail = describeError(reason);
    post({ t: 'log', level: 'error', msg: `unhandled promise rejection in the app: ${detail.message}`, stack: detail.stack });
  });
  port.on('message', onMessage);
  post({ t: 'ready', kind: app.kind });
}
