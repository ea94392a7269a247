// The messages between a worker's main thread (the pool) and its handler threads. One channel per
// thread (the Worker's own port), requests multiplexed by a numeric id: a MessageChannel per
// request would cost a port pair and a transfer on every request for no gain.
//
// Bodies flow in chunks under credit-based flow control, in both directions: a sender may have at
// most `bodyWindowBytes` sent and not yet consumed by the receiver, and the receiver returns
// credit as its consumer reads. MessagePorts have no back-pressure of their own, so without this
// a fast app streaming to a slow client (or a fast upload to a slow app) would buffer without
// bound.

/** Bytes a sender may have in flight (sent, not yet consumed) per body. */
export const bodyWindowBytes = 128 * 1024;

/** Flat list of header name/value pairs: [name0, value0, name1, value1, ...]. */
export type FlatHeaders = string[];

/** Main thread → handler thread. */
export type ToThread =
  | { t: 'request'; id: number; method: string; url: string; headers: FlatHeaders; requestId: string; hasBody: boolean }
  | { t: 'body-chunk'; id: number; chunk: Uint8Array }
  | { t: 'body-end'; id: number }
  | { t: 'body-error'; id: number; message: string }
  /** Response body bytes the main thread has consumed. */
  | { t: 'credit'; id: number; bytes: number }
  | { t: 'abort'; id: number; reason: string; name: string }
  | { t: 'ping'; seq: number };

/** Handler thread → main thread. */
export type FromThread =
  | { t: 'ready'; kind: 'fetch' | 'node' }
  | { t: 'boot-error'; code: string; message: string; stack?: string }
  /** The response head; `body` is the whole body when it was complete at once (`end` true). */
  | { t: 'head'; id: number; status: number; statusText: string; headers: FlatHeaders; body: Uint8Array | null; end: boolean }
  | { t: 'chunk'; id: number; chunk: Uint8Array }
  | { t: 'end'; id: number }
  /** The handler failed: before the head, the request fails; after it, the body stream does. */
  | { t: 'error'; id: number; code?: string; message: string; stack?: string }
  /** Request body bytes the thread has consumed. */
  | { t: 'credit'; id: number; bytes: number }
  | { t: 'pong'; seq: number }
  | { t: 'log'; level: 'warn' | 'error'; msg: string; stack?: string };

/**
 * A copy of `chunk` in an ArrayBuffer of its own, ready to be transferred. Posting a view
 * without transfer would structured-clone its whole backing store (an 8 KiB Buffer pool slab
 * for a 10-byte chunk), and transferring a buffer we do not own would detach memory the app or
 * Node still uses (a constant the app enqueues on every request, a pooled socket buffer). One
 * exact-size copy, then a zero-copy move, is the cheapest safe option.
 */
export function ownedCopy(chunk: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(chunk.byteLength);
  copy.set(chunk);
  return copy;
}

/** Whether a response status may carry a body (Response() throws for a body with these). */
export function isNullBodyStatus(status: number): boolean {
  return status === 101 || status === 103 || status === 204 || status === 205 || status === 304;
}
