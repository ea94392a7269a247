// bench/overload: issue 4's overload benchmark. ~5 ms of CPU per request (cpu-app.ts), 2 workers.
//
//   node bench/overload/run.ts [--duration 30s] [--multiples 1,2,3,5] [--only id,id] [--capacity N]
//                              [--capacity-server ballast-static|raw] [--timeout 2s] [--cooldown 3s]
//                              [--trace] [--json out.json] [--quick] [--ballast path/to/bin/ballast.js]
//                              [--compare path/to/other/bin/ballast.js]
//
// 1. Capacity: an open-model load at stepped rates, each step against a fresh, warmed-up server
//    (ballast static by default); capacity = the highest rate whose 2xx p99 < 100 ms with no error
//    of any kind (a failed step is tried once more).
// 2. Overload: for each multiple (1x, 2x, 3x, 5x capacity), every contender in turn (the order
//    rotates per multiple), each started fresh, warmed up (2 s at 0.5x capacity, unrecorded), then
//    loaded for --duration, stopped (by its process group), and the machine left alone for
//    --cooldown. The table: goodput (2xx/s), goodput % of capacity, p50/p99 of the 2xx, and the
//    shares of 503s, client timeouts and other errors.
// The client is this file's own open-model generator on undici (ballast load cannot report
// percentiles of the 2xx alone): constant arrivals, latency from the intended send time (no
// coordinated omission), a client timeout (--timeout, 2 s) counted as "timeout", up to 4096
// connections so that every arrival reaches the server instead of queueing in the client.
// --trace polls ballast's admin /status every 500 ms (limit, in flight, queue, loop delay).
// 3. Target: ballast adaptive's unloaded p99 is measured on a fresh server at a quarter of the
//    ceiling (after the capacity search), and the report ends with issue 4's verdict at 3x and 5x.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, openSync, closeSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRequire } from 'node:module';
import { spin } from './cpu-app.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const benchModules = path.join(repo, 'bench/node_modules');
const require = createRequire(path.join(repo, 'node_modules/'));
const { Pool } = require('undici') as typeof import('undici');

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string' },
    multiples: { type: 'string' },
    only: { type: 'string' },
    capacity: { type: 'string' },
    'capacity-server': { type: 'string', default: 'ballast-static' },
    timeout: { type: 'string', default: '2s' },
    cooldown: { type: 'string' },
    'work-ms': { type: 'string', default: '5' },
    trace: { type: 'boolean', default: false },
    json: { type: 'string' },
    quick: { type: 'boolean', default: false },
    ballast: { type: 'string' },
    compare: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  const text = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  console.log(text.slice(0, text.indexOf('\n\n')));
  process.exit(0);
}

