// The one table of `ballast serve` settings. The CLI parser, BALLAST_* variables, config-file keys,
// --help, --print-config and docs/settings.md all come from here (test/unit/settings-doc.test.ts
// fails when the doc drifts: regenerate it with `npm run docs`).

import { availableParallelism } from 'node:os';
import type { SettingsTable } from './schema.ts';

export const serveSettings: SettingsTable = [
  { section: 'App', name: 'app', type: 'string', default: '', defaultDoc: '', doc: 'The app to serve: `path/to/module.ts[:export]` (default export when no name is given). Usually given as the positional APP.' },
  { section: 'App', name: 'appKind', type: 'enum', choices: ['auto', 'fetch', 'node'], default: 'auto', doc: 'How to call the app: a Fetch handler (`{ fetch }` or `(request, ctx) => Response`) or a Node listener `(req, res)`. `auto` decides from the export\'s shape.' },
  { section: 'App', name: 'fastFetch', type: 'bool', default: true, doc: 'Fetch apps: hand the app a lazily built Request and send string, bytes and empty Responses without a body stream (bench/hello: 35.7 → 13.4 µs of server CPU per request). The worker replaces the globals Request, Response and fetch with compatible versions (`instanceof`, `new Request(req)` and `fetch(req)` keep working), as @hono/node-server does by default. Turn off if the app relies on the exact native classes.' },
  { section: 'App', name: 'config', short: 'c', type: 'string', default: '', defaultDoc: '', cliOnly: true, doc: 'A config file, `ballast.config.ts` or `.json`, whose keys are the setting names of this page. Re-read on SIGHUP.' },
  { section: 'App', name: 'printConfig', type: 'bool', default: false, cliOnly: true, doc: 'Print the resolved settings (and where each came from) and exit.' },

  { section: 'Server', name: 'bind', short: 'b', type: 'list', default: ['127.0.0.1:8000'], defaultDoc: '127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set', doc: 'Address to listen on, `HOST:PORT`, `[IPV6]:PORT` or `:PORT`; repeat the flag for several.' },
  { section: 'Server', name: 'workers', short: 'w', type: 'int', min: 1, default: availableParallelism(), defaultDoc: 'number of CPUs', doc: 'Number of worker processes.' },
  { section: 'Server', name: 'workerConnections', type: 'int', min: 1, default: 1000, doc: 'At most this many requests run at once in one worker; the rest wait in line. `1` behaves like gunicorn\'s sync worker.' },
  { section: 'Server', name: 'distribution', type: 'enum', choices: ['auto', 'round-robin', 'reuseport'], default: 'auto', doc: 'How connections reach workers. `round-robin` (what `auto` picks): the supervisor accepts and hands each connection to the next worker, so even a few keep-alive clients are spread evenly. `reuseport` (Linux): each worker accepts from its own SO_REUSEPORT socket and the kernel spreads connections by hash; the supervisor keeps a copy of every socket, so a worker that drains or dies hands its queued connections to the next one instead of resetting them. With a new connection per request, reuseport served about twice the requests per second of round-robin (bench/hello --close); with keep-alive there was no difference.' },

  { section: 'Server', name: 'workerClass', type: 'enum', choices: ['process', 'thread'], default: 'process', doc: '`process`: the app runs on each worker\'s event loop. `thread`: each worker\'s main thread owns sockets, parsing and buffering, and the app runs in `threads` worker threads, so a CPU-heavy or stuck handler never blocks I/O (a stuck thread is replaced).' },
  { section: 'Server', name: 'threads', type: 'int', min: 1, default: 4, doc: 'Worker threads per worker process running the app (worker-class thread only).' },

  { section: 'Overload protection', name: 'queue', type: 'int', min: 0, default: 1024, doc: 'Requests that may wait for a slot in one worker; one more is refused at once with 503, `Retry-After` and `x-ballast-shed: queue-full`.' },
  { section: 'Overload protection', name: 'queueTimeout', type: 'duration', min: 1, default: 10_000, doc: 'A request that waited this long for a slot is refused with 503 (`x-ballast-shed: queue-timeout`) instead of being started late. In adaptive mode the queue is drained CoDel-style and this is the upper bound.' },
  { section: 'Overload protection', name: 'concurrency', type: 'enum', choices: ['static', 'adaptive'], default: 'static', doc: '`static`: the limit is worker-connections. `adaptive`: the limit follows measured latency (Gradient2, see docs/overload.md), capped by worker-connections, and the queue switches to CoDel with adaptive LIFO under pressure.' },
  { section: 'Overload protection', name: 'timeout', type: 'duration', min: 0, default: 30_000, doc: 'Deadline for the app to start its response. At the deadline ctx.signal aborts, the client gets 504 (`x-ballast-deadline`), and the slot is freed even if the handler ignores the signal. 0 = none. Streams (SSE) start their response at once and are not cut.' },
  { section: 'Overload protection', name: 'retryAfter', type: 'duration', min: 1000, default: 1000, doc: 'The `Retry-After` sent with 503s (whole seconds).' },
  { section: 'Overload protection', name: 'exemptPaths', type: 'list', default: ['/healthz', '/readyz', '/metrics'], doc: 'Paths that bypass admission control and deadlines (health checks must answer when the app is saturated).' },
  { section: 'Overload protection', name: 'routes', type: 'json', default: [], defaultDoc: '[]', doc: 'Route classes, usually in the config file: a list of `{ path, timeout?, concurrency?, queue?, class? }`. `path` is a pattern (`/api/*`, `/feed/:id`); a route with `concurrency` gets its own slots and queue (a bulkhead); `class: "stream"` is for long-lived responses (SSE) with their own `concurrency` limit that never take request slots and no deadline. See docs/overload.md.' },

  { section: 'Worker lifecycle', name: 'maxRequests', type: 'int', min: 0, default: 0, doc: 'Recycle a worker (by drain, replacement ready first) after it has served this many requests; 0 = never.' },
  { section: 'Worker lifecycle', name: 'maxRequestsJitter', type: 'int', min: 0, default: 0, doc: 'Add a random 0..N to max-requests per worker so workers do not all recycle at once.' },
  { section: 'Worker lifecycle', name: 'maxMemory', type: 'bytes', min: 0, default: 0, doc: 'Recycle a worker (by drain) when its resident set size exceeds this; 0 = never.' },
  { section: 'Worker lifecycle', name: 'bootTimeout', type: 'duration', min: 100, default: 30_000, doc: 'A worker must load the app and listen within this time, or the server stops with an error.' },
  { section: 'Worker lifecycle', name: 'gracefulTimeout', type: 'duration', min: 0, default: 30_000, doc: 'On SIGTERM/SIGINT, reload or recycle, in-flight requests get this long to finish before connections are closed.' },

  { section: 'HTTP limits and timeouts', name: 'keepAliveTimeout', type: 'duration', min: 0, default: 5_000, doc: 'Close a keep-alive connection idle for this long (announced in the Keep-Alive header).' },
  { section: 'HTTP limits and timeouts', name: 'headersTimeout', type: 'duration', min: 100, default: 10_000, doc: 'A client must send the complete request head within this time, or gets 408 (slowloris guard).' },
  { section: 'HTTP limits and timeouts', name: 'requestTimeout', type: 'duration', min: 100, default: 30_000, doc: 'A client must send the complete request, body included, within this time, or gets 408.' },
  { section: 'HTTP limits and timeouts', name: 'limitRequestLine', type: 'int', min: 64, default: 4094, doc: 'Longest request line (method, target and version) in bytes; longer gets 414.' },
  { section: 'HTTP limits and timeouts', name: 'limitRequestFields', type: 'int', min: 1, default: 100, doc: 'Most header fields in one request; more gets 431.' },
  { section: 'HTTP limits and timeouts', name: 'limitRequestFieldSize', type: 'int', min: 64, default: 8190, doc: 'Largest single header field (name and value) in bytes; larger gets 431.' },
  { section: 'HTTP limits and timeouts', name: 'maxBodySize', type: 'bytes', min: 0, default: 1024 * 1024, doc: 'Largest request body; larger gets 413 (declared length: before the app runs; chunked: as soon as it is exceeded).' },
  { section: 'HTTP limits and timeouts', name: 'linearRegex', type: 'bool', default: true, doc: 'Turn on V8\'s linear-time RegExp engine as a fallback for excessive backtracking (ReDoS guard).' },

  { section: 'Introspection', name: 'admin', type: 'string', default: '127.0.0.1:9000', doc: 'The control plane, served by the supervisor (it answers while workers are stalled): /healthz, /readyz, /metrics, /status, /reports and the dashboard at /. `HOST:PORT`, or `off`. Everything but /healthz and /readyz needs the admin token.' },
  { section: 'Introspection', name: 'adminToken', type: 'string', default: '', defaultDoc: 'generated at start and printed', doc: 'The admin token (Bearer header or ?token=). When empty, one is generated and printed with a ready-to-open dashboard URL. A non-loopback --admin without a token is refused.' },
  { section: 'Introspection', name: 'metrics', type: 'bool', default: true, doc: 'Per-request metrics in each worker (for /metrics and the dashboard): a counter and two histogram observations per request.' },
  { section: 'Introspection', name: 'stallMs', type: 'duration', plainUnit: 'ms', min: 0, default: 1000, doc: 'When a worker\'s event loop is blocked this long, a watchdog thread pauses it through the inspector, records the JavaScript stack and reports it with the requests in flight. Past --timeout the running handler is stopped and the worker replaced. 0 = off. A plain number is milliseconds.' },

  { section: 'Introspection', name: 'slowMs', type: 'duration', plainUnit: 'ms', min: 0, default: 5000, doc: 'A request slower than this (that did not block the event loop) gets a report with its timeline: time in outbound HTTP calls (undici/fetch) and the app\'s own `trace()` spans vs its own code. 0 = off. A plain number is milliseconds.' },
  { section: 'Introspection', name: 'slowLog', type: 'string', default: '', defaultDoc: '(none)', doc: 'Append every stall and slow-request report to this JSONL file (rotated at 10 MiB, 3 old files kept).' },
  { section: 'Introspection', name: 'reportWebhook', type: 'string', default: '', defaultDoc: '(none)', doc: 'POST every report as JSON to this URL (3 attempts with backoff, 5 s timeout each).' },

  { section: 'Introspection', name: 'profileDir', type: 'string', default: '.ballast/profiles', doc: 'Where CPU profiles (.cpuprofile, open them in the dashboard\'s flame graph or any Chrome DevTools) and heap snapshots are written.' },
  { section: 'Introspection', name: 'heapSnapshotOnMaxMemory', type: 'bool', default: true, doc: 'The first time a worker crosses --max-memory, write a heap snapshot before recycling it (blocks that worker while the heap is walked).' },

  { section: 'Logging', name: 'accessLog', type: 'string', default: '-', doc: 'Access log destination: a file path, `-` for stdout, or `off`.' },
  { section: 'Logging', name: 'accessLogFormat', type: 'enum', choices: ['auto', 'json', 'pretty'], default: 'auto', doc: 'JSON lines (pino), or one readable line per request; `auto` is pretty on a terminal and JSON otherwise.' },
  { section: 'Logging', name: 'logLevel', type: 'enum', choices: ['debug', 'info', 'warn', 'error'], default: 'info', doc: 'Supervisor and error log level (to stderr).' },
];

