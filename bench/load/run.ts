// Benchmark: the generators against the same raw node:http hello world on this machine, in one run.
//   1. max throughput, 64 connections, closed loop: ballast load (1 thread) vs autocannon vs wrk;
//   2. latency at a fixed rate: ballast's open model vs autocannon --overallRate at the same rate,
//      and vs wrk paced to the same rate. wrk2 is not in Debian, so wrk's Lua `delay()` hook holds
//      its C connections to one constant-rate schedule (see the script below). wrk times each
//      request from its actual send, so its percentiles are compared with ballast's service time
//      (also from the actual send) and, separately, with ballast's latency from the intended send
//      (which adds schedule lag).
// Usage: node bench/load/run.ts [--duration 10] [--rate 5000] [--rounds 3] [--markdown] [--mode all|simultaneous|sequential|wire] [--start at|alternate] [--ballast-args='--threads 2'] [--ballast-node-args='--single-threaded-gc'] [--warm-server 2] [--pin] [--sched] [--help]
// --ballast-node-args: Node/V8 flags for the `ballast load` process only (the servers and the
// other tools run without them), e.g. to A/B a GC setting of the generator.
// --sched (with --mode sequential; needs perf and root): in every run, `perf sched record` for the
// middle of the run (from 2 s in to 1 s before the end) and a table of how long each tool's
// event-loop thread waited to run after each wake-up, where the kernel woke it, and behind whom it
// waited (bench/load/sched.ts), and the same for the server's thread woken by the tool's requests.
// perf's own cost inflates every tool's tail in those runs, so compare their latencies with runs
// without --sched.
// --pin: the server runs on CPU 0 and every generator (the warm-up wrk too) on CPU 1 (taskset), so
// neither waits for the other to be scheduled off a shared core; by default the scheduler places them.
// --warm-server S (default 2; 0 for none): every fixed-rate latency run's fresh server first gets S
// seconds of unmeasured full-speed wrk load (see withServer).
// --mode all (the default): each tool runs alone (sequentially) against a fresh server; the server
// and the generator share the machine's cores, as they do in most single-host load tests. With
// --rounds N the tools take turns N times and the run with the median throughput of each is
// reported, which keeps a noisy neighbour from deciding the ranking.
// --mode sequential: latency at a fixed rate only, each tool alone in turns (ballast, wrk, wrk
// again as wrk's own noise floor), every tool's samples merged over the rounds; a line names the
// percentiles where the two wrk runs were more than 10 % apart (too noisy to judge 10 %), a table
// repeats the comparison over the quiet rounds, those where wrk agreed with itself, and (with 3
// rounds or more) a last one gives each difference's 95 % interval from resampling whole rounds
// (bench/load/bootstrap.ts): "within 10 %" only when the whole interval is.
// --mode wire: latency at a fixed rate, each tool alone, with tcpdump on lo as the reference: each
// tool's reported percentiles beside the request-to-response times read off the packets of the
// same run (bench/load/wire.ts), so each tool's own measurement error is shown, and the two tools
// are compared on it even when the server behaved differently in their runs; with 3 rounds or more,
// both comparisons get 95 % intervals from resampling whole rounds. Needs tcpdump (root).
// --mode simultaneous: latency at a fixed rate only, with both tools running AT THE SAME TIME
// against one server, so a host stall lands in both: paced wrk at R/2 (half the connections) and
// `ballast load --rate R/2` (open model, the other half). wrk's percentiles are compared with
// ballast's service time, and ballast's latency from the intended send is shown beside them. The
// noise floor comes from the same setup with two paced wrk instances at R/2 each (how much wrk
// disagrees with itself at the same moment), and from wrk's own spread over the rounds. Each round
// runs both pairs, each against a fresh server; which pair goes first alternates every two rounds,
// and which tool of the ballast/wrk pair starts first alternates every round. The last table
// merges every round's samples into one histogram per tool (wrk's done() prints its whole
// histogram), so its percentiles rest on all the rounds rather than on one round's slowest 1%.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { addEncoded, type Histogram } from '../../src/load/histogram.ts';
import type { RunResult } from '../../src/load/types.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { canRecordSched, recordSched, type SchedStats } from './sched.ts';
import { startCapture } from './wire.ts';
import { alignRounds, bootstrapDifference, bootstrapIntervals, weightedPercentiles } from './bootstrap.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, rate: { type: 'string', default: '5000' }, rounds: { type: 'string', default: '1' }, markdown: { type: 'boolean', default: false }, mode: { type: 'string', default: 'all' }, start: { type: 'string', default: 'at' }, 'ballast-args': { type: 'string' }, 'ballast-node-args': { type: 'string' }, 'warm-server': { type: 'string', default: '2' }, pin: { type: 'boolean', default: false }, sched: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } });
if (values.help) {
  // The usage is this file's opening comment.
  const source = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  console.log(source.slice(0, source.findIndex((line) => !line.startsWith('//'))).map((line) => line.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
if (!['all', 'simultaneous', 'sequential', 'wire'].includes(values.mode)) throw new Error(`--mode must be all, simultaneous, sequential or wire, not ${values.mode}`);
const rounds = Number(values.rounds);
const warmServerSeconds = Number(values['warm-server']);
if (!(warmServerSeconds >= 0)) throw new Error(`--warm-server must be a number of seconds (0 for none), not ${values['warm-server']}`);
const seconds = Number(values.duration);
const rate = Number(values.rate);
const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'ballast-bench-'));

interface Row { tool: string; mode: string; rps: number; p50: number; p90: number; p99: number; p999?: number; note?: string; /** Generator CPU seconds for the run (GNU time). */ cpuS?: number }
const rows: Row[] = [];
/** p50/p75/p90/p99 in ms. */
interface Quantiles { p50: number; p75: number; p90: number; p99: number }
interface Agreement { round: number; wrkRps: number; ballastRps: number; wrk: Quantiles; service: Quantiles; latency: Quantiles; wrkErrors: number; ballastErrors: number }
const agreements: Agreement[] = [];
const quantileKeys = ['p50', 'p75', 'p90', 'p99'] as const;
const connections = 64;
const autocannonBin = join(root, 'bench/node_modules/autocannon/autocannon.js');

/**
 * A fresh server for `fn`. With `warm`, the server first gets --warm-server seconds of unmeasured
 * load at full speed (wrk, or autocannon without it), the same for every tool: a cold node:http
 * server's first ~50k requests run while V8 is still compiling its hot paths, which measured a
 * p99 of 24-40 ms in the first second for wrk and ballast alike and a second burst ~2 s in (p99
 * 7-14 ms in that second); after the warm-up neither appears. Fixed-rate latency runs are warmed,
 * so their 1 % tail is about the tools and the host rather than the server's JIT.
 */
async function withServer<T>(fn: (url: string, port: number, serverPid: number) => Promise<T>, warm = false): Promise<T> {
  const [command, args] = pinned('0', process.execPath, [join(here, 'hello-server.ts')]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const { port } = JSON.parse(line) as { port: number };
  const url = `http://127.0.0.1:${port}/`;
  try {
    if (warm && warmServerSeconds > 0) {
      if (hasWrk) await runAsync('wrk', ['-t', '1', '-c', String(connections), '-d', `${warmServerSeconds}s`, url]);
      else await runAsync(process.execPath, [autocannonBin, '-c', String(connections), '-d', String(warmServerSeconds), url]);
    }
    return await fn(url, port, child.pid!);
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

/** `command args` under `taskset -c cpu` with --pin, else as given. */
function pinned(cpu: string, command: string, args: string[]): [string, string[]] {
  return values.pin ? ['taskset', ['-c', cpu, command, ...args]] : [command, args];
}

const gnuTime = '/usr/bin/time';
/**
 * Runs a tool to completion. `cpuS`: its CPU seconds (user + system), from GNU time (Debian's
 * `time` package) when it is installed. On 2 cores the server is the bottleneck at full speed,
 * so the req/s a tool reaches says as much about the CPU it leaves the server as about the tool;
 * its requests per CPU-second say how many it could send with a core of its own.
 */
function run(tool: string, toolArgs: string[]): { stdout: string; cpuS: number | undefined } {
  const [command, args] = pinned('1', tool, toolArgs);
  const cpuFile = join(tmp, 'cpu.txt');
  const [program, programArgs] = hasGnuTime ? [gnuTime, ['-f', '%U %S', '-o', cpuFile, command, ...args]] : [command, args];
  const result = spawnSync(program, programArgs, { encoding: 'utf8', cwd: root, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0 && result.status !== 99) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  let cpuS: number | undefined;
  if (hasGnuTime) {
    const [user, system] = readFileSync(cpuFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
    if (Number.isFinite(user) && Number.isFinite(system)) cpuS = user + system;
  }
  return { stdout: result.stdout, cpuS };
}

/** Like run(), without blocking this process, so two tools can run at once. */
function runAsync(tool: string, toolArgs: string[], onSpawn?: (pid: number) => void): Promise<string> {
  const [command, args] = pinned('1', tool, toolArgs);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) onSpawn?.(child.pid);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('close', (status) => (status === 0 || status === 99 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} failed (${status}): ${err}`))));
  });
}

function ballastArgs(url: string, extra: string[], json: string): string[] {
  const nodeArgs = (values['ballast-node-args'] ?? '').split(/\s+/).filter(Boolean);
  return [...nodeArgs, join(root, 'bin/ballast.js'), 'load', url, '--duration', `${seconds}s`, '--no-progress', '--json', json, ...extra];
}

function ballast(url: string, extra: string[], mode: string): RunResult {
  const json = join(tmp, `ballast-${rows.length}.json`);
  return ballastResult(json, mode, run(process.execPath, ballastArgs(url, extra, json)).cpuS);
}

/** ballast() without blocking this process; `onSpawn` gets the generator's pid. */
async function ballastAsync(url: string, extra: string[], mode: string, onSpawn?: (pid: number) => void): Promise<RunResult> {
  const json = join(tmp, `ballast-${rows.length}.json`);
  await runAsync(process.execPath, ballastArgs(url, extra, json), onSpawn);
  return ballastResult(json, mode);
}

function ballastResult(json: string, mode: string, cpuS?: number): RunResult {
  const result = JSON.parse(readFileSync(json, 'utf8'));
  const s = result.summary;
  // The open model's headline latency is from the intended send; its service time (from the
  // actual send) is what closed-loop tools and autocannon --overallRate measure.
  const service = s.serviceMs ? `; service time p50 ${s.serviceMs.p50} p90 ${s.serviceMs.p90} p99 ${s.serviceMs.p99} ms, schedule lag p99 ${s.scheduleLagMs.p99} ms` : '';
  rows.push({ tool: 'ballast load', mode, cpuS, rps: s.requestsPerSecond, p50: s.latencyMs.p50, p90: s.latencyMs.p90, p99: s.latencyMs.p99, p999: s.latencyMs.p999, note: `generator CPU ${result.generator[0].cpuPercent}%, verdict ${result.generator[0].verdict}${service}` });
  return result;
}

/** One of the runs' histograms, added over every second of every run: exact, not averaged. */
function histogramOf(results: readonly RunResult[], name: 'latency' | 'service'): Histogram | undefined {
  let histogram: Histogram | undefined;
  for (const result of results) for (const interval of result.groups[0].intervals) histogram = addEncoded(histogram, interval.histograms[name]);
  return histogram;
}

/** One of a run's histograms as µs → count (the recorded values, for the bootstrap). */
function recordedCounts(result: RunResult, name: 'latency' | 'service'): Map<number, number> {
  const counts = new Map<number, number>();
  const histogram = histogramOf([result], name) as (Histogram & { recordedValuesIterator?: { reset(): void; hasNext(): boolean; next(): { valueIteratedTo: number; countAtValueIteratedTo: number } } }) | undefined;
  const iterator = histogram?.recordedValuesIterator;
  if (!iterator) return counts;
  iterator.reset();
  while (iterator.hasNext()) {
    const step = iterator.next();
    counts.set(step.valueIteratedTo, (counts.get(step.valueIteratedTo) ?? 0) + step.countAtValueIteratedTo);
  }
  return counts;
}

/** Percentiles (ms) of one of a run's histograms. */
function quantilesOf(result: RunResult, name: 'latency' | 'service'): Quantiles {
  const histogram = histogramOf([result], name);
  const at = (percentile: number) => (histogram ? Math.round(histogram.getValueAtPercentile(percentile)) / 1000 : 0);
  return { p50: at(50), p75: at(75), p90: at(90), p99: at(99) };
}

// Table cells: ms to 3 decimals below 10 ('–' for none), a relative difference in %, counts.
const fmt = (n: number | undefined) => (n === undefined ? '–' : n < 10 ? n.toFixed(3) : n.toFixed(1));
const pct = (a: number, b: number) => (b > 0 ? ((a - b) / b) * 100 : Number.NaN);
const signed = (value: number) => `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(1)}%`;
/** ballast's service-time percentile (ms) from merged histograms, NaN without samples. */
const serviceAt = (service: Histogram | undefined, percentile: number) => (service ? Math.round(service.getValueAtPercentile(percentile)) / 1000 : Number.NaN);
/** Table cells `wrk | ballast | ballast − wrk | within 10%?`. */
const versusWrk = (w: number, mine: number) => `${fmt(w)} | ${fmt(mine)} | ${signed(pct(mine, w))} | ${Math.abs(pct(mine, w)) <= 10 ? 'yes' : 'no'}`;
const count = (n: number) => Math.round(n).toLocaleString('en-US');
/** A bootstrap interval (bootstrap.ts) as a table cell, and whether all of it is within 10 %. */
const range = (interval: { low: number; high: number }) => `${signed(interval.low)} … ${signed(interval.high)}`;
const verdict = (interval: { low: number; high: number }) => (interval.low >= -10 && interval.high <= 10 ? 'yes' : interval.low > 10 || interval.high < -10 ? 'no' : 'undecided: more rounds');

// wrk paced by its Lua delay() hook (one Lua state per wrk thread; we run one). delay() is called
// before each request of each connection; it hands out slots of one constant-rate schedule
// (slot k at start + k/R, like ballast's constant arrivals) to whichever connection asks next and
// returns the time to its slot, read from the monotonic clock through LuaJIT's FFI (wrk's Lua has
// no clock of its own). A fixed delay of C/R per connection instead lets the connections' phases
// drift into bursts, which the server queues: that measured ~2x the p50 of evenly spaced arrivals
// at 5,000 req/s, a property of the arrival process rather than of either tool. wrk's timers take
// whole milliseconds, so, like ballast's, arrivals go out in ~1 ms batches. done() prints wrk's own
// latency percentiles (µs) and counts as one JSON line.
const paceScript = join(tmp, 'pace.lua');
writeFileSync(paceScript, `
local ffi = require('ffi')
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } ballast_timespec;
int clock_gettime(int clock_id, ballast_timespec *tp);
]]
local timespec = ffi.new('ballast_timespec')
local function nowMs()
  ffi.C.clock_gettime(1, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end
local function epochMs()
  ffi.C.clock_gettime(0, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end
local intervalMs, startMs, slots = 1, nil, 0
function init(args)
  intervalMs = 1000 / tonumber(args[1])
end
function delay()
  local now = nowMs()
  if startMs == nil then
    -- done() runs in a Lua state of its own, so the thread prints its start itself.
    startMs = now
    io.write(string.format('WRK_START %.3f\\n', epochMs()))
  end
  local due = startMs + slots * intervalMs
  slots = slots + 1
  if due <= now then return 0 end
  return math.floor(due - now + 0.5)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%d,"durationUs":%d,"errors":%d,"p50":%d,"p75":%d,"p90":%d,"p99":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(75), latency:percentile(90), latency:percentile(99)))
  -- wrk's whole latency histogram (per microsecond) as "value:count" pairs, so rounds can be
  -- merged exactly: #latency is the number of distinct values, latency(i) the i-th and its count.
  local parts = {}
  for i = 1, #latency do
    local v, c = latency(i)
    parts[#parts + 1] = string.format('%d:%d', v, c)
  end
  io.write('WRK_HIST ' .. table.concat(parts, ',') .. '\\n')
end
`);

/** startEpochMs: wall clock (ms) of wrk's first request, from its Lua state. histogram: µs → count. */
interface PacedRun { rps: number; errors: number; quantiles: Quantiles; startEpochMs: number; histogram: Map<number, number> }

/** wrk's percentile of a µs → count histogram, as wrk computes it (stats_percentile), in ms. */
function wrkPercentile(histogram: Map<number, number>, percentile: number): number {
  const values = [...histogram.keys()].sort((a, b) => a - b);
  let total = 0;
  for (const value of values) total += histogram.get(value)!;
  const rank = Math.round((percentile / 100) * total + 0.5);
  let seen = 0;
  for (const value of values) {
    seen += histogram.get(value)!;
    if (seen >= rank) return value / 1000;
  }
  return values.length > 0 ? values[values.length - 1] / 1000 : 0;
}

function mergeCounts(histograms: Array<Map<number, number>>): Map<number, number> {
  const merged = new Map<number, number>();
  for (const histogram of histograms) for (const [value, count] of histogram) merged.set(value, (merged.get(value) ?? 0) + count);
  return merged;
}

async function wrkPaced(url: string, pacedConnections = connections, pacedRate = rate, onSpawn?: (pid: number) => void): Promise<PacedRun> {
  const out = await runAsync('wrk', ['-t', '1', '-c', String(pacedConnections), '-d', `${seconds}s`, '-s', paceScript, url, '--', String(pacedRate)], onSpawn);
  const line = /WRK_JSON (.*)/.exec(out);
  if (!line) throw new Error(`wrk printed no result: ${out}`);
  const data = JSON.parse(line[1]) as { requests: number; durationUs: number; errors: number } & Record<(typeof quantileKeys)[number], number>;
  const start = /WRK_START ([\d.]+)/.exec(out);
  const quantiles = { p50: data.p50 / 1000, p75: data.p75 / 1000, p90: data.p90 / 1000, p99: data.p99 / 1000 };
  const histogram = new Map<number, number>();
  for (const pair of (/WRK_HIST (.*)/.exec(out)?.[1] ?? '').split(',')) {
    const [value, count] = pair.split(':').map(Number);
    if (count > 0) histogram.set(value, count);
  }
  return { rps: Math.round((data.requests / (data.durationUs / 1e6)) * 10) / 10, errors: data.errors, quantiles, startEpochMs: start ? Number(start[1]) : Number.NaN, histogram };
}

function autocannon(url: string, extra: string[], mode: string): void {
  const { stdout, cpuS } = run(process.execPath, [autocannonBin, '--json', '-c', '64', '-d', String(seconds), ...extra, url]);
  const result = JSON.parse(stdout);
  rows.push({ tool: 'autocannon', mode, cpuS, rps: Math.round((result.requests.total / result.duration) * 100) / 100, p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, p999: result.latency.p99_9 });
}

function toMs(text: string): number {
  const match = /([\d.]+)(us|ms|s)/.exec(text)!;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

function wrk(url: string, mode: string): void {
  const { stdout: out, cpuS } = run('wrk', ['-t', '1', '-c', '64', '-d', `${seconds}s`, '--latency', url]);
  const pick = (label: string) => toMs(new RegExp(`^\\s*${label}%\\s+(\\S+)`, 'm').exec(out)![1]);
  rows.push({ tool: 'wrk', mode, cpuS, rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]), p50: pick('50'), p90: pick('90'), p99: pick('99') });
}

/** CPU time stolen by the hypervisor (other VMs on the same host), from /proc/stat's `cpu` line, as [steal, total] ticks. */
function readSteal(): [number, number] {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return [fields[7] ?? 0, fields.slice(0, 8).reduce((sum, value) => sum + value, 0)];
  } catch {
    return [0, 0];
  }
}
const stealBefore = readSteal();
const loadBefore = loadavg().map((value) => value.toFixed(2)).join(' ');
const has = (command: string) => spawnSync('which', [command]).status === 0;
const hasWrk = has('wrk');
const hasGnuTime = spawnSync(gnuTime, ['-f', '%U', 'true'], { stdio: 'ignore' }).status === 0;
/** The host and its weather over the run so far: Node, CPU, load average before/now, CPU stolen by the hypervisor. */
function hostLine(): string {
  const steal = readSteal();
  const stolen = steal[1] > stealBefore[1] ? ((steal[0] - stealBefore[0]) / (steal[1] - stealBefore[1])) * 100 : 0;
  return `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, raw node:http hello world, load average before: ${loadBefore}, after: ${loadavg().map((value) => value.toFixed(2)).join(' ')}, CPU stolen by the hypervisor during the run: ${stolen.toFixed(1)}%${values.pin ? ', pinned (taskset): server on CPU 0, generators on CPU 1' : ''}`;
}

/** The socket inodes a process holds (from /proc/PID/fd). */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match) inodes.add(match[1]);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // the process is gone
  }
  return inodes;
}

/**
 * Wall clock (ms, sub-millisecond) when process `pid` first has an established connection to
 * 127.0.0.1:port, polled every 2 ms from /proc/net/tcp (its inode column matched with the
 * process's socket fds, so another tool's connections to the same server do not count).
 */
async function firstConnection(port: number, pid: number, exited: Promise<unknown>): Promise<number> {
  const remote = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let isOver = false;
  void exited.finally(() => (isOver = true));
  const deadline = performance.now() + 30_000;
  while (!isOver && performance.now() < deadline) {
    const table = readFileSync('/proc/net/tcp', 'utf8');
    // Fields: sl, local_address, rem_address, st (01 = ESTABLISHED), tx:rx, tr:when, retrnsmt, uid, timeout, inode
    const candidates = table.split('\n').map((line) => line.trim().split(/\s+/)).filter((fields) => fields[2] === remote && fields[3] === '01');
    if (candidates.length > 0) {
      const own = socketInodes(pid);
      if (candidates.some((fields) => own.has(fields[9]))) return performance.timeOrigin + performance.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`no connection to port ${port} seen`);
}

interface SimultaneousRound {
  round: number;
  /** Paced wrk and ballast's open model at R/2 each, together. */
  wrk: PacedRun;
  ballastRps: number;
  ballastErrors: number;
  service: Quantiles;
  latency: Quantiles;
  /** wrk's first request minus ballast's first connection, ms. */
  offsetMs: number;
  generatorVerdict: string;
  wrkFirst: boolean;
  /** Two paced wrk instances at R/2 each, together: the noise floor. */
  wrkA: PacedRun;
  wrkB: PacedRun;
  /** ballast's whole result, to merge its histograms over the rounds exactly. */
  result: RunResult;
}

/** --start at: ballast's --start-at is this long after its spawn (Node start-up and warm-up take 0.3-1 s). */
const startLeadMs = 2000;
/** wrk is spawned this long before the common start: its own start-up to the first request. */
const wrkSpawnLeadMs = 3;

async function simultaneous(): Promise<void> {
  if (!hasWrk) throw new Error('--mode simultaneous needs wrk');
  const half = rate / 2;
  const halfConnections = connections / 2;
  const results: SimultaneousRound[] = [];
  /** Spawn to first connection of ballast (ms), measured in the rounds where ballast goes first. */
  const startups: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // ballast needs a few hundred ms (Node start-up, transport warm-up) before its first request;
    // wrk needs a few. Odd rounds: ballast first, and wrk is started the moment ballast's first
    // connection appears. Even rounds: wrk first, started 25 ms before ballast's first connection
    // is due (from the start-ups measured so far). Either way the two windows overlap to within
    // a few tens of ms (the start offset column), and whichever tool joins second alternates:
    // two wrks started together showed the one started second with the longer p99 more often.
    //
    // --start at (the default) instead starts both at one wall-clock moment: ballast warms up and
    // waits for its --start-at; wrk is spawned just before it (its start-up takes a few ms). In
    // the alternating runs (7, 8) the tool that joined second read the higher p99 in most rounds,
    // so neither tool joins the other here.
    const atOnce = values.start !== 'alternate';
    const wrkFirst = !atOnce && round % 2 === 1 && startups.length > 0;
    const pair = () => withServer(async (url, port) => {
      const json = join(tmp, `simultaneous-${round}.json`);
      const spawnedAt = performance.timeOrigin + performance.now();
      let pid = 0;
      const startAt = Math.round(spawnedAt) + startLeadMs;
      const ballastRun = runAsync(process.execPath, [join(root, 'bin/ballast.js'), 'load', url, '--rate', String(half), '--connections', String(halfConnections), '--duration', `${seconds}s`, '--no-progress', '--json', json, ...(atOnce ? ['--start-at', String(startAt)] : [])], (spawned) => (pid = spawned));
      let wrkRun: Promise<PacedRun>;
      let ballastStart: number;
      if (atOnce) {
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - wrkSpawnLeadMs - (performance.timeOrigin + performance.now()))));
        wrkRun = wrkPaced(url, halfConnections, half);
        ballastStart = startAt;
      } else if (wrkFirst) {
        const startup = [...startups].sort((a, b) => a - b)[Math.floor((startups.length - 1) / 2)];
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, startup - 25)));
        wrkRun = wrkPaced(url, halfConnections, half);
        ballastStart = await firstConnection(port, pid, ballastRun);
      } else {
        ballastStart = await firstConnection(port, pid, ballastRun);
        startups.push(ballastStart - spawnedAt);
        wrkRun = wrkPaced(url, halfConnections, half);
      }
      const [paced] = await Promise.all([wrkRun, ballastRun]);
      return { paced, ballastStart, result: JSON.parse(readFileSync(json, 'utf8')) as RunResult };
    }, true);
    const twoWrks = () => withServer(async (url) => Promise.all([wrkPaced(url, halfConnections, half), wrkPaced(url, halfConnections, half)]), true);
    let together: Awaited<ReturnType<typeof pair>>;
    let wrks: PacedRun[];
    if (Math.floor(round / 2) % 2 === 0) {
      together = await pair();
      wrks = await twoWrks();
    } else {
      wrks = await twoWrks();
      together = await pair();
    }
    const { paced, ballastStart, result } = together;
    results.push({
      round: round + 1, wrk: paced, ballastRps: result.summary.requestsPerSecond, ballastErrors: result.summary.errors,
      service: quantilesOf(result, 'service'), latency: quantilesOf(result, 'latency'), offsetMs: paced.startEpochMs - ballastStart,
      generatorVerdict: result.generator[0].verdict, wrkFirst, wrkA: wrks[0], wrkB: wrks[1],
      result,
    });
    process.stderr.write(`round ${round + 1} of ${rounds} done\n`);
  }
  console.log(`${hostLine()}, mode simultaneous: ${seconds} s per pair, ${rounds} round(s), ${count(half)} req/s and ${halfConnections} connections per tool (${count(rate)} req/s in all)\n`);

  console.log(`wrk paced and ballast's open model at the same time, each at ${count(half)} req/s against one server: wrk / ballast service time (from the actual send) / ballast latency (from the intended send), ms; ${values.start !== 'alternate' ? '"first": together = both started at one --start-at moment; "start offset": wrk\'s first request minus that moment' : '"first": the tool that started first; "start offset": wrk\'s first request minus ballast\'s first connection'}; "service − wrk" is ballast's service time relative to wrk, per percentile.\n`);
  console.log('| round | first | req/s wrk / ballast | start offset ms | p50 | p75 | p90 | p99 | service − wrk p50 / p75 / p90 / p99 | errors wrk / ballast | ballast verdict |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|---|---|---|');
  for (const item of results) {
    const cells = quantileKeys.map((key) => `${fmt(item.wrk.quantiles[key])} / ${fmt(item.service[key])} / ${fmt(item.latency[key])}`);
    const diffs = quantileKeys.map((key) => signed(pct(item.service[key], item.wrk.quantiles[key]))).join(' / ');
    console.log(`| ${item.round} | ${values.start !== 'alternate' ? 'together' : item.wrkFirst ? 'wrk' : 'ballast'} | ${count(item.wrk.rps)} / ${count(item.ballastRps)} | ${item.offsetMs.toFixed(1)} | ${cells.join(' | ')} | ${diffs} | ${item.wrk.errors} / ${item.ballastErrors} | ${item.generatorVerdict} |`);
  }

  console.log(`\nNoise floor: two paced wrk instances at the same time, each at ${count(half)} req/s against one server: wrk A / wrk B, ms (B is spawned right after A); "start offset": B's first request minus A's; "B − A" is B relative to A.\n`);
  console.log('| round | req/s A / B | start offset ms | p50 | p75 | p90 | p99 | B − A p50 / p75 / p90 / p99 | errors A / B |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---|---|');
  for (const item of results) {
    const cells = quantileKeys.map((key) => `${fmt(item.wrkA.quantiles[key])} / ${fmt(item.wrkB.quantiles[key])}`);
    const diffs = quantileKeys.map((key) => signed(pct(item.wrkB.quantiles[key], item.wrkA.quantiles[key]))).join(' / ');
    console.log(`| ${item.round} | ${count(item.wrkA.rps)} / ${count(item.wrkB.rps)} | ${(item.wrkB.startEpochMs - item.wrkA.startEpochMs).toFixed(1)} | ${cells.join(' | ')} | ${diffs} | ${item.wrkA.errors} / ${item.wrkB.errors} |`);
  }

  // Per percentile: the largest disagreement of each kind over the rounds, and wrk's round-to-round
  // spread (largest over smallest value of the same wrk instance, minus 1, over every wrk run at
  // R/2 next to a wrk: instance A and B of every round; with ballast, the wrk next to it).
  const maxAbs = (values: number[]) => Math.max(...values.map(Math.abs));
  const spread = (values: number[]) => (Math.max(...values) / Math.min(...values) - 1) * 100;
  console.log(`\nPer percentile, over the ${rounds} round(s): the median and the largest difference of ballast's service time from the wrk beside it (same moment), the same for wrk B against wrk A (same moment: wrk's own noise floor), and wrk's spread from round to round (largest / smallest value − 1, for the wrk run beside ballast and for wrk A).\n`);
  console.log('| percentile | median service − wrk | max \\|service − wrk\\| | ballast within 10% in | median wrk B − wrk A | max \\|wrk B − wrk A\\| | wrk spread over rounds (beside ballast / A) | \\|service − wrk\\| beyond \\|wrk B − wrk A\\|? |');
  console.log('|---|---:|---:|---|---:|---:|---:|---|');
  for (const key of quantileKeys) {
    const ballastDiffs = results.map((item) => pct(item.service[key], item.wrk.quantiles[key]));
    const wrkDiffs = results.map((item) => pct(item.wrkB.quantiles[key], item.wrkA.quantiles[key]));
    const within = ballastDiffs.filter((value) => Math.abs(value) <= 10).length;
    const beyond = ballastDiffs.filter((value, index) => Math.abs(value) > Math.abs(wrkDiffs[index])).length;
    const median = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const middle = sorted.length / 2;
      return sorted.length % 2 === 1 ? sorted[Math.floor(middle)] : (sorted[middle - 1] + sorted[middle]) / 2;
    };
    // Also in µs: at a sub-millisecond p50, 10% is a few tens of µs.
    const ballastUs = median(results.map((item) => (item.service[key] - item.wrk.quantiles[key]) * 1000));
    const wrkUs = median(results.map((item) => (item.wrkB.quantiles[key] - item.wrkA.quantiles[key]) * 1000));
    const us = (value: number) => `${value >= 0 ? '+' : '−'}${Math.abs(Math.round(value))} µs`;
    const spreads = `${spread(results.map((item) => item.wrk.quantiles[key])).toFixed(1)}% / ${spread(results.map((item) => item.wrkA.quantiles[key])).toFixed(1)}%`;
    console.log(`| ${key} | ${signed(median(ballastDiffs))} (${us(ballastUs)}) | ${maxAbs(ballastDiffs).toFixed(1)}% | ${within} of ${results.length} rounds | ${signed(median(wrkDiffs))} (${us(wrkUs)}) | ${maxAbs(wrkDiffs).toFixed(1)}% | ${spreads} | larger in ${beyond} of ${results.length} rounds; max ${maxAbs(ballastDiffs) > maxAbs(wrkDiffs) ? 'above' : 'within'} wrk's |`);
  }

  // Every round's samples together: a p99 of one 8 s round rests on its ~200 slowest requests,
  // which a single host stall can supply; over all rounds it rests on the slowest 1% of them all.
  // wrk's histograms (per µs) and ballast's (HDR, per second) both merge exactly.
  const service = histogramOf(results.map((item) => item.result), 'service');
  const mergedWrk = mergeCounts(results.map((item) => item.wrk.histogram));
  const mergedA = mergeCounts(results.map((item) => item.wrkA.histogram));
  const mergedB = mergeCounts(results.map((item) => item.wrkB.histogram));
  const samples = (histogram: Map<number, number>) => [...histogram.values()].reduce((sum, count) => sum + count, 0);
  console.log(`\nAll ${results.length} rounds merged (every sample of every round in one histogram per tool; ${count(samples(mergedWrk))} wrk samples beside ${count(service ? service.totalCount : 0)} of ballast's; wrk A ${count(samples(mergedA))}, wrk B ${count(samples(mergedB))}), ms:\n`);
  console.log('| percentile | wrk (beside ballast) | ballast service time | ballast − wrk | within 10%? | wrk A | wrk B | wrk B − wrk A |');
  console.log('|---|---:|---:|---:|---|---:|---:|---:|');
  for (const key of quantileKeys) {
    const percentile = Number(key.slice(1));
    const a = wrkPercentile(mergedA, percentile);
    const bb = wrkPercentile(mergedB, percentile);
    console.log(`| ${key} | ${versusWrk(wrkPercentile(mergedWrk, percentile), serviceAt(service, percentile))} | ${fmt(a)} | ${fmt(bb)} | ${signed(pct(bb, a))} |`);
  }
}
/**
 * --mode sequential: latency at a fixed rate, each tool alone against a fresh server, in turns:
 * ballast's open model, paced wrk, and paced wrk again (its noise floor: wrk against itself
 * run after run), the order rotating every round. Each tool's samples are merged over all
 * rounds, so every tool meets the host's stalls about equally often, and its 1 % tail rests on
 * all the rounds; two generators never share the host.
 */
async function sequential(): Promise<void> {
  if (!hasWrk) throw new Error('--mode sequential needs wrk');
  // --ballast-args: extra `ballast load` options for its runs (e.g. `--threads 2`).
  const ballastExtra = (values['ballast-args'] ?? '').split(/\s+/).filter(Boolean);
  const ballastRuns: RunResult[] = [];
  const wrkA: PacedRun[] = [];
  const wrkB: PacedRun[] = [];
  if (values.sched && !canRecordSched()) throw new Error('--sched needs perf with the sched tracepoints (apt-get install -y linux-perf; run as root)');
  if (values.sched && seconds < 5) throw new Error('--sched needs --duration 5 or more (it records from 2 s in to 1 s before the end)');
  const sched: Array<{ round: number; tool: string; stats: SchedStats; server: SchedStats }> = [];
  /** With --sched, records the scheduler while the generator `pid` runs against `serverPid`. */
  const watch = (at: number, tool: string, serverPid: number, waits: Promise<unknown>[]) => (pid: number) => {
    if (!values.sched) return;
    waits.push((async () => {
      await sleep(2000);
      const { generator, server } = await recordSched(pid, serverPid, seconds - 3, tmp, `${tool.replace(' ', '-')}-${at}`);
      sched.push({ round: at, tool, stats: generator, server });
    })());
  };
  const steps: Array<[string, (round: number) => Promise<void>]> = [
    ['ballast', async (round) => {
      ballastRuns.push(await withServer(async (url, _port, serverPid) => {
        const waits: Promise<unknown>[] = [];
        const result = await ballastAsync(url, ['--rate', String(rate), '--connections', String(connections), ...ballastExtra], `open model, ${rate} req/s`, watch(round + 1, 'ballast', serverPid, waits));
        await Promise.all(waits);
        return result;
      }, true));
    }],
    ...(['wrk A', 'wrk B'] as const).map((tool): [string, (round: number) => Promise<void>] => [tool, async (round) => {
      (tool === 'wrk A' ? wrkA : wrkB).push(await withServer(async (url, _port, serverPid) => {
        const waits: Promise<unknown>[] = [];
        const result = await wrkPaced(url, connections, rate, watch(round + 1, tool, serverPid, waits));
        await Promise.all(waits);
        return result;
      }, true));
    }]),
  ];
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < steps.length; i++) await steps[(i + round) % steps.length][1](round);
    process.stderr.write(`round ${round + 1} of ${rounds} done\n`);
  }
  console.log(`${hostLine()}, mode sequential: ${seconds} s per run, ${rounds} round(s) of ballast${ballastExtra.length ? ` (${ballastExtra.join(' ')})` : ''}${values['ballast-node-args'] ? ` (node ${values['ballast-node-args']})` : ''} / wrk A / wrk B (order rotating), each alone at ${count(rate)} req/s with ${connections} connections against a fresh server\n`);
  console.log('Per round, ms: wrk A / wrk B / ballast service time (from the actual send) / ballast latency (from the intended send).\n');
  console.log('| round | req/s wrk A / wrk B / ballast | p50 | p75 | p90 | p99 | errors |');
  console.log('|---:|---:|---:|---:|---:|---:|---|');
  for (let round = 0; round < rounds; round++) {
    const service = quantilesOf(ballastRuns[round], 'service');
    const latency = quantilesOf(ballastRuns[round], 'latency');
    const cells = quantileKeys.map((key) => `${fmt(wrkA[round].quantiles[key])} / ${fmt(wrkB[round].quantiles[key])} / ${fmt(service[key])} / ${fmt(latency[key])}`);
    console.log(`| ${round + 1} | ${count(wrkA[round].rps)} / ${count(wrkB[round].rps)} / ${count(ballastRuns[round].summary.requestsPerSecond)} | ${cells.join(' | ')} | ${wrkA[round].errors} / ${wrkB[round].errors} / ${ballastRuns[round].summary.errors} |`);
  }
  const service = histogramOf(ballastRuns, 'service');
  const mergedA = mergeCounts(wrkA.map((item) => item.histogram));
  const mergedB = mergeCounts(wrkB.map((item) => item.histogram));
  const both = mergeCounts([mergedA, mergedB]);
  const samples = (histogram: Map<number, number>) => [...histogram.values()].reduce((sum, n) => sum + n, 0);
  console.log(`\nAll ${rounds} rounds merged, ms (${count(samples(mergedA))} wrk A samples, ${count(samples(mergedB))} wrk B, ${count(service?.totalCount ?? 0)} ballast); "wrk" is A and B together:\n`);
  console.log('| percentile | wrk A | wrk B | wrk B − wrk A | wrk | ballast service time | ballast − wrk | within 10%? |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---|');
  const noisy: string[] = [];
  for (const key of quantileKeys) {
    const percentile = Number(key.slice(1));
    const a = wrkPercentile(mergedA, percentile);
    const b = wrkPercentile(mergedB, percentile);
    const w = wrkPercentile(both, percentile);
    if (Math.abs(pct(b, a)) > 10) noisy.push(`${key} (${signed(pct(b, a))})`);
    console.log(`| ${key} | ${fmt(a)} | ${fmt(b)} | ${signed(pct(b, a))} | ${versusWrk(w, serviceAt(service, percentile))} |`);
  }
  // wrk against itself is the noise floor: where its two runs are more than 10 % apart, a 10 %
  // agreement between ballast and wrk cannot be told from the host's weather.
  if (noisy.length > 0) console.log(`\nNoise floor: wrk B was more than 10 % off wrk A at ${noisy.join(', ')}; at those percentiles this run cannot tell whether ballast agrees with wrk within 10 %.`);
  // The same comparison over the quiet rounds only: those where wrk A and wrk B agreed within 10 %
  // at every percentile. The choice looks at wrk alone, never at ballast's numbers.
  const quiet = wrkA.map((_, round) => round).filter((round) => quantileKeys.every((key) => Math.abs(pct(wrkB[round].quantiles[key], wrkA[round].quantiles[key])) <= 10));
  if (quiet.length === 0) {
    console.log('\nQuiet rounds (wrk A and wrk B within 10 % of each other at p50–p99): none.');
  } else if (quiet.length < rounds) {
    const quietWrk = mergeCounts(quiet.flatMap((round) => [wrkA[round].histogram, wrkB[round].histogram]));
    const quietService = histogramOf(quiet.map((round) => ballastRuns[round]), 'service');
    console.log(`\nQuiet rounds only (${quiet.map((round) => round + 1).join(', ')} of ${rounds}: wrk A and wrk B within 10 % of each other at p50–p99), merged, ms:\n`);
    console.log('| percentile | wrk | ballast service time | ballast − wrk | within 10%? |');
    console.log('|---|---:|---:|---:|---|');
    for (const key of quantileKeys) {
      const percentile = Number(key.slice(1));
      console.log(`| ${key} | ${versusWrk(wrkPercentile(quietWrk, percentile), serviceAt(quietService, percentile))} |`);
    }
  }
  if (rounds >= 3) {
    // How sure the merged comparison is: 95 % intervals from resampling whole rounds (bootstrap.ts).
    const percentiles = quantileKeys.map((key) => Number(key.slice(1)));
    const ballastSamples = alignRounds(ballastRuns.map((result) => recordedCounts(result, 'service')));
    const wrkSamples = alignRounds(wrkA.map((item, round) => mergeCounts([item.histogram, wrkB[round].histogram])));
    const versus = bootstrapDifference(ballastSamples, wrkSamples, percentiles);
    const floor = bootstrapDifference(alignRounds(wrkB.map((item) => item.histogram)), alignRounds(wrkA.map((item) => item.histogram)), percentiles);
    console.log(`\nHow sure: 95 % intervals of the merged differences, from 2,000 resamples of whole rounds (the same rounds drawn for both tools; bootstrap.ts). "Within 10 %?" is yes only when the whole interval is:\n`);
    console.log('| percentile | ballast − wrk | 95 % interval | within 10 %? | wrk B − wrk A | 95 % interval |');
    console.log('|---|---:|---:|---|---:|---:|');
    quantileKeys.forEach((key, i) => {
      console.log(`| ${key} | ${signed(versus[i].estimate)} | ${range(versus[i])} | ${verdict(versus[i])} | ${signed(floor[i].estimate)} | ${range(floor[i])} |`);
    });
  }
  if (!values.sched) return;
  console.log(`\nThe scheduler (perf sched, ${seconds - 3} s from 2 s into each run): each tool's event-loop thread, woken when a response (or its own timer) is due; "delay": from the wake-up to the thread running, µs; "on the waker's CPU": wake-ups the kernel placed on the CPU that ran the waker; "behind the server": of the wake-ups delayed over 100 µs, those where a server thread ran until the tool got the CPU. "server": the same for the server's thread, woken by the tool's requests; its delay is in every latency the tool reports, and "behind the tool" is its share of waits over 100 µs where the tool ran meanwhile.\n`);
  console.log('| round | tool | wake-ups | delay p50 | p90 | p99 | p99.9 | on the waker\'s CPU | delayed > 100 µs | behind the server | server delay p50 | p90 | p99 | server on the waker\'s CPU | behind the tool |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const share = (part: number, whole: number) => (whole > 0 ? `${((part / whole) * 100).toFixed(1)}%` : '–');
  for (const { round: at, tool, stats, server } of sched.sort((x, y) => x.round - y.round || x.tool.localeCompare(y.tool))) {
    const d = stats.delayUs;
    console.log(`| ${at} | ${tool} | ${count(stats.wakeups)} | ${d.p50} | ${d.p90} | ${d.p99} | ${d.p999} | ${stats.onWakerCpuPercent}% | ${count(stats.delayedOver100us)} (${share(stats.delayedOver100us, stats.wakeups)}) | ${share(stats.delayedBehindServer, stats.delayedOver100us)} | ${server.delayUs.p50} | ${server.delayUs.p90} | ${server.delayUs.p99} | ${server.onWakerCpuPercent}% | ${share(server.delayedBehindServer, server.delayedOver100us)} |`);
  }
}

