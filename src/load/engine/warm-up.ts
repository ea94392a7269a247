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
const headOnly = Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n`, 'latin1');
const full = Buffer.concat([headOnly, body]);

/**
 * A canned-response HTTP/1.1 server: it reads request heads (and Content-Length bodies) and writes
 * one prebuilt response for each. It costs a fraction of node:http per request, so the generator's
 * paths get ~twice the requests in the same warm-up, and the stream internals they share with a
 * server see only client sockets, as in the real run.
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
        count++;
        socket.write(head.startsWith('HEAD ') ? headOnly : full);
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

/**
 * Against one local server: the transports' warm-up, then `run`'s request groups for
 * `run.warmUpMs`. Resolves, once that server is closed, with the number of requests the groups'
 * part sent (0 when --warm-up is 0 or the plan has only streams). Aborting `signal` (Ctrl-C) ends
 * it early, as the end of its duration would.
 */
export async function warmUpEngine(run: RunSpec, signal?: AbortSignal): Promise<number> {
  const durationMs = run.warmUpMs ?? 0;
  if (signal?.aborted) return 0;
  const local = run.groups.some(hasTransferEncoding) ? await listenHttp() : await listenCanned();
  try {
    await warmUpTransports(local.origin, signal);
    const groups = run.groups.flatMap((group) => localGroups(group, local.origin));
    if (durationMs <= 0 || groups.length === 0 || signal?.aborted) return 0;
    const before = local.answered();
    const warmRun: RunSpec = { durationMs, gracefulStopMs: 1_000, threads: 1, groups };
    const engine = runEngine(warmRun, 0, 1, performance.now(), () => undefined);
    const stop = () => engine.stop();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      await engine.done;
    } finally {
      signal?.removeEventListener('abort', stop);
    }
    return local.answered() - before;
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
