// bench/hello/instructions.ts: user-space instructions per request, counted by valgrind's
// callgrind, for each hello-world server of bench/hello (one worker each).
//
//   node bench/hello/instructions.ts [--requests 10000] [--warmup 10000] [--windows 3]
//        [--connections 8] [--only raw,ballast,ballast-bare,ballast-log,pm2,ballast-fetch,hono]
//        [--json out.json]
//
// Why: on a shared 2-core VM, req/s and CPU seconds move by ±10 % from round to round with the
// neighbours (BENCHMARKS.md, bench/hello runs A–C), which is as large as the differences between
// the Node servers. Instructions retired do not depend on what else the host does: the same
// binary, app and requests give nearly the same count. So this counts, for each server, the
// instructions its processes execute over a fixed number of keep-alive requests after a warm-up.
// Kernel work (the read and write system calls, about half of a request's CPU time) is not
// counted by callgrind; every server here makes the same system calls per request (one read, one
// write, its share of epoll_wait), so what differs between them is user space.
//
// How: each server runs under `valgrind --tool=callgrind --trace-children=yes`, so its supervisor
// or cluster primary and its worker are each counted (one callgrind file per process). After
// --warmup requests, every process of the server is told to dump (which also zeroes its
// counters); then --requests requests go out over --connections keep-alive connections, one at a
// time on each, and every process dumps again: that dump holds just that window. --windows such
// windows follow one another; the table reports the last (and lists each, which shows whether the
// JIT had settled: under valgrind, V8's background compiler is slow, so too short a warm-up
// measures half-optimised code, which a first try with 2,000 warm-up requests did: 128k against
// 94k instructions for the same server). One extra
// request after each dump command wakes the worker so it handles the command at once. The worker
// is the process with the most instructions in the window; "others" are the supervisor or
// primary. Work driven by timers rather than requests is measured in an idle window and
// subtracted (see below). Everything runs on 127.0.0.1; every process is stopped by the process group
// this script started.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const pm2Runtime = path.join(repo, 'bench/node_modules/pm2/bin/pm2-runtime');

const { values: opts } = parseArgs({
  options: {
    requests: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '10000' },
    windows: { type: 'string', default: '3' },
    connections: { type: 'string', default: '8' },
    only: { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(0, 5).join('\n'));
  process.exit(0);
}
const requests = Number(opts.requests);
const warmup = Number(opts.warmup);
const connections = Number(opts.connections);
const windows = Number(opts.windows);
for (const [name, value] of [['--requests', requests], ['--warmup', warmup], ['--connections', connections], ['--windows', windows]] as const) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(`BALLAST_ERR_BENCH_USAGE: ${name} must be a whole number of at least 1, got ${JSON.stringify(String(value))}`);
    process.exit(2);
  }
}
if (spawnSync('valgrind', ['--version']).status !== 0) {
  console.error('BALLAST_ERR_BENCH_TOOL: valgrind is not installed (apt-get install -y valgrind)');
  process.exit(2);
}

const work = mkdtempSync(path.join(tmpdir(), 'ballast-bench-instr-'));

interface Contender {
  id: string;
  label: string;
  command(port: number): { args: string[]; env?: NodeJS.ProcessEnv };
}