/**
 * --mode wire: each round, ballast's open model and paced wrk (order rotating), each alone against
 * a fresh, warmed server with tcpdump capturing; each tool's percentiles beside the wire's.
 */
async function wire(): Promise<void> {
  if (!hasWrk || !has('tcpdump')) throw new Error('--mode wire needs wrk and tcpdump (apt-get install -y wrk tcpdump; run as root)');
  const ballastExtra = (values['ballast-args'] ?? '').split(/\s+/).filter(Boolean);
  type Tool = 'ballast' | 'wrk';
  /** reported: wrk's own histogram (µs → count), or ballast's run with its service-time histograms. */
  interface WireRun { tool: Tool; round: number; rps: number; reported: Map<number, number> | RunResult; wire: Map<number, number>; dropped: number }
  const runs: WireRun[] = [];
  const countsOf = (samplesUs: number[]) => {
    const counts = new Map<number, number>();
    for (const value of samplesUs) {
      const us = Math.round(value);
      counts.set(us, (counts.get(us) ?? 0) + 1);
    }
    return counts;
  };
  const measure = (tool: Tool, round: number) => withServer(async (url, port) => {
    const capture = await startCapture(port, join(tmp, `wire-${tool}-${round}.pcap`));
    let reported: Map<number, number> | RunResult;
    let rps: number;
    try {
      if (tool === 'wrk') {
        const paced = await wrkPaced(url);
        [reported, rps] = [paced.histogram, paced.rps];
      } else {
        const result = ballast(url, ['--rate', String(rate), '--connections', String(connections), ...ballastExtra], `open model, ${rate} req/s`);
        [reported, rps] = [result, result.summary.requestsPerSecond];
      }
    } catch (error) {
      await capture.stop();
      throw error;
    }
    const captured = await capture.stop();
    runs.push({ tool, round, rps, reported, wire: countsOf(captured.samplesUs), dropped: captured.dropped });
  }, true);
  for (let round = 0; round < rounds; round++) {
    const order: Tool[] = round % 2 === 0 ? ['ballast', 'wrk'] : ['wrk', 'ballast'];
    for (const tool of order) await measure(tool, round);
    process.stderr.write(`round ${round + 1} of ${rounds} done\n`);
  }
  const keys = ['p50', 'p90', 'p99', 'p99.9'] as const;
  /** Percentile → ms, from µs → count (wrk's histogram, the wire) or from a merged HDR histogram. */
  type Quantile = (percentile: number) => number;
  const ofCounts = (counts: Map<number, number>): Quantile => (percentile) => wrkPercentile(counts, percentile);
  const ofHistogram = (histogram: Histogram | undefined): Quantile => (percentile) => (histogram ? Math.round(histogram.getValueAtPercentile(percentile)) / 1000 : Number.NaN);
  const at = (of: Quantile, key: (typeof keys)[number]) => of(Number(key.slice(1)));
  /** The runs' reported latencies, merged once: wrk's histograms, or ballast's service time. */
  const reportedOf = (items: WireRun[]): Quantile => (items[0]?.tool === 'wrk'
    ? ofCounts(mergeCounts(items.map((item) => item.reported as Map<number, number>)))
    : ofHistogram(histogramOf(items.map((item) => item.reported as RunResult), 'service')));
  const wireOf = (items: WireRun[]): Quantile => ofCounts(mergeCounts(items.map((item) => item.wire)));
  const us = (ms: number) => `${Math.round(ms * 1000)}`;
  const signedUs = (ms: number) => `${ms >= 0 ? '+' : '−'}${Math.abs(Math.round(ms * 1000))}`;
  console.log(`${hostLine()}, mode wire: ${seconds} s per run, ${rounds} round(s) of ballast / wrk (order alternating), each alone at ${count(rate)} req/s with ${connections} connections against a fresh server warmed by ${warmServerSeconds} s of wrk, tcpdump on lo capturing every run\n`);
  console.log('Per run, µs: reported (wrk: its latency; ballast: its service time, both from the actual send) / wire (first request byte to first response byte, from the packets) / reported − wire.\n');
  console.log(`| round | tool | req/s | ${keys.join(' | ')} | packets dropped |`);
  console.log(`|---:|---|---:|${keys.map(() => '---:').join('|')}|---:|`);
  for (const item of runs) {
    const [reported, wire] = [reportedOf([item]), ofCounts(item.wire)];
    const cells = keys.map((key) => `${us(at(reported, key))} / ${us(at(wire, key))} / ${signedUs(at(reported, key) - at(wire, key))}`);
    console.log(`| ${item.round + 1} | ${item.tool} | ${count(item.rps)} | ${cells.join(' | ')} | ${item.dropped} |`);
  }
  const byTool = (tool: Tool) => runs.filter((item) => item.tool === tool);
  const [bReported, bWire] = [reportedOf(byTool('ballast')), wireOf(byTool('ballast'))];
  const [wReported, wWire] = [reportedOf(byTool('wrk')), wireOf(byTool('wrk'))];
  console.log(`\nAll ${rounds} rounds merged, µs. "error" is the reported percentile minus the wire's: what the tool added to the server's time on the wire. The server's own tail moves from run to run on a shared VM; the tools' errors do not depend on it, so the last column compares the tools' measurement alone.\n`);
  // "wire-adjusted": what ballast would have reported against the server wrk saw (that server's
  // wire value plus ballast's error), relative to wrk's reported value.
  console.log('"wire-adjusted" is (ballast error − wrk error) ÷ wrk reported: how far ballast\'s percentile would be from wrk\'s had both met the same server.\n');
  console.log('| percentile | wrk reported | wrk wire | wrk error | ballast reported | ballast wire | ballast error | ballast reported vs wrk reported | ballast error − wrk error | wire-adjusted | within 10%? |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const key of keys) {
    const [br, bw, wr, ww] = [at(bReported, key), at(bWire, key), at(wReported, key), at(wWire, key)];
    const adjusted = pct(ww + (br - bw), wr);
    console.log(`| ${key} | ${us(wr)} | ${us(ww)} | ${signedUs(wr - ww)} | ${us(br)} | ${us(bw)} | ${signedUs(br - bw)} | ${signed(pct(br, wr))} | ${signedUs(br - bw - (wr - ww))} | ${signed(adjusted)} | ${Math.abs(adjusted) <= 10 ? 'yes' : 'no'} |`);
  }
  if (rounds < 3) return;
  // How sure: both comparisons again over 2,000 draws of whole rounds (the same rounds for both
  // tools), as in --mode sequential (bootstrap.ts).
  const inRoundOrder = (tool: Tool) => byTool(tool).sort((x, y) => x.round - y.round);
  const samples = (tool: Tool, which: 'reported' | 'wire') => alignRounds(inRoundOrder(tool).map((item) => (which === 'wire' ? item.wire : tool === 'wrk' ? (item.reported as Map<number, number>) : recordedCounts(item.reported as RunResult, 'service'))));
  const [sbr, sbw, swr, sww] = [samples('ballast', 'reported'), samples('ballast', 'wire'), samples('wrk', 'reported'), samples('wrk', 'wire')];
  const percentiles = keys.map((key) => Number(key.slice(1)));
  const intervals = bootstrapIntervals(rounds, (weights) => {
    const [br, bw, wr, ww] = [sbr, sbw, swr, sww].map((each) => weightedPercentiles(each, weights, percentiles));
    return percentiles.flatMap((_, i) => [pct(br[i], wr[i]), pct(ww[i] + (br[i] - bw[i]), wr[i])]);
  });
  console.log(`\nHow sure: 95 % intervals from 2,000 resamples of whole rounds (bootstrap.ts). "Within 10 %?" is yes only when the whole interval is:\n`);
  console.log('| percentile | ballast reported vs wrk reported | 95 % interval | within 10 %? | wire-adjusted | 95 % interval | within 10 %? |');
  console.log('|---|---:|---:|---|---:|---:|---|');
  keys.forEach((key, i) => {
    const [raw, adjusted] = [intervals[2 * i], intervals[2 * i + 1]];
    console.log(`| ${key} | ${signed(raw.estimate)} | ${range(raw)} | ${verdict(raw)} | ${signed(adjusted.estimate)} | ${range(adjusted)} | ${verdict(adjusted)} |`);
  });
}

