// Per-request context through AsyncLocalStorage, for slow-request timelines: outbound HTTP calls
// (undici and fetch, via diagnostics_channel) and the app's own spans (`trace(name, fn)`) are
// attributed to the request that caused them. The store lives on a global symbol, so the copy
// of this module an app imports (`import { trace } from 'ballast'`) and the server's are one.

import { AsyncLocalStorage } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';

export interface Span {
  kind: 'http' | 'app';
  name: string;
  /** ms since the request arrived */
  startMs: number;
  durationMs: number | null;
  error?: string;
}

export interface RequestTrace {
  reqId: string;
  /** performance.now() at arrival */
  startedAt: number;
  spans: Span[];
}

const key = Symbol.for('ballast.requestContext');
const globals = globalThis as unknown as Record<symbol, AsyncLocalStorage<RequestTrace> | undefined>;
export const requestContext: AsyncLocalStorage<RequestTrace> = (globals[key] ??= new AsyncLocalStorage<RequestTrace>());

const maxSpans = 200;

function openSpan(kind: Span['kind'], name: string): { trace: RequestTrace; span: Span } | undefined {
  const trace = requestContext.getStore();
  if (!trace || trace.spans.length >= maxSpans) return undefined;
  const span: Span = { kind, name, startMs: performance.now() - trace.startedAt, durationMs: null };
  trace.spans.push(span);
  return { trace, span };
}

function closeSpan(opened: { trace: RequestTrace; span: Span }, error?: unknown): void {
  opened.span.durationMs = performance.now() - opened.trace.startedAt - opened.span.startMs;
  if (error !== undefined) opened.span.error = error instanceof Error ? error.message : String(error);
}

/**
 * Times `fn` as a span of the current request (a database query, a cache call, a computation),
 * so a slow-request report can say where the time went. Outside a request it just runs `fn`.
 */
export async function trace<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
  const opened = openSpan('app', name);
  if (!opened) return fn();
  try {
    const result = await fn();
    closeSpan(opened);
    return result;
  } catch (error) {
    closeSpan(opened, error);
    throw error;
  }
}

let subscribed = false;

/** Starts attributing undici/fetch requests to the current request (idempotent). */
export function instrumentOutboundHttp(): void {
  if (subscribed) return;
  subscribed = true;
  const open = new WeakMap<object, { trace: RequestTrace; span: Span }>();
  diagnosticsChannel.subscribe('undici:request:create', (message) => {
    const { request } = message as { request: { method: string; origin: string; path: string } };
    const opened = openSpan('http', `${request.method} ${request.origin}${request.path}`);
    if (opened) open.set(request, opened);
  });
  const finish = (message: unknown, withError: boolean) => {
    const { request, error } = message as { request: object; error?: unknown };
    const opened = open.get(request);
    if (!opened) return;
    open.delete(request);
    closeSpan(opened, withError ? error ?? 'failed' : undefined);
  };
  diagnosticsChannel.subscribe('undici:request:trailers', (message) => finish(message, false));
  diagnosticsChannel.subscribe('undici:request:error', (message) => finish(message, true));
}

/** Time covered by at least one span (overlapping waits counted once), in ms. */
export function waitingMs(spans: Span[], totalMs: number): number {
  const intervals = spans
    .map((span) => [span.startMs, span.startMs + (span.durationMs ?? totalMs - span.startMs)] as const)
    .sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let currentStart = -1;
  let currentEnd = -1;
  for (const [start, end] of intervals) {
    if (start > currentEnd) {
      if (currentEnd > currentStart) covered += currentEnd - currentStart;
      currentStart = start;
      currentEnd = end;
    } else if (end > currentEnd) {
      currentEnd = end;
    }
  }
  if (currentEnd > currentStart) covered += currentEnd - currentStart;
  return Math.min(totalMs, covered);
}