function ms(text: string): number {
  const m = /^([\d.]+)\s*(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new Error(`bad duration ${text}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

const ballastBin = path.resolve(opts.ballast ?? path.join(repo, 'bin/ballast.js'));
const durationMs = ms(opts.duration ?? (opts.quick ? '5s' : '30s'));
const multiples = (opts.multiples ?? (opts.quick ? '1,3' : '1,2,3,5')).split(',').map(Number);
const timeoutMs = ms(opts.timeout);
const cooldownMs = ms(opts.cooldown ?? (opts.quick ? '1s' : '3s'));
const stepMs = opts.quick ? 4000 : 8000;
const warmupMs = opts.quick ? 1000 : 2000;
const workMs = Number(opts['work-ms']);
const maxConnections = 4096;

const work = mkdtempSync(path.join(tmpdir(), 'ballast-bench-overload-'));

// ---------------------------------------------------------------------------------------------
// Processes (as bench/hello/run.ts): each server is spawned detached, in its own process group,
// and stopped by signalling that group, which holds only processes this runner started.

interface Running {
  child: ChildProcess;
  rootPid: number;
  stop(): Promise<void>;
  kill(): void;
}

const running = new Set<Running>();

function startGroup(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const logFd = openSync(path.join(work, `${name}.log`), 'a');
  const child = spawn(command, args, { cwd: here, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const pgid = child.pid!;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    try { process.kill(-pgid, signal); } catch { /* already gone */ }
  };
  const handle: Running = {
    child,
    rootPid: pgid,
    async stop() {
      signalGroup('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      await sleep(200);
      signalGroup('SIGKILL');
      running.delete(handle);
    },
    kill() { signalGroup('SIGKILL'); },
  };
  running.add(handle);
  return handle;
}

let cleaningUp = false;
async function stopAll(): Promise<void> {
  cleaningUp = true;
  for (const handle of [...running]) await handle.stop().catch(() => handle.kill());
}
process.on('exit', () => {
  for (const handle of running) handle.kill();
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (cleaningUp) return;
    console.error(`\n${signal}: stopping the servers`);
    void stopAll().finally(() => process.exit(130));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function getJson(port: number, urlPath: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers, agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitUntilServing(name: string, port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before serving; see ${work}/${name}.log`);
    try {
      const res = await getJson(port, '/');
      if (res.status === 200 && res.body.startsWith('ok ')) return;
      lastError = new Error(`answered ${res.status} ${JSON.stringify(res.body.slice(0, 80))}`);
    } catch (error) {
      lastError = error;
    }
    await sleep(100);
  }
  throw new Error(`${name} did not serve on 127.0.0.1:${port} within 30 s: ${(lastError as Error)?.message}; see ${work}/${name}.log`);
}

// ---------------------------------------------------------------------------------------------
// Calibration: iterations of spin() for `workMs` of CPU, the minimum over several tries (the
// least disturbed), measured once here and passed to every server.

