// A worker process: loads the app, listens, reports to the supervisor over IPC, and drains when
// told to. Signals aimed at the whole process group (Ctrl-C, a terminal hang-up) are ignored:
// the supervisor decides, so a worker never dies half-way through a request because of them.

import cluster from 'node:cluster';
import type { ServeSettings } from '../config/settings.ts';
import { parseBind } from '../config/parse.ts';
import { isBallastError, exitCodes } from '../errors.ts';
import { createLogger } from '../log.ts';
import { loadApp } from './app-loader.ts';
import { installFastFetch } from './fetch-fast.ts';
import { createThreadPool } from './thread-pool/index.ts';
import { createAccessLog } from './access-log.ts';
import { createWorkerServer, type ListenHandle } from './http-server.ts';
import type { RecycleReason, SupervisorMessage, WorkerMessage } from '../supervisor/messages.ts';
import { formatStack, startWatchdog, type WatchdogMessage } from '../introspection/watchdog.ts';
import { createWorkerMetrics } from '../introspection/metrics.ts';
import { createProfiler } from '../introspection/profiler.ts';
import { startLoopPressure } from './loop-pressure.ts';

const settings = JSON.parse(process.env.BALLAST_WORKER_SETTINGS ?? '{}') as ServeSettings;
const maxRequests = Number(process.env.BALLAST_WORKER_MAX_REQUESTS ?? 0);
const reusePort = process.env.BALLAST_WORKER_REUSEPORT === '1';
const workerId = cluster.worker?.id ?? 0;
const log = createLogger({ name: `worker ${workerId}`, level: settings.logLevel, base: { worker: workerId } });

/** `handle`: a listening socket that travels with the message (reuseport's copies for the supervisor). */
function send(message: WorkerMessage, handle?: ListenHandle): void {
  if (process.connected) process.send!(message, handle as never);
}

for (const signal of ['SIGINT', 'SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGWINCH'] as const) process.on(signal, () => {});

async function bootFailed(error: unknown): Promise<never> {
  const code = isBallastError(error) ? error.code : 'BALLAST_ERR_APP_LOAD';
  const cause = (error as { cause?: unknown }).cause;
  const detail = cause instanceof Error ? cause.stack ?? cause.message : (error as Error)?.stack ?? String(error);
  send({ t: 'boot-error', code, message: (error as Error)?.message ?? String(error), detail });
  // Let the IPC message leave before exiting.
  await new Promise((resolve) => setImmediate(resolve));
  process.exit(code === 'BALLAST_ERR_APP_LOAD' || code === 'BALLAST_ERR_APP_SHAPE' ? exitCodes.appLoadError : exitCodes.bootError);
}

let recycleRequested = false;
// Declared before use by requestRecycle (which only runs after the server exists).
let server: ReturnType<typeof createWorkerServer>;
function requestRecycle(reason: RecycleReason): void {
  if (recycleRequested) return;
  recycleRequested = true;
  send({ t: 'recycle', reason, rss: process.memoryUsage.rss(), requests: server.stats.requests });
}

// Before the app is imported, so that the app sees the lightweight globals (see fetch-fast.ts).
if (settings.fastFetch) installFastFetch();
const app = settings.workerClass === 'thread'
  ? (await createThreadPool({ appSpec: settings.app, appKind: settings.appKind, threads: settings.threads, workerId, log }).catch(bootFailed)).app
  : await loadApp(settings.app, settings.appKind).catch(bootFailed);
