// The two ends of a body crossing threads under credit-based flow control (see protocol.ts).
// The receiving end is a ReadableStream that holds at most one window of chunks and returns
// credit as its reader takes them; the sending end waits on a CreditGate when a window is out.

export interface InboundBody {
  readonly stream: ReadableStream<Uint8Array>;
  push(chunk: Uint8Array): void;
  end(): void;
  fail(error: unknown): void;
}

/**
 * A ReadableStream fed by `push`. highWaterMark 0: chunks leave the queue only when the reader
 * asks, so `onConsumed` (the credit) follows the real consumer, not an internal buffer.
 * `onCancel` runs when the reader gives up (the client went away mid-body).
 */
export function createInboundBody(onConsumed: (bytes: number) => void, onCancel: (reason: unknown) => void): InboundBody {
  const queue: Uint8Array[] = [];
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let isWanted = false;
  let isEnded = false;
  let isClosed = false;

  function deliver(chunk: Uint8Array): void {
    controller.enqueue(chunk);
    onConsumed(chunk.byteLength);
    if (isEnded && queue.length === 0) close();
  }

  function close(): void {
    if (isClosed) return;
    isClosed = true;
    controller.close();
  }

  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        const chunk = queue.shift();
        if (chunk !== undefined) deliver(chunk);
        else if (isEnded) close();
        else isWanted = true;
      },
      cancel(reason) {
        isClosed = true;
        queue.length = 0;
        onCancel(reason);
      },
    },
    { highWaterMark: 0 },
  );

  return {
    stream,
    push(chunk) {
      if (isClosed || isEnded) return;
      if (isWanted) {
        isWanted = false;
        deliver(chunk);
      } else {
        queue.push(chunk);
      }
    },
    end() {
      if (isClosed || isEnded) return;
      isEnded = true;
      if (queue.length === 0) close();
    },
    fail(error) {
      if (isClosed) return;
      isClosed = true;
      queue.length = 0;
      controller.error(error);
    },
  };
}

/** The sender's side of the window: `spend` on send, `refund` on credit, wait while full. */
export class CreditGate {
  readonly windowBytes: number;
  #outstanding = 0;
  #waiter: PromiseWithResolvers<void> | undefined;
  #isClosed = false;

  constructor(windowBytes: number) {
    this.windowBytes = windowBytes;
  }

  spend(bytes: number): void {
    this.#outstanding += bytes;
  }

  refund(bytes: number): void {
    this.#outstanding -= bytes;
    if (this.#outstanding < this.windowBytes) this.#wake();
  }

  /** undefined when there is room (or the gate is closed); else a promise for when there is. */
  whenOpen(): Promise<void> | undefined {
    if (this.#isClosed || this.#outstanding < this.windowBytes) return undefined;
    this.#waiter ??= Promise.withResolvers<void>();
    return this.#waiter.promise;
  }

  /** Releases any waiter for good: the body's request is over. */
  close(): void {
    this.#isClosed = true;
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }
}