function calibrate(): number {
  const probe = 1_000_000;
  for (let i = 0; i < 5; i++) spin(probe); // JIT
  let best = Infinity;
  for (let i = 0; i < 15; i++) {
    const before = process.cpuUsage();
    spin(probe);
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return Math.round((probe * workMs) / best);
}

// ---------------------------------------------------------------------------------------------
// Contenders

interface Contender {
  id: string;
  label: string;
  start(port: number, env: NodeJS.ProcessEnv, adminPort?: number): Promise<Running>;
  /** ballast only: its admin port can be polled for /status. */
  ballast?: boolean;
}

const adminToken = 'bench-overload';

function ballast(extra: string[], bin = ballastBin) {
  return (name: string) => async (port: number, env: NodeJS.ProcessEnv, adminPort?: number) => {
    const handle = startGroup(name, process.execPath, [
      bin, 'serve', path.join(here, 'cpu-app.ts'),
      '--workers', '2', '--bind', `127.0.0.1:${port}`, '--graceful-timeout', '2s', '--access-log', 'off',
      ...(adminPort ? ['--admin', `127.0.0.1:${adminPort}`, '--admin-token', adminToken] : ['--admin', 'off']),
      ...extra,
    ], env);
    await waitUntilServing(name, port, handle.child);
    return handle;
  };
}

function nodeCluster(script: string) {
  return (name: string) => async (port: number, env: NodeJS.ProcessEnv) => {
    const handle = startGroup(name, process.execPath, [path.join(here, script), String(port), '2'], env);
    await waitUntilServing(name, port, handle.child);
    return handle;
  };
}

const all: Contender[] = [
  { id: 'ballast-static', label: 'ballast static', ballast: true, start: ballast([])('ballast-static') },
  { id: 'ballast-adaptive', label: 'ballast adaptive', ballast: true, start: ballast(['--concurrency', 'adaptive'])('ballast-adaptive') },
  // The thread class: each worker's main thread keeps parsing (and shedding) while the one
  // handler thread computes, so the backlog is in admission's queue, not unread in the sockets.
  { id: 'ballast-thread', label: 'ballast adaptive, thread class (1 thread per worker)', ballast: true, start: ballast(['--concurrency', 'adaptive', '--worker-class', 'thread', '--threads', '1', '--worker-connections', '1'])('ballast-thread') },
  { id: 'raw', label: 'raw node:http cluster', start: nodeCluster('raw-cluster.ts')('raw') },
  { id: 'fastify', label: 'Fastify + under-pressure', start: nodeCluster('fastify-cluster.ts')('fastify') },
];
if (opts.compare) {
  const bin = path.resolve(opts.compare);
  all.push({ id: 'ballast-adaptive-alt', label: 'ballast adaptive (patched copy)', ballast: true, start: ballast(['--concurrency', 'adaptive'], bin)('ballast-adaptive-alt') });
}
const only = opts.only?.split(',').map((s) => s.trim());
const contenders = only ? all.filter((c) => only.includes(c.id)) : all;
if (contenders.length === 0) throw new Error(`--only matched nothing; ids: ${all.map((c) => c.id).join(', ')}`);
const capacityServer = all.find((c) => c.id === opts['capacity-server']);
if (!capacityServer) throw new Error(`--capacity-server: one of ${all.map((c) => c.id).join(', ')}`);

// ---------------------------------------------------------------------------------------------
// CPU of a process tree, from /proc (as bench/hello/run.ts).

const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

function treeCpuMs(root: number): number | undefined {
  const procs = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch { /* exited meanwhile */ }
  }
  if (!procs.has(root)) return undefined;
  const children = new Map<number, number[]>();
  for (const [pid, p] of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  let ticks = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    ticks += procs.get(pid)?.ticks ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return (ticks * 1000) / clockTicks;
}

// ---------------------------------------------------------------------------------------------
// The open-model client.

interface LoadResult {
  rate: number;
  durationMs: number;
  sent: number;
  ok: number;
  /** 2xx latencies (ms from the intended send), sorted. */
  okLatency: number[];
  status503: number;
  shedReasons: Record<string, number>;
  /** 503 latencies (ms), sorted. */
  latency503: number[];
  otherStatus: Record<string, number>;
  timeouts: number;
  errors: Record<string, number>;
  /** 2xx per second of intended send time. */
  okPerSecond: number[];
  /** Requests still in flight, sampled every second. */
  inFlightPerSecond: number[];
  /** Per second of intended send time: p99 of the 2xx (ms), 503s, timeouts. */
  okP99PerSecond: number[];
  status503PerSecond: number[];
  timeoutsPerSecond: number[];
  generator: { cpuPercent: number; lagP99Ms: number; lagMaxMs: number; loopDelayP99Ms: number; peakConnections: number };
}

const quantile = (sorted: number[], q: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);

async function openLoad(port: number, rate: number, runMs: number): Promise<LoadResult> {
  const pool = new Pool(`http://127.0.0.1:${port}`, {
    connections: maxConnections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 30_000,
    headersTimeout: 0,
    bodyTimeout: 0,
    connectTimeout: timeoutMs,
  });
  const seconds = Math.ceil(runMs / 1000);
  const result: LoadResult = {
    rate, durationMs: runMs, sent: 0, ok: 0, okLatency: [], status503: 0, shedReasons: {}, latency503: [], otherStatus: {}, timeouts: 0, errors: {},
    okPerSecond: new Array<number>(seconds).fill(0), inFlightPerSecond: [], okP99PerSecond: [], status503PerSecond: new Array<number>(seconds).fill(0), timeoutsPerSecond: new Array<number>(seconds).fill(0), generator: { cpuPercent: 0, lagP99Ms: 0, lagMaxMs: 0, loopDelayP99Ms: 0, peakConnections: 0 },
  };
  interface Pending { intended: number; controller: AbortController; timedOut: boolean }
  const inFlight = new Map<number, Pending>(); // insertion order = intended order
  const lags: number[] = [];
  const okBySecond: number[][] = Array.from({ length: seconds }, () => []);
  const secondOf = (intended: number) => Math.min(seconds - 1, Math.max(0, Math.floor((intended - t0) / 1000)));
  const total = Math.floor((rate * runMs) / 1000);
  const interval = 1000 / rate;
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const cpuBefore = process.cpuUsage();
  const t0 = performance.now() + 20;
  let next = 0;
  let peakConnections = 0;

  const send = (index: number, intended: number, now: number) => {
    const controller = new AbortController();
    const pending: Pending = { intended, controller, timedOut: false };
    inFlight.set(index, pending);
    lags.push(now - intended);
    result.sent++;
    pool.request({ path: '/', method: 'GET', signal: controller.signal }).then(
      async ({ statusCode, headers, body }) => {
        await body.dump();
        const latency = performance.now() - intended;
        if (pending.timedOut) return;
        inFlight.delete(index);
        if (statusCode >= 200 && statusCode < 300) {
          result.ok++;
          result.okLatency.push(latency);
          result.okPerSecond[secondOf(intended)]!++;
          okBySecond[secondOf(intended)]!.push(latency);
        } else if (statusCode === 503) {
          result.status503++;
          result.latency503.push(latency);
          result.status503PerSecond[secondOf(intended)]!++;
          const reason = String(headers['x-ballast-shed'] ?? (headers['retry-after'] !== undefined ? 'retry-after' : 'none'));
          result.shedReasons[reason] = (result.shedReasons[reason] ?? 0) + 1;
        } else {
          result.otherStatus[statusCode] = (result.otherStatus[statusCode] ?? 0) + 1;
        }
      },
      (error: Error & { code?: string }) => {
        if (pending.timedOut) return; // counted when the timer fired
        inFlight.delete(index);
        const code = error.code ?? error.name;
        result.errors[code] = (result.errors[code] ?? 0) + 1;
      },
    );
  };

  /** Aborts requests older than the client timeout (from their intended send time). */
  const sweep = (now: number) => {
    for (const [index, pending] of inFlight) {
      if (now - pending.intended < timeoutMs) break;
      pending.timedOut = true;
      inFlight.delete(index);
      result.timeouts++;
      result.timeoutsPerSecond[secondOf(pending.intended)]!++;
      pending.controller.abort();
    }
  };

  let lastSecond = -1;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (next < total && t0 + next * interval <= now) {
        send(next, t0 + next * interval, now);
        next++;
      }
      sweep(now);
      const second = Math.floor((now - t0) / 1000);
      if (second > lastSecond) {
        lastSecond = second;
        result.inFlightPerSecond.push(inFlight.size);
        const connected = (pool.stats as { connected: number }).connected;
        if (connected > peakConnections) peakConnections = connected;
      }
      if (next >= total && inFlight.size === 0) resolve();
      else setTimeout(tick, next < total ? Math.max(0, Math.min(1, t0 + next * interval - performance.now())) : 5);
    };
    setTimeout(tick, 20);
  });
  const cpu = process.cpuUsage(cpuBefore);
  loopDelay.disable();
  await pool.destroy().catch(() => {});
  result.okLatency.sort((a, b) => a - b);
  result.okP99PerSecond = okBySecond.map((xs) => Math.round(quantile(xs.sort((a, b) => a - b), 0.99) * 10) / 10);
  result.latency503.sort((a, b) => a - b);
  lags.sort((a, b) => a - b);
  result.generator = {
    cpuPercent: ((cpu.user + cpu.system) / 1000 / (runMs + timeoutMs)) * 100,
    lagP99Ms: quantile(lags, 0.99),
    lagMaxMs: lags.at(-1) ?? 0,
    loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    peakConnections,
  };
  return result;
}

