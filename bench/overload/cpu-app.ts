// The overload benchmark's app: ~5 ms of CPU per request, the same work for every contender.
// The work is a fixed number of iterations of an integer PRNG (BENCH_SPIN_ITERS, calibrated once
// by run.ts and passed to every server), not "spin until 5 ms of wall time have passed": a server
// descheduled by the OS then still does the same work, and every contender does exactly as much.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Iterations of `spin` for ~5 ms on this machine (run.ts calibrates it; this is a fallback). */
export const iterations = Number(process.env.BENCH_SPIN_ITERS ?? 2_000_000);

/** Fixed CPU work: `n` steps of xorshift32, returned so the JIT cannot drop the loop. */
export function spin(n: number): number {
  let x = 2463534242;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x >>> 0;
}

/** The response body: the work's result, so the work is observable. */
export function work(): string {
  return `ok ${spin(iterations)}\n`;
}

export default function cpuApp(_req: IncomingMessage, res: ServerResponse): void {
  const body = work();
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