const node = process.execPath;
const all: Contender[] = [
  { id: 'raw', label: 'raw node:http + cluster (1 worker)', command: (port) => ({ args: [node, path.join(here, 'raw-cluster.ts'), String(port), '1'] }) },
  {
    id: 'ballast',
    label: 'ballast serve --workers 1, access log off',
    command: (port) => ({ args: [node, path.join(repo, 'bin/ballast.js'), 'serve', path.join(here, 'listener-app.ts'), '--workers', '1', '--bind', `127.0.0.1:${port}`, '--admin', 'off', '--access-log', 'off', '--boot-timeout', '300s'] }),
  },
  {
    id: 'ballast-bare',
    label: 'ballast serve --workers 1, introspection off (no access log, metrics, watchdog, slow reports)',
    command: (port) => ({ args: [node, path.join(repo, 'bin/ballast.js'), 'serve', path.join(here, 'listener-app.ts'), '--workers', '1', '--bind', `127.0.0.1:${port}`, '--admin', 'off', '--access-log', 'off', '--no-metrics', '--stall-ms', '0', '--slow-ms', '0', '--boot-timeout', '300s'] }),
  },
  {
    id: 'ballast-log',
    label: 'ballast serve --workers 1, access log JSON to a file',
    command: (port) => ({ args: [node, path.join(repo, 'bin/ballast.js'), 'serve', path.join(here, 'listener-app.ts'), '--workers', '1', '--bind', `127.0.0.1:${port}`, '--admin', 'off', '--access-log', path.join(work, 'access.log'), '--access-log-format', 'json', '--boot-timeout', '300s'] }),
  },
  {
    id: 'pm2',
    label: 'PM2 cluster mode (pm2-runtime -i 1)',
    command: (port) => ({ args: [node, pm2Runtime, 'start', path.join(here, 'pm2-app.ts'), '-i', '1', '--name', 'bench-hello'], env: { PORT: String(port), PM2_HOME: path.join(work, 'pm2') } }),
  },
  {
    id: 'ballast-fetch',
    label: 'ballast serve --workers 1, Fetch handler, access log off',
    command: (port) => ({ args: [node, path.join(repo, 'bin/ballast.js'), 'serve', path.join(here, 'fetch-app.ts'), '--workers', '1', '--bind', `127.0.0.1:${port}`, '--admin', 'off', '--access-log', 'off', '--boot-timeout', '300s'] }),
  },
  { id: 'hono', label: '@hono/node-server + cluster (1 worker), Fetch handler', command: (port) => ({ args: [node, path.join(here, 'hono-cluster.ts'), String(port), '1'] }) },
];
const only = opts.only?.split(',').map((s) => s.trim());
const contenders = only ? all.filter((c) => only.includes(c.id)) : all.filter((c) => c.id !== 'ballast-log' && c.id !== 'ballast-bare');
if (contenders.length === 0) {
  console.error(`BALLAST_ERR_BENCH_USAGE: --only matched nothing; ids: ${all.map((c) => c.id).join(', ')}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------

const groups = new Set<number>();
function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try { process.kill(-pgid, signal); } catch { /* gone */ }
}
process.on('exit', () => { for (const pgid of groups) killGroup(pgid, 'SIGKILL'); });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

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

/** N GET / requests over `conns` keep-alive connections, one at a time on each; rejects on any non-200. */
function drive(port: number, total: number, conns: number): Promise<number> {
  const request = Buffer.from(`GET / HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: keep-alive\r\n\r\n`);
  let sent = 0;
  let done = 0;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const sockets: net.Socket[] = [];
    const fail = (error: Error) => {
      for (const socket of sockets) socket.destroy();
      reject(error);
    };
    for (let i = 0; i < Math.min(conns, total); i++) {
      const socket = net.connect(port, '127.0.0.1');
      sockets.push(socket);
      let pending = '';
      const next = () => {
        if (sent < total) {
          sent++;
          socket.write(request);
        } else socket.end();
      };
      socket.on('connect', next);
      socket.on('data', (chunk: Buffer) => {
        pending += chunk.toString('latin1');
        for (;;) {
          const headEnd = pending.indexOf('\r\n\r\n');
          if (headEnd === -1) return;
          const length = /content-length: *(\d+)/i.exec(pending.slice(0, headEnd));
          if (!length) return fail(new Error(`a response without content-length: ${JSON.stringify(pending.slice(0, 120))}`));
          const end = headEnd + 4 + Number(length[1]);
          if (pending.length < end) return;
          if (!pending.startsWith('HTTP/1.1 200')) return fail(new Error(`answered ${JSON.stringify(pending.slice(0, 40))}`));
          pending = pending.slice(end);
          if (++done === total) resolve(performance.now() - started);
          next();
        }
      });
      socket.on('error', fail);
    }
  });
}

async function waitUntilServing(port: number, child: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode ?? child.signalCode}) before serving; see ${log}`);
    try {
      await drive(port, 1, 1);
      return;
    } catch {
      await sleep(500);
    }
  }
  throw new Error(`did not serve within 300 s; see ${log}`);
}