// ---------------------------------------------------------------------------------------------
// Admin /status polling (--trace, ballast only).

interface TracePoint { t: number; workers: Array<{ limit: number | null; inFlight: number | null; queued: number | null; loopUtilisation: number | null; loopDelayP99Ms: number | null; shed: Record<string, number> | null; rps: number | null }> }

function startTrace(adminPort: number): { stop(): TracePoint[] } {
  const points: TracePoint[] = [];
  const t0 = performance.now();
  let stopped = false;
  void (async () => {
    while (!stopped) {
      try {
        const res = await getJson(adminPort, '/status', { authorization: `Bearer ${adminToken}` });
        const status = JSON.parse(res.body) as { workers: Array<Record<string, unknown>> };
        points.push({
          t: Math.round(performance.now() - t0),
          workers: status.workers.map((w) => ({
            limit: w.limit as number | null, inFlight: w.inFlight as number | null, queued: w.queued as number | null,
            loopUtilisation: w.loopUtilisation as number | null, loopDelayP99Ms: w.loopDelayP99Ms as number | null,
            shed: w.shed as Record<string, number> | null, rps: w.requestsPerSecond as number | null,
          })),
        });
      } catch { /* the next poll */ }
      await sleep(500);
    }
  })();
  return { stop() { stopped = true; return points; } };
}

