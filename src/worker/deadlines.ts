// Request deadlines without a timer per request. A setTimeout per request (and its clearTimeout
// at the response's end) cost ~0.4 µs of a hello-world request's ~13 µs in bench/hello: Node's
// timer list insert reads the libuv clock natively and allocates a Timeout and a closure. All
// requests with the same deadline duration expire in the order they started, so one list per
// duration, kept in deadline order, with one timer aimed at its head, is enough: adding and
// removing a request are a few pointer writes, and the timer is re-armed about once per duration
// under steady load (when it fires for a head that has since finished, it re-aims at the new one).
// Deadlines fire as precisely as a per-request setTimeout would.

import { performance } from 'node:perf_hooks';

/** What a DeadlineQueue links: the fields live on the caller's own per-request object. */
export interface DeadlineNode {
  /** performance.now() value at which the deadline passes. */
  deadlineAt: number;
  deadlinePrev: DeadlineNode | undefined;
  deadlineNext: DeadlineNode | undefined;
  /** The queue the node is in, if any. */
  deadlineQueue: DeadlineQueue<DeadlineNode> | undefined;
}

export class DeadlineQueue<T extends DeadlineNode> {
  readonly durationMs: number;
  readonly #onExpire: (node: T, durationMs: number) => void;
  readonly #now: () => number;
  #head: T | undefined;
  #tail: T | undefined;
  #size = 0;
  #timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (ms, the same clock as deadlineAt). */
  #timerAt = Infinity;

  /**
   * `onExpire` is called once per node whose deadline passed while it was queued, after it was
   * removed, with this queue's duration. `now` is the clock of the `startedAt` values given to add() (performance.now()).
   */
  constructor(durationMs: number, onExpire: (node: T, durationMs: number) => void, now: () => number = () => performance.now()) {
    if (!(durationMs > 0)) throw new RangeError(`expected \`durationMs\` to be a positive number, got \`${durationMs}\``);
    this.durationMs = durationMs;
    this.#onExpire = onExpire;
    this.#now = now;
  }

  get size(): number {
    return this.#size;
  }

  /** Queues `node` to expire `durationMs` after `startedAt`. A node already in a queue is moved. */
  add(node: T, startedAt: number): void {
    if (node.deadlineQueue) node.deadlineQueue.remove(node);
    node.deadlineAt = startedAt + this.durationMs;
    node.deadlineQueue = this as unknown as DeadlineQueue<DeadlineNode>;
    this.#size++;
    // Nearly always the latest deadline: append. Otherwise walk back to its place.
    let after = this.#tail;
    while (after && after.deadlineAt > node.deadlineAt) after = after.deadlinePrev as T | undefined;
    node.deadlinePrev = after;
    node.deadlineNext = after ? after.deadlineNext : this.#head;
    if (node.deadlineNext) node.deadlineNext.deadlinePrev = node;
    else this.#tail = node;
    if (after) after.deadlineNext = node;
    else this.#head = node;
    if (node.deadlineAt < this.#timerAt) this.#arm(node.deadlineAt);
  }

  /** Takes `node` out (its request finished); a no-op when it is not in this queue. */
  remove(node: T): void {
    if (node.deadlineQueue !== (this as unknown as DeadlineQueue<DeadlineNode>)) return;
    const { deadlinePrev: prev, deadlineNext: next } = node;
    if (prev) prev.deadlineNext = next;
    else this.#head = next as T | undefined;
    if (next) next.deadlinePrev = prev;
    else this.#tail = prev as T | undefined;
    node.deadlinePrev = undefined;
    node.deadlineNext = undefined;
    node.deadlineQueue = undefined;
    this.#size--;
    // The timer stays armed: when it fires early it re-aims at the new head. Clearing it here
    // would cost what a per-request timer costs whenever the queue empties (nearly every
    // request, when each is answered within one event-loop turn).
  }

  /** Stops the timer; queued nodes stay queued and expire only if a later add() re-arms it. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    // Whole milliseconds, rounded up: Node's timers may fire up to 1 ms before the libuv clock
    // says, and an early wake-up only re-arms.
    this.#timer = setTimeout(this.#fire, Math.max(1, Math.ceil(at - this.#now())));
    // Every queued request holds a socket, which keeps the process alive; an armed timer for a
    // queue that has since emptied must not.
    this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#now();
    let head = this.#head;
    while (head && head.deadlineAt <= now) {
      this.remove(head);
      this.#onExpire(head, this.durationMs);
      head = this.#head;
    }
    if (head && !this.#timer) this.#arm(head.deadlineAt);
  };
}
