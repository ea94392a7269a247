// Peer with load shedding: Fastify + @fastify/under-pressure in a node:cluster of WORKERS workers,
// serving the same work as cpu-app.ts. under-pressure answers 503 (with Retry-After) to every
// request while the event loop's mean delay over the last sample interval exceeds
// maxEventLoopDelay. Settings: maxEventLoopDelay 100 ms (the capacity criterion's p99 bound),
// sampleInterval 100 ms (the default, 1 s, reacts ten times slower), retryAfter 1 s (as ballast).
// Usage: node fastify-cluster.ts PORT [WORKERS]
import cluster from 'node:cluster';
import { createRequire } from 'node:module';
import { work } from './cpu-app.ts';

const require = createRequire(new URL('../node_modules/', import.meta.url));
const port = Number(process.argv[2] ?? 8000);
const workers = Number(process.argv[3] ?? 2);
const maxEventLoopDelay = Number(process.env.BENCH_MAX_EVENT_LOOP_DELAY ?? 100);
const sampleInterval = Number(process.env.BENCH_SAMPLE_INTERVAL ?? 100);

if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  for (let i = 0; i < workers; i++) cluster.fork();
  const stop = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const Fastify = require('fastify') as typeof import('fastify').default;
  const underPressure = require('@fastify/under-pressure') as typeof import('@fastify/under-pressure').default;
  const app = Fastify({ logger: false });
  await app.register(underPressure, { maxEventLoopDelay, sampleInterval, retryAfter: 1 });
  app.get('/', async (_request, reply) => {
    reply.header('content-type', 'text/plain; charset=utf-8');
    return work();
  });
  await app.listen({ host: '127.0.0.1', port, backlog: 2048 });
}