/** Pids of the valgrind'ed processes of this run (their callgrind files name them). */
function tracedPids(dir: string): number[] {
  const pids = new Set<number>();
  for (const name of readdirSync(dir)) {
    const match = /^cg\.(\d+)/.exec(name);
    if (match && existsSync(`/proc/${match[1]}`)) pids.add(Number(match[1]));
  }
  return [...pids];
}

function lastDump(dir: string, pid: number): { index: number; instructions: number } | undefined {
  let best: { index: number; instructions: number } | undefined;
  for (const name of readdirSync(dir)) {
    const match = new RegExp(`^cg\\.${pid}\\.(\\d+)$`).exec(name);
    if (!match) continue;
    const index = Number(match[1]);
    if (best && best.index > index) continue;
    const totals = /^totals: (\d+)/m.exec(readFileSync(path.join(dir, name), 'utf8'));
    if (totals) best = { index, instructions: Number(totals[1]) };
  }
  return best;
}

/** Asks every traced process to dump (and zero) its counts, and waits until each has. */
async function dumpAll(dir: string, pids: number[], port: number): Promise<void> {
  const before = new Map(pids.map((pid) => [pid, lastDump(dir, pid)?.index ?? 0]));
  const commands = pids.map((pid) => new Promise<void>((resolve) => {
    const child = spawn('callgrind_control', ['--dump', String(pid)], { stdio: 'ignore' });
    child.on('exit', () => resolve());
  }));
  const deadline = Date.now() + 60_000;
  // A process blocked in epoll_wait reads the command only when it next runs: one request wakes
  // the worker; supervisors and primaries wake on their own timers.
  while (Date.now() < deadline && pids.some((pid) => (lastDump(dir, pid)?.index ?? 0) <= before.get(pid)!)) {
    await drive(port, 1, 1);
    await sleep(500);
  }
  await Promise.race([Promise.all(commands), sleep(5000)]);
  const stuck = pids.filter((pid) => (lastDump(dir, pid)?.index ?? 0) <= before.get(pid)!);
  if (stuck.length > 0) throw new Error(`callgrind did not dump for pid ${stuck.join(', ')} within 60 s`);
}

interface Row { id: string; label: string; workerPerRequest: number; othersPerRequest: number; workerIdlePerS: number; othersIdlePerS: number; windows: number[]; processes: number; windowS: number }