// ---------------------------------------------------------------------------------------------
// Environment

function sh(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
}
function versionOf(dir: string, pkg: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(dir, pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}
const load = () => loadavg().map((n) => n.toFixed(2)).join(' ');

const environment = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: /Model name:\s*(.+)/.exec(sh('lscpu', []))?.[1]?.trim() ?? cpus()[0]?.model ?? '?',
  cpus: cpus().length,
  kernel: sh('uname', ['-sr']),
  fastify: versionOf(benchModules, 'fastify'),
  underPressure: versionOf(benchModules, '@fastify/under-pressure'),
  undici: versionOf(path.join(repo, 'node_modules'), 'undici'),
  ballast: ballastBin === path.join(repo, 'bin/ballast.js')
    ? `${ballastBin} (git ${sh('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'])}${sh('git', ['-C', repo, 'status', '--porcelain', '--', 'src', 'bin']) ? ', uncommitted changes in src/' : ''})`
    : ballastBin,
  loadavgBefore: load(),
  loadavgAfter: '',
};

// ---------------------------------------------------------------------------------------------
// Run

interface Row {
  contender: string;
  label: string;
  multiple: number;
  rate: number;
  result: LoadResult;
  serverCpuPercent?: number;
  loadavg: string;
  trace?: TracePoint[];
}

interface CapacityStep { rate: number; okPerSecond: number; p99: number; errors: number; pass: boolean }

const rows: Row[] = [];
const capacitySteps: CapacityStep[] = [];
let capacity = 0;
/** Issue 4's "unloaded p99": ballast adaptive's 2xx p99 at a light load (a quarter of the ceiling). */
let unloaded: { rate: number; p99: number; p50: number; ok: number } | undefined;
let spinIters = 0;

function summarise(r: LoadResult) {
  const n = r.sent || 1;
  const other = Object.values(r.otherStatus).reduce((a, b) => a + b, 0) + Object.values(r.errors).reduce((a, b) => a + b, 0);
  return {
    goodput: r.ok / (r.durationMs / 1000),
    p50: quantile(r.okLatency, 0.5),
    p99: quantile(r.okLatency, 0.99),
    p99of503: quantile(r.latency503, 0.99),
    share503: r.status503 / n,
    shareTimeout: r.timeouts / n,
    shareOther: other / n,
    other,
  };
}

async function withServer<T>(contender: Contender, env: NodeJS.ProcessEnv, fn: (port: number, handle: Running, adminPort?: number) => Promise<T>, admin = false): Promise<T> {
  const port = await freePort();
  const adminPort = admin && contender.ballast ? await freePort() : undefined;
  const handle = await contender.start(port, env, adminPort);
  try {
    return await fn(port, handle, adminPort);
  } finally {
    await handle.stop();
  }
}

/** The rate 2 workers could serve if the handler's work were all they did (and the generator took no CPU). */
const theoretical = Math.round((2 * 1000) / workMs);

