// The slow upstream of seed 000's exercise: "a slow external service to determine if there is
// anything interesting happening on the internet". GET /feed answers after a delay (plus jitter),
// failing with 500 at a given rate. It counts requests and how many are open at once, so the lab
// can say how hard the app leaned on it.

import http from 'node:http';
import { listenLoopback } from './loopback.ts';

export interface FeedServiceOptions {
  /** ms before each answer */
  delayMs: number;
  /** ms of uniform random extra delay */
  jitterMs?: number;
  /** 0..1: share of requests answered 500 */
  errorRate?: number;
  port?: number;
  host?: string;
}

export interface FeedService {
  url: string;
  readonly requests: number;
  readonly open: number;
  readonly maxOpen: number;
  close(): Promise<void>;
}

const topics = ['a new JavaScript framework', 'a cat video', 'a solar eclipse', 'a database outage', 'a kernel release', 'a chess upset'];

export async function startFeedService(options: FeedServiceOptions): Promise<FeedService> {
  let requests = 0;
  let open = 0;
  let maxOpen = 0;
  let sequence = 0;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path !== '/feed' || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('try GET /feed\n');
      return;
    }
    requests++;
    open++;
    maxOpen = Math.max(maxOpen, open);
    const delayMs = options.delayMs + Math.random() * (options.jitterMs ?? 0);
    const timer = setTimeout(() => {
      if (Math.random() < (options.errorRate ?? 0)) {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"the feed service failed"}\n');
        return;
      }
      sequence++;
      const body = JSON.stringify({
        sequence,
        interesting: sequence % 3 === 0,
        headline: `Something about ${topics[sequence % topics.length]}`,
        generatedAt: new Date().toISOString(),
        tookMs: Math.round(delayMs),
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    }, delayMs);
    res.on('close', () => {
      clearTimeout(timer);
      open--;
    });
  });
  server.keepAliveTimeout = 5000;
  const { url, close } = await listenLoopback(server, options);
  return {
    url,
    get requests() { return requests; },
    get open() { return open; },
    get maxOpen() { return maxOpen; },
    close,
  };
}
