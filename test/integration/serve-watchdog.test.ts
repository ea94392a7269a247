// The stall watchdog: a blocked event loop is reported with the JavaScript stack and the request
// being served, while it is still blocked; past the deadline the handler is stopped, the client
// gets 504 and the worker is replaced. The linear-time RegExp engine defuses ReDoS.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServe, liveWorkerPids, type ServeProcess } from '../helpers/serve.ts';

const running: ServeProcess[] = [];
after(async () => { await Promise.all(running.map((s) => s.stop())); });

async function serve(args: string[]): Promise<ServeProcess> {
  const server = await startServe(['test/fixtures/slow-app.ts', '--workers', '1', '--bind', '127.0.0.1:0', '--access-log', 'off', ...args]);
  running.push(server);
  return server;
}

const fixture = readFileSync(new URL('../fixtures/slow-app.ts', import.meta.url), 'utf8').split('\n');
const lineOf = (text: string) => fixture.findIndex((line) => line.includes(text)) + 1;

test('a handler spinning for 3 s is reported within --stall-ms + 200 ms, naming its function, line and path', async () => {
  const server = await serve(['--stall-ms', '500']);
  const sentAt = Date.now();
  const response = fetch(`${server.url}/spin?ms=3000`);
  const report = await server.waitForLog((r) => r.code === 'BALLAST_STALL');
  const arrivedAfter = (report.time as number) - sentAt;
  assert.ok(arrivedAfter < 700, `report after ${arrivedAfter} ms`);
  const stack = report.stack as string[];
  assert.match(stack[0], new RegExp(`^spinFor \\(file://.*test/fixtures/slow-app\\.ts:${lineOf('while (Date.now() < end) spins++')}:\\d+\\)$`));
  assert.deepEqual((report.inFlight as Array<{ path: string }>).map((r) => r.path), ['/spin?ms=3000']);
  assert.match(report.msg, /in spinFor \(.*slow-app\.ts:\d+\) during GET \/spin\?ms=3000/);
  assert.equal((await response).status, 200);
});

test('a catastrophic regex with --no-linear-regex is reported at the regex line', async () => {
  const server = await serve(['--stall-ms', '300', '--no-linear-regex', '--timeout', '2s']);
  const response = fetch(`${server.url}/evil?input=${'a'.repeat(40)}b`);
  const report = await server.waitForLog((r) => r.code === 'BALLAST_STALL');
  assert.match((report.stack as string[])[0], new RegExp(`slow-app\\.ts:${lineOf('/^(a+)+$/.test')}:`));
  assert.match(report.msg, /during GET \/evil\?input=a+b/);
  // Past the 2 s deadline the regex is stopped and the client told so.
  assert.equal((await response).status, 504);
});

test('with --linear-regex (the default) the same regex answers at once', async () => {
  const server = await serve([]);
  const started = performance.now();
  const response = await fetch(`${server.url}/evil?input=${'a'.repeat(40)}b`);
  assert.equal(await response.text(), 'false');
  assert.ok(performance.now() - started < 100, `took ${(performance.now() - started).toFixed(1)} ms`);
});

test('a handler stuck in while (true) past --timeout: the client gets 504, the worker is replaced', async () => {
  const server = await serve(['--stall-ms', '300', '--timeout', '2s']);
  const [stuckPid] = liveWorkerPids(server);
  const started = performance.now();
  const response = await fetch(`${server.url}/spin-forever`);
  const elapsed = performance.now() - started;
  assert.equal(response.status, 504);
  assert.ok(elapsed < 3000, `504 after ${elapsed.toFixed(0)} ms`);
  await server.waitForLog((r) => r.code === 'BALLAST_STALL_ESCALATED');
  await server.waitForLog((r) => /^recycling worker \d+ \(stuck\)/.test(r.msg));
  await server.waitForLog((r) => /exited after draining/.test(r.msg) && r.pid === stuckPid);
  const hello = await (await fetch(`${server.url}/hello`)).text();
  assert.notEqual(hello, `hello from ${stuckPid}\n`);
});