const accessLog = createAccessLog({ destination: settings.accessLog, format: settings.accessLogFormat, workerId });
const metrics = createWorkerMetrics(workerId);
const profiler = createProfiler({ dir: settings.profileDir, workerId, log, onProfile: (info) => send({ t: 'profile', info }) });
const loop = startLoopPressure(1000);
server = createWorkerServer({
  settings,
  app,
  workerId,
  log,
  accessLog,
  metrics: settings.metrics ? metrics : undefined,
  profiler,
  profileKey: process.env.BALLAST_PROFILE_KEY,
  onSlowRequest: (report) => {
    const top = [...report.spans].sort((a, b) => (b.durationMs ?? 0) - (a.durationMs ?? 0))[0];
    log.warn(
      { code: 'BALLAST_SLOW_REQUEST', ...report },
      `slow request: ${report.method} ${report.path} took ${Math.round(report.durationMs)} ms (waiting on calls ${Math.round(report.waitingMs)} ms, own code ${Math.round(report.ownMs)} ms, queued ${Math.round(report.queueWaitMs)} ms)${top ? `; longest: ${top.name} ${Math.round(top.durationMs ?? 0)} ms` : ''}`,
    );
    send({ t: 'report', report: { kind: 'slow', workerId, pid: process.pid, time: Date.now(), ...report } });
  },
  maxRequests,
  onMaxRequests: () => requestRecycle('max-requests'),
});
/**
 * reuseport: the sockets this worker's slot already has (the supervisor keeps a copy of every
 * worker's), one entry per bind address, undefined where this worker binds a new one. Taking
 * over the socket is what makes a reload, recycle or crash lose nothing: the connections queued
 * on it wait for the next worker instead of being reset when the old one closes it.
 */
function slotSockets(count: number): Promise<Array<ListenHandle | undefined>> {
  if (!process.connected || count === 0) return Promise.resolve([]);
  return new Promise((resolve) => {
    const handles: Array<ListenHandle | undefined> = new Array(count).fill(undefined);
    let answers = 0;
    const onMessage = (message: SupervisorMessage, handle: ListenHandle | undefined) => {
      if (message?.t !== 'socket') return;
      if (message.has && handle) handles[message.bind] = handle;
      if (++answers === count) {
        process.off('message', onMessage);
        resolve(handles);
      }
    };
    process.on('message', onMessage);
    send({ t: 'sockets-request' });
  });
}

const inherited = reusePort ? await slotSockets(settings.bind.length) : [];
const addresses = await server.listen(settings.bind.map((address) => parseBind(address)), reusePort, inherited).catch(bootFailed);
if (reusePort) {
  // The supervisor's copies of the sockets this worker bound itself.
  for (const [bind, handle] of server.listenHandles().entries()) if (!inherited[bind]) send({ t: 'socket', bind }, handle);
}

/**
 * A round trip with the supervisor after our listening sockets closed. IPC is ordered both ways:
 * once its answer arrives, every connection it handed us before it saw the close has arrived too
 * (and been refused back to it, so it goes to another worker). Exiting earlier could strand one.
 */
let stoppedAcceptingAck: (() => void) | undefined;
function confirmStoppedAccepting(): Promise<void> {
  if (!process.connected) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2000); // the supervisor is gone or stuck: do not wait forever
    stoppedAcceptingAck = () => {
      clearTimeout(timer);
      resolve();
    };
    send({ t: 'stopped-accepting' });
  });
}

let draining: Promise<void> | undefined;
function drain(gracefulTimeoutMs: number): Promise<void> {
  draining ??= server.drain(gracefulTimeoutMs, confirmStoppedAccepting).then(async ({ forcedConnections }) => {
    await watchdog?.stop();
    // Every line in order (a synchronous flush could overtake a write under way), within a bound.
    if (accessLog) {
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([accessLog.close(), new Promise<void>((resolve) => { bound = setTimeout(resolve, 2000); })]);
      clearTimeout(bound);
      accessLog.flush();
    }
    process.exit(forcedConnections > 0 ? exitCodes.failure : exitCodes.ok);
  });
  return draining;
}

