// Benchmark: the generators against the same raw node:http hello world on this machine, in one run.
//   1. max throughput, 64 connections, closed loop: ballast load (1 thread) vs autocannon vs wrk;
//   2. latency at a fixed rate: ballast's open model vs autocannon --overallRate at the same rate,
//      and wrk (closed, 64 connections, no rate control: wrk2 is not in Debian) for reference.
// Usage: node bench/load/run.ts [--duration 10] [--rate 5000] [--rounds 3] [--markdown]
// Each tool runs alone (sequentially) against a fresh server; the server and the generator share
// the machine's cores, as they do in most single-host load tests. With --rounds N the tools take
// turns N times and the run with the median throughput of each is reported, which keeps a noisy
// neighbour from deciding the ranking.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, rate: { type: 'string', default: '5000' }, rounds: { type: 'string', default: '1' }, markdown: { type: 'boolean', default: false } } });
const rounds = Number(values.rounds);
const seconds = Number(values.duration);
const rate = Number(values.rate);
const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'ballast-bench-'));

interface Row { tool: string; mode: string; rps: number; p50: number; p90: number; p99: number; p999?: number; note?: string }
const rows: Row[] = [];

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

function ballast(url: string, extra: string[], mode: string): void {
  const json = join(tmp, `ballast-${rows.length}.json`);
  run(process.execPath, [join(root, 'bin/ballast.js'), 'load', url, '--duration', `${seconds}s`, '--no-progress', '--json', json, ...extra]);
  const result = JSON.parse(readFileSync(json, 'utf8'));
  const s = result.summary;
  // The open model's headline latency is from the intended send; its service time (from the
  // actual send) is what closed-loop tools and autocannon --overallRate measure.
  const service = s.serviceMs ? `; service time p50 ${s.serviceMs.p50} p90 ${s.serviceMs.p90} p99 ${s.serviceMs.p99} ms, schedule lag p99 ${s.scheduleLagMs.p99} ms` : '';
  rows.push({ tool: 'ballast load', mode, rps: s.requestsPerSecond, p50: s.latencyMs.p50, p90: s.latencyMs.p90, p99: s.latencyMs.p99, p999: s.latencyMs.p999, note: `generator CPU ${result.generator[0].cpuPercent}%, verdict ${result.generator[0].verdict}${service}` });
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

const loadBefore = loadavg()[0].toFixed(1);
const has = (command: string) => spawnSync('which', [command]).status === 0;

for (let round = 0; round < rounds; round++) {
  await withServer(async (url) => ballast(url, ['--users', '64', '--connections', '64'], 'max, 64 connections'));
  await withServer(async (url) => autocannon(url, [], 'max, 64 connections'));
  if (has('wrk')) await withServer(async (url) => wrk(url, 'max, 64 connections'));
  await withServer(async (url) => ballast(url, ['--rate', String(rate), '--connections', '64'], `open model, ${rate} req/s`));
  await withServer(async (url) => autocannon(url, ['--overallRate', String(rate)], `--overallRate ${rate}`));
}
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
const header = `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${seconds} s per tool and round, ${rounds} round(s), raw node:http hello world, load average before: ${loadBefore}`;
if (values.markdown) {
  console.log(header, '\n');
  console.log('| tool | mode | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | note |');
  console.log('|---|---|---:|---:|---:|---:|---:|---|');
  for (const row of rows) console.log(`| ${row.tool} | ${row.mode} | ${Math.round(row.rps).toLocaleString('en-US')} | ${fmt(row.p50)} | ${fmt(row.p90)} | ${fmt(row.p99)} | ${fmt(row.p999)} | ${row.note ?? ''} |`);
} else {
  console.log(header);
  console.table(rows);
}
