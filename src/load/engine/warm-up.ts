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

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GroupSpec, RunSpec } from '../types.ts';
import { runEngine } from './index.ts';

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

async function listen(): Promise<{ server: Server; origin: string; answered: () => number }> {
  const body = Buffer.from('warm-up\n');
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
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, answered: () => count };
}

/**
 * Runs `run`'s request groups against a local server for `run.warmUpMs`; resolves, once that server
 * is closed, with the number of requests it answered.
 */
export async function warmUpEngine(run: RunSpec): Promise<number> {
  const durationMs = run.warmUpMs ?? 0;
  if (durationMs <= 0) return 0;
  const { server, origin, answered } = await listen();
  try {
    const groups = run.groups.flatMap((group) => localGroups(group, origin));
    if (groups.length === 0) return 0;
    const warmRun: RunSpec = { durationMs, gracefulStopMs: 1_000, threads: 1, groups };
    await runEngine(warmRun, 0, 1, performance.now(), () => undefined).done;
    return answered();
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
