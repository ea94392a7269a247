// The seeds' demo app, served by `npm start` (`ballast serve lab/demo-app/app.ts`) and by the lab.
//
//   GET /hello              a constant, for throughput and latency baselines
//   GET /healthz            ok
//   GET /csv_test?delay=N   seed 002: wait N seconds and return a CSV from the object store.
//                           The object is fetched *during* the wait and cached, so two concurrent
//                           ?delay=10 requests both return in ~10 s on one worker; with
//                           --worker-connections 1 (gunicorn's sync worker) the second waits: 20 s.
//   GET /check_feed         seed 000: ask the slow feed service whether anything interesting is
//                           happening. naive: a plain call per request. tuned: a 2.5 s timeout,
//                           one call in flight per worker (coalescing) and a stale-while-revalidate
//                           cache, so a 2 s upstream at 10 req/s costs 1 call per refresh.
//   GET /stream_feed        seed 000: Server-Sent Events with feed updates. tuned: one shared
//                           poller per worker fans out to every client. naive: every client polls
//                           the feed service itself, and holds its slot for as long as it listens.
//   GET /                   seed 001: one random 140-character message from the database
//                           (`ballast lab seed-data --rows N` first), cached with DEMO_CACHE=on.
//   GET /evil?input=S       seed 004: a catastrophic regex, /^(a+)+$/ (ReDoS)
//   GET /cpu?ms=N           seed 004: N ms of CPU on the event loop
//   GET /leak?kb=N          seed 003: keeps N KiB more in memory for good (a leaking handler)
//
// Configuration (environment): DEMO_MODE=naive|tuned (default tuned), FEED_URL, OBJECT_STORE_URL
// (both started in-process on loopback when unset), DATABASE_URL (PostgreSQL, else SQLite at
// LAB_SQLITE_PATH), DB_CONNECTION_BUDGET (default 80, split across BALLAST_WORKER_COUNT workers),
// DB_QUERY_MS (PostgreSQL: each query holds its connection this long, default 20, a page's work),
// DB_NAIVE_POOL=unbounded (naive PostgreSQL: a pool with no maximum instead of a connection per
// request), REDIS_URL, DEMO_CACHE=on|off.

import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { startObjectStore } from './object-store.ts';
import { startFeedService } from '../../src/lab/feed-service.ts';
import { createMessageStore, type MessageStore } from '../../src/lab/database.ts';
import { createCache, type Cache } from '../../src/lab/cache.ts';
import { trace } from '../../src/index.ts';

interface Context {
  signal: AbortSignal;
}

const mode = process.env.DEMO_MODE === 'naive' ? 'naive' : 'tuned';
const maxDelaySeconds = 60;
const csvKey = '/bucket/weather.csv';

function text(body: string, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers } });
}

/** A service URL from the environment, or one started in this worker on first use. */
function lazyService(envName: string, start: () => Promise<{ url: string }>): () => Promise<string> {
  let url: Promise<string> | undefined;
  return () => (url ??= process.env[envName] ? Promise.resolve(process.env[envName]!) : start().then((s) => s.url));
}
const objectStoreUrl = lazyService('OBJECT_STORE_URL', () => startObjectStore({ latencyMs: Number(process.env.OBJECT_STORE_LATENCY_MS ?? 500), jitterMs: 50 }));
const feedUrl = lazyService('FEED_URL', () => startFeedService({ delayMs: Number(process.env.FEED_DELAY_MS ?? 2000), jitterMs: 100 }));

// --- /csv_test (seed 002) --------------------------------------------------------------------

// fetchMethod coalesces concurrent misses into one upstream call; entries live 60 s.
const csvCache = new LRUCache<string, string>({
  max: 16,
  ttl: 60_000,
  fetchMethod: async (key, _stale, { signal }) => {
    const response = await fetch(`${await objectStoreUrl()}${key}`, { signal });
    if (!response.ok) throw new Error(`object store answered ${response.status} for ${key}`);
    return response.text();
  },
});

