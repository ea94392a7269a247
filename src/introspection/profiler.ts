// CPU profiles and heap snapshots of a worker (django-geordi, for Node). A profile covers the
// whole worker thread for its duration: for one request (an authorised header, or "the next N
// requests to /path"), or for a fixed time. One profile at a time per worker; V8's sampling
// profiler costs a few percent while it runs and nothing otherwise.

import { Session } from 'node:inspector';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import type { Logger } from '../log.ts';

export interface ProfileInfo {
  name: string;
  kind: 'cpu' | 'heap';
  workerId: number;
  pid: number;
  /** epoch ms */
  time: number;
  /** What triggered it: `request GET /x (reqId)`, `admin: 10 s`, `max-memory` … */
  reason: string;
  bytes: number;
  durationMs?: number;
}

export interface Profiler {
  /** Starts a CPU profile unless one is running; resolves true when this call started it. */
  start(reason: string): Promise<boolean>;
  /** Stops the running CPU profile and stores it. */
  stop(): Promise<ProfileInfo | undefined>;
  readonly isRunning: boolean;
  /** Profile the next `count` requests whose path is `path` (exact, or a prefix ending in *). */
  armForPath(path: string, count: number): void;
  /** Whether a request to `path` should be profiled by an admin rule (consumes one). */
  takeArmed(path: string): boolean;
  heapSnapshot(reason: string): Promise<ProfileInfo>;
}

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

export function createProfiler(options: { dir: string; workerId: number; log: Logger; onProfile: (info: ProfileInfo) => void }): Profiler {
  const { dir, workerId, log } = options;
  let session: Session | undefined;
  let running: { reason: string; startedAt: number } | undefined;
  let starting = false;
  const armed: Array<{ path: string; remaining: number }> = [];

  function post<T>(method: string, params?: object): Promise<T> {
    return new Promise((resolve, reject) => {
      session!.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result as T)));
    });
  }

  async function store(info: Omit<ProfileInfo, 'bytes' | 'name' | 'pid' | 'workerId' | 'time'>, extension: string, body: string | undefined, name = `${stamp()}-w${workerId}-${info.kind}.${extension}`): Promise<ProfileInfo> {
    await mkdir(dir, { recursive: true });
    if (body !== undefined) await writeFile(join(dir, name), body);
    const stored: ProfileInfo = { ...info, name, workerId, pid: process.pid, time: Date.now(), bytes: body === undefined ? 0 : Buffer.byteLength(body) };
    options.onProfile(stored);
    return stored;
  }

  return {
    get isRunning() { return running !== undefined || starting; },

    async start(reason) {
      if (running || starting) return false;
      starting = true;
      try {
        if (!session) {
          session = new Session();
          session.connect();
        }
        await post('Profiler.enable');
        // 200 µs: fine enough to see a handler's frames, coarse enough to stay cheap.
        await post('Profiler.setSamplingInterval', { interval: 200 });
        await post('Profiler.start');
        running = { reason, startedAt: performance.now() };
        return true;
      } catch (error) {
        log.warn({ err: error }, 'could not start the CPU profiler');
        return false;
      } finally {
        starting = false;
      }
    },

    async stop() {
      if (!running || !session) return undefined;
      const { reason, startedAt } = running;
      running = undefined;
      try {
        const { profile } = await post<{ profile: unknown }>('Profiler.stop');
        await post('Profiler.disable');
        const info = await store({ kind: 'cpu', reason, durationMs: performance.now() - startedAt }, 'cpuprofile', JSON.stringify(profile));
        log.info({ profile: info.name, reason, bytes: info.bytes }, `CPU profile stored: ${info.name}`);
        return info;
      } catch (error) {
        log.warn({ err: error }, 'could not store the CPU profile');
        return undefined;
      }
    },

    armForPath(path, count) {
      armed.push({ path, remaining: count });
    },

    takeArmed(path) {
      if (armed.length === 0) return false; // every request asks: the usual answer costs nothing
      const rule = armed.find((r) => (r.path.endsWith('*') ? path.startsWith(r.path.slice(0, -1)) : r.path === path));
      if (!rule) return false;
      rule.remaining--;
      if (rule.remaining <= 0) armed.splice(armed.indexOf(rule), 1);
      return true;
    },

    async heapSnapshot(reason) {
      await mkdir(dir, { recursive: true });
      const name = `${stamp()}-w${workerId}-heap.heapsnapshot`;
      const startedAt = performance.now();
      // Synchronous and slow (the heap is walked): that is the price of a snapshot.
      writeHeapSnapshot(join(dir, name));
      const { size } = await import('node:fs/promises').then((fs) => fs.stat(join(dir, name)));
      const info: ProfileInfo = { name, kind: 'heap', workerId, pid: process.pid, time: Date.now(), reason, bytes: size, durationMs: performance.now() - startedAt };
      options.onProfile(info);
      log.info({ profile: name, reason, bytes: size }, `heap snapshot stored: ${name}`);
      return info;
    },
  };
}