process.on('message', (message: SupervisorMessage, handle?: ListenHandle) => {
  switch (message?.t) {
    case 'adopt':
      if (handle) {
        server.adopt(message.slot, message.bind, handle).catch((error: unknown) => log.warn({ err: error, slot: message.slot }, 'could not accept from another worker\'s socket'));
      }
      break;
    case 'release':
      server.release(message.slot);
      break;
    case 'drain':
      void drain(message.gracefulTimeoutMs);
      break;
    case 'stopped-accepting-ack':
      stoppedAcceptingAck?.();
      break;
    case 'profile-requests':
      profiler.armForPath(message.path, message.count);
      log.info({ path: message.path, count: message.count }, `will profile the next ${message.count} request(s) to ${message.path}`);
      break;
    case 'profile-for':
      void profiler.start(`admin: ${message.seconds} s`).then((started) => {
        if (started) setTimeout(() => void profiler.stop(), message.seconds * 1000);
        else log.warn({}, 'a profile is already running in this worker; request ignored');
      });
      break;
    case 'heap-snapshot':
      void profiler.heapSnapshot('admin');
      break;
  }
});
// Orphaned (the supervisor died): finish what is in flight, then go.
process.on('disconnect', () => void drain(settings.gracefulTimeout));
process.on('SIGTERM', () => void drain(settings.gracefulTimeout));
process.on('uncaughtException', (error) => {
  log.fatal({ err: error }, 'uncaught exception in the app: this worker will be replaced');
  requestRecycle('uncaught-exception');
});
process.on('unhandledRejection', (reason) => {
  log.error({ err: reason }, 'unhandled promise rejection in the app');
});

function onWatchdog(message: WatchdogMessage): void {
  const inFlight = server.inFlight();
  if (message.t === 'stall') {
    metrics.stall();
    send({ t: 'report', report: { kind: 'stall', workerId, pid: process.pid, time: message.capturedAt, blockedMs: message.blockedMs, stack: formatStack(message.stack), inFlight: message.inFlight } });
    // The thread already wrote its evidence to stderr while we were blocked; this is the
    // structured record with what we know now.
    const top = message.stack.find((frame) => frame.url && !frame.url.startsWith('node:')) ?? message.stack[0];
    log.warn(
      { code: 'BALLAST_STALL_REPORT', blockedMs: message.blockedMs, stack: formatStack(message.stack), inFlightAtStall: message.inFlight, inFlightNow: inFlight },
      `stall report: event loop was blocked for ${message.blockedMs}+ ms${top ? ` in ${top.functionName} (${top.url}:${top.line})` : ''}${message.inFlight[0] ? ` during ${message.inFlight[0].method} ${message.inFlight[0].path}` : ''}`,
    );
  } else {
    log.error(
      { code: 'BALLAST_STALL_ESCALATED', blockedMs: message.blockedMs, timeoutMs: settings.timeout, inFlight },
      `event loop blocked past the ${settings.timeout} ms deadline: the running handler was stopped; replacing this worker`,
    );
    requestRecycle('stuck');
  }
}

const watchdog = settings.stallMs > 0
  ? startWatchdog({
    stallMs: settings.stallMs,
    escalateMs: settings.timeout > 0 ? Math.max(settings.timeout, settings.stallMs) : 0,
    workerId,
    onMessage: onWatchdog,
    inFlight: () => server.inFlight(),
  })
  : undefined;

let heapSnapshotTaken = false;
const heartbeat = setInterval(() => {
  const memory = process.memoryUsage();
  if (settings.maxMemory > 0 && memory.rss > settings.maxMemory && !recycleRequested) {
    // Evidence first (what filled the memory?), then the replacement.
    const snapshot = settings.heapSnapshotOnMaxMemory && !heapSnapshotTaken ? profiler.heapSnapshot('max-memory').catch((error: unknown) => log.warn({ err: error }, 'heap snapshot failed')) : Promise.resolve();
    heapSnapshotTaken = true;
    void snapshot.then(() => requestRecycle('max-memory'));
  }
  const stats = server.stats;
  metrics.setGauges({
    inFlight: stats.inFlight, queued: stats.queued, limit: stats.limit, rss: memory.rss, heapUsed: memory.heapUsed,
    loopUtilisation: loop.utilisation, loopDelayP99Ms: loop.delayP99Ms, openStreams: stats.streams,
  });
  void metrics.registry.getMetricsAsJSON().then((snapshot) => {
    send({ t: 'stats', rss: memory.rss, heapUsed: memory.heapUsed, loopUtilisation: loop.utilisation, loopDelayP99Ms: loop.delayP99Ms, ...stats, metrics: snapshot });
  });
}, 1000);
heartbeat.unref();

send({ t: 'ready', addresses });
