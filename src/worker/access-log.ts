// The access log: one record per response with time, request id, method, path, status, bytes on
// the wire, duration and queue wait (both ms), and worker id. JSON lines through pino by default;
// on a terminal, one readable line. Writes are asynchronous (sonic-boom) and flushed at exit.

import { performance } from 'node:perf_hooks';
import pino from 'pino';

export interface AccessRecord {
  reqId: string;
  method: string;
  path: string;
  status: number;
  bytes: number;
  durationMs: number;
  queueWaitMs: number;
  /**
   * performance.now() at the response's end, when the caller read the clock anyway: the line's
   * `time` is then derived from it instead of reading the wall clock again. Default: now.
   */
  endedAt?: number;
}

export interface AccessLog {
  write(record: AccessRecord): void;
  /**
   * Writes what is collected now, synchronously (the last resort at process exit). While an
   * asynchronous write is still under way, what follows it can land first: prefer close().
   */
  flush(): void;
  /** Hands everything over and resolves once all of it is written, in order, and the file closed. */
  close(): Promise<void>;
}

/** Anything JSON.stringify would escape: quotes, backslashes, control characters, surrogates. */
const needsEscape = /[\u0000-\u001f"\\\ud800-\udfff]/;

/**
 * JSON.stringify(value) for a string, without the call when nothing needs escaping (request ids
 * and paths nearly always): a regular-expression test is cheaper than the serializer. Surrogates
 * go the slow way too, since lone ones are escaped and pairs are not.
 */
export function jsonString(value: string): string {
  return needsEscape.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/** ".001" to ".999" (trailing zeros dropped, as String() does), and "" for a whole number. */
const fractions = Array.from({ length: 1000 }, (_, i) => (i === 0 ? '' : String(i / 1000).slice(1)));

/**
 * String(Math.round(ms * 1000) / 1000), i.e. milliseconds to the microsecond, shortest form.
 * Below 1e9 ms the quotient has at most 12 significant digits, so its shortest round-trip form is
 * exactly "integer part" + "fraction without trailing zeros": built from an integer and a table,
 * without the general double-to-string conversion. Anything else takes the general path.
 */
export function formatMs(ms: number): string {
  const micros = Math.round(ms * 1000);
  if (micros >= 0 && micros < 1e12) {
    const fraction = micros % 1000;
    return `${(micros - fraction) / 1000}${fractions[fraction]}`;
  }
  return String(micros / 1000);
}

/**
 * Lines collected in a Buffer and handed to the stream a chunk at a time, as Buffers. sonic-boom
 * batching strings itself cost several µs per request in bench/hello: on every write it takes the
 * UTF-8 length of its whole pending string (~1 µs per request alone under perf), then encodes each
 * batch twice. Here each line is encoded once, a few lines per call, and the stream does one write
 * per chunk.
 */
export interface LineBatch {
  append(line: string): void;
  /** Hands what is collected to the stream (written asynchronously). */
  handOver(): void;
}

// 256 KiB: one write per ~1,300 lines. CPU per line (thread pool included) writing 2M lines to a
// file: 0.52 µs with 64 KiB chunks, 0.45 with 128, 0.43 with 256, no better with more.
export const batchBytes = 256 * 1024;
/** Lines joined before encoding: one native call (and one flatten) for several lines. */
const linesPerEncode = 16;

export function createLineBatch(writeChunk: (chunk: Buffer) => void, size = batchBytes): LineBatch {
  let chunk = Buffer.allocUnsafeSlow(size);
  let length = 0;
  let pending = '';
  let pendingLines = 0;
  const handOverChunk = () => {
    if (length === 0) return;
    if (length < size / 4) {
      // A quiet second's few lines: a copy, so the chunk stays ours.
      writeChunk(Buffer.from(chunk.subarray(0, length)));
    } else {
      // The stream keeps the chunk until it is written: a new one for the next lines.
      writeChunk(chunk.subarray(0, length));
      chunk = Buffer.allocUnsafeSlow(size);
    }
    length = 0;
  };
  const encodePending = () => {
    if (pendingLines === 0) return;
    const text = pending;
    pending = '';
    pendingLines = 0;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit: make room for the worst case.
    if (length + text.length * 3 > size) {
      handOverChunk();
      if (text.length * 3 > size) {
        writeChunk(Buffer.from(text));
        return;
      }
    }
    length += chunk.write(text, length);
  };
  return {
    append(line) {
      pending += line;
      if (++pendingLines === linesPerEncode) encodePending();
    },
    handOver() {
      encodePending();
      handOverChunk();
    },
  };
}

/**
 * Wall-clock milliseconds (Date.now()) from performance.now() values: a clock read costs ~80 ns on
 * this project's VMs, and the server has just read the monotonic clock when a response ends.
 * The offset is re-checked by sync() (every second): the monotonic clock is slewed with the wall
 * clock but not stepped, so a step (a manual or NTP correction) shows up within a second.
 */
export function createWallClock(now: () => number = () => performance.now(), wallNow: () => number = Date.now): { fromMonotonic(at: number): number; sync(): void } {
  let offsetMs = 0;
  const measure = () => {
    // Date.now() truncates to the millisecond: half a millisecond centres the error.
    offsetMs = wallNow() + 0.5 - now();
  };
  measure();
  return {
    fromMonotonic: (at) => Math.floor(at + offsetMs),
    sync() {
      const drift = wallNow() - Math.floor(now() + offsetMs);
      if (drift > 1 || drift < -1) measure();
    },
  };
}

export function createAccessLog(options: { destination: string; format: 'auto' | 'json' | 'pretty'; workerId: number }): AccessLog | undefined {
  if (options.destination === 'off') return undefined;
  const toStdout = options.destination === '-';
  const pretty = options.format === 'pretty' || (options.format === 'auto' && toStdout && Boolean(process.stdout.isTTY));
  // A terminal gets every line at once. Otherwise lines are batched (see createLineBatch), the
  // batch handed over every second and at exit, so a quiet server's lines still show up promptly.
  const interactive = pretty && toStdout;
  const destination = toStdout ? { fd: 1 } : { dest: options.destination, mkdir: true, append: true };
  const stream = pino.destination({ ...destination, sync: false, minLength: 0, contentMode: interactive ? 'utf8' : 'buffer' });
  const clock = createWallClock();
  let writeLine: (line: string) => void;
  let flush: () => void;
  let handOver = (): void => {};
  if (interactive) {
    writeLine = (line) => void stream.write(line);
    flush = () => {
      try { stream.flushSync(); } catch { /* nothing buffered, or fd gone */ }
    };
  } else {
    // In buffer mode sonic-boom takes Buffers (its bundled types only declare strings).
    const batch = createLineBatch((chunk) => void (stream as unknown as { write(chunk: Buffer): boolean }).write(chunk));
    writeLine = batch.append;
    handOver = batch.handOver;
    flush = () => {
      try {
        batch.handOver();
        stream.flushSync();
      } catch {
        // not open yet (the lines stay queued in the stream), or already closed at exit
      }
    };
    const timer = setInterval(() => {
      clock.sync();
      try {
        batch.handOver();
      } catch {
        // already closed at exit
      }
    }, 1000);
    timer.unref();
    // pino flushes the stream at exit, but not the lines still in the batch.
    process.once('exit', flush);
  }

  // sonic-boom's end() waits for the write under way, writes the rest behind it, then closes.
  const close = () => new Promise<void>((resolve) => {
    try {
      handOver();
    } catch {
      // already closed
    }
    stream.once('close', () => resolve());
    stream.once('error', () => resolve());
    try {
      stream.end();
    } catch {
      resolve(); // already destroyed
    }
  });

  if (pretty) {
    return {
      write(r) {
        const time = new Date().toISOString().slice(11, 23);
        const queue = r.queueWaitMs >= 0.05 ? ` queued ${r.queueWaitMs.toFixed(1)}ms` : '';
        writeLine(`${time} w${options.workerId} ${r.method} ${r.path} ${r.status} ${r.bytes}B ${r.durationMs.toFixed(1)}ms${queue} ${r.reqId}\n`);
      },
      flush,
      close,
    };
  }
  // pino's line format (level, time, pid, then the fields), built directly: the record has a fixed
  // shape, so the generic serializer is not needed on the hot path. Strings are JSON-escaped
  // (as by JSON.stringify), durations rounded to the microsecond (formatMs).
  const prefix = `{"level":30,"time":`;
  const middle = `,"pid":${process.pid},"worker":${options.workerId},"reqId":`;
  // The line up to the request id, for the last millisecond seen: at tens of thousands of lines
  // a second most lines reuse it (a 13-digit time is a heap number, slow to turn into a string).
  let lastTime = -1;
  let head = '';
  return {
    write(r) {
      const { reqId, method, path } = r;
      const time = r.endedAt === undefined ? Date.now() : clock.fromMonotonic(r.endedAt);
      if (time !== lastTime) {
        lastTime = time;
        head = `${prefix}${time}${middle}`;
      }
      const numbers = `"status":${r.status},"bytes":${r.bytes},"durationMs":${formatMs(r.durationMs)},"queueWaitMs":${r.queueWaitMs === 0 ? '0' : formatMs(r.queueWaitMs)}}\n`;
      // Usually no string needs escaping: the quotes then go in the constant parts. (Node's
      // parser only accepts known methods, so GET, the usual one, is not tested.)
      if (needsEscape.test(reqId) || (method !== 'GET' && needsEscape.test(method)) || needsEscape.test(path)) {
        writeLine(`${head}${jsonString(reqId)},"method":${jsonString(method)},"path":${jsonString(path)},${numbers}`);
      } else {
        writeLine(`${head}"${reqId}","method":"${method}","path":"${path}",${numbers}`);
      }
    },
    flush,
    close,
  };
}