async function measure(contender: Contender): Promise<Row> {
  const dir = path.join(work, contender.id);
  spawnSync('mkdir', ['-p', dir]);
  const port = await freePort();
  const { args, env } = contender.command(port);
  const log = path.join(dir, 'server.log');
  const logFd = openSync(log, 'a');
  const child = spawn('valgrind', ['--tool=callgrind', '--trace-children=yes', `--callgrind-out-file=${dir}/cg.%p`, ...args], {
    cwd: here, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  groups.add(child.pid!);
  try {
    process.stderr.write(`${contender.id}: starting under callgrind… `);
    await waitUntilServing(port, child, log);
    process.stderr.write(`warming up (${warmup} requests)… `);
    await drive(port, warmup, connections);
    const pids = tracedPids(dir);
    await dumpAll(dir, pids, port);
    const perWindow: { worker: number; others: number; ms: number }[] = [];
    let workerPid = pids[0];
    for (let window = 1; window <= windows; window++) {
      process.stderr.write(`window ${window}: ${requests} requests… `);
      const ms = await drive(port, requests, connections);
      await dumpAll(dir, pids, port);
      // A window holds its requests plus the one that woke the worker for the dump.
      const counts = pids.map((pid) => lastDump(dir, pid)!.instructions);
      workerPid = pids[counts.indexOf(Math.max(...counts))];
      const served = requests + 1;
      const worker = lastDump(dir, workerPid)!.instructions;
      perWindow.push({ worker: worker / served, others: (counts.reduce((a, b) => a + b, 0) - worker) / served, ms });
    }
    // Time-driven work (timers: metrics, heartbeats, monitors) runs per wall-clock second, and a
    // window lasts ~30-50x longer under valgrind than natively, so it would be charged to the
    // requests that many times over. An idle window of the same length measures it; it is
    // subtracted from the last request window and reported per second instead.
    process.stderr.write(`idle ${Math.round(perWindow[perWindow.length - 1].ms / 1000)} s… `);
    const idleMs = perWindow[perWindow.length - 1].ms;
    const idleStarted = performance.now();
    await sleep(idleMs);
    await dumpAll(dir, pids, port);
    const idleS = (performance.now() - idleStarted) / 1000;
    const idleWorker = lastDump(dir, workerPid)!.instructions;
    const idleOthers = pids.reduce((sum, pid) => sum + lastDump(dir, pid)!.instructions, 0) - idleWorker;
    process.stderr.write('done\n');
    // The last window: by then the hot code has had every earlier window to be optimised.
    const last = perWindow[perWindow.length - 1];
    const lastS = last.ms / 1000;
    const workerIdlePerS = idleWorker / idleS;
    const othersIdlePerS = idleOthers / idleS;
    return {
      id: contender.id,
      label: contender.label,
      workerPerRequest: Math.round(last.worker - (workerIdlePerS * lastS) / (requests + 1)),
      othersPerRequest: Math.round(last.others - (othersIdlePerS * lastS) / (requests + 1)),
      workerIdlePerS: Math.round(workerIdlePerS),
      othersIdlePerS: Math.round(othersIdlePerS),
      windows: perWindow.map((w) => Math.round(w.worker)),
      processes: pids.length,
      windowS: Math.round(last.ms / 100) / 10,
    };
  } finally {
    killGroup(child.pid!, 'SIGTERM');
    await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(10_000)]);
    killGroup(child.pid!, 'SIGKILL');
    groups.delete(child.pid!);
  }
}

const rows: Row[] = [];
for (const contender of contenders) {
  try {
    rows.push(await measure(contender));
  } catch (error) {
    console.error(`\n${contender.id}: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

const byId = new Map(rows.map((row) => [row.id, row]));
const versus = (row: Row) => (row.id === 'ballast-fetch' || row.id === 'hono' ? byId.get('hono') : byId.get('raw'));
const fmt = (n: number) => n.toLocaleString('en-US');
console.log(`\nInstructions per request (callgrind, user space), ${fmt(requests)} keep-alive requests over ${connections} connections after ${fmt(warmup)} warm-up requests; node ${process.version}\n`);
console.log('"worker Ir/request": the last window, less the worker\'s idle rate over its length; "each window": before that subtraction; "idle Ir/s": instructions per second with no requests (timers), worker / other processes.\n');
console.log('| server | worker Ir/request | vs peer | each window | other processes Ir/request | idle Ir/s | processes | window s |');
console.log('|---|---:|---:|---|---:|---:|---:|---:|');
for (const row of rows) {
  const peer = versus(row);
  const ratio = peer && peer !== row ? `${(row.workerPerRequest / peer.workerPerRequest).toFixed(3)}× ${peer.id}` : '–';
  console.log(`| ${row.label} | ${fmt(row.workerPerRequest)} | ${ratio} | ${row.windows.map(fmt).join(' / ')} | ${fmt(row.othersPerRequest)} | ${fmt(row.workerIdlePerS)} / ${fmt(row.othersIdlePerS)} | ${row.processes} | ${row.windowS} |`);
}
if (opts.json) writeFileSync(opts.json, `${JSON.stringify({ node: process.version, requests, warmup, connections, rows }, null, 2)}\n`);
console.log(`\n(files in ${work})`);
