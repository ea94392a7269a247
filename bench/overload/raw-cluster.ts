// Baseline without overload protection: node:http + node:cluster (round-robin, Node's default on
// Linux), serving cpu-app.ts. Usage: node raw-cluster.ts PORT [WORKERS]
import cluster from 'node:cluster';
import http from 'node:http';
import cpuApp from './cpu-app.ts';

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
  http.createServer(cpuApp).listen({ host: '127.0.0.1', port, backlog: 2048 });
}
