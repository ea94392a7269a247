// The generator's own warm-up, before the clock starts: the run's groups, re-aimed at a throwaway
// server in this thread, run through the real engine (executors, transports, parser, recorder,
// histograms) for a fraction of a second, and what they record is thrown away. The target never
// sees these requests.
//
// Why: V8 optimises a hot function on a helper thread, 1-12 ms of CPU per function. Without this,
// the first seconds of a run against a fast server paid for ~100 such compilations, on a 2-core
// machine that the server shares: `node --trace-opt` at 5,000 req/s showed 54 TurboFan jobs between
// 1.6 and 3.3 s, and the service-time p99 of seconds 0-2 was 1.3-6.9 ms against 0.6-0.9 ms after.
// wrk, compiled ahead of time, has no such phase (BENCHMARKS.md, "the generator's JIT warm-up").

import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { Pool } from 'undici';
import type { GroupSpec, RequestSpec, RunSpec } from '../types.ts';
import { prepareEngine, runEngine, type PreparedEngine } from './index.ts';
import { buildRawRequest, RawPool } from './raw-pool.ts';

function localGroups(group: GroupSpec, origin: string): GroupSpec[] {
  if (group.kind === 'stream') return [];
  // Only plain http can be aimed at the local server; an https group's undici path is warmed over
  // http, which shares all of it but the TLS socket.
  const requests = group.requests.map((request) => ({ ...request, url: origin + request.path, origin }));
  const common = {
    ...group,
    requests,
    stages: [],
    slow: { headersMs: 0, uploadBytesPerSecond: 0, readBytesPerSecond: 0 },
    connections: Math.min(group.connections, 8),
    maxInFlight: 10_000,
    pacing: 'timer' as const,
    // The pools sweep for timeouts every tenth of it (at most every second): at 1 s they sweep
    // every 100 ms, so the sweep's first write to a pool's tick, a field the send and read paths
    // read, happens here. With the run's timeout, the first sweep came 1 s into the real run and
    // V8 threw away the compiled send and read paths there ("dependent field type constness
    // changed", 4 code objects in every run). The canned server answers in microseconds.
    requestTimeoutMs: 1_000,
  };
  // Closed users flat out call the shared paths (transport, parser, recorder) most often; an open
  // group also runs as itself, so its executor's own functions are warm too.
  const closed: GroupSpec = { ...common, name: `${group.name} (warm-up, closed)`, kind: 'closed', users: Math.min(Math.max(group.users, 1), 8), thinkMs: 0 };
  if (group.kind === 'closed') return [closed];
  return [closed, { ...common, name: `${group.name} (warm-up, open)`, rate: 4_000 }];
}

interface LocalServer {
  close(): Promise<void>;
  origin: string;
  answered(): number;
}

const body = Buffer.from('warm-up\n');
const date = new Date().toUTCString();
const chunkedBody = Buffer.from(`${body.length.toString(16)}\r\n${body.toString('latin1')}\r\n0\r\n\r\n`, 'latin1');
/**
 * The canned server's answers, in turn: the heads of node:http (with its keep-alive hint), of
 * nginx, a chunked body and a bare one, so the response parser has met the headers and framings
 * of common servers before the real run. With the bare one alone, the parser's branches for
 * `connection`, `keep-alive` and chunked bodies were first taken against the target, which
 * deoptimised it (and the connection code it is inlined into) in the first milliseconds.
 */
const cannedResponses: Array<[head: string, payload: Buffer]> = [
  [`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: ${date}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: ${body.length}\r\n\r\n`, body],
  [`HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: ${date}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n`, body],
  ['HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n', chunkedBody],
  [`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n`, body],
];
/** [answer to HEAD, answer to the rest] for each canned response. */
const cannedAnswers = cannedResponses.map(([head, payload]) => {
  const headBytes = Buffer.from(head, 'latin1');
  return [headBytes, Buffer.concat([headBytes, payload])];
});

/**
 * A canned-response HTTP/1.1 server: it reads request heads (and Content-Length bodies) and writes
 * a prebuilt response for each (cannedAnswers, in turn). It costs a fraction of node:http per
 * request, so the generator's paths get ~twice the requests in the same warm-up, and the stream
 * internals they share with a server see only client sockets, as in the real run.
 */
async function listenCanned(): Promise<LocalServer> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) break;
        const head = pending.toString('latin1', 0, end);
        const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
        const total = end + 4 + (length ? Number(length[1]) : 0);
        if (pending.length < total) break;
        const answers = cannedAnswers[count++ % cannedAnswers.length];
        socket.write(head.startsWith('HEAD ') ? answers[0] : answers[1]);
        pending = pending.subarray(total);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answered: () => count,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** node:http, for requests whose framing the canned server does not read (a transfer-encoding header). */
