// Benchmark: the generators against the same raw node:http hello world on this machine, in one run.
//   1. max throughput, 64 connections, closed loop: ballast load (1 thread) vs autocannon vs wrk;
//   2. latency at a fixed rate: ballast's open model vs autocannon --overallRate at the same rate,
//      and vs wrk paced to the same rate. wrk2 is not in Debian, so wrk's Lua `delay()` hook holds
//      its C connections to one constant-rate schedule (see the script below). wrk times each
//      request from its actual send, so its percentiles are compared with ballast's service time
//      (also from the actual send) and, separately, with ballast's latency from the intended send
//      (which adds schedule lag).
// Usage: node bench/load/run.ts [--duration 10] [--rate 5000] [--rounds 3] [--markdown]
// Each tool runs alone (sequentially) against a fresh server; the server and the generator share
// the machine's cores, as they do in most single-host load tests. With --rounds N the tools take
// turns N times and the run with the median throughput of each is reported, which keeps a noisy
// neighbour from deciding the ranking.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { addEncoded, type Histogram } from '../../src/load/histogram.ts';
import type { RunResult } from '../../src/load/types.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, rate: { type: 'string', default: '5000' }, rounds: { type: 'string', default: '1' }, markdown: { type: 'boolean', default: false } } });
const rounds = Number(values.rounds);
const seconds = Number(values.duration);
const rate = Number(values.rate);
const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'ballast-bench-'));

interface Row { tool: string; mode: string; rps: number; p50: number; p90: number; p99: number; p999?: number; note?: string }
const rows: Row[] = [];
/** p50/p75/p90/p99 in ms. */
interface Quantiles { p50: number; p75: number; p90: number; p99: number }
interface Agreement { round: number; wrkRps: number; ballastRps: number; wrk: Quantiles; service: Quantiles; latency: Quantiles; wrkErrors: number; ballastErrors: number }
const agreements: Agreement[] = [];
const quantileKeys = ['p50', 'p75', 'p90', 'p99'] as const;
const connections = 64;

