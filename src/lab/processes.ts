// The lab's child processes: `ballast serve` for each naive and tuned server (and nginx), each in
// its own process group so the whole tree (supervisor and workers) can be stopped by the group's
// pid. Every process started here is registered and stopped at the end of its scenario, on an
// error, and on Ctrl-C: SIGTERM to the group, SIGKILL after a bounded wait. Loopback only.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const ballastBin = fileURLToPath(new URL('../../bin/ballast.js', import.meta.url));

export interface LogRecord {
  msg?: string;
  [key: string]: unknown;
}

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  logs: LogRecord[];
  exited: Promise<void>;
  /** Resolves with the first log record (past or future) that matches, or rejects after timeoutMs. */
  waitForLog(predicate: (record: LogRecord) => boolean, timeoutMs: number): Promise<LogRecord>;
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<ManagedProcess>();

function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

export function spawnManaged(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, maxLogs = 2000): ManagedProcess {
  const child = spawn(command, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const logs: LogRecord[] = [];
  const waiters: Array<{ predicate: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }> = [];
  const onLine = (line: string) => {
    let record: LogRecord;
    try {
      const parsed = JSON.parse(line) as unknown;
      record = parsed && typeof parsed === 'object' ? (parsed as LogRecord) : { msg: line };
    } catch {
      record = { msg: line };
    }
    if (logs.length < maxLogs) logs.push(record);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(record)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(record);
      }
    }
  };
  createInterface({ input: child.stderr! }).on('line', onLine);
  createInterface({ input: child.stdout! }).on('line', onLine);
  const exited = once(child, 'exit').then(() => undefined, () => undefined);
  const managed: ManagedProcess = {
    name,
    child,
    pid: child.pid ?? -1,
    logs,
    exited,
    waitForLog(predicate, timeoutMs) {
      const found = logs.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: timed out after ${timeoutMs} ms waiting for a log line; last lines:\n${tail(logs)}`)), timeoutMs);
        waiters.push({ predicate, resolve: (record) => { clearTimeout(timer); resolve(record); } });
        void exited.then(() => setImmediate(() => {
          clearTimeout(timer);
          const late = logs.find(predicate);
          if (late) resolve(late);
          else reject(new Error(`${name} exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready; last lines:\n${tail(logs)}`));
        }));
      });
    },
    async stop(graceMs = 10_000) {
      running.delete(managed);
      if (!isAlive(child)) return;
      signalGroup(child, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // Workers left behind by a supervisor that died first share its process group.
      signalGroup(child, 'SIGKILL');
    },
  };
  running.add(managed);
  return managed;
}

function tail(logs: LogRecord[]): string {
  return logs.slice(-8).map((record) => (typeof record.msg === 'string' ? record.msg : JSON.stringify(record))).join('\n');
}

export interface ServeOptions {
  name: string;
  app: string;
  args: string[];
  env?: Record<string, string | undefined>;
  bootTimeoutMs?: number;
}

export interface ServeHandle {
  process: ManagedProcess;
  url: string;
  args: string[];
  /** The command line a user would type, for the report. */
  commandLine: string;
  stop(): Promise<void>;
}

/** Starts `ballast serve` (loopback, admin off, access log off unless args say otherwise) and waits until it listens. */
export async function startServe(options: ServeOptions): Promise<ServeHandle> {
  const defaults: string[] = [];
  if (!options.args.includes('--bind') && !options.args.includes('-b')) defaults.push('--bind', '127.0.0.1:0');
  if (!options.args.includes('--admin')) defaults.push('--admin', 'off');
  if (!options.args.includes('--access-log')) defaults.push('--access-log', 'off');
  const args = [options.app, ...options.args, ...defaults];
  const env = { ...process.env, ...options.env, BALLAST_LOG_LEVEL: 'info' };
  const child = spawnManaged(options.name, process.execPath, [ballastBin, 'serve', ...args], env);
  try {
    const record = await child.waitForLog((r) => typeof r.msg === 'string' && r.msg.startsWith('listening on'), options.bootTimeoutMs ?? 30_000);
    const urls = record.urls as string[] | undefined;
    const url = urls?.[0] ?? /https?:\/\/\S+/.exec(String(record.msg))?.[0];
    if (!url) throw new Error(`${options.name}: no URL in the listening line: ${JSON.stringify(record)}`);
    const envShown = Object.entries(options.env ?? {}).filter(([, value]) => value !== undefined).map(([key, value]) => `${key}=${value}`).join(' ');
    return {
      process: child,
      url: url.replace(/\/$/, ''),
      args,
      commandLine: `${envShown ? `${envShown} ` : ''}ballast serve ${options.app} ${options.args.join(' ')}`.trim(),
      stop: () => child.stop(),
    };
  } catch (error) {
    await child.stop(2000);
    throw error;
  }
}

/** Stops every process this module started and that is still registered. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((managed) => managed.stop(5000)));
}

/** Resident set size (bytes) of a process and all its descendants, from /proc (Linux); 0 elsewhere. */
export function treeRssBytes(rootPid: number): number {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return 0;
  }
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(fields[1]);
      const pages = Number(fields[21]);
      const pid = Number(entry);
      rss.set(pid, pages * 4096);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid)!.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  let total = 0;
  const stack = [rootPid];
  while (stack.length) {
    const pid = stack.pop()!;
    total += rss.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}
