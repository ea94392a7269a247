// The app contract: Fetch handler objects (Hono), Fetch functions, Node listeners (Express),
// TypeScript run as-is, and ctx.signal aborting when the client goes away.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServe, type ServeProcess } from '../helpers/serve.ts';

const running: ServeProcess[] = [];
after(async () => { await Promise.all(running.map((s) => s.stop())); });

async function serve(app: string, extra: string[] = []): Promise<ServeProcess> {
  const server = await startServe([app, '--workers', '1', '--bind', '127.0.0.1:0', '--access-log', 'off', ...extra]);
  running.push(server);
  return server;
}

test('serves a plain Fetch function (examples/fetch-app.ts)', async () => {
  const server = await serve('examples/fetch-app.ts');
  const hello = await fetch(`${server.url}/hello`);
  assert.equal(hello.status, 200);
  assert.equal(await hello.text(), 'Hello from a Fetch handler\n');
  assert.equal(hello.headers.get('content-length'), String('Hello from a Fetch handler\n'.length));
  const echo = await fetch(`${server.url}/echo`, { method: 'POST', body: 'ping', headers: { 'x-request-id': 'test-id-1' } });
  assert.deepEqual(await echo.json(), { length: 4, body: 'ping', requestId: 'test-id-1' });
  assert.equal(echo.headers.get('x-request-id'), 'test-id-1');
  assert.equal((await fetch(`${server.url}/nope`)).status, 404);
});

test('serves a Hono app as a Fetch handler object (examples/hono-app.ts)', async () => {
  const server = await serve('examples/hono-app.ts');
  assert.equal(await (await fetch(`${server.url}/hello`)).text(), 'Hello from Hono\n');
  assert.deepEqual(await (await fetch(`${server.url}/users/42`)).json(), { id: '42' });
  const echo = await fetch(`${server.url}/echo`, { method: 'POST', body: JSON.stringify({ a: 1 }), headers: { 'content-type': 'application/json' } });
  assert.deepEqual(await echo.json(), { received: { a: 1 } });
});

test('serves an Express app as a Node listener (examples/express-app.ts)', async () => {
  const server = await serve('examples/express-app.ts');
  assert.equal(await (await fetch(`${server.url}/hello`)).text(), 'Hello from Express\n');
  assert.deepEqual(await (await fetch(`${server.url}/users/7`)).json(), { id: '7' });
  const echo = await fetch(`${server.url}/echo`, { method: 'POST', body: JSON.stringify({ b: [1, 2] }), headers: { 'content-type': 'application/json' } });
  assert.deepEqual(await echo.json(), { received: { b: [1, 2] } });
});

test('serves a named export that is a bare Node listener (path:export)', async () => {
  const server = await serve('test/fixtures/node-listener.ts:listener');
  assert.equal(await (await fetch(`${server.url}/x?y=1`)).text(), 'node listener saw GET /x?y=1\n');
});

test('ctx.signal aborts when the client disconnects', async () => {
  const server = await serve('test/fixtures/slow-app.ts');
  const request = http.get(`${server.url}/abort-probe`, { headers: { 'x-request-id': 'abort-me' } });
  request.on('error', () => {});
  await server.waitForStdout('STARTED abort-me');
  request.destroy();
  await server.waitForStdout('ABORTED abort-me', 5000);
});

test('an export that is not an app stops the server with a clear message', async () => {
  const server = await startServe(['test/fixtures/not-an-app.ts', '--workers', '1', '--bind', '127.0.0.1:0'], { waitForListening: false });
  running.push(server);
  const { code } = await server.exited;
  assert.equal(code, 4);
  const error = server.logs.find((r) => r.level >= 50);
  assert.match(String(error?.msg), /is number; expected a Fetch handler/);
});
