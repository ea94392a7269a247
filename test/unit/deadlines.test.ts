import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineQueue, type DeadlineNode } from '../../src/worker/deadlines.ts';

interface Request extends DeadlineNode {
  name: string;
}

function request(name: string): Request {
  return { name, deadlineAt: 0, deadlinePrev: undefined, deadlineNext: undefined, deadlineQueue: undefined };
}

test('each request expires once, at its own deadline, in deadline order', async () => {
  const expired: Array<{ name: string; afterMs: number; durationMs: number }> = [];
  const t0 = performance.now();
  const queue = new DeadlineQueue<Request>(60, (node, durationMs) => expired.push({ name: node.name, afterMs: performance.now() - t0, durationMs }));
  queue.add(request('a'), t0);
  queue.add(request('b'), t0 + 40);
  assert.equal(queue.size, 2);
  await sleep(30);
  assert.equal(expired.length, 0);
  await sleep(50); // t ≈ 80: a (60) is due, b (100) is not
  assert.deepEqual(expired.map((e) => e.name), ['a']);
  assert.ok(expired[0]!.afterMs >= 60, `a expired after ${expired[0]!.afterMs} ms`);
  await sleep(60);
  assert.deepEqual(expired.map((e) => e.name), ['a', 'b']);
  assert.ok(expired[1]!.afterMs >= 100, `b expired after ${expired[1]!.afterMs} ms`);
  assert.deepEqual(expired.map((e) => e.durationMs), [60, 60]);
  assert.equal(queue.size, 0);
});

test('a removed request never expires, and the ones after it still do on time', async () => {
  const expired: string[] = [];
  const queue = new DeadlineQueue<Request>(40, (node) => expired.push(node.name));
  const now = performance.now();
  const first = request('first');
  const second = request('second');
  queue.add(first, now);
  queue.add(second, now + 20);
  queue.remove(first); // the timer is still aimed at first's deadline: it must re-aim at second
  queue.remove(first); // removing twice is harmless
  assert.equal(queue.size, 1);
  await sleep(50);
  assert.deepEqual(expired, []);
  await sleep(30);
  assert.deepEqual(expired, ['second']);
  assert.equal(first.deadlineQueue, undefined);
  assert.equal(second.deadlineQueue, undefined);
});

test('a request that started earlier than the newest one is put in its place', async () => {
  const expired: string[] = [];
  const queue = new DeadlineQueue<Request>(30, (node) => expired.push(node.name));
  const now = performance.now();
  queue.add(request('late'), now + 20);
  queue.add(request('early'), now); // out of order (a queued request admitted with an older start)
  queue.add(request('middle'), now + 10);
  await sleep(70);
  assert.deepEqual(expired, ['early', 'middle', 'late']);
});

test('removing every request mid-way leaves nothing to expire; later ones still expire', async () => {
  const expired: string[] = [];
  const queue = new DeadlineQueue<Request>(20, (node) => expired.push(node.name));
  for (let i = 0; i < 1000; i++) {
    const node = request(`r${i}`);
    queue.add(node, performance.now());
    queue.remove(node);
  }
  assert.equal(queue.size, 0);
  await sleep(40);
  assert.deepEqual(expired, []);
  queue.add(request('next'), performance.now());
  await sleep(40);
  assert.deepEqual(expired, ['next']);
});

test('a request moved to another queue expires there only', async () => {
  const expired: string[] = [];
  const short = new DeadlineQueue<Request>(20, (node) => expired.push(`short:${node.name}`));
  const long = new DeadlineQueue<Request>(60, (node) => expired.push(`long:${node.name}`));
  const node = request('x');
  short.add(node, performance.now());
  long.add(node, performance.now());
  assert.equal(short.size, 0);
  assert.equal(long.size, 1);
  await sleep(40);
  assert.deepEqual(expired, []);
  await sleep(50);
  assert.deepEqual(expired, ['long:x']);
});

test('an armed timer does not keep the process alive, and a duration must be positive', () => {
  assert.throws(() => new DeadlineQueue<Request>(0, () => {}), /expected `durationMs` to be a positive number, got `0`/);
  const queue = new DeadlineQueue<Request>(60_000, () => assert.fail('must not expire'));
  queue.add(request('idle'), performance.now());
  // The test runner would wait a minute here if the queue's timer were ref'd.
});