async function csvTest(url: URL, ctx: Context): Promise<Response> {
  const raw = url.searchParams.get('delay') ?? '0';
  const delaySeconds = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || delaySeconds > maxDelaySeconds) {
    return text(`expected delay to be a number of seconds between 0 and ${maxDelaySeconds}, got "${raw}"\n`, 400);
  }
  // Start the download first, then wait: the two overlap (seed 002, "Parallelism").
  const csv = csvCache.fetch(csvKey, { signal: ctx.signal });
  csv.catch(() => {}); // observed below; avoid an unhandled rejection while we sleep
  await sleep(delaySeconds * 1000, undefined, { signal: ctx.signal });
  const body = await csv;
  if (body === undefined) return text('object store unavailable\n', 502);
  return new Response(body, { headers: { 'content-type': 'text/csv; charset=utf-8' } });
}

// --- /check_feed (seed 000) ------------------------------------------------------------------

interface FeedItem {
  sequence: number;
  interesting: boolean;
  headline: string;
  generatedAt: string;
}

async function fetchFeed(signal?: AbortSignal): Promise<FeedItem> {
  const response = await fetch(`${await feedUrl()}/feed`, { signal });
  if (!response.ok) throw new Error(`the feed service answered ${response.status}`);
  return (await response.json()) as FeedItem;
}

/** Fresh for 5 s; after that served stale while one refresh runs; a refresh may take 2.5 s. */
const feedFreshMs = 5_000;
const feedTimeoutMs = 2_500;
let feedValue: { item: FeedItem; at: number } | undefined;
let feedRefresh: Promise<FeedItem> | undefined;

function refreshFeed(): Promise<FeedItem> {
  feedRefresh ??= fetchFeed(AbortSignal.timeout(feedTimeoutMs))
    .then((item) => {
      feedValue = { item, at: Date.now() };
      return item;
    })
    .finally(() => { feedRefresh = undefined; });
  return feedRefresh;
}

async function checkFeed(ctx: Context): Promise<Response> {
  if (mode === 'naive') {
    // A plain call per request, no timeout: the request lives as long as the upstream takes.
    const item = await fetchFeed(ctx.signal);
    return Response.json({ ...item, source: 'upstream' });
  }
  if (feedValue && Date.now() - feedValue.at < feedFreshMs) return Response.json({ ...feedValue.item, source: 'cache' });
  if (feedValue) {
    refreshFeed().catch(() => {}); // revalidate in the background; this request gets the stale value
    return Response.json({ ...feedValue.item, source: 'stale' });
  }
  try {
    return Response.json({ ...(await refreshFeed()), source: 'upstream' });
  } catch (error) {
    return Response.json({ error: `the feed service did not answer in ${feedTimeoutMs} ms: ${(error as Error).message}` }, { status: 503, headers: { 'retry-after': '1' } });
  }
}

// --- /stream_feed (seed 000) -----------------------------------------------------------------

const encoder = new TextEncoder();
const subscribers = new Set<ReadableStreamDefaultController<Uint8Array>>();
let poller: NodeJS.Timeout | undefined;
let lastEvent: Uint8Array | undefined;

function broadcast(event: Uint8Array): void {
  lastEvent = event;
  // Batches of 250 with a turn of the event loop between: 10,000 writes in one go would hold
  // the loop for hundreds of ms and every other route with it.
  const targets = [...subscribers];
  const writeBatch = (from: number) => {
    for (const subscriber of targets.slice(from, from + 250)) {
      if (subscribers.has(subscriber)) subscriber.enqueue(event);
    }
    if (from + 250 < targets.length) setImmediate(writeBatch, from + 250);
  };
  writeBatch(0);
}

function startPoller(): void {
  if (poller) return;
  const poll = async () => {
    try {
      const item = await refreshFeed();
      broadcast(encoder.encode(`event: feed\ndata: ${JSON.stringify(item)}\n\n`));
    } catch {
      // the feed service is slow or down: keep the streams, try again next tick
    }
  };
  void poll();
  poller = setInterval(() => { if (subscribers.size > 0) void poll(); }, 2_000);
  poller.unref();
}

function sseResponse(body: ReadableStream<Uint8Array>): Response {
  return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' } });
}

