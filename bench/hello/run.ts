// bench/hello: hello-world req/s and p99 with wrk, all contenders in one run, interleaved.
//
//   node bench/hello/run.ts [--rounds 5] [--duration 10s] [--connections 64] [--threads 1]
//                           [--warmup 3s] [--only id,id] [--json out.json] [--quick]
//                           [--ballast path/to/bin/ballast.js] [--compare path/to/other/bin/ballast.js]
//                           [--close]
//
// --close: every request on a new connection (wrk sends `Connection: close`), as from clients that
// do not keep connections alive; then accepting connections and handing them to workers is on
// the hot path, which keep-alive runs never exercise. The `ballast-reuseport` row
// (--distribution reuseport: each worker accepts for itself, no supervisor hop) matters there.
//
// Every server is started once on its own 127.0.0.1 port and warmed up; then each round runs wrk
// against every contender in turn (the order rotates from round to round, so no contender always
// runs right after another), and the table reports medians over the rounds plus the median of
// the per-round ratios to the raw node:http cluster. The servers run side by side but only the
// one under load does work. Every server is stopped (by the process group this runner created,
// or `pm2 kill` on a private PM2_HOME) even when the run fails or is interrupted.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, openSync, closeSync, rmSync, truncateSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const benchModules = path.join(repo, 'bench/node_modules');
const pm2Bin = path.join(benchModules, 'pm2/bin/pm2');
const python = '/usr/bin/python3'; // Debian's python3, where python3-gunicorn and python3-flask live

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string', default: '64' },
    threads: { type: 'string', default: '1' },
    only: { type: 'string' },
    json: { type: 'string' },
    quick: { type: 'boolean', default: false },
    ballast: { type: 'string' },
    compare: { type: 'string' },
    close: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(0, 12).join('\n'));
  process.exit(0);
}
// --ballast: serve from another checkout (e.g. `git archive HEAD` unpacked under /tmp while the
// working tree is being edited); default: this repository's bin/ballast.js.
const ballastBin = path.resolve(opts.ballast ?? path.join(repo, 'bin/ballast.js'));
const rounds = Number(opts.rounds ?? (opts.quick ? 1 : 5));
const duration = opts.duration ?? (opts.quick ? '3s' : '10s');
const warmup = opts.warmup ?? (opts.quick ? '1s' : '3s');
const connections = Number(opts.connections);
const threads = Number(opts.threads);

const work = mkdtempSync(path.join(tmpdir(), 'ballast-bench-hello-'));
const accessLogPath = path.join(work, 'access.log');
const pm2Home = path.join(work, 'pm2');

// ---------------------------------------------------------------------------------------------
// Processes: each server is spawned detached (its own process group), so stopping it means
// signalling that group, which holds only processes this runner started.

interface Running {
  pids: number[];
  /** The process whose tree is this server (for CPU accounting). */
  rootPid(): number | undefined;
  stop(): Promise<void>;
  /** Synchronous last resort, for process exit. */
  kill(): void;
}

const running = new Set<Running>();

function startGroup(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd = repo): Running & { child: ChildProcess } {
  const logFd = openSync(path.join(work, `${name}.log`), 'a');
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const pgid = child.pid!;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    try { process.kill(-pgid, signal); } catch { /* already gone */ }
  };
  const handle = {
    child,
    pids: [pgid],
    rootPid: () => pgid,
    async stop() {
      signalGroup('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      await sleep(200); // let the group's children finish after their leader
      signalGroup('SIGKILL');
      running.delete(handle);
    },
    kill() { signalGroup('SIGKILL'); },
  };
  running.add(handle);
  return handle;
}

