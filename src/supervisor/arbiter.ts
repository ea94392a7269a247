// The supervisor (gunicorn calls it the arbiter). It preforks workers, replaces the ones that
// die (with backoff), recycles them by drain with the replacement ready first, reloads a whole
// generation on SIGHUP, and drains everything on SIGTERM/SIGINT. Signal handlers only enqueue;
// one loop dispatches them in order, so a reload never interleaves with a shutdown. A worker
// that cannot boot stops the server with the app's own error instead of a crash loop.

import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { ServeSettings } from '../config/settings.ts';
import { parseBind, type BindAddress } from '../config/parse.ts';
import { createError, exitCodes, type BallastError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { isWorkerMessage, type SupervisorMessage, type WorkerMessage } from './messages.ts';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { cumulativeOnly, type MetricsSnapshot } from '../introspection/metrics.ts';
import { ReportStore } from '../introspection/reports.ts';
import type { ProfileInfo } from '../introspection/profiler.ts';

type Purpose = 'start' | 'replace' | 'reload' | 'recycle' | 'scale';

interface WorkerHandle {
  worker: Worker;
  id: number;
  pid: number;
  generation: number;
  purpose: Purpose;
  state: 'booting' | 'ready' | 'draining';
  /** A replacement for this worker is booting; it drains once the replacement is ready. */
  retiring: boolean;
  startedAt: number;
  bootTimer?: NodeJS.Timeout;
  killTimer?: NodeJS.Timeout;
  ready: PromiseWithResolvers<void>;
  stats: Extract<WorkerMessage, { t: 'stats' }> | undefined;
  statsAt: number;
  /** Requests counter at the previous heartbeat, for req/s. */
  previousRequests: { count: number; at: number } | undefined;
  requestsPerSecond: number;
  /** reuseport: the socket slot this worker accepts from (its own); -1 with round-robin. */
  slot: number;
  /** reuseport: other slots whose sockets it accepts from too, while they have no worker of their own. */
  adopted: Set<number>;
}

/** A listening socket's libuv handle, received over IPC and only kept (never accepted from) here. */
type ListenHandle = { close(): void };

export interface ArbiterOptions {
  settings: ServeSettings;
  /** Re-reads settings (config file and environment) for SIGHUP. */
  reloadSettings: () => Promise<ServeSettings>;
  log: Logger;
  /** Called once when the workers listen, with the URLs they serve. */
  onListening?: (urls: string[]) => void;
  reports?: ReportStore;
}

export interface WorkerStatus {
  id: number;
  pid: number;
  generation: number;
  state: 'booting' | 'ready' | 'draining';
  retiring: boolean;
  ageMs: number;
  rss: number | null;
  heapUsed: number | null;
  inFlight: number | null;
  queued: number | null;
  limit: number | null;
  requests: number | null;
  requestsPerSecond: number | null;
  loopUtilisation: number | null;
  loopDelayP99Ms: number | null;
  connections: number | null;
  openStreams: number | null;
  deadlines: number | null;
  shed: Record<string, number> | null;
  /** ms since the last heartbeat: high means the worker's event loop is blocked */
  heartbeatAgeMs: number | null;
  /** reuseport: the socket slot the worker accepts from, and other slots it has adopted (null/[] with round-robin). */
  slot: number | null;
  adoptedSlots: number[];
}

export interface ServerStatus {
  pid: number;
  state: string;
  generation: number;
  desiredWorkers: number;
  uptimeMs: number;
  app: string;
  workerClass: string;
  concurrency: string;
  restarts: Record<string, number>;
  workers: WorkerStatus[];
}

const signals = ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGTTIN', 'SIGTTOU'] as const;
type Signal = (typeof signals)[number];

const crashWindowMs = 60_000;
const maxBackoffMs = 10_000;
/** The second stage of a kill: this long after the graceful timeout, SIGKILL. */
const killGraceMs = 5_000;

/**
 * `auto` is round-robin: the supervisor hands each new connection to the next worker, so even a
 * few keep-alive clients are spread evenly, where the kernel's SO_REUSEPORT hash can put two
 * connections on one worker. Both are drain-safe (reuseport through the supervisor's copies of
 * the workers' sockets, see Arbiter.#slots); reuseport is the choice for clients that open a
 * new connection per request.
 */
export function chooseReusePort(distribution: ServeSettings['distribution']): boolean {
  return distribution === 'reuseport';
}

/**
 * For the start-up line when `auto` chose round-robin on Linux: with SO_REUSEPORT each worker
 * accepts for itself, with no supervisor hop per connection, which served 1.97x raw node:http
 * cluster's (and 2.66x PM2's) req/s in bench/hello --close, where every request is a new
 * connection. Undefined where there is nothing to advise.
 */
export function reusePortAdvice(distribution: ServeSettings['distribution'], reusePort: boolean): string | undefined {
  if (distribution !== 'auto' || reusePort || process.platform !== 'linux') return undefined;
  return 'for clients that open a new connection per request (no keep-alive), --distribution reuseport lets each worker accept for itself, about twice as fast; reloads, recycling and crashes lose no queued connection either way (docs/settings.md, distribution)';
}

function formatUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export class Arbiter {
  #settings: ServeSettings;
  #reloadSettings: ArbiterOptions['reloadSettings'];
  #log: Logger;
  #onListening: ArbiterOptions['onListening'];
  #workers = new Map<number, WorkerHandle>();
  #generation = 0;
  #desired: number;
  #state: 'starting' | 'running' | 'stopping' | 'stopped' = 'starting';
  #queue: Signal[] = [];
  #wake: (() => void) | undefined;
  #crashTimes: number[] = [];
  #reusePort: boolean;
  /**
   * reuseport: per slot, a copy of the SO_REUSEPORT socket of each bind address. A worker that
   * drains or dies leaves its socket, and the connections queued on it, here; the next worker of
   * its slot listens on the same socket, and until then another worker adopts it. Closing the last
   * copy of a SO_REUSEPORT socket would reset its queue (Linux migrates it only with
   * net.ipv4.tcp_migrate_req=1), so these are closed only when the server stops.
   */
  #slots: Array<Array<ListenHandle | undefined>> = [];
  #binds: BindAddress[];
  #exit = Promise.withResolvers<number>();
  /** Exit code once the last worker is gone: non-zero when stopping because of a failure. */
  #stopCode: number = exitCodes.ok;
  #signalListeners = new Map<Signal, () => void>();
  #startedAt = Date.now();
  readonly reports: ReportStore;
  /** CPU profiles and heap snapshots the workers have stored, oldest first. */
  readonly profiles: ProfileInfo[] = [];
  /** Counters and histograms of workers that have exited, so totals never go backwards. */
  #retiredMetrics: MetricsSnapshot = [];
  #supervisorRegistry = new Registry();
  #restarts = new Counter({ name: 'ballast_worker_restarts_total', help: 'Workers replaced, by reason.', labelNames: ['reason'] as const, registers: [this.#supervisorRegistry] });
  #restartCounts: Record<string, number> = {};

  constructor(options: ArbiterOptions) {
    this.#settings = options.settings;
    this.#reloadSettings = options.reloadSettings;
    this.#log = options.log;
    this.#onListening = options.onListening;
    this.#desired = options.settings.workers;
    this.#reusePort = chooseReusePort(options.settings.distribution);
    this.#binds = options.settings.bind.map((address) => parseBind(address));
    this.reports = options.reports ?? new ReportStore();
    new Gauge({
      name: 'ballast_workers', help: 'Worker processes by state.', labelNames: ['state'] as const, registers: [this.#supervisorRegistry],
      collect: () => { /* set in metricsText */ },
    });
  }

  #retiredFold: Promise<void> = Promise.resolve();

  /** Adds an exited worker's last counters and histograms to the running totals. */
  #foldRetired(snapshot: MetricsSnapshot): void {
    this.#retiredFold = this.#retiredFold.then(async () => {
      const parts = [this.#retiredMetrics, cumulativeOnly(snapshot)].filter((m) => m.length > 0);
      if (parts.length > 0) this.#retiredMetrics = await AggregatorRegistry.aggregate(parts).getMetricsAsJSON();
    });
  }

  #countRestart(reason: string): void {
    this.#restarts.labels(reason).inc();
    this.#restartCounts[reason] = (this.#restartCounts[reason] ?? 0) + 1;
  }

  /** Sends an admin command to one ready worker (by id) or to all; returns the ids reached. */
  command(message: SupervisorMessage, workerId?: number): number[] {
    const reached: number[] = [];
    for (const handle of this.#workers.values()) {
      if (handle.state !== 'ready' || (workerId !== undefined && handle.id !== workerId)) continue;
      if (handle.worker.isConnected()) {
        handle.worker.send(message);
        reached.push(handle.id);
      }
    }
    return reached;
  }

  get profileDir(): string {
    return this.#settings.profileDir;
  }

  get isReady(): boolean {
    return this.#state === 'running' && [...this.#workers.values()].some((h) => h.state === 'ready');
  }

  status(): ServerStatus {
    const now = Date.now();
    return {
      pid: process.pid,
      state: this.#state,
      generation: this.#generation,
      desiredWorkers: this.#desired,
      uptimeMs: now - this.#startedAt,
      app: this.#settings.app,
      workerClass: this.#settings.workerClass,
      concurrency: this.#settings.concurrency,
      restarts: { ...this.#restartCounts },
      workers: [...this.#workers.values()].sort((a, b) => a.id - b.id).map((h) => {
        const s = h.stats;
        return {
          id: h.id, pid: h.pid, generation: h.generation, state: h.state, retiring: h.retiring, ageMs: now - h.startedAt,
          rss: s?.rss ?? null, heapUsed: s?.heapUsed ?? null, inFlight: s?.inFlight ?? null, queued: s?.queued ?? null,
          limit: s?.limit ?? null, requests: s?.requests ?? null, requestsPerSecond: s ? h.requestsPerSecond : null,
          loopUtilisation: s?.loopUtilisation ?? null, loopDelayP99Ms: s?.loopDelayP99Ms ?? null, connections: s?.connections ?? null,
          openStreams: s?.streams ?? null, deadlines: s?.deadlines ?? null, shed: s ? { ...s.shed } : null,
          heartbeatAgeMs: s ? now - h.statsAt : null,
          slot: h.slot >= 0 ? h.slot : null,
          adoptedSlots: [...h.adopted].sort((a, b) => a - b),
        };
      }),
    };
  }

  /** Prometheus text: the workers' last snapshots (summed), exited workers' totals, the supervisor's own. */
  async metricsText(): Promise<{ contentType: string; body: string }> {
    const gauge = this.#supervisorRegistry.getSingleMetric('ballast_workers') as Gauge<'state'>;
    gauge.reset();
    for (const state of ['booting', 'ready', 'draining']) gauge.labels(state).set([...this.#workers.values()].filter((h) => h.state === state).length);
    await this.#retiredFold;
    const live = [...this.#workers.values()].flatMap((h) => (h.stats ? [h.stats.metrics] : []));
    const workers = AggregatorRegistry.aggregate([this.#retiredMetrics, ...live].filter((m) => m.length > 0));
    const merged = Registry.merge([workers as Registry, this.#supervisorRegistry]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }

  /** Runs until the server stops; resolves with the process exit code. */
  async run(): Promise<number> {
    for (const signal of signals) {
      const listener = () => this.#enqueue(signal);
      this.#signalListeners.set(signal, listener);
      process.on(signal, listener);
    }
    try {
      await this.#start();
    } catch (error) {
      return this.#fail(error as BallastError);
    }
    void this.#dispatchLoop();
    const code = await this.#exit.promise;
    for (const [signal, listener] of this.#signalListeners) process.off(signal, listener);
    for (const handles of this.#slots) for (const handle of handles) handle?.close();
    this.#slots = [];
    return code;
  }

  get workerCount(): number {
    return this.#workers.size;
  }

  #enqueue(signal: Signal): void {
    if ((signal === 'SIGTERM' || signal === 'SIGINT') && this.#state === 'stopping') {
      this.#log.warn({ signal }, 'second stop signal: killing workers now');
      for (const handle of this.#workers.values()) handle.worker.process.kill('SIGKILL');
      this.#state = 'stopped';
      this.#exit.resolve(exitCodes.failure);
      return;
    }
    if (this.#state === 'starting' && (signal === 'SIGTERM' || signal === 'SIGINT')) {
      void this.#fail(createError('BALLAST_ERR_BOOT_FAILED', `stopped by ${signal} while starting`), exitCodes.ok);
      return;
    }
    this.#queue.push(signal);
    this.#wake?.();
  }

  async #dispatchLoop(): Promise<void> {
    while (this.#state === 'running') {
      const signal = this.#queue.shift();
      if (signal === undefined) {
        await new Promise<void>((resolve) => { this.#wake = resolve; });
        this.#wake = undefined;
        continue;
      }
      this.#log.info({ signal }, `received ${signal}`);
      if (signal === 'SIGHUP') await this.#reload();
      else if (signal === 'SIGTTIN') this.#scaleUp();
      else if (signal === 'SIGTTOU') this.#scaleDown();
      else await this.#stop(signal);
    }
  }

  async #resolveEphemeralPorts(): Promise<void> {
    // With SO_REUSEPORT each worker binds for itself, so port 0 would give every worker a
    // different port: pick one first. Round-robin shares the supervisor's socket already.
    if (!this.#reusePort) return;
    this.#binds = await Promise.all(
      this.#binds.map(async (bind) => {
        if (bind.port !== 0) return bind;
        const probe = net.createServer();
        await new Promise<void>((resolve, reject) => {
          probe.once('error', reject);
          probe.listen({ host: bind.host, port: 0, reusePort: true }, resolve);
        });
        const port = (probe.address() as net.AddressInfo).port;
        await new Promise((resolve) => probe.close(resolve));
        return { host: bind.host, port };
      }),
    );
  }

  async #start(): Promise<void> {
    cluster.schedulingPolicy = cluster.SCHED_RR;
    await this.#resolveEphemeralPorts();
    this.#log.info(
      { workers: this.#desired, distribution: this.#reusePort ? 'reuseport' : 'round-robin', app: this.#settings.app },
      `starting ${this.#desired} worker${this.#desired === 1 ? '' : 's'} (${this.#reusePort ? 'SO_REUSEPORT' : 'round-robin'} connection distribution)`,
    );
    const advice = reusePortAdvice(this.#settings.distribution, this.#reusePort);
    if (advice) this.#log.info({ distribution: 'round-robin' }, `round-robin connection distribution: ${advice}`);
    const handles = Array.from({ length: this.#desired }, (_, slot) => this.#spawn('start', slot));
    await Promise.all(handles.map((handle) => handle.ready.promise));
    this.#state = 'running';
  }

  #workerExecArgv(): string[] {
    const inherited = process.execArgv.filter((arg) => !arg.startsWith('--inspect') && !arg.startsWith('--debug'));
    return this.#settings.linearRegex ? [...inherited, '--enable-experimental-regexp-engine-on-excessive-backtracks'] : inherited;
  }

  /** A slot no worker (draining ones aside) calls its own, or a new one. */
  #freeSlot(): number {
    if (!this.#reusePort) return -1;
    const taken = new Set<number>();
    for (const handle of this.#workers.values()) if (handle.state !== 'draining' && !handle.retiring) taken.add(handle.slot);
    for (let slot = 0; slot < this.#slots.length; slot++) if (!taken.has(slot)) return slot;
    return this.#slots.length;
  }

  /**
   * reuseport: every slot with sockets is accepted from by a ready worker. A slot whose own worker
   * is ready is released by whoever adopted it; a slot without one (its worker died, drained for a
   * scale-down, or its replacement is still booting) is adopted by the ready worker that has
   * adopted the fewest.
   */
  #rebalanceSlots(): void {
    if (!this.#reusePort || this.#state === 'stopping' || this.#state === 'stopped') return;
    const serving = [...this.#workers.values()].filter((h) => h.state === 'ready' && h.worker.isConnected());
    for (let slot = 0; slot < this.#slots.length; slot++) {
      const handles = this.#slots[slot]!;
      if (!handles.some(Boolean)) continue;
      const adopters = serving.filter((h) => h.adopted.has(slot));
      if (serving.some((h) => h.slot === slot)) {
        for (const adopter of adopters) {
          adopter.adopted.delete(slot);
          adopter.worker.send({ t: 'release', slot } satisfies SupervisorMessage);
        }
        continue;
      }
      if (adopters.length > 0 || serving.length === 0) continue;
      const adopter = serving.sort((a, b) => a.adopted.size - b.adopted.size || a.id - b.id)[0]!;
      adopter.adopted.add(slot);
      for (const [bind, handle] of handles.entries()) {
        if (handle) adopter.worker.send({ t: 'adopt', slot, bind } satisfies SupervisorMessage, handle as never);
      }
      this.#log.info({ workerId: adopter.id, slot }, `worker ${adopter.id} also accepts from socket slot ${slot} until it has a worker of its own`);
    }
  }

  /** `slot`: the socket slot to take (reuseport; ignored with round-robin), by default a free one. */
  #spawn(purpose: Purpose, slot = this.#freeSlot()): WorkerHandle {
    cluster.setupPrimary({
      exec: fileURLToPath(new URL('../worker/main.ts', import.meta.url)),
      execArgv: this.#workerExecArgv(),
      silent: false,
    });
    const settings = { ...this.#settings, bind: this.#binds.map((b) => `${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}`) };
    const maxRequests = settings.maxRequests > 0 ? settings.maxRequests + randomInt(0, settings.maxRequestsJitter + 1) : 0;
    const worker = cluster.fork({
      BALLAST_WORKER_SETTINGS: JSON.stringify(settings),
      BALLAST_WORKER_MAX_REQUESTS: String(maxRequests),
      BALLAST_WORKER_REUSEPORT: this.#reusePort ? '1' : '0',
      // For apps that split a shared budget (database connections) across workers.
      BALLAST_WORKER_COUNT: String(this.#desired),
    });
    const handle: WorkerHandle = {
      worker,
      id: worker.id,
      pid: worker.process.pid ?? 0,
      generation: this.#generation,
      purpose,
      state: 'booting',
      retiring: false,
      startedAt: Date.now(),
      ready: Promise.withResolvers<void>(),
      stats: undefined,
      statsAt: 0,
      previousRequests: undefined,
      requestsPerSecond: 0,
      slot: this.#reusePort ? slot : -1,
      adopted: new Set(),
    };
    if (this.#reusePort) while (this.#slots.length <= slot) this.#slots.push([]);
    handle.ready.promise.catch(() => {}); // whoever awaits it handles the failure
    this.#workers.set(handle.id, handle);
    this.#log.debug({ workerId: handle.id, pid: handle.pid, purpose, generation: handle.generation }, 'booting worker');

    handle.bootTimer = setTimeout(() => {
      if (handle.state !== 'booting') return;
      handle.ready.reject(createError('BALLAST_ERR_BOOT_TIMEOUT', `worker ${handle.id} (pid ${handle.pid}) did not become ready within ${this.#settings.bootTimeout} ms (--boot-timeout)`));
      worker.process.kill('SIGKILL');
    }, this.#settings.bootTimeout);

    worker.on('message', (message: unknown, socket?: ListenHandle) => {
      if (isWorkerMessage(message)) this.#onMessage(handle, message, socket);
    });
    worker.on('exit', (code, signal) => this.#onExit(handle, code, signal));
    worker.on('error', (error) => this.#log.warn({ err: error, workerId: handle.id }, 'IPC error with worker'));
    return handle;
  }

  #onMessage(handle: WorkerHandle, message: WorkerMessage, socket?: ListenHandle): void {
    switch (message.t) {
      case 'sockets-request': {
        const handles = this.#slots[handle.slot] ?? [];
        for (let bind = 0; bind < this.#binds.length; bind++) {
          const kept = handles[bind];
          if (handle.worker.isConnected()) handle.worker.send({ t: 'socket', bind, has: kept !== undefined } satisfies SupervisorMessage, kept as never);
        }
        break;
      }
      case 'socket': {
        if (!socket) break;
        const handles = this.#slots[handle.slot];
        if (!handles || this.#state === 'stopped') {
          socket.close();
        } else if (handles[message.bind] === undefined) {
          handles[message.bind] = socket;
        } else {
          // Two workers bound new sockets for one slot (a reload racing a crash replacement): the
          // second socket becomes a slot of its own, adopted once its worker lets go, not reset.
          const spare: Array<ListenHandle | undefined> = [];
          spare[message.bind] = socket;
          this.#slots.push(spare);
        }
        break;
      }
      case 'ready': {
        clearTimeout(handle.bootTimer);
        handle.state = 'ready';
        this.#log.info({ workerId: handle.id, pid: handle.pid, generation: handle.generation, bootMs: Date.now() - handle.startedAt }, `worker ${handle.id} ready`);
        if (this.#state === 'starting' && this.#onListening && [...this.#workers.values()].every((h) => h.state === 'ready')) {
          this.#onListening(message.addresses.map((a) => formatUrl(a.host, a.port)));
          this.#onListening = undefined;
        }
        handle.ready.resolve();
        // A worker of an older generation that finished booting after a reload is already obsolete.
        if (handle.generation < this.#generation || this.#state === 'stopping') this.#drain(handle, 'obsolete generation');
        this.#rebalanceSlots();
        break;
      }
      case 'boot-error': {
        clearTimeout(handle.bootTimer);
        const error = createError(message.code, message.message);
        (error as BallastError & { detail?: string }).detail = message.detail;
        handle.ready.reject(error);
        break;
      }
      case 'recycle':
        void this.#recycle(handle, message);
        break;
      case 'stats': {
        const at = Date.now();
        if (handle.previousRequests) {
          const seconds = (at - handle.previousRequests.at) / 1000;
          handle.requestsPerSecond = seconds > 0 ? (message.requests - handle.previousRequests.count) / seconds : 0;
        }
        handle.previousRequests = { count: message.requests, at };
        handle.stats = message;
        handle.statsAt = at;
        break;
      }
      case 'report':
        this.reports.add(message.report);
        break;
      case 'stopped-accepting':
        // Cluster's own "close" for this worker's listening handle came before this on the same
        // channel, so the round-robin has dropped the worker; answering confirms it.
        if (handle.worker.isConnected()) handle.worker.send({ t: 'stopped-accepting-ack' } satisfies SupervisorMessage);
        break;
      case 'profile':
        this.profiles.push(message.info);
        if (this.profiles.length > 200) this.profiles.shift();
        break;
    }
  }

  #onExit(handle: WorkerHandle, code: number | null, signal: string | null): void {
    clearTimeout(handle.bootTimer);
    clearTimeout(handle.killTimer);
    this.#workers.delete(handle.id);
    if (handle.stats) this.#foldRetired(handle.stats.metrics);
    const how = signal ? `signal ${signal}` : `code ${code}`;

    if (handle.state === 'booting') {
      handle.ready.reject(createError('BALLAST_ERR_BOOT_FAILED', `worker ${handle.id} (pid ${handle.pid}) exited with ${how} before it was ready`));
    } else if (handle.state === 'draining' || this.#state === 'stopping' || this.#state === 'stopped') {
      this.#log.info({ workerId: handle.id, pid: handle.pid, code, signal }, `worker ${handle.id} exited after draining (${how})`);
    } else {
      this.#log.warn({ workerId: handle.id, pid: handle.pid, code, signal }, `worker ${handle.id} (pid ${handle.pid}) died unexpectedly (${how})`);
      this.#countRestart('crash');
      // Its generation was replaced by a reload in progress, or its replacement is booting.
      if (handle.generation === this.#generation && !handle.retiring && this.#state === 'running') this.#replaceAfterBackoff(handle.slot);
    }
    this.#rebalanceSlots();
    if (this.#workers.size === 0 && this.#state === 'stopping') {
      this.#state = 'stopped';
      this.#exit.resolve(this.#stopCode);
    }
  }

  #replaceAfterBackoff(slot: number): void {
    const now = Date.now();
    this.#crashTimes = this.#crashTimes.filter((t) => now - t < crashWindowMs);
    this.#crashTimes.push(now);
    const crashes = this.#crashTimes.length;
    // First death: replace at once. Repeated deaths: 250 ms, 500 ms, 1 s … up to 10 s apart.
    const delayMs = crashes <= 1 ? 0 : Math.min(maxBackoffMs, 250 * 2 ** (crashes - 2));
    if (delayMs > 0) this.#log.warn({ crashes, delayMs }, `replacing the worker in ${delayMs} ms (${crashes} deaths in the last minute)`);
    setTimeout(() => {
      if (this.#state !== 'running' || this.#activeCount() >= this.#desired) return;
      void this.#spawnOrFail('replace', slot);
    }, delayMs);
  }

  /** Workers that count toward the desired number: not draining, not being replaced. */
  #activeCount(): number {
    let count = 0;
    for (const handle of this.#workers.values()) {
      if (handle.state !== 'draining' && !handle.retiring && handle.generation === this.#generation) count++;
    }
    return count;
  }

  async #spawnOrFail(purpose: Purpose, slot?: number): Promise<WorkerHandle | undefined> {
    const handle = this.#spawn(purpose, slot);
    try {
      await handle.ready.promise;
      return handle;
    } catch (error) {
      // A worker that cannot boot now will not boot on the next try either: stop, don't loop.
      if (this.#state === 'running') await this.#fail(error as BallastError);
      return undefined;
    }
  }

  async #recycle(handle: WorkerHandle, request: Extract<WorkerMessage, { t: 'recycle' }>): Promise<void> {
    if (handle.retiring || handle.state !== 'ready' || this.#state !== 'running') return;
    handle.retiring = true;
    const { reason, rss, requests } = request;
    this.#countRestart(reason);
    this.#log.info({ workerId: handle.id, pid: handle.pid, reason, rss, requests }, `recycling worker ${handle.id} (${reason}): booting its replacement first`);
    const replacement = await this.#spawnOrFail('recycle', handle.slot);
    if (replacement) this.#drain(handle, reason);
  }

  #drain(handle: WorkerHandle, reason: string): void {
    if (handle.state === 'draining') return;
    handle.state = 'draining';
    const gracefulTimeoutMs = this.#settings.gracefulTimeout;
    this.#log.debug({ workerId: handle.id, pid: handle.pid, reason }, `draining worker ${handle.id}`);
    const message: SupervisorMessage = { t: 'drain', gracefulTimeoutMs };
    if (handle.worker.isConnected()) handle.worker.send(message);
    else handle.worker.process.kill('SIGTERM');
    handle.adopted.clear();
    this.#rebalanceSlots();
    handle.killTimer = setTimeout(() => {
      this.#log.error({ workerId: handle.id, pid: handle.pid }, `worker ${handle.id} did not exit ${killGraceMs} ms after its graceful timeout: SIGKILL`);
      handle.worker.process.kill('SIGKILL');
    }, gracefulTimeoutMs + killGraceMs);
  }

  async #reload(): Promise<void> {
    let next: ServeSettings;
    try {
      next = await this.#reloadSettings();
    } catch (error) {
      this.#log.error({ err: error }, `reload aborted: ${(error as Error).message}; the running workers keep serving`);
      return;
    }
    if (next.bind.join(',') !== this.#settings.bind.join(',') || next.distribution !== this.#settings.distribution) {
      this.#log.warn({}, 'bind and distribution changes need a restart; keeping the current sockets');
      next = { ...next, bind: this.#settings.bind, distribution: this.#settings.distribution };
    }
    const previous = { settings: this.#settings, desired: this.#desired };
    this.#settings = next;
    this.#desired = next.workers;
    const generation = ++this.#generation;
    this.#log.info({ generation, workers: this.#desired }, `reloading: booting generation ${generation} before draining the old one`);
    const fresh = Array.from({ length: this.#desired }, (_, slot) => this.#spawn('reload', slot));
    try {
      await Promise.all(fresh.map((handle) => handle.ready.promise));
    } catch (error) {
      this.#generation = generation - 1;
      this.#settings = previous.settings;
      this.#desired = previous.desired;
      for (const handle of fresh) handle.worker.process.kill('SIGKILL');
      this.#logBootError('reload failed, the old workers keep serving', error as BallastError);
      return;
    }
    for (const handle of this.#workers.values()) {
      if (handle.generation < generation) {
        this.#drain(handle, 'reload');
        this.#countRestart('reload');
      }
    }
    this.#log.info({ generation }, `reloaded: generation ${generation} is serving`);
  }

  #scaleUp(): void {
    this.#desired++;
    this.#log.info({ workers: this.#desired }, `adding a worker (now ${this.#desired})`);
    void this.#spawnOrFail('scale');
  }

  #scaleDown(): void {
    if (this.#desired <= 1) {
      this.#log.warn({}, 'SIGTTOU ignored: one worker is the minimum');
      return;
    }
    this.#desired--;
    const newest = [...this.#workers.values()].filter((h) => h.state === 'ready' && !h.retiring).sort((a, b) => b.startedAt - a.startedAt)[0];
    this.#log.info({ workers: this.#desired }, `removing a worker (now ${this.#desired})`);
    if (newest) this.#drain(newest, 'scale down');
  }

  async #stop(signal: Signal): Promise<void> {
    this.#state = 'stopping';
    this.#log.info({ gracefulTimeoutMs: this.#settings.gracefulTimeout, inFlight: this.#inFlight() }, `${signal}: draining ${this.#workers.size} workers`);
    if (this.#workers.size === 0) {
      this.#state = 'stopped';
      this.#exit.resolve(exitCodes.ok);
      return;
    }
    for (const handle of this.#workers.values()) {
      if (handle.state === 'booting') handle.worker.process.kill('SIGTERM');
      else this.#drain(handle, signal);
    }
    await this.#exit.promise;
  }

  #inFlight(): number {
    let total = 0;
    for (const handle of this.#workers.values()) total += handle.stats?.inFlight ?? 0;
    return total;
  }

  #logBootError(prefix: string, error: BallastError): void {
    const detail = (error as BallastError & { detail?: string }).detail;
    this.#log.error({ code: error.code }, `${prefix}: ${error.message}${detail ? `\n${detail}` : ''}`);
  }

  async #fail(error: BallastError, exitCode?: number): Promise<number> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return this.#exit.promise;
    const wasServing = this.#state === 'running';
    this.#state = 'stopping';
    this.#logBootError(wasServing ? 'a replacement worker failed to boot; stopping the server' : 'cannot start the server', error);
    const code = exitCode ?? (error.code === 'BALLAST_ERR_APP_LOAD' || error.code === 'BALLAST_ERR_APP_SHAPE' ? exitCodes.appLoadError : exitCodes.bootError);
    this.#stopCode = code;
    const exited = [...this.#workers.values()].map((handle) => new Promise<void>((resolve) => {
      if (handle.worker.isDead()) return resolve();
      handle.worker.once('exit', () => resolve());
      // Workers that serve traffic finish their requests; the others have nothing to lose.
      if (wasServing && handle.state === 'ready') this.#drain(handle, 'stopping');
      else handle.worker.process.kill('SIGKILL');
    }));
    await Promise.all(exited);
    this.#state = 'stopped';
    this.#exit.resolve(code);
    return code;
  }
}
