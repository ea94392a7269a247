// The one table of `ballast load` settings. The CLI parser, BALLAST_LOAD_* variables, plan-file keys
// (top level and per group), and `ballast load --help` all come from here, so the help is true by
// construction. A plan file's group may set any of these keys except the run-wide ones (marked
// `runWide` below), which only make sense once per run.

import type { SettingsTable } from '../config/schema.ts';

export const loadSettings = [
  { section: 'Requests', name: 'method', short: 'm', type: 'string', default: 'GET', doc: 'HTTP method of every request of the group.' },
  { section: 'Requests', name: 'header', short: 'H', type: 'list', default: [], defaultDoc: '', doc: 'A request header, `Name: value`; repeat the flag for several (commas inside a value are kept).' },
  { section: 'Requests', name: 'body', short: 'b', type: 'string', default: '', defaultDoc: '', doc: 'Request body: a literal string, or `@path` to send a file.' },
  { section: 'Requests', name: 'bodySize', type: 'bytes', min: 0, default: 0, doc: 'Send a generated body of this many bytes (when --body is not given), e.g. for --slow-upload.' },
  { section: 'Requests', name: 'weights', type: 'list', default: [], defaultDoc: 'equal', doc: 'Relative weights of the URLs, in order, e.g. `3,1` sends three requests to the first URL for one to the second.' },
  { section: 'Requests', name: 'target', type: 'string', default: '', defaultDoc: '', doc: 'Base URL that relative URLs (`/path`) resolve against, in plans and on the command line.' },
  { section: 'Requests', name: 'requestTimeout', type: 'duration', min: 1, default: 30_000, doc: 'A request without a complete response in this time is counted as a `timeout` error.' },

  { section: 'Load model', name: 'model', type: 'enum', choices: ['auto', 'closed', 'open'], default: 'auto', doc: 'closed: N users loop (send, wait for the answer, think). open: requests arrive at a rate whatever the server does. auto: open when --rate is given, closed otherwise.' },
  { section: 'Load model', name: 'users', short: 'u', type: 'int', min: 0, default: 0, defaultDoc: '10 in the closed model', doc: 'Closed model: number of concurrent users, each with at most one request in flight.' },
  { section: 'Load model', name: 'thinkMs', type: 'int', min: 0, default: 0, doc: 'Closed model: milliseconds a user waits after each response before the next request.' },
  { section: 'Load model', name: 'rate', short: 'r', type: 'int', min: 0, default: 0, doc: 'Open model: requests per second (the starting rate when --stages is given).' },
  { section: 'Load model', name: 'arrival', type: 'enum', choices: ['constant', 'poisson'], default: 'constant', doc: 'Open model: evenly spaced arrivals, or a Poisson process (random gaps with the same mean rate).' },
  { section: 'Load model', name: 'pacing', type: 'enum', choices: ['timer', 'precise'], default: 'timer', doc: 'Open model: how arrivals are timed. timer: the event loop\'s timers, which fire on whole milliseconds, so each millisecond\'s arrivals go out together, ~0.7 ms late on average (shown as schedule lag, and counted in latency). precise: a pacer thread wakes the loop at each arrival\'s time (at most every 0.1 ms), ~0.05-0.1 ms late, for servers that answer in well under a millisecond; it costs about twice the generator CPU, and on a 2-core host shared with the server it measured a longer latency tail (BENCHMARKS.md).' },
  { section: 'Load model', name: 'seed', type: 'int', min: 0, default: 1, doc: 'Seed of the Poisson arrivals, so a run can be repeated exactly.' },
  { section: 'Load model', name: 'stages', type: 'list', default: [], defaultDoc: '', doc: 'Ramp the target (users, or the rate in the open model) linearly: `30s:500,60s:5000` goes to 500 in 30 s, then to 5000 in 60 s. The run lasts as long as the stages unless --duration is given.' },
  { section: 'Load model', name: 'duration', short: 'd', type: 'duration', min: 1, default: 10_000, doc: 'How long to generate load (`500ms`, `30s`, `5m`).' },
  { section: 'Load model', name: 'gracefulStop', type: 'duration', min: 0, default: 5_000, doc: 'After the duration, requests still in flight get this long to finish; the rest are aborted and reported as interrupted.' },
  { section: 'Load model', name: 'maxInFlight', type: 'int', min: 1, default: 10_000, doc: 'Open model: an arrival that would exceed this many requests in flight is dropped (and counted). Below the cap, arrivals wait for a free connection and that wait counts in their latency.' },

  { section: 'Streams (SSE)', name: 'streams', short: 's', type: 'int', min: 0, default: 0, doc: 'Open this many Server-Sent Events streams instead of sending requests, and measure connect time, time to first event, gaps and drops.' },
  { section: 'Streams (SSE)', name: 'hold', type: 'duration', min: 0, default: 0, defaultDoc: 'the whole duration', doc: 'Close each stream after this long and open a new one; a stream the server ends earlier is a drop.' },

  { section: 'Slow clients', name: 'slowHeaders', type: 'duration', min: 0, default: 0, doc: 'Send each request head spread over this long, a few bytes every 100 ms (slowloris).' },
  { section: 'Slow clients', name: 'slowUpload', type: 'bytes', min: 0, default: 0, doc: 'Send request bodies at this many bytes per second.' },
  { section: 'Slow clients', name: 'slowRead', type: 'bytes', min: 0, default: 0, doc: 'Read responses at this many bytes per second, so the server feels TCP back-pressure.' },

  { section: 'Engine', name: 'connections', short: 'c', type: 'int', min: 0, default: 0, defaultDoc: 'users (closed), 64 (open), streams', doc: 'Keep-alive connections per origin and thread.' },
  { section: 'Engine', name: 'transport', type: 'enum', choices: ['auto', 'raw', 'undici'], default: 'auto', doc: 'How requests are sent. raw: prebuilt request bytes on plain sockets with a minimal HTTP/1.1 parser (~0.6x the CPU per request of undici). undici: undici pools. auto: raw for every request it can carry (http, headers that keep the framing), undici for the rest (https, streams, headers such as connection or transfer-encoding). Slow clients always use their own sockets.' },
  { section: 'Engine', name: 'threads', short: 't', type: 'int', min: 1, default: 1, doc: 'Generator worker threads; users, rates, streams and connections are split between them and their histograms merged exactly.' },
  { section: 'Engine', name: 'warmUp', type: 'duration', min: 0, default: 500, doc: 'Before the clock starts, each generator thread runs the plan\'s request groups against a throwaway server of its own for this long, so that V8 has compiled the generator\'s hot paths before anything is measured (a fresh process otherwise compiles them during the first seconds, on CPU the server may need). The target sees none of these requests; `0` skips it.' },
  { section: 'Engine', name: 'startAt', type: 'string', default: '', defaultDoc: 'at once', doc: 'Start the load at this wall-clock time, after the generator has warmed up: ISO 8601 (`2026-12-01T12:00:00.000Z`) or Unix epoch milliseconds. Several `ballast load` processes (or hosts with synchronised clocks) then run one schedule together, and their `--json` files merge with `ballast load merge`. A time already past when the warm-up ends is an error.' },

  { section: 'Output', name: 'json', type: 'string', default: '', defaultDoc: '', doc: 'Write the full result (summary, per-second series, HDR histograms) to this JSON file; `ballast load merge` combines such files.' },
  { section: 'Output', name: 'html', type: 'string', default: '', defaultDoc: '', doc: 'Write a self-contained HTML report with charts to this file.' },
  { section: 'Output', name: 'threshold', type: 'list', default: [], defaultDoc: '', doc: 'A pass/fail rule such as `p99<250ms`, `mean<=50ms`, `errors<1%`, `rps>=400`, `dropped=0`; repeat for several. A broken rule makes the exit code 99.' },
  { section: 'Output', name: 'progress', type: 'bool', default: true, doc: 'Show a live progress line (only on a terminal).' },
  { section: 'Output', name: 'help', short: 'h', type: 'bool', default: false, cliOnly: true, doc: 'Show this help.' },
] as const satisfies SettingsTable;

/** Settings that apply to a whole run and cannot differ between groups of a plan. */
export const runWideSettings: readonly string[] = ['duration', 'gracefulStop', 'threads', 'warmUp', 'startAt', 'json', 'html', 'threshold', 'progress', 'help'];

export interface LoadSettings {
  method: string;
  header: string[];
  body: string;
  bodySize: number;
  weights: string[];
  target: string;
  requestTimeout: number;
  model: 'auto' | 'closed' | 'open';
  users: number;
  thinkMs: number;
  rate: number;
  arrival: 'constant' | 'poisson';
  pacing: 'timer' | 'precise';
  seed: number;
  stages: string[];
  duration: number;
  gracefulStop: number;
  maxInFlight: number;
  streams: number;
  hold: number;
  slowHeaders: number;
  slowUpload: number;
  slowRead: number;
  connections: number;
  transport: 'auto' | 'raw' | 'undici';
  threads: number;
  warmUp: number;
  startAt: string;
  json: string;
  html: string;
  threshold: string[];
  progress: boolean;
  help: boolean;
}