async function findCapacity(env: NodeJS.ProcessEnv): Promise<number> {
  console.error(`capacity: stepping an open-model rate, a fresh ${capacityServer!.id} per ${stepMs / 1000} s step; theoretical ceiling ${theoretical} req/s (2 workers x ${workMs} ms, if the generator took no CPU)`);
  // A failed step is repeated once: other work on a shared machine can only make a step worse,
  // never better, so the better of two tries is the server's. Every try gets a fresh, warmed-up
  // server: a server that fell behind in the last step can stay behind (its clients time out,
  // and the requests they abandoned are still served), which failed every later step of a run.
  const step = async (rate: number): Promise<boolean> => (await tryStep(rate)) || (await tryStep(rate));
  const tryStep = (rate: number): Promise<boolean> => withServer(capacityServer!, env, async (port) => {
    await openLoad(port, Math.round(theoretical * 0.25), warmupMs);
    const r = await openLoad(port, rate, stepMs);
    const s = summarise(r);
    const errors = r.sent - r.ok;
    const pass = errors === 0 && s.p99 < 100;
    capacitySteps.push({ rate, okPerSecond: s.goodput, p99: s.p99, errors, pass });
    console.error(`  ${String(rate).padStart(5)} req/s: 2xx ${s.goodput.toFixed(0)}/s, 2xx p50 ${s.p50.toFixed(1)} ms p99 ${s.p99.toFixed(1)} ms, non-2xx/errors ${errors}, generator lag p99 ${r.generator.lagP99Ms.toFixed(1)} ms -> ${pass ? 'pass' : 'FAIL'}`);
    return pass;
  }).finally(() => sleep(opts.quick ? 500 : 1000));
  let good = 0;
  let bad = 0;
  for (let rate = Math.round(theoretical * 0.25 / 10) * 10; rate <= theoretical * 1.5; rate += Math.round(theoretical / 8 / 10) * 10) {
    if (await step(rate)) good = rate;
    else { bad = rate; break; }
  }
  if (!good) {
    // Even the first step failed (a busy machine): step down instead.
    for (let rate = Math.round(bad / 2); rate >= 10 && !good; rate = Math.round(rate / 2)) {
      if (await step(rate)) good = rate;
      else bad = rate;
    }
  }
  if (!bad) return good;
  for (let i = 0; i < (opts.quick ? 0 : 2); i++) {
    const mid = Math.round((good + bad) / 2);
    if (mid === good || mid === bad) break;
    if (await step(mid)) good = mid;
    else bad = mid;
  }
  return good;
}

async function main(): Promise<void> {
  spinIters = calibrate();
  const env = { BENCH_SPIN_ITERS: String(spinIters) };
  console.error(`bench/overload: ${contenders.map((c) => c.id).join(', ')}; work ${spinIters} iterations (~${workMs} ms CPU); client timeout ${timeoutMs} ms; logs in ${work}; load average ${load()}`);
  capacity = opts.capacity ? Number(opts.capacity) : await findCapacity(env);
  if (!(capacity > 0)) throw new Error('no capacity found (even the lowest step failed)');
  console.error(`capacity: ${capacity} req/s`);
  const target = all.find((c) => c.id === 'ballast-adaptive')!;
  if (contenders.includes(target)) {
    // The reference for the p99 target: the same server at a light load, measured like a run.
    const rate = Math.round(theoretical / 4);
    await withServer(target, env, async (port) => {
      await openLoad(port, rate, warmupMs);
      const r = await openLoad(port, rate, stepMs);
      const s = summarise(r);
      unloaded = { rate, p99: s.p99, p50: s.p50, ok: r.ok };
      console.error(`unloaded: ballast-adaptive at ${rate} req/s: 2xx p50 ${s.p50.toFixed(1)} ms p99 ${s.p99.toFixed(1)} ms (${r.sent - r.ok} non-2xx/errors)`);
    });
    await sleep(cooldownMs);
  }
  for (const [mi, multiple] of multiples.entries()) {
    const rate = Math.round(capacity * multiple);
    const order = contenders.map((_, i) => contenders[(i + mi) % contenders.length]!);
    for (const contender of order) {
      const la = load();
      const row = await withServer(contender, env, async (port, handle, adminPort) => {
        await openLoad(port, Math.round(capacity * 0.5), warmupMs);
        await sleep(500);
        const trace = adminPort ? startTrace(adminPort) : undefined;
        const cpuBefore = treeCpuMs(handle.rootPid);
        const t = performance.now();
        const result = await openLoad(port, rate, durationMs);
        const cpuAfter = treeCpuMs(handle.rootPid);
        const elapsed = performance.now() - t;
        const row: Row = { contender: contender.id, label: contender.label, multiple, rate, result, loadavg: la, trace: trace?.stop() };
        if (cpuBefore !== undefined && cpuAfter !== undefined) row.serverCpuPercent = ((cpuAfter - cpuBefore) / elapsed) * 100;
        return row;
      }, opts.trace);
      rows.push(row);
      const s = summarise(row.result);
      console.error(
        `${multiple}x ${String(rate).padStart(5)} req/s ${contender.id.padEnd(17)} goodput ${s.goodput.toFixed(0).padStart(4)}/s (${((s.goodput / capacity) * 100).toFixed(0)}%)  2xx p50 ${s.p50.toFixed(1)} p99 ${s.p99.toFixed(1)} ms  503 ${(s.share503 * 100).toFixed(1)}%  timeouts ${(s.shareTimeout * 100).toFixed(1)}%  other ${s.other}  server CPU ${row.serverCpuPercent?.toFixed(0) ?? '?'}%  gen CPU ${row.result.generator.cpuPercent.toFixed(0)}% lag p99 ${row.result.generator.lagP99Ms.toFixed(1)} ms  load ${la}`,
      );
      await sleep(cooldownMs);
    }
  }
}