function streamFeed(ctx: Context): Response {
  if (mode === 'naive') {
    // Every client polls the feed service itself, for as long as it listens.
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode(': connected\n\n'));
        while (!ctx.signal.aborted) {
          try {
            const item = await fetchFeed(ctx.signal);
            controller.enqueue(encoder.encode(`event: feed\ndata: ${JSON.stringify(item)}\n\n`));
          } catch {
            if (ctx.signal.aborted) break;
            await sleep(1000).catch(() => {});
          }
        }
        try { controller.close(); } catch { /* already cancelled */ }
      },
    });
    return sseResponse(body);
  }
  startPoller();
  let self: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      self = controller;
      subscribers.add(controller);
      controller.enqueue(encoder.encode(': connected\n\n'));
      if (lastEvent) controller.enqueue(lastEvent);
    },
    cancel() {
      subscribers.delete(self);
    },
  });
  ctx.signal.addEventListener('abort', () => {
    if (subscribers.delete(self)) {
      try { self.close(); } catch { /* already closed */ }
    }
  });
  return sseResponse(body);
}

// --- / (seed 001) ----------------------------------------------------------------------------

let store: MessageStore | undefined;
let messageCount: Promise<number> | undefined;
let cache: Cache | undefined;
const useCache = process.env.DEMO_CACHE === 'on';

function messageStore(): MessageStore {
  store ??= createMessageStore({
    mode,
    databaseUrl: process.env.DATABASE_URL,
    sqlitePath: process.env.LAB_SQLITE_PATH,
    connectionBudget: Number(process.env.DB_CONNECTION_BUDGET ?? 80),
    queryMs: Number(process.env.DB_QUERY_MS ?? 20),
    workers: Number(process.env.BALLAST_WORKER_COUNT ?? 1),
    naivePool: process.env.DB_NAIVE_POOL === 'unbounded' ? 'unbounded' : 'per-request',
  });
  return store;
}

async function randomMessage(): Promise<Response> {
  const db = messageStore();
  try {
    messageCount ??= db.count();
    const count = await messageCount.catch((error: unknown) => {
      messageCount = undefined; // retry the count next time
      throw error;
    });
    if (count === 0) return text('no messages yet: run `ballast lab seed-data --rows 10000` first\n', 503);
    const id = 1 + Math.floor(Math.random() * count);
    if (useCache) {
      cache ??= createCache(process.env.REDIS_URL);
      const cached = await trace('cache.get', () => cache!.get(`message:${id}`));
      if (cached !== undefined) return text(cached, 200, { 'x-cache': 'hit' });
    }
    const message = await trace('db.query', () => db.message(id));
    if (message === undefined) return text(`message ${id} not found\n`, 404);
    if (useCache) await cache!.set(`message:${id}`, message, 300);
    return text(message, 200, useCache ? { 'x-cache': 'miss' } : {});
  } catch (error) {
    // The database's own words ("sorry, too many clients already") are the finding; say them.
    return text(`database error: ${(error as Error).message}\n`, 500);
  }
}

// --- seed 003/004 routes ---------------------------------------------------------------------

function evil(url: URL): Response {
  const input = url.searchParams.get('input') ?? '';
  return text(`${/^(a+)+$/.test(input)}\n`);
}

function cpu(url: URL): Response {
  const ms = Math.min(60_000, Number(url.searchParams.get('ms') ?? 100) || 0);
  const end = performance.now() + ms;
  let spins = 0;
  while (performance.now() < end) spins++;
  return text(`burned ${ms} ms of CPU (${spins} spins)\n`);
}

const leaked: Buffer[] = [];
function leak(url: URL): Response {
  const kb = Math.min(1024 * 1024, Number(url.searchParams.get('kb') ?? 1024) || 0);
  leaked.push(Buffer.alloc(kb * 1024, 1));
  const total = leaked.reduce((sum, block) => sum + block.length, 0);
  return text(`leaking: ${Math.round(total / 1024)} KiB held by pid ${process.pid}\n`);
}

export default {
  async fetch(request: Request, ctx: Context): Promise<Response> {
    const url = new URL(request.url);
    switch (url.pathname) {
      case '/hello':
        return text('Hello, World!\n');
      case '/healthz':
        return text('ok\n');
      case '/csv_test':
        return csvTest(url, ctx);
      case '/check_feed':
        return checkFeed(ctx);
      case '/stream_feed':
        return streamFeed(ctx);
      case '/':
        return randomMessage();
      case '/evil':
        return evil(url);
      case '/cpu':
        return cpu(url);
      case '/leak':
        return leak(url);
      default:
        return text('not found: try /hello, /csv_test?delay=2, /check_feed, /stream_feed, /, /evil?input=aaa, /cpu?ms=50, /leak\n', 404);
    }
  },
};