if (values.mode === 'all') {
  const openRuns: RunResult[] = [];
  const pacedRuns: PacedRun[] = [];
  for (let round = 0; round < rounds; round++) {
    await withServer(async (url) => ballast(url, ['--users', '64', '--connections', '64'], 'max, 64 connections'));
    // The same with the previous transport, for the before/after of the raw transport in one run.
    await withServer(async (url) => ballast(url, ['--users', '64', '--connections', '64', '--transport', 'undici'], 'max, 64 connections, --transport undici'));
    await withServer(async (url) => autocannon(url, [], 'max, 64 connections'));
    if (hasWrk) await withServer(async (url) => wrk(url, 'max, 64 connections'));
    const open = await withServer(async (url) => ballast(url, ['--rate', String(rate), '--connections', '64'], `open model, ${rate} req/s`), true);
    openRuns.push(open);
    // wrk paced right after ballast's open model, so the two latency runs share the host's weather.
    if (hasWrk) {
      const paced = await withServer(async (url) => wrkPaced(url), true);
      pacedRuns.push(paced);
      rows.push({ tool: 'wrk', mode: `paced to ${rate} req/s (Lua delay)`, rps: paced.rps, ...paced.quantiles, note: `p75 ${paced.quantiles.p75} ms; ${paced.errors} errors` });
      agreements.push({
        round: round + 1, wrkRps: paced.rps, ballastRps: open.summary.requestsPerSecond, wrk: paced.quantiles,
        service: quantilesOf(open, 'service'), latency: quantilesOf(open, 'latency'), wrkErrors: paced.errors, ballastErrors: open.summary.errors,
      });
    }
    await withServer(async (url) => autocannon(url, ['--overallRate', String(rate)], `--overallRate ${rate}`), true);
  }
  const loadAfter = loadavg().map((value) => value.toFixed(2)).join(' ');
  const stealAfter = readSteal();
  const stealPercent = stealAfter[1] > stealBefore[1] ? ((stealAfter[0] - stealBefore[0]) / (stealAfter[1] - stealBefore[1])) * 100 : 0;
  // The median-throughput run of each (tool, mode), in first-seen order.
  const keys = [...new Set(rows.map((row) => `${row.tool}|${row.mode}`))];
  const medians = keys.map((key) => {
    const runs = rows.filter((row) => `${row.tool}|${row.mode}` === key).sort((a, b) => a.rps - b.rps);
    const median = runs[Math.floor((runs.length - 1) / 2)];
    return runs.length > 1 ? { ...median, note: `${median.note ? `${median.note}; ` : ''}median of ${runs.length}: ${runs.map((run) => Math.round(run.rps)).join(', ')} req/s` } : median;
  });
  rows.length = 0;
  rows.push(...medians);

  const header = `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${seconds} s per tool and round, ${rounds} round(s), raw node:http hello world, load average before: ${loadBefore}, after: ${loadAfter}, CPU stolen by the hypervisor during the run: ${stealPercent.toFixed(1)}%`;
  const ratio = (a: number, b: number) => (b > 0 ? a / b : Number.NaN);
  const within = (a: number, b: number) => Math.abs(ratio(a, b) - 1) <= 0.1;
  const agreementLines = agreements.map((item) => {
    const cells = quantileKeys.map((key) => `${fmt(item.wrk[key])} / ${fmt(item.service[key])} / ${fmt(item.latency[key])}`);
    const serviceOk = quantileKeys.filter((key) => within(item.service[key], item.wrk[key])).join(',') || 'none';
    const latencyOk = quantileKeys.filter((key) => within(item.latency[key], item.wrk[key])).join(',') || 'none';
    return `| ${item.round} | ${Math.round(item.wrkRps).toLocaleString('en-US')} / ${Math.round(item.ballastRps).toLocaleString('en-US')} | ${cells.join(' | ')} | ${serviceOk} | ${latencyOk} | ${item.wrkErrors} / ${item.ballastErrors} |`;
  });
  // Per percentile, the median over rounds of each tool's value: one noisy round does not decide it.
  if (agreements.length > 1) {
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
    const pick = (key: (typeof quantileKeys)[number], of: 'wrk' | 'service' | 'latency') => median(agreements.map((item) => item[of][key]));
    const cells = quantileKeys.map((key) => `${fmt(pick(key, 'wrk'))} / ${fmt(pick(key, 'service'))} / ${fmt(pick(key, 'latency'))}`);
    const serviceOk = quantileKeys.filter((key) => within(pick(key, 'service'), pick(key, 'wrk'))).join(',') || 'none';
    const latencyOk = quantileKeys.filter((key) => within(pick(key, 'latency'), pick(key, 'wrk'))).join(',') || 'none';
    const rates = `${Math.round(median(agreements.map((item) => item.wrkRps))).toLocaleString('en-US')} / ${Math.round(median(agreements.map((item) => item.ballastRps))).toLocaleString('en-US')}`;
    agreementLines.push(`| median | ${rates} | ${cells.join(' | ')} | ${serviceOk} | ${latencyOk} | |`);
  }
  if (values.markdown) {
    console.log(header, '\n');
    if (hasGnuTime) console.log('"µs CPU/req": the generator\'s CPU time (user + system, GNU time) per request it completed in that run; "req per CPU-s": the same inverted, what one core of its own would send at that cost.\n');
    console.log('| tool | mode | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | µs CPU/req | req per CPU-s | note |');
    console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---|');
    const perRequest = (row: Row) => (row.cpuS !== undefined && row.rps > 0 ? (row.cpuS * 1e6) / (row.rps * seconds) : undefined);
    for (const row of rows) {
      const us = perRequest(row);
      console.log(`| ${row.tool} | ${row.mode} | ${Math.round(row.rps).toLocaleString('en-US')} | ${fmt(row.p50)} | ${fmt(row.p90)} | ${fmt(row.p99)} | ${fmt(row.p999)} | ${us === undefined ? '–' : us.toFixed(1)} | ${us === undefined ? '–' : count(1e6 / us)} | ${row.note ?? ''} |`);
    }
  } else {
    console.log(header);
    console.table(rows);
  }
  if (agreementLines.length > 0) {
    console.log(`\nLatency at ${rate} req/s, each round: wrk paced / ballast service time (from the actual send) / ballast latency (from the intended send), ms; "within 10%" lists the percentiles where ballast is within 10% of wrk.\n`);
    console.log('| round | req/s wrk / ballast | p50 | p75 | p90 | p99 | service within 10% | latency within 10% | errors wrk / ballast |');
    console.log('|---:|---:|---:|---:|---:|---:|---|---|---|');
    for (const line of agreementLines) console.log(line);
  }
  if (pacedRuns.length > 1) {
    // Every round's samples in one histogram per tool, as --mode sequential does: the 1 % tail
    // rests on all the rounds rather than on the middle round's.
    const service = histogramOf(openRuns, 'service');
    const merged = mergeCounts(pacedRuns.map((item) => item.histogram));
    console.log(`\nAll ${pacedRuns.length} rounds' fixed-rate runs merged, ms: paced wrk / ballast service time.\n`);
    console.log('| percentile | wrk | ballast service time | ballast − wrk | within 10%? |');
    console.log('|---|---:|---:|---:|---|');
    for (const key of quantileKeys) {
      const percentile = Number(key.slice(1));
      console.log(`| ${key} | ${versusWrk(wrkPercentile(merged, percentile), serviceAt(service, percentile))} |`);
    }
  }
} else if (values.mode === 'sequential') {
  await sequential();
} else if (values.mode === 'wire') {
  await wire();
} else {
  await simultaneous();
}
