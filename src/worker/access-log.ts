// The access log: one record per response with time, request id, method, path, status, bytes on
// the wire, duration and queue wait (both ms), and worker id. JSON lines through pino by default;
// on a terminal, one readable line. Writes are asynchronous (sonic-boom) and flushed at exit.

import pino from 'pino';

export interface AccessRecord {
  reqId: string;
  method: string;
  path: string;
  status: number;
  bytes: number;
  durationMs: number;
  queueWaitMs: number;
}

export interface AccessLog {
  write(record: AccessRecord): void;
  flush(): void;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

export function createAccessLog(options: { destination: string; format: 'auto' | 'json' | 'pretty'; workerId: number }): AccessLog | undefined {
  if (options.destination === 'off') return undefined;
  const toStdout = options.destination === '-';
  const pretty = options.format === 'pretty' || (options.format === 'auto' && toStdout && Boolean(process.stdout.isTTY));
  // Buffered: one write per ~4 KiB of lines instead of one per request (bench/hello measured the
  // unbuffered log at ~15 µs per request); flushed every second and at exit, so a quiet server's
  // lines still show up promptly. A terminal gets every line at once.
  const interactive = pretty && toStdout;
  const minLength = interactive ? 0 : 4096;
  const stream = pino.destination(toStdout ? { fd: 1, sync: false, minLength } : { dest: options.destination, mkdir: true, append: true, sync: false, minLength });
  if (minLength > 0) {
    const timer = setInterval(() => {
      try {
        stream.flush();
      } catch {
        // not open yet, or already closed at exit: the next tick or flushSync covers it
      }
    }, 1000);
    timer.unref();
  }

  if (pretty) {
    return {
      write(r) {
        const time = new Date().toISOString().slice(11, 23);
        const queue = r.queueWaitMs >= 0.05 ? ` queued ${r.queueWaitMs.toFixed(1)}ms` : '';
        stream.write(`${time} w${options.workerId} ${r.method} ${r.path} ${r.status} ${r.bytes}B ${r.durationMs.toFixed(1)}ms${queue} ${r.reqId}\n`);
      },
      flush() { try { stream.flushSync(); } catch { /* nothing buffered, or fd gone */ } },
    };
  }
  // pino's line format (level, time, pid, then the fields), built directly: the record has a fixed
  // shape, so the generic serializer is not needed on the hot path. Strings that come from the
  // client (path, request id) go through JSON.stringify; the method is an HTTP token.
  const prefix = `{"level":30,"time":`;
  const middle = `,"pid":${process.pid},"worker":${options.workerId},"reqId":`;
  return {
    write(r) {
      stream.write(
        `${prefix}${Date.now()}${middle}${JSON.stringify(r.reqId)},"method":${JSON.stringify(r.method)},"path":${JSON.stringify(r.path)},` +
          `"status":${r.status},"bytes":${r.bytes},"durationMs":${round(r.durationMs)},"queueWaitMs":${round(r.queueWaitMs)}}\n`,
      );
    },
    flush() { try { stream.flushSync(); } catch { /* nothing buffered, or fd gone */ } },
  };
}
