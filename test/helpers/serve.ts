// Runs `ballast serve` as a real child process for integration tests and reads its JSON log.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const ballastBin = fileURLToPath(new URL('../../bin/ballast.js', import.meta.url));

export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  logs: LogRecord[];
  stdout: string[];
  /** Resolves with the first log record (past or future) that matches. */
  waitForLog(predicate: (record: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
  /** Resolves when a stdout line (past or future) equals `line`. */
  waitForStdout(line: string, timeoutMs?: number): Promise<void>;
  signal(name: NodeJS.Signals): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Wait for "listening" (default) or return at once (for boot-failure tests). */
  waitForListening?: boolean;
  timeoutMs?: number;
}

export async function startServe(args: string[], options: StartOptions = {}): Promise<ServeProcess> {
  // Every test server gets its own ephemeral admin port unless the test chooses one.
  const adminArgs = args.includes('--admin') ? [] : ['--admin', '127.0.0.1:0'];
  const child = spawn(process.execPath, [ballastBin, 'serve', ...args, ...adminArgs], {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogRecord[] = [];
  const stdout: string[] = [];
  const waiters: Array<{ predicate: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }> = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    let record: LogRecord;
    try {
      record = JSON.parse(line) as LogRecord;
    } catch {
      record = { level: 50, msg: line };
    }
    logs.push(record);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(record)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(record);
      }
    }
  });
  const stdoutWaiters: Array<{ line: string; resolve: () => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    stdout.push(line);
    for (const waiter of [...stdoutWaiters]) {
      if (waiter.line === line) {
        stdoutWaiters.splice(stdoutWaiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));

  function waitForLog(predicate: (record: LogRecord) => boolean, timeoutMs = 15_000): Promise<LogRecord> {
    const found = logs.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a log line; got:\n${logs.map((l) => l.msg).join('\n')}`)), timeoutMs);
      waiters.push({ predicate, resolve: (record) => { clearTimeout(timer); resolve(record); } });
      void exited.then(() => {
        // The process is gone: no more lines will come.
        setImmediate(() => {
          clearTimeout(timer);
          const late = logs.find(predicate);
          if (late) resolve(late);
          else reject(new Error(`ballast serve exited before the expected log line; logs:\n${logs.map((l) => l.msg).join('\n')}`));
        });
      });
    });
  }

  let url = '';
  if (options.waitForListening !== false) {
    const listening = await waitForLog((r) => typeof r.msg === 'string' && r.msg.startsWith('listening on'), options.timeoutMs ?? 20_000);
    url = (listening.urls as string[])[0];
  }
  return {
    child,
    url,
    logs,
    stdout,
    waitForLog,
    waitForStdout(line, timeoutMs = 15_000) {
      if (stdout.includes(line)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for stdout line ${line}; got:\n${stdout.join('\n')}`)), timeoutMs);
        stdoutWaiters.push({ line, resolve: () => { clearTimeout(timer); resolve(); } });
      });
    },
    exited,
    signal: (name) => { child.kill(name); },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The worker pids the supervisor reported as ready and that have not exited since. */
export function liveWorkerPids(server: ServeProcess): number[] {
  const ready = new Set<number>();
  for (const record of server.logs) {
    if (typeof record.msg !== 'string') continue;
    if (/^worker \d+ ready$/.test(record.msg)) ready.add(record.pid as number);
    if (/exited|died/.test(record.msg)) ready.delete(record.pid as number);
  }
  return [...ready];
}