function pm2(args: string[]): { status: number | null; stdout: string } {
  const result = spawnSync(process.execPath, [pm2Bin, ...args], {
    cwd: here,
    env: { ...process.env, PM2_HOME: pm2Home },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout };
}

function startPm2(port: number): Running {
  const result = spawnSync(process.execPath, [pm2Bin, 'start', path.join(here, 'pm2-app.ts'), '-i', '2', '--name', 'bench-hello'], {
    cwd: here,
    env: { ...process.env, PM2_HOME: pm2Home, PORT: String(port) },
    encoding: 'utf8',
    timeout: 60_000,
  });
  writeFileSync(path.join(work, 'pm2.log'), `${result.stdout}\n${result.stderr}`);
  if (result.status !== 0) throw new Error(`pm2 start failed (exit ${result.status}); see ${work}/pm2.log`);
  const handle: Running = {
    pids: [],
    rootPid() {
      try { return Number(readFileSync(path.join(pm2Home, 'pm2.pid'), 'utf8').trim()); } catch { return undefined; }
    },
    async stop() {
      pm2(['kill']); // the daemon of this private PM2_HOME only
      running.delete(handle);
    },
    kill() { pm2(['kill']); },
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

function getOnce(port: number): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitUntilServing(name: string, port: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before serving; see ${work}/${name}.log`);
    }
    try {
      const res = await getOnce(port);
      if (res.status === 200 && res.body === 'Hello, World!\n') return;
      lastError = new Error(`answered ${res.status} ${JSON.stringify(res.body.slice(0, 80))}`);
    } catch (error) {
      lastError = error;
    }
    await sleep(100);
  }
  throw new Error(`${name} did not serve on 127.0.0.1:${port} within 30 s: ${(lastError as Error)?.message}; see ${work}/${name}.log`);
}

// ---------------------------------------------------------------------------------------------
// Contenders

interface Contender {
  id: string;
  label: string;
  /** Which comparison it belongs to: the Node listener apps, or the Fetch handler apps. */
  group: 'listener' | 'fetch';
  start(port: number): Promise<Running>;
  beforeRun?(): void;
}

// Newer ballast serves an admin port (127.0.0.1:9000 by default): several ballast servers run side
// by side here, so it is turned off where the version has it (older ones reject the flag).
const adminFlag = new Map<string, string[]>();
function adminOff(bin: string): string[] {
  let flags = adminFlag.get(bin);
  if (!flags) {
    const help = spawnSync(process.execPath, [bin, 'serve', '--help'], { encoding: 'utf8' }).stdout ?? '';
    flags = /--admin\b/.test(help) ? ['--admin', 'off'] : [];
    adminFlag.set(bin, flags);
  }
  return flags;
}

function ballast(app: string, extra: string[], bin = ballastBin) {
  return (name: string) => async (port: number) => {
    const handle = startGroup(name, process.execPath, [
      bin, 'serve', path.join(here, app),
      '--workers', '2', '--bind', `127.0.0.1:${port}`, '--graceful-timeout', '2s', ...adminOff(bin), ...extra,
    ]);
    await waitUntilServing(name, port, handle.child);
    return handle;
  };
}

function nodeCluster(script: string) {
  return (name: string) => async (port: number) => {
    const handle = startGroup(name, process.execPath, [path.join(here, script), String(port), '2']);
    await waitUntilServing(name, port, handle.child);
    return handle;
  };
}

const all: Contender[] = [
  { id: 'raw', label: 'raw node:http + cluster (2 workers)', group: 'listener', start: nodeCluster('raw-cluster.ts')('raw') },
  { id: 'ballast', label: 'ballast serve --workers 2, access log off', group: 'listener', start: ballast('listener-app.ts', ['--access-log', 'off'])('ballast') },
  {
    id: 'ballast-reuseport',
    label: 'ballast serve --workers 2 --distribution reuseport, access log off',
    group: 'listener',
    start: ballast('listener-app.ts', ['--access-log', 'off', '--distribution', 'reuseport'])('ballast-reuseport'),
  },
  {
    // Issue 5's baseline: watchdog, metrics, slow-request tracing and access log all off; the
    // `ballast-log` row is the same server with all of them on (the defaults, log to a file).
    id: 'ballast-bare',
    label: 'ballast serve --workers 2, introspection off (no access log, metrics, watchdog, slow reports)',
    group: 'listener',
    start: ballast('listener-app.ts', ['--access-log', 'off', '--no-metrics', '--stall-ms', '0', '--slow-ms', '0'])('ballast-bare'),
  },
  {
    id: 'ballast-log',
    label: 'ballast serve --workers 2, access log JSON to a file',
    group: 'listener',
    start: ballast('listener-app.ts', ['--access-log', accessLogPath, '--access-log-format', 'json'])('ballast-log'),
    // Keep the log from growing over the whole run (writes are O_APPEND, so they follow the truncation).
    beforeRun() { if (existsSync(accessLogPath)) truncateSync(accessLogPath, 0); },
  },
  {
    id: 'pm2',
    label: 'PM2 cluster mode (-i 2)',
    group: 'listener',
    async start(port) {
      const handle = startPm2(port);
      await waitUntilServing('pm2', port);
      return handle;
    },
  },
  {
    id: 'gunicorn',
    label: 'gunicorn sync, 2 workers, Flask',
    group: 'listener',
    async start(port) {
      const handle = startGroup('gunicorn', python, [
        '-m', 'gunicorn', '-k', 'sync', '-w', '2', '-b', `127.0.0.1:${port}`, '--graceful-timeout', '2',
        '--chdir', here, 'flask_app:app',
      ]);
      await waitUntilServing('gunicorn', port, handle.child);
      return handle;
    },
  },
  { id: 'ballast-fetch', label: 'ballast serve --workers 2, Fetch handler, access log off', group: 'fetch', start: ballast('fetch-app.ts', ['--access-log', 'off'])('ballast-fetch') },
  { id: 'hono', label: '@hono/node-server + cluster (2 workers), Fetch handler', group: 'fetch', start: nodeCluster('hono-cluster.ts')('hono') },
];

// --compare: the same two ballast rows from another checkout (e.g. a patched scratch copy), in
// the same run, as `ballast-alt`, `ballast-log-alt` and `ballast-fetch-alt`.
if (opts.compare) {
  const bin = path.resolve(opts.compare);
  all.push(
    { id: 'ballast-alt', label: `ballast (${bin}), access log off`, group: 'listener', start: ballast('listener-app.ts', ['--access-log', 'off'], bin)('ballast-alt') },
    {
      id: 'ballast-log-alt',
      label: `ballast (${bin}), access log JSON to a file`,
      group: 'listener',
      start: ballast('listener-app.ts', ['--access-log', accessLogPath + '.alt', '--access-log-format', 'json'], bin)('ballast-log-alt'),
      beforeRun() { if (existsSync(accessLogPath + '.alt')) truncateSync(accessLogPath + '.alt', 0); },
    },
    { id: 'ballast-fetch-alt', label: `ballast (${bin}), Fetch handler, access log off`, group: 'fetch', start: ballast('fetch-app.ts', ['--access-log', 'off'], bin)('ballast-fetch-alt') },
  );
}

const only = opts.only?.split(',').map((s) => s.trim());
const contenders = only ? all.filter((c) => only.includes(c.id)) : all;
if (contenders.length === 0) throw new Error(`--only matched nothing; ids: ${all.map((c) => c.id).join(', ')}`);

// ---------------------------------------------------------------------------------------------
// CPU accounting: user+system time of a server's whole process tree, from /proc, before and after
// each wrk run. CPU time per request is far less sensitive than req/s to other work on the
// machine, so it is the cleaner measure of per-request overhead on a shared box.

const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

function treeCpuMs(root: number | undefined): number | undefined {
  return treeStats(root)?.cpuMs;
}

const pageSize = Number(spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).stdout?.trim()) || 4096;

function treeStats(root: number | undefined): { cpuMs: number; rssMiB: number } | undefined {
  if (root === undefined) return undefined;
  const procs = new Map<number, { ppid: number; ticks: number; rss: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from #3 (state) on
      procs.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]), rss: Number(fields[21]) });
    } catch { /* exited meanwhile */ }
  }
  if (!procs.has(root)) return undefined;
  const children = new Map<number, number[]>();
  for (const [pid, p] of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  let ticks = 0;
  let rssPages = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    ticks += procs.get(pid)?.ticks ?? 0;
    rssPages += procs.get(pid)?.rss ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return { cpuMs: (ticks * 1000) / clockTicks, rssMiB: (rssPages * pageSize) / 2 ** 20 };
}

// ---------------------------------------------------------------------------------------------
// wrk

interface Sample {
  rps: number;
  p99Ms: number;
  p50Ms: number;
  requests: number;
  errors: number;
  non2xx: number;
  /** Server CPU time (all its processes) per request, microseconds. */
  cpuUsPerReq?: number;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  if (unit === 'us') return n / 1000;
  if (unit === 'ms') return n;
  if (unit === 's') return n * 1000;
  if (unit === 'm') return n * 60_000;
  throw new Error(`unknown wrk time unit ${unit}`);
}

export function parseWrk(output: string): Sample {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const p99 = /^\s*99(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\b/m.exec(output);
  const p50 = /^\s*50(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\b/m.exec(output);
  const total = /(\d+) requests in/.exec(output);
  if (!rps || !p99 || !p50 || !total) throw new Error(`cannot parse wrk output:\n${output}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  return {
    rps: Number(rps[1]),
    p99Ms: toMs(p99[1]!, p99[2]!),
    p50Ms: toMs(p50[1]!, p50[2]!),
    requests: Number(total[1]),
    errors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

function wrk(port: number, time: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', [`-t${threads}`, `-c${connections}`, `-d${time}`, '--latency', ...(opts.close ? ['-H', 'Connection: close'] : []), `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => { out += chunk; });
    child.stderr.on('data', (chunk: Buffer) => { out += chunk; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited ${code}:\n${out}`))));
  });
}

// ---------------------------------------------------------------------------------------------
// Environment

function sh(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
}

function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(benchModules, pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

const environment = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: /Model name:\s*(.+)/.exec(sh('lscpu', []))?.[1]?.trim() ?? cpus()[0]?.model ?? '?',
  cpus: cpus().length,
  kernel: sh('uname', ['-sr']),
  wrk: sh('wrk', ['-v']).split('\n')[0] ?? '?',
  gunicorn: sh(python, ['-c', 'import gunicorn, flask, sys; print(f"gunicorn {gunicorn.__version__}, Flask {flask.__version__}, Python {sys.version.split()[0]}")']),
  pm2: versionOf('pm2'),
  honoNodeServer: versionOf('@hono/node-server'),
  ballast: ballastBin === path.join(repo, 'bin/ballast.js')
    ? `${ballastBin} (git ${sh('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'])}${sh('git', ['-C', repo, 'status', '--porcelain', '--', 'src', 'bin']) ? ', uncommitted changes in src/' : ''})`
    : ballastBin,
  loadavgBefore: loadavg().map((n) => n.toFixed(2)).join(' '),
};

// ---------------------------------------------------------------------------------------------
// Run

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

const ports = new Map<string, number>();
const handles = new Map<string, Running>();
const rssAfter = new Map<string, number>();
const samples = new Map<string, Sample[]>();
const roundRps: Array<Map<string, number>> = [];

async function main(): Promise<void> {
  console.error(`bench/hello: ${contenders.map((c) => c.id).join(', ')}; ${rounds} round(s) of wrk -t${threads} -c${connections} -d${duration} --latency; logs in ${work}`);
  for (const contender of contenders) {
    const port = await freePort();
    ports.set(contender.id, port);
    console.error(`starting ${contender.id} on 127.0.0.1:${port}`);
    handles.set(contender.id, await contender.start(port));
    await wrk(port, warmup); // JIT and connection warm-up, not recorded
    samples.set(contender.id, []);
  }
  for (let round = 0; round < rounds; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
    const rpsThisRound = new Map<string, number>();
    for (const contender of order) {
      contender.beforeRun?.();
      const root = handles.get(contender.id)?.rootPid();
      const cpuBefore = treeCpuMs(root);
      const sample = parseWrk(await wrk(ports.get(contender.id)!, duration));
      const cpuAfter = treeCpuMs(root);
      if (cpuBefore !== undefined && cpuAfter !== undefined && sample.requests > 0) sample.cpuUsPerReq = ((cpuAfter - cpuBefore) * 1000) / sample.requests;
      samples.get(contender.id)!.push(sample);
      rpsThisRound.set(contender.id, sample.rps);
      console.error(
        `round ${round + 1}/${rounds} ${contender.id.padEnd(13)} ${sample.rps.toFixed(0).padStart(7)} req/s  p99 ${sample.p99Ms.toFixed(2)} ms  cpu ${sample.cpuUsPerReq?.toFixed(1) ?? '?'} µs/req` +
          (sample.errors || sample.non2xx ? `  (${sample.errors} socket errors, ${sample.non2xx} non-2xx)` : ''),
      );
    }
    roundRps.push(rpsThisRound);
  }
  for (const contender of contenders) {
    const rss = treeStats(handles.get(contender.id)?.rootPid())?.rssMiB;
    if (rss !== undefined) rssAfter.set(contender.id, rss);
  }
}

function report(): string {
  const ratioTo = (id: string, base: string): number | undefined => {
    const ratios = roundRps.filter((r) => r.has(id) && r.has(base)).map((r) => r.get(id)! / r.get(base)!);
    return ratios.length ? median(ratios) : undefined;
  };
  const cpuRatioTo = (id: string, base: string): number | undefined => {
    const a = samples.get(id) ?? [];
    const b = samples.get(base) ?? [];
    const ratios = a.map((x, i) => (x.cpuUsPerReq && b[i]?.cpuUsPerReq ? b[i]!.cpuUsPerReq! / x.cpuUsPerReq : undefined)).filter((r) => r !== undefined);
    return ratios.length ? median(ratios as number[]) : undefined;
  };
  const fmt = (x: number | undefined, digits = 2) => (x === undefined ? '–' : x.toFixed(digits));
  const lines: string[] = [];
  lines.push(`Run ${environment.date}: Node ${environment.node}, ${environment.cpu} (${environment.cpus} CPUs, ${environment.kernel}), ${environment.wrk}.`);
  lines.push(`Load generator: \`wrk -t${threads} -c${connections} -d${duration} --latency${opts.close ? " -H 'Connection: close'" : ''}\` on the same ${environment.cpus} CPUs as the servers; ${rounds} round(s), order rotated each round; ${warmup} unrecorded warm-up per server.`);
  lines.push(`ballast: ${environment.ballast}.`);
  lines.push(`Peers: PM2 ${environment.pm2}, @hono/node-server ${environment.honoNodeServer}, ${environment.gunicorn}. Load average before: ${environment.loadavgBefore}, after: ${loadavg().map((n) => n.toFixed(2)).join(' ')}.`);
  lines.push('');
  lines.push('| contender | req/s (median) | p99 ms (median) | p50 ms | vs raw cluster (req/s) | vs @hono/node-server (req/s) | server CPU µs/req | CPU efficiency vs raw | RSS after, MiB | req/s per round | errors |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|');
  for (const contender of contenders) {
    const s = samples.get(contender.id) ?? [];
    if (s.length === 0) continue;
    const cpu = s.map((x) => x.cpuUsPerReq).filter((x) => x !== undefined) as number[];
    const vsHono = contender.group === 'fetch' && contender.id !== 'hono' ? fmt(ratioTo(contender.id, 'hono')) : '';
    lines.push(
      `| ${contender.label} | ${median(s.map((x) => x.rps)).toFixed(0)} | ${median(s.map((x) => x.p99Ms)).toFixed(2)} | ${median(s.map((x) => x.p50Ms)).toFixed(2)} | ` +
        `${contender.id === 'raw' ? '1.00' : fmt(ratioTo(contender.id, 'raw'))} | ${vsHono} | ` +
        `${fmt(cpu.length ? median(cpu) : undefined, 1)} | ${contender.id === 'raw' ? '1.00' : fmt(cpuRatioTo(contender.id, 'raw'))} | ${fmt(rssAfter.get(contender.id), 0)} | ${s.map((x) => x.rps.toFixed(0)).join(', ')} | ` +
        `${s.reduce((n, x) => n + x.errors + x.non2xx, 0)} |`,
    );
  }
  lines.push('');
  lines.push('Ratios are the median of the per-round ratios (each contender against the raw cluster measured in the same round).');
  lines.push('Server CPU µs/req: user+system CPU time of the server\'s whole process tree (supervisor/daemon included) during the wrk run, divided by the requests wrk completed; CPU efficiency vs raw = raw\'s µs/req ÷ this row\'s (1.00 = same cost per request, higher is cheaper). RSS after: resident memory of the whole tree after the last round.');
  return lines.join('\n');
}

let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  console.error(`bench/hello failed: ${(error as Error).stack ?? error}`);
} finally {
  await stopAll();
}
if (samples.size > 0 && [...samples.values()].some((s) => s.length > 0)) {
  console.log(report());
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ environment, rounds, duration, connections, threads, samples: Object.fromEntries(samples) }, null, 2));
}
if (!failed) rmSync(work, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
