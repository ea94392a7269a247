// The thread worker class against real processes: the app contract holds (Fetch, Hono, Express),
// CPU-heavy handlers do not delay other requests, a stuck thread is replaced with every client
// answered, streams flow as produced, and a client going away aborts ctx.signal in the thread.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { startServe, type ServeProcess } from '../helpers/serve.ts';

const running: ServeProcess[] = [];
after(async () => { await Promise.all(running.map((s) => s.stop())); });

async function serve(app: string, extra: string[] = []): Promise<ServeProcess> {
  const server = await startServe([app, '--worker-class', 'thread', '--workers', '1', '--bind', '127.0.0.1:0', '--access-log', 'off', ...extra]);
  running.push(server);
  return server;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

test('serves a Fetch function, a Hono app and an Express app in threads as the process class does', async () => {
  const [fetchApp, hono, express] = await Promise.all([
    serve('examples/fetch-app.ts', ['--threads', '2']),
    serve('examples/hono-app.ts', ['--threads', '2']),
    serve('examples/express-app.ts', ['--threads', '2']),
  ]);

  const hello = await fetch(`${fetchApp.url}/hello`);
  assert.equal(hello.status, 200);
  assert.equal(await hello.text(), 'Hello from a Fetch handler\n');
  // A body complete at once still goes out with Content-Length, not chunked.
  assert.equal(hello.headers.get('content-length'), String('Hello from a Fetch handler\n'.length));
  const echo = await fetch(`${fetchApp.url}/echo`, { method: 'POST', body: 'ping', headers: { 'x-request-id': 'thread-id-1' } });
  assert.deepEqual(await echo.json(), { length: 4, body: 'ping', requestId: 'thread-id-1' });
  assert.equal(echo.headers.get('x-request-id'), 'thread-id-1');
  assert.equal((await fetch(`${fetchApp.url}/nope`)).status, 404);
  // A body larger than a flow-control window crosses intact.
  const big = 'x'.repeat(600_000);
  const bigEcho = await fetch(`${fetchApp.url}/echo`, { method: 'POST', body: big });
  assert.equal(((await bigEcho.json()) as { length: number }).length, big.length);

  assert.equal(await (await fetch(`${hono.url}/hello`)).text(), 'Hello from Hono\n');
  assert.deepEqual(await (await fetch(`${hono.url}/users/42`)).json(), { id: '42' });
  const honoEcho = await fetch(`${hono.url}/echo`, { method: 'POST', body: JSON.stringify({ a: 1 }), headers: { 'content-type': 'application/json' } });
  assert.deepEqual(await honoEcho.json(), { received: { a: 1 } });

  const expressHello = await fetch(`${express.url}/hello`);
  assert.equal(await expressHello.text(), 'Hello from Express\n');
  assert.equal(expressHello.headers.get('x-powered-by'), 'Express');
  assert.deepEqual(await (await fetch(`${express.url}/users/7`)).json(), { id: '7' });
  const expressEcho = await fetch(`${express.url}/echo`, { method: 'POST', body: JSON.stringify({ b: [1, 2] }), headers: { 'content-type': 'application/json' } });
  assert.deepEqual(await expressEcho.json(), { received: { b: [1, 2] } });
  const head = await fetch(`${express.url}/hello`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), '19');
});

/** Latencies of `count` GETs of /hello over `connections` keep-alive connections, sorted. */
async function measureHello(url: string, count: number, connections: number): Promise<{ latencies: number[]; bodies: Set<string> }> {
  const dispatcher = new Agent({ connections });
  const latencies: number[] = [];
  const bodies = new Set<string>();
  await Promise.all(Array.from({ length: connections }, async () => {
    for (let i = 0; i < count / connections; i++) {
      const startedAt = performance.now();
      const response = await request(`${url}/hello`, { dispatcher });
      const body = await response.body.text();
      latencies.push(performance.now() - startedAt);
      assert.equal(response.statusCode, 200);
      bodies.add(body);
    }
  }));
  await dispatcher.close();
  return { latencies: latencies.sort((a, b) => a - b), bodies };
}