export interface RouteConfig {
  /** Pattern: exact (`/hello`), prefix (`/api/*`) or with parameters (`/feed/:id`). */
  path: string;
  /** `request` (default) or `stream` (long-lived responses: own limit, no deadline). */
  class?: 'request' | 'stream';
  /** Deadline for this route, like --timeout (a duration string or seconds). */
  timeout?: string | number;
  /** Own concurrency limit (a bulkhead); for streams, the most open streams per worker. */
  concurrency?: number;
  /** Own queue size (with concurrency). */
  queue?: number;
}

export interface ServeSettings {
  app: string;
  appKind: 'auto' | 'fetch' | 'node';
  fastFetch: boolean;
  config: string;
  printConfig: boolean;
  bind: string[];
  workers: number;
  workerConnections: number;
  workerClass: 'process' | 'thread';
  threads: number;
  queue: number;
  /** ms */
  queueTimeout: number;
  concurrency: 'static' | 'adaptive';
  /** ms; 0 = no deadline */
  timeout: number;
  /** ms */
  retryAfter: number;
  exemptPaths: string[];
  routes: RouteConfig[];
  distribution: 'auto' | 'round-robin' | 'reuseport';
  maxRequests: number;
  maxRequestsJitter: number;
  maxMemory: number;
  bootTimeout: number;
  gracefulTimeout: number;
  keepAliveTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
  limitRequestLine: number;
  limitRequestFields: number;
  limitRequestFieldSize: number;
  maxBodySize: number;
  linearRegex: boolean;
  /** `HOST:PORT` or `off` */
  admin: string;
  adminToken: string;
  metrics: boolean;
  /** ms; 0 = off */
  stallMs: number;
  /** ms; 0 = off */
  slowMs: number;
  slowLog: string;
  profileDir: string;
  heapSnapshotOnMaxMemory: boolean;
  reportWebhook: string;
  accessLog: string;
  accessLogFormat: 'auto' | 'json' | 'pretty';
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}