async function listenHttp(): Promise<LocalServer> {
  let count = 0;
  const server = createServer((request, response) => {
    count++;
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      response.end(request.method === 'HEAD' ? undefined : body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answered: () => count,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function hasTransferEncoding(group: GroupSpec): boolean {
  return group.requests.some((request) => request.headers.some((value, index) => index % 2 === 0 && value.toLowerCase() === 'transfer-encoding'));
}

/**
 * Loads and JITs undici's HTTP parser (WebAssembly, compiled on first use) and the raw transport,
 * whatever the plan and --warm-up say (~15 ms for undici's first request alone): 200 requests
 * through each.
 */
async function warmUpTransports(origin: string, signal: AbortSignal | undefined): Promise<void> {
  const url = new URL(origin);
  const pool = new Pool(origin, { connections: 4 });
  const rawPool = new RawPool({ host: url.hostname, port: Number(url.port), connections: 4, requestTimeoutMs: 10_000, connectTimeoutMs: 10_000 });
  const spec: RequestSpec = { method: 'GET', url: `${origin}/`, origin, path: '/', headers: [], bodyBase64: '', weight: 1 };
  const raw = buildRawRequest(spec, null);
  const sendRaw = () => new Promise<void>((resolve, reject) => {
    rawPool.dispatch(raw, { onConnect() {}, onHeaders: () => true, onComplete: () => resolve(), onError: reject });
  });
  try {
    for (let round = 0; round < 50 && signal?.aborted !== true; round++) {
      await Promise.all(Array.from({ length: 4 }, async () => {
        const response = await pool.request({ path: '/', method: 'GET' });
        await response.body.dump();
        await sendRaw();
      }));
    }
  } finally {
    await pool.destroy();
    await rawPool.destroy();
  }
}

/** What the groups' part of a warm-up did; all 0 when it did not run. */
export interface WarmUpOutcome {
  /** Requests the local server answered. */
  answered: number;
  /** Requests the groups' recorders counted, and of those, errors (a canned answer the parser refused would be one). */
  recorded: number;
  errors: number;
  /** Intervals the recorders closed. */
  intervals: number;
}

/**
 * Against one local server: the transports' warm-up, then `run`'s request groups for
 * `run.warmUpMs`. Resolves, once that server is closed, with what the groups' part did (all 0
 * when --warm-up is 0 or the plan has only streams). Aborting `signal` (Ctrl-C) ends it early, as
 * the end of its duration would.
 */
export async function warmUpEngine(run: RunSpec, signal?: AbortSignal): Promise<WarmUpOutcome> {
  const durationMs = run.warmUpMs ?? 0;
  const outcome: WarmUpOutcome = { answered: 0, recorded: 0, errors: 0, intervals: 0 };
  if (signal?.aborted) return outcome;
  const local = run.groups.some(hasTransferEncoding) ? await listenHttp() : await listenCanned();
  try {
    await warmUpTransports(local.origin, signal);
    const groups = run.groups.flatMap((group) => localGroups(group, local.origin));
    if (durationMs <= 0 || groups.length === 0 || signal?.aborted) return outcome;
    const before = local.answered();
    // Intervals of 100 ms: the recorders close several mid-run (a fresh interval's first status
    // count, its histograms encoded), paths that with one 500 ms "second" were first taken in the
    // real run's second 1, inside functions already optimised without them.
    const warmRun: RunSpec = { durationMs, gracefulStopMs: 1_000, threads: 1, groups, intervalMs: 100 };
    const engine = runEngine(warmRun, 0, 1, performance.now(), (_group, interval) => {
      outcome.intervals++;
      outcome.recorded += interval.requests;
      outcome.errors += interval.errors;
    });
    const stop = () => engine.stop();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      await engine.done;
    } finally {
      signal?.removeEventListener('abort', stop);
    }
    outcome.answered = local.answered() - before;
    return outcome;
  } finally {
    await local.close();
  }
}

/** How long the start waits for its connections; one that takes longer opens during the run. */
const preconnectWaitMs = 1_000;

/**
 * Everything a generator thread does before the clock starts: the warm-ups, then this thread's
 * connections to the target opened and idle (as wrk opens all of its connections at once, before
 * its first request; opened on demand instead, 39 of 64 of them were set up during the first
 * half-second of a run at 5,000 req/s, on the server the run measures). Aborting `signal` ends the
 * warm-up early and skips the connections.
 */
export async function prepareThread(run: RunSpec, threadIndex: number, threadCount: number, signal?: AbortSignal): Promise<PreparedEngine> {
  await warmUpEngine(run, signal);
  const engine = prepareEngine(run, threadIndex, threadCount);
  // Stopped already, the run will not start: its connections would only be opened to be closed.
  if (signal?.aborted) return engine;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([engine.preconnect(), new Promise<void>((resolve) => (timer = setTimeout(resolve, preconnectWaitMs)))]);
  clearTimeout(timer);
  return engine;
}