function summary(latencies: number[]): string {
  return `n=${latencies.length} p50=${percentile(latencies, 50).toFixed(1)} p99=${percentile(latencies, 99).toFixed(1)} max=${latencies.at(-1)!.toFixed(1)} ms`;
}

test('while 2 requests burn CPU for 5 s each, /hello p99 over 200 requests stays under 50 ms', async (t) => {
  const server = await serve('test/fixtures/thread-app.ts', ['--threads', '4']);
  // Same load without the burns first (after a warm-up): the machine's own noise.
  await measureHello(server.url, 100, 4);
  const baseline = await measureHello(server.url, 200, 4);

  const burns = ['burn-1', 'burn-2'].map((id) => fetch(`${server.url}/burn?ms=5000`, { headers: { 'x-request-id': id } }).then(async (r) => ({ status: r.status, body: await r.text(), at: performance.now() })));
  // Printed 100 ms into each burn, once both threads are visibly busy.
  await server.waitForStdout('BURNING burn-1');
  await server.waitForStdout('BURNING burn-2');
  const during = await measureHello(server.url, 200, 4);
  const measuredAt = performance.now();

  const cores = availableParallelism();
  const baselineP99 = percentile(baseline.latencies, 99);
  t.diagnostic(`/hello without burns: ${summary(baseline.latencies)}`);
  t.diagnostic(`/hello during 2 CPU burns: ${summary(during.latencies)}; threads answering: ${during.bodies.size}; cores: ${cores}`);
  const results = await Promise.all(burns);
  // The burns were still running the whole time: the measurement overlapped them.
  for (const result of results) {
    assert.equal(result.status, 200);
    assert.equal(result.body, 'burnt\n');
    assert.ok(result.at > measuredAt, 'a burn finished before the /hello measurement did');
  }
  // No /hello was routed behind a burn (it would have waited seconds).
  assert.ok(during.latencies.at(-1)! < 2500, `slowest /hello ${during.latencies.at(-1)!.toFixed(0)} ms: queued behind a burn`);
  assert.equal(during.bodies.size, 2, 'only the two idle threads answer /hello');
  // The 50 ms bound is about the server, so it is asserted when the machine itself is quiet
  // enough to measure it: on a shared CI box whose p99 is over 25 ms with no burns at all, the
  // number says more about the neighbours (BALLAST_STRICT_LATENCY=1 asserts it regardless).
  const p99 = percentile(during.latencies, 99);
  if (baselineP99 < 25 || process.env.BALLAST_STRICT_LATENCY === '1') assert.ok(p99 < 50, `p99 ${p99.toFixed(1)} ms`);
  else t.diagnostic(`p99 < 50 ms not asserted: the machine's own p99 is ${baselineP99.toFixed(1)} ms without burns (BALLAST_STRICT_LATENCY=1 forces it)`);
});

test('a thread stuck in while(true) is replaced: its client gets a 5xx within timeout + 1 s, later requests succeed', async (t) => {
  const server = await serve('test/fixtures/thread-app.ts', ['--threads', '2', '--timeout', '2s']);
  const startedAt = performance.now();
  const stuck = fetch(`${server.url}/spin-forever`, { headers: { 'x-request-id': 'stuck-1' } });
  await server.waitForStdout('SPINNING stuck-1');
  const response = await stuck;
  const elapsedMs = performance.now() - startedAt;
  await response.text();
  t.diagnostic(`stuck handler answered ${response.status} after ${elapsedMs.toFixed(0)} ms`);
  assert.ok(response.status >= 500 && response.status < 600, `status ${response.status}`);
  assert.ok(elapsedMs < 3000, `answered after ${elapsedMs.toFixed(0)} ms`);

  const replaced = await server.waitForLog((r) => /^thread \d+ stuck in stuck-1 \/spin-forever: replaced$/.test(r.msg), 5000);
  assert.equal(replaced.level, 40);
  const ready = await server.waitForLog((r) => r.msg === `thread ${replaced.thread} ready`, 10_000);
  assert.notEqual(ready.threadId, replaced.threadId);
  for (let i = 0; i < 10; i++) {
    const hello = await fetch(`${server.url}/hello`);
    assert.equal(hello.status, 200);
    assert.match(await hello.text(), /^hello from thread \d+\n$/);
  }
});

