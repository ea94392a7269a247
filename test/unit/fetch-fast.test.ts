// The lightweight Fetch path (src/worker/fetch-fast.ts) must be indistinguishable from the native
// one on the wire and to the app. Each case is written twice over real sockets, once from a native
// Response and once from a lightweight one, and the two answers are compared.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const NativeResponse = globalThis.Response;
const NativeRequest = globalThis.Request;
const { installFastFetch, simpleResponse, IncomingRequest } = await import('../../src/worker/fetch-fast.ts');
const { toFetchRequest, writeFetchResponse } = await import('../../src/worker/fetch-adapter.ts');
installFastFetch();

type Handler = (request: Request) => Response | Promise<Response>;
let handler: Handler = () => new Response('unset');
const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
  const controller = new AbortController();
  void (async () => {
    try {
      const response = await handler(toFetchRequest(req, controller.signal, 'localhost'));
      await writeFetchResponse(res, response, req.method === 'HEAD');
    } catch (error) {
      res.writeHead(500).end(`error: ${(error as Error).message}`);
    }
  })();
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

interface Answer { status: number; statusText: string; headers: Record<string, string | string[]>; body: string }

function get(path: string, method = 'GET', body?: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, headers: { connection: 'close', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => {
        const { date: _date, connection: _connection, 'keep-alive': _keepAlive, ...rest } = res.headers;
        resolve({ status: res.statusCode!, statusText: res.statusMessage!, headers: rest as Answer['headers'], body: text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const cases: Array<[string, ConstructorParameters<typeof Response>]> = [
  ['a string body', ['Hello, World!\n']],
  ['a string body with its own content type', ['{"a":1}', { headers: { 'Content-Type': 'application/json' } }]],
  ['bytes', [new Uint8Array([104, 105, 0, 255])]],
  ['a Buffer', [Buffer.from('héllo wörld')]],
  ['no body', [null, { status: 204 }]],
  ['undefined body and init', []],
  ['a status and a reason phrase', ['made', { status: 201, statusText: 'Made It' }]],
  ['a header list with duplicates and cookies', ['x', { headers: [['X-A', '1'], ['x-a', '2'], ['Set-Cookie', 'a=1'], ['set-cookie', 'b=2']] }]],
  ['a Headers object with cookies', ['x', { headers: new Headers([['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['x-b', 'y']]) }]],
  ['values with surrounding whitespace and numbers', ['x', { headers: { 'x-pad': '  padded\t', 'x-num': 42 as unknown as string } }]],
  ['an explicit content length', ['abc', { headers: { 'content-length': '3' } }]],
  ['a 404 with an empty string', ['', { status: 404 }]],
];

for (const [name, args] of cases) {
  test(`lightweight and native Responses send the same bytes: ${name}`, async () => {
    const light = new Response(...args);
    assert.ok(simpleResponse(light), 'took the lightweight path');
    handler = () => new Response(...args);
    const fast = await get('/');
    handler = () => new NativeResponse(...args);
    const native = await get('/');
    assert.deepEqual(fast, native);
  });
}

test('a HEAD answer has the headers of the GET answer and no body', async () => {
  handler = () => new Response('four');
  const head = await get('/', 'HEAD');
  assert.equal(head.body, '');
  assert.equal(head.headers['content-length'], '4');
  assert.equal(head.headers['content-type'], 'text/plain;charset=UTF-8');
});

test('reading the headers of a lightweight Response turns it native, and edits are sent', async () => {
  handler = () => {
    const response = new Response('edited');
    response.headers.set('x-edited', 'yes');
    assert.equal(simpleResponse(response), undefined);
    return response;
  };
  const answer = await get('/');
  assert.equal(answer.headers['x-edited'], 'yes');
  assert.equal(answer.body, 'edited');
});

test('lightweight Responses behave like native ones for the app', async () => {
  const response = new Response('{"ok":true}', { status: 202, headers: { 'content-type': 'application/json' } });
  assert.ok(response instanceof Response);
  assert.ok(response instanceof NativeResponse);
  assert.ok(new NativeResponse('x') instanceof Response, 'a native Response is still a Response');
  assert.ok(Response.json({ a: 1 }) instanceof Response);
  assert.equal(response.status, 202);
  assert.equal(response.ok, true);
  assert.equal(Object.prototype.toString.call(response), '[object Response]');
  assert.deepEqual(await response.clone().json(), { ok: true });
  assert.equal(response.bodyUsed, false);
  assert.equal(await response.text(), '{"ok":true}');
  assert.equal(response.bodyUsed, true);
  assert.match((await import('node:util')).inspect(new Response('x')), /Response/);
  // Invalid input is refused as the native constructor refuses it.
  assert.throws(() => new Response('x', { status: 99 }), RangeError);
  assert.throws(() => new Response('x', { status: 204 }), TypeError);
  assert.throws(() => new Response('x', { statusText: 'bad\r\nphrase' }), TypeError);
  // A stream is native from the start, and still written.
  const stream = new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('streamed')); c.close(); } }));
  assert.equal(simpleResponse(stream), undefined);
  handler = () => new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('streamed')); c.close(); } }));
  assert.equal((await get('/')).body, 'streamed');
});

test('the app gets a Request whose fields, body and clones are the native ones', async () => {
  let seen: Record<string, unknown> = {};
  handler = async (request) => {
    // A copy of a Request with a body takes the body over (as natively): copy a GET.
    const copy = new Request(new Request(request.url, { headers: request.headers }));
    const copyOfIncoming = request.method === 'GET' ? new Request(request) : copy;
    seen = {
      isRequest: request instanceof Request && request instanceof NativeRequest,
      isIncoming: request instanceof IncomingRequest,
      method: request.method,
      url: request.url,
      header: request.headers.get('x-test'),
      sameHeaders: request.headers === request.headers,
      copyUrl: copyOfIncoming.url,
      copyIsNative: copyOfIncoming instanceof NativeRequest,
      signal: request.signal instanceof AbortSignal,
      body: await request.text(),
      bodyUsed: request.bodyUsed,
    };
    return new Response('ok');
  };
  const answer = await get('/path?q=1', 'POST', 'the body', { 'x-test': 'yes' });
  assert.equal(answer.body, 'ok');
  assert.deepEqual(seen, {
    isRequest: true,
    isIncoming: true,
    method: 'POST',
    url: `${base}/path?q=1`,
    header: 'yes',
    sameHeaders: true,
    copyUrl: `${base}/path?q=1`,
    copyIsNative: true,
    signal: true,
    body: 'the body',
    bodyUsed: true,
  });
  handler = (request) => new Response(new Request(request).url);
  assert.equal((await get('/copied')).body, `${base}/copied`);
});

test('fetch() accepts the incoming Request, as a proxy would pass it on', async () => {
  const upstream = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c; });
    req.on('end', () => res.end(`${req.method} ${req.url} ${req.headers['x-test']} ${body}`));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  try {
    const upstreamBase = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    handler = async (request) => {
      const proxied = await fetch(new Request(`${upstreamBase}/up`, request));
      return new Response(await proxied.text());
    };
    assert.equal((await get('/x', 'PUT', 'payload', { 'x-test': 'proxied' })).body, 'PUT /up proxied payload');
    handler = async (request) => new Response(await (await fetch(`${upstreamBase}/direct`, { method: request.method, headers: request.headers })).text());
    assert.equal((await get('/x', 'GET', undefined, { 'x-test': 'h' })).body, 'GET /direct h ');
  } finally {
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  }
});
