// A simulated object store (seed 002's S3 bucket): an HTTP service on loopback that serves one
// CSV object after a fixed latency plus jitter, so the demo app has a real network call to make.

import http from 'node:http';
import { listenLoopback } from '../../src/lab/loopback.ts';

export interface ObjectStoreOptions {
  /** Latency of every GET, in ms. */
  latencyMs: number;
  /** Uniform random extra latency 0..jitterMs, in ms. */
  jitterMs?: number;
  port?: number;
  host?: string;
  rows?: number;
}

export interface ObjectStore {
  url: string;
  /** GETs served so far. */
  readonly gets: number;
  close(): Promise<void>;
}

export function makeCsv(rows: number): string {
  const lines = ['id,city,temperature_c,recorded_at'];
  const cities = ['Lisbon', 'Oslo', 'Nairobi', 'Lima', 'Osaka', 'Perth', 'Quito', 'Tunis'];
  for (let i = 1; i <= rows; i++) {
    // Deterministic values, so a test can check the content.
    lines.push(`${i},${cities[i % cities.length]},${(((i * 37) % 400) / 10 - 5).toFixed(1)},2024-01-${String((i % 28) + 1).padStart(2, '0')}T12:00:00Z`);
  }
  return `${lines.join('\n')}\n`;
}

export async function startObjectStore(options: ObjectStoreOptions): Promise<ObjectStore> {
  const csv = makeCsv(options.rows ?? 500);
  let gets = 0;
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || !req.url?.startsWith('/bucket/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such object\n');
      return;
    }
    gets++;
    const delayMs = options.latencyMs + Math.random() * (options.jitterMs ?? 0);
    const timer = setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/csv', 'content-length': Buffer.byteLength(csv) }).end(csv);
    }, delayMs);
    res.on('close', () => clearTimeout(timer));
  });
  const { url, close } = await listenLoopback(server, options);
  return {
    url,
    get gets() { return gets; },
    close,
  };
}