const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const pct = (x: number) => (x === 0 ? '0' : x < 0.001 ? '<0.1%' : `${(x * 100).toFixed(1)}%`);

/** A run whose generator fell this far behind its schedule did not offer the load it names. */
const generatorBehindMs = 100;

/**
 * Issue 4's target, read off this run: at 3x and 5x, ballast adaptive keeps goodput >= 90% of
 * capacity, the p99 of its 2xx below 5x its unloaded p99, and zero client timeouts. Goodput is also
 * given as a share of the best goodput any contender reached in the run (a stricter reference
 * where the capacity search's p99 < 100 ms bound is set by host stalls rather than by throughput).
 */
function verdict(): string[] {
  const lines: string[] = [];
  const goodputs = rows.map((r) => summarise(r.result).goodput);
  const peak = Math.max(0, ...goodputs);
  const peakRow = rows[goodputs.indexOf(peak)];
  const behind = rows.filter((r) => r.result.generator.lagP99Ms > generatorBehindMs);
  if (behind.length > 0) {
    lines.push(`Generator behind its schedule (lag p99 > ${generatorBehindMs} ms, so less than the named load was offered on time): ${behind.map((r) => `${r.label} at ${r.multiple}× (${fmt(r.result.generator.lagP99Ms, 0)} ms)`).join('; ')}.`, '');
  }
  const targetRows = rows.filter((r) => r.contender === 'ballast-adaptive' && r.multiple >= 3);
  if (targetRows.length === 0) return lines;
  lines.push(unloaded
    ? `Target (issue 4), ballast adaptive at 3× and 5×: goodput ≥ 90% of capacity (${capacity} req/s), 2xx p99 < 5 × its unloaded p99 (${fmt(unloaded.p99)} ms at ${unloaded.rate} req/s, so < ${fmt(5 * unloaded.p99)} ms), zero client timeouts. Best goodput in this run: ${peak.toFixed(0)}/s (${peakRow?.label} at ${peakRow?.multiple}×).`
    : `Target (issue 4), ballast adaptive at 3× and 5×: goodput ≥ 90% of capacity (${capacity} req/s) and zero client timeouts (the unloaded p99 was not measured: ballast-adaptive was not in --only).`);
  lines.push('', '| load | goodput % of capacity | % of best goodput | 2xx p99 ms | p99 ÷ unloaded p99 | timeouts | verdict |', '|---:|---:|---:|---:|---:|---:|---|');
  for (const row of targetRows) {
    const s = summarise(row.result);
    const share = s.goodput / capacity;
    const ratio = unloaded ? s.p99 / unloaded.p99 : NaN;
    const met = share >= 0.9 && (!unloaded || ratio < 5) && row.result.timeouts === 0 && row.result.generator.lagP99Ms <= generatorBehindMs;
    lines.push(`| ${row.multiple}× | ${(share * 100).toFixed(0)}% | ${((s.goodput / peak) * 100).toFixed(0)}% | ${fmt(s.p99)} | ${unloaded ? `${ratio.toFixed(2)}×` : '–'} | ${row.result.timeouts} | ${met ? 'met' : 'MISSED'} |`);
  }
  return lines;
}

