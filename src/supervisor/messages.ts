// The IPC protocol between the supervisor and its workers. Every message has a `t` (type).

import type { ErrorCode } from '../errors.ts';
import type { WorkerStats } from '../worker/http-server.ts';
import type { MetricsSnapshot } from '../introspection/metrics.ts';
import type { Report } from '../introspection/reports.ts';
import type { ProfileInfo } from '../introspection/profiler.ts';

export type RecycleReason = 'max-requests' | 'max-memory' | 'uncaught-exception' | 'stuck';

export type WorkerMessage =
  | { t: 'ready'; addresses: Array<{ host: string; port: number }> }
  | { t: 'boot-error'; code: ErrorCode; message: string; detail: string }
  | { t: 'recycle'; reason: RecycleReason; rss: number; requests: number }
  | ({ t: 'stats'; rss: number; heapUsed: number; loopUtilisation: number; loopDelayP99Ms: number; metrics: MetricsSnapshot } & WorkerStats)
  | { t: 'report'; report: Report }
  | { t: 'profile'; info: ProfileInfo }
  | { t: 'stopped-accepting' }
  // reuseport: a booting worker asks for its slot's sockets; a worker that had to bind new ones
  // sends the supervisor a copy of each (the handle rides along with the message).
  | { t: 'sockets-request' }
  | { t: 'socket'; bind: number };

export type SupervisorMessage =
  | { t: 'drain'; gracefulTimeoutMs: number }
  | { t: 'profile-requests'; path: string; count: number }
  | { t: 'profile-for'; seconds: number }
  | { t: 'heap-snapshot' }
  | { t: 'stopped-accepting-ack' }
  // reuseport: one answer per bind address to 'sockets-request', with the slot's socket when the
  // supervisor has one (has: false: bind a new one); adopt/release another slot's sockets.
  | { t: 'socket'; bind: number; has: boolean }
  | { t: 'adopt'; slot: number; bind: number }
  | { t: 'release'; slot: number };

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string';
}
