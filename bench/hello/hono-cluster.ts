// Peer for the Fetch case: @hono/node-server in a 2-worker node:cluster, serving fetch-app.ts
// with its defaults (which include replacing the global Request/Response with its lightweight
// versions). Usage: node hono-cluster.ts PORT [WORKERS]
import cluster from 'node:cluster';
import { serve } from '@hono/node-server';
import app from './fetch-app.ts';

const port = Number(process.argv[2] ?? 8000);
const workers = Number(process.argv[3] ?? 2);

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
  serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
}