function report(): string {
  const lines: string[] = [];
  lines.push(`Run ${environment.date}: Node ${environment.node}, ${environment.cpu} (${environment.cpus} CPUs, ${environment.kernel}); Fastify ${environment.fastify}, @fastify/under-pressure ${environment.underPressure}; client undici ${environment.undici}.`);
  lines.push(`ballast: ${environment.ballast}. Work: ${spinIters} xorshift iterations per request (~${workMs} ms of CPU, calibrated at start). Load average before: ${environment.loadavgBefore}, after: ${environment.loadavgAfter}.`);
  if (capacitySteps.length) {
    lines.push('');
    lines.push(`Capacity (${capacityServer!.id}, a fresh server per ${stepMs / 1000} s step): ${capacitySteps.map((s) => `${s.rate} → ${s.pass ? 'pass' : 'fail'} (2xx p99 ${fmt(s.p99)} ms${s.errors ? `, ${s.errors} non-2xx/errors` : ''})`).join('; ')}. **Capacity = ${capacity} req/s.**`);
  } else {
    lines.push('', `Capacity given on the command line: ${capacity} req/s.`);
  }
  lines.push('');
  lines.push('| contender | load | offered req/s | goodput (2xx/s) | % of capacity | 2xx p50 ms | 2xx p99 ms | 503 | 503 p99 ms | timeouts | other errors | server CPU | gen. lag p99 ms | load avg |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const multiple of multiples) {
    for (const contender of contenders) {
      const row = rows.find((r) => r.contender === contender.id && r.multiple === multiple);
      if (!row) continue;
      const s = summarise(row.result);
      lines.push(
        `| ${row.label} | ${multiple}× | ${row.rate} | ${s.goodput.toFixed(0)} | ${((s.goodput / capacity) * 100).toFixed(0)}% | ${fmt(s.p50)} | ${fmt(s.p99)} | ${pct(s.share503)} | ${s.share503 ? fmt(s.p99of503) : '–'} | ${pct(s.shareTimeout)} | ${s.other ? `${pct(s.shareOther)} (${[...Object.entries(row.result.otherStatus), ...Object.entries(row.result.errors)].map(([k, v]) => `${k}: ${v}`).join(', ')})` : '0'} | ${row.serverCpuPercent !== undefined ? `${row.serverCpuPercent.toFixed(0)}%` : '?'} | ${fmt(row.result.generator.lagP99Ms)} | ${row.loadavg.split(' ')[0]} |`,
      );
    }
  }
  lines.push('');
  lines.push(...verdict());
  lines.push('');
  lines.push(`Shares are of the requests sent. goodput = 2xx ÷ ${durationMs / 1000} s; latencies from the intended send time; timeout = no complete answer ${timeoutMs / 1000} s after the intended send (the client aborts). Server CPU: user+system of the server's process tree during the run, % of one core (200% = both cores). Load avg: 1-minute load average when the contender started.`);
  return lines.join('\n');
}

let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  console.error(`bench/overload failed: ${(error as Error).stack ?? error}`);
} finally {
  await stopAll();
}
environment.loadavgAfter = load();
if (rows.length > 0) {
  console.log(report());
  if (opts.json) {
    writeFileSync(opts.json, JSON.stringify({
      environment, capacity, capacitySteps, unloaded, spinIters, durationMs, timeoutMs, multiples,
      rows: rows.map((r) => ({ ...r, summary: summarise(r.result), result: { ...r.result, okLatency: undefined, latency503: undefined } })),
    }, null, 2));
  }
}
if (!failed) rmSync(work, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