async function withServer<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const child = spawn(process.execPath, [join(here, 'hello-server.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const { port } = JSON.parse(line) as { port: number };
  try {
    return await fn(`http://127.0.0.1:${port}/`);
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', cwd: root, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0 && result.status !== 99) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

function ballast(url: string, extra: string[], mode: string): RunResult {
  const json = join(tmp, `ballast-${rows.length}.json`);
  run(process.execPath, [join(root, 'bin/ballast.js'), 'load', url, '--duration', `${seconds}s`, '--no-progress', '--json', json, ...extra]);
  const result = JSON.parse(readFileSync(json, 'utf8'));
  const s = result.summary;
  // The open model's headline latency is from the intended send; its service time (from the
  // actual send) is what closed-loop tools and autocannon --overallRate measure.
  const service = s.serviceMs ? `; service time p50 ${s.serviceMs.p50} p90 ${s.serviceMs.p90} p99 ${s.serviceMs.p99} ms, schedule lag p99 ${s.scheduleLagMs.p99} ms` : '';
  rows.push({ tool: 'ballast load', mode, rps: s.requestsPerSecond, p50: s.latencyMs.p50, p90: s.latencyMs.p90, p99: s.latencyMs.p99, p999: s.latencyMs.p999, note: `generator CPU ${result.generator[0].cpuPercent}%, verdict ${result.generator[0].verdict}${service}` });
  return result;
}

/** Percentiles (ms) of one of a run's histograms, added over every second: exact, not averaged. */
function quantilesOf(result: RunResult, name: 'latency' | 'service'): Quantiles {
  let histogram: Histogram | undefined;
  for (const interval of result.groups[0].intervals) histogram = addEncoded(histogram, interval.histograms[name]);
  const at = (percentile: number) => (histogram ? Math.round(histogram.getValueAtPercentile(percentile)) / 1000 : 0);
  return { p50: at(50), p75: at(75), p90: at(90), p99: at(99) };
}

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
local intervalMs, startMs, slots = 1, nil, 0
function init(args)
  intervalMs = 1000 / tonumber(args[1])
end
function delay()
  local now = nowMs()
  if startMs == nil then startMs = now end
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
end
`);

interface PacedRun { rps: number; errors: number; quantiles: Quantiles }

function wrkPaced(url: string): PacedRun {
  const out = run('wrk', ['-t', '1', '-c', String(connections), '-d', `${seconds}s`, '-s', paceScript, url, '--', String(rate)]);
  const line = /WRK_JSON (.*)/.exec(out);
  if (!line) throw new Error(`wrk printed no result: ${out}`);
  const data = JSON.parse(line[1]) as { requests: number; durationUs: number; errors: number } & Record<(typeof quantileKeys)[number], number>;
  const quantiles = { p50: data.p50 / 1000, p75: data.p75 / 1000, p90: data.p90 / 1000, p99: data.p99 / 1000 };
  return { rps: Math.round((data.requests / (data.durationUs / 1e6)) * 10) / 10, errors: data.errors, quantiles };
}

function autocannon(url: string, extra: string[], mode: string): void {
  const out = run(process.execPath, [join(root, 'bench/node_modules/autocannon/autocannon.js'), '--json', '-c', '64', '-d', String(seconds), ...extra, url]);
  const result = JSON.parse(out);
  rows.push({ tool: 'autocannon', mode, rps: Math.round((result.requests.total / result.duration) * 100) / 100, p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, p999: result.latency.p99_9 });
}

function toMs(text: string): number {
  const match = /([\d.]+)(us|ms|s)/.exec(text)!;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

function wrk(url: string, mode: string): void {
  const out = run('wrk', ['-t', '1', '-c', '64', '-d', `${seconds}s`, '--latency', url]);
  const pick = (label: string) => toMs(new RegExp(`^\\s*${label}%\\s+(\\S+)`, 'm').exec(out)![1]);
  rows.push({ tool: 'wrk', mode, rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]), p50: pick('50'), p90: pick('90'), p99: pick('99') });
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

for (let round = 0; round < rounds; round++) {
  await withServer(async (url) => ballast(url, ['--users', '64', '--connections', '64'], 'max, 64 connections'));
  // The same with the previous transport, for the before/after of the raw transport in one run.
  await withServer(async (url) => ballast(url, ['--users', '64', '--connections', '64', '--transport', 'undici'], 'max, 64 connections, --transport undici'));
  await withServer(async (url) => autocannon(url, [], 'max, 64 connections'));
  if (hasWrk) await withServer(async (url) => wrk(url, 'max, 64 connections'));
  const open = await withServer(async (url) => ballast(url, ['--rate', String(rate), '--connections', '64'], `open model, ${rate} req/s`));
  // wrk paced right after ballast's open model, so the two latency runs share the host's weather.
  if (hasWrk) {
    const paced = await withServer(async (url) => wrkPaced(url));
    rows.push({ tool: 'wrk', mode: `paced to ${rate} req/s (Lua delay)`, rps: paced.rps, ...paced.quantiles, note: `p75 ${paced.quantiles.p75} ms; ${paced.errors} errors` });
    agreements.push({
      round: round + 1, wrkRps: paced.rps, ballastRps: open.summary.requestsPerSecond, wrk: paced.quantiles,
      service: quantilesOf(open, 'service'), latency: quantilesOf(open, 'latency'), wrkErrors: paced.errors, ballastErrors: open.summary.errors,
    });
  }
  await withServer(async (url) => autocannon(url, ['--overallRate', String(rate)], `--overallRate ${rate}`));
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

const fmt = (n: number | undefined) => (n === undefined ? '–' : n < 10 ? n.toFixed(3) : n.toFixed(1));
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
  console.log('| tool | mode | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | note |');
  console.log('|---|---|---:|---:|---:|---:|---:|---|');
  for (const row of rows) console.log(`| ${row.tool} | ${row.mode} | ${Math.round(row.rps).toLocaleString('en-US')} | ${fmt(row.p50)} | ${fmt(row.p90)} | ${fmt(row.p99)} | ${fmt(row.p999)} | ${row.note ?? ''} |`);
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
