// The app contract: Fetch handler objects (Hono), Fetch functions, Node listeners (Express),
// TypeScript run as-is, and ctx.signal aborting when the client goes away.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
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

/** One raw HTTP/1.1 exchange (exact header names and duplicates, which fetch would normalise). */
function rawRequest(url: string, head: string): Promise<{ status: number; headers: Map<string, string>; lines: string[] }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(head));
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      data += chunk;
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) return;
      const [statusLine, ...lines] = data.slice(0, end).split('\r\n');
      const headers = new Map(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()] as const));
      socket.destroy();
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, lines });
    });
    socket.on('error', reject);
  });
}

test('request ids and the declared body size are read from the raw head in any case, duplicates as Node joins them', async () => {
  const server = await serve('test/fixtures/node-listener.ts:listener', ['--max-body-size', '100']);
  const mixed = await rawRequest(server.url, 'GET /a HTTP/1.1\r\nHost: x\r\nX-Request-ID: Mixed-Case-1\r\n\r\n');
  assert.equal(mixed.status, 200);
  assert.equal(mixed.headers.get('x-request-id'), 'Mixed-Case-1');
  // Two ids are "a, b" to Node (not a valid id): ballast makes its own, as it does for no id.
  const twice = await rawRequest(server.url, 'GET /b HTTP/1.1\r\nHost: x\r\nx-request-id: a\r\nx-request-id: b\r\n\r\n');
  assert.equal(twice.status, 200);
  const generated = twice.headers.get('x-request-id') ?? '';
  assert.match(generated, /^1-[0-9a-z]+-[0-9a-z]+$/);
  const none = await rawRequest(server.url, 'GET /c HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(none.headers.get('x-request-id') ?? '', /^1-[0-9a-z]+-[0-9a-z]+$/);
  assert.notEqual(none.headers.get('x-request-id'), generated);
  const tooBig = await rawRequest(server.url, 'POST /d HTTP/1.1\r\nHost: x\r\nCONTENT-LENGTH: 101\r\nX-Request-Id: big-1\r\n\r\n');
  assert.equal(tooBig.status, 413);
  assert.equal(tooBig.headers.get('x-request-id'), 'big-1');
  const fits = await rawRequest(server.url, `POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n${'x'.repeat(100)}`);
  assert.equal(fits.status, 200);
});

test('every response carries exactly one x-request-id: the app\'s own when it sets one, in any case or form', async () => {
  const server = await serve('test/fixtures/node-listener.ts:listener');
  const idLines = (lines: string[]) => lines.filter((line) => line.toLowerCase().startsWith('x-request-id:'));
  for (const [path, expected] of [['/own-id/object', 'app-object'], ['/own-id/array', 'app-array'], ['/own-id/set-header', 'app-set-header']] as const) {
    const response = await rawRequest(server.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nx-request-id: client-1\r\n\r\n`);
    assert.equal(response.status, 200, path);
    assert.deepEqual(idLines(response.lines).map((line) => line.slice(line.indexOf(':') + 1).trim()), [expected], path);
  }
  // Heads Node builds itself (statusCode + end) and plain writeHead objects get ballast's id.
  for (const path of ['/implicit-head', '/plain']) {
    const response = await rawRequest(server.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nx-request-id: client-2\r\n\r\n`);
    assert.equal(idLines(response.lines).length, 1, path);
    assert.equal(response.headers.get('x-request-id'), 'client-2', path);
  }
  // ballast's own answers (a 404 from the app is the app's; a 431 is ballast's) carry it too.
  const refused = await rawRequest(server.url, `GET /x HTTP/1.1\r\nHost: x\r\nx-request-id: client-3\r\nx-big: ${'y'.repeat(9000)}\r\n\r\n`);
  assert.equal(refused.status, 431);
  assert.deepEqual(idLines(refused.lines), ['x-request-id: client-3']);
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
