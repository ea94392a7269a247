// Server-Sent Events as a workload of their own: N streams are opened and held for --hold, then
// closed and reopened, until the run ends. Per stream we measure the connect time (request to
// response headers), the time to the first event, the gap between consecutive events, and the
// events received; a stream that the server ends (or that fails) before its hold time is a drop.
// A dropped stream reconnects after 1 s, as EventSource does by default (its `retry` is ~3 s in
// browsers; 1 s keeps the drop visible without hammering a failing server). Events are counted by
// their terminating blank line (`\n\n` or `\r\n\r\n`), across chunk boundaries, without decoding.

import type { GroupRecorder } from '../recorder.ts';
import type { GroupSpec } from '../types.ts';
import { classifyError, type GroupTransport, type RequestHandler } from './transport.ts';
import type { Executor, ExecutorClock } from './executor.ts';

const reconnectDelayMs = 1000;

/**
 * Counts SSE events in `chunk`: an event ends with a blank line, i.e. a LF that follows a LF with
 * nothing but CRs between them (`\n\n`, `\r\n\r\n`). `wasNewline` carries the state across
 * chunks; the new state is returned. Scans with indexOf, without decoding.
 */
export function scanEvents(chunk: Uint8Array, wasNewline: boolean, onEvent: () => void): boolean {
  let state = wasNewline;
  let from = 0;
  for (;;) {
    const at = chunk.indexOf(10, from);
    if (at === -1) {
      for (let i = from; i < chunk.length; i++) {
        if (chunk[i] !== 13) {
          state = false;
          break;
        }
      }
      return state;
    }
    let isBlank = state;
    if (isBlank) {
      for (let i = from; i < at; i++) {
        if (chunk[i] !== 13) {
          isBlank = false;
          break;
        }
      }
    }
    if (isBlank) {
      onEvent();
      state = false;
    } else {
      state = true;
    }
    from = at + 1;
  }
}

class Stream implements RequestHandler {
  startMs = 0;
  lastEventMs = 0;
  events = 0;
  status = 0;
  isOpen = false;
  isClosingByUs = false;
  wasNewline = false;
  abort: ((error?: Error) => void) | undefined;
  holdTimer: NodeJS.Timeout | undefined;
  #executor: StreamExecutor;

  constructor(executor: StreamExecutor) {
    this.#executor = executor;
  }

  onConnect(abort: (error?: Error) => void): void {
    this.abort = abort;
  }
  onHeaders(statusCode: number): boolean {
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.#executor.opened(this);
    return true;
  }
  onData(chunk: Buffer): boolean {
    if (this.isOpen) this.wasNewline = scanEvents(chunk, this.wasNewline, this.#onEvent);
    return true;
  }
  #onEvent = () => this.#executor.event(this);
  onComplete(): void {
    this.#executor.closed(this, undefined);
  }
  onError(error: Error): void {
    this.#executor.closed(this, error);
  }
}

export class StreamExecutor implements Executor {
  #group: GroupSpec;
  #transport: GroupTransport;
  #recorder: GroupRecorder;
  #clock: ExecutorClock;
  #count: number;
  #streams: Stream[] = [];
  #open = 0;
  #isStopping = false;
  #timers = new Set<NodeJS.Timeout>();

  constructor(group: GroupSpec, share: { streams: number }, transport: GroupTransport, recorder: GroupRecorder, clock: ExecutorClock) {
    this.#group = group;
    this.#transport = transport;
    this.#recorder = recorder;
    this.#clock = clock;
    this.#count = share.streams;
  }

  start(): void {
    this.#recorder.setTarget(this.#count);
    for (let i = 0; i < this.#count; i++) {
      const stream = new Stream(this);
      this.#streams.push(stream);
      this.#connect(stream);
    }
  }

  #connect(stream: Stream): void {
    if (this.#isStopping) return;
    stream.startMs = performance.now();
    stream.lastEventMs = 0;
    stream.events = 0;
    stream.status = 0;
    stream.isOpen = false;
    stream.isClosingByUs = false;
    stream.wasNewline = false;
    stream.abort = undefined;
    this.#transport.send(this.#transport.pick(), stream);
  }

  opened(stream: Stream): void {
    const now = performance.now();
    if (stream.status >= 300) return; // an error answer: counted when it ends
    stream.isOpen = true;
    this.#open++;
    this.#recorder.noteConcurrency(this.#open);
    this.#recorder.recordStreamOpened(now, (now - stream.startMs) * 1000);
    const remainingMs = Math.min(this.#group.holdMs - (now - stream.startMs), this.#clock.startMs + this.#clock.durationMs - now + 1000);
    stream.holdTimer = setTimeout(() => {
      stream.holdTimer = undefined;
      if (!stream.isOpen) return;
      stream.isClosingByUs = true;
      stream.abort?.();
    }, Math.max(0, remainingMs));
  }

  event(stream: Stream): void {
    const now = performance.now();
    const isFirst = stream.events === 0;
    this.#recorder.recordEvent(now, isFirst, (now - (isFirst ? stream.startMs : stream.lastEventMs)) * 1000);
    stream.events++;
    stream.lastEventMs = now;
  }

  closed(stream: Stream, error: Error | undefined): void {
    const now = performance.now();
    if (stream.holdTimer) clearTimeout(stream.holdTimer);
    stream.holdTimer = undefined;
    if (stream.isOpen) {
      stream.isOpen = false;
      this.#open--;
      this.#recorder.noteConcurrency(this.#open);
      const isDrop = !stream.isClosingByUs && !this.#isStopping;
      this.#recorder.recordStreamClosed(now, isDrop, stream.events);
      if (!isDrop) {
        this.#connect(stream);
        return;
      }
    } else if (!this.#isStopping) {
      this.#recorder.recordStreamError(now, stream.status >= 300 ? stream.status : 0, error ? classifyError(error) : 'other');
    }
    if (this.#isStopping) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#connect(stream);
    }, reconnectDelayMs);
    this.#timers.add(timer);
  }

  async stop(): Promise<void> {
    this.#isStopping = true;
    for (const timer of this.#timers) clearTimeout(timer);
    // Streams open at the end were held to the end: completed, not dropped.
    for (const stream of this.#streams) {
      if (stream.isOpen) {
        stream.isClosingByUs = true;
        stream.abort?.();
      }
    }
    await this.#transport.destroy();
  }
}