test('the other clients of a replaced thread get 503, not a reset', async () => {
  const server = await serve('test/fixtures/thread-app.ts', ['--threads', '1', '--timeout', '2s']);
  const stuck = fetch(`${server.url}/spin-forever`, { headers: { 'x-request-id': 'stuck-2' } });
  await server.waitForStdout('SPINNING stuck-2');
  // Once the deadline fired, the thread has a second to answer its ping: a request sent now
  // lands on the same (only) thread and is still waiting when the thread is replaced.
  await server.waitForLog((r) => r.code === 'BALLAST_ERR_DEADLINE' && r.reqId === 'stuck-2', 5000);
  const bystander = await fetch(`${server.url}/hello`, { headers: { 'x-request-id': 'bystander' } });
  assert.equal(bystander.status, 503);
  assert.equal(bystander.headers.get('x-ballast-error'), 'BALLAST_ERR_THREAD_REPLACED');
  assert.equal((await stuck).status, 504);
  // The replacement serves.
  const hello = await fetch(`${server.url}/hello`);
  assert.equal(hello.status, 200);
});

test('a thread that crashes is replaced and its client gets 503', async () => {
  const server = await serve('test/fixtures/thread-app.ts', ['--threads', '2']);
  const response = await fetch(`${server.url}/crash`, { headers: { 'x-request-id': 'crash-1' } });
  assert.equal(response.status, 503);
  assert.equal(response.headers.get('x-ballast-error'), 'BALLAST_ERR_THREAD_REPLACED');
  const crashed = await server.waitForLog((r) => /^thread \d+ crashed: boom in a handler thread: replaced$/.test(r.msg));
  await server.waitForLog((r) => r.msg === `thread ${crashed.thread} ready`, 10_000);
  for (let i = 0; i < 4; i++) assert.equal((await fetch(`${server.url}/hello`)).status, 200);
});

test('a streamed response from a thread arrives incrementally', async () => {
  const server = await serve('test/fixtures/thread-app.ts', ['--threads', '2']);
  const response = await fetch(`${server.url}/sse?id=inc-1`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'text/event-stream');
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const first = await reader.read();
  // The handler has not finished: it ends only after /release, which has not been sent yet.
  assert.equal(decoder.decode(first.value), 'data: first\n\n');
  assert.equal(await (await fetch(`${server.url}/release?id=inc-1`)).text(), 'released\n');
  let rest = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    rest += decoder.decode(value, { stream: true });
  }
  assert.equal(rest, 'data: second\n\n');
});

test('a client going away aborts ctx.signal inside the thread', async () => {
  const server = await serve('test/fixtures/thread-app.ts', ['--threads', '2']);
  const pending = http.get(`${server.url}/abort-probe`, { headers: { 'x-request-id': 'abort-thread' } });
  pending.on('error', () => {});
  await server.waitForStdout('STARTED abort-thread');
  pending.destroy();
  await server.waitForStdout('ABORTED abort-thread AbortError', 5000);
  // The thread was not stuck: no replacement.
  assert.equal(server.logs.filter((r) => /stuck in/.test(r.msg)).length, 0);
  assert.equal((await fetch(`${server.url}/hello`)).status, 200);
});

test('an app that fails to load in its threads stops the server with the app error (exit 4)', async () => {
  const server = await startServe(['test/fixtures/throws-at-import.ts', '--worker-class', 'thread', '--threads', '2', '--workers', '1', '--bind', '127.0.0.1:0'], { waitForListening: false });
  running.push(server);
  const { code } = await server.exited;
  assert.equal(code, 4);
  const error = server.logs.find((r) => r.level >= 50);
  assert.match(String(error?.msg), /DATABASE_URL is not set/);
});
