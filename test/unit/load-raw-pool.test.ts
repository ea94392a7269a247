import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { buildRawRequest, RawPool, rawIneligibility } from '../../src/load/engine/raw-pool.ts';
import { classifyError } from '../../src/load/engine/transport.ts';
import type { RequestSpec } from '../../src/load/types.ts';

interface Result {
  status: number;
  error?: Error;
  kind?: string;
  connected: boolean;
  elapsedMs: number;
}

function specFor(port: number, overrides: Partial<RequestSpec> = {}): RequestSpec {
  const origin = `http://127.0.0.1:${port}`;
  return { method: 'GET', url: `${origin}${overrides.path ?? '/'}`, origin, path: '/', headers: [], bodyBase64: '', weight: 1, ...overrides };
}

function send(pool: RawPool, spec: RequestSpec, body: Buffer | null = null): Promise<Result> {
  const startMs = performance.now();
  const raw = buildRawRequest(spec, body);
  return new Promise((resolve) => {
    let status = 0;
    let connected = false;
    pool.dispatch(raw, {
      onConnect() { connected = true; },
      onHeaders(code) { status = code; return true; },
      onComplete() { resolve({ status, connected, elapsedMs: performance.now() - startMs }); },
      onError(error) { resolve({ status: 0, error, kind: classifyError(error), connected, elapsedMs: performance.now() - startMs }); },
    });
  });
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

async function withHttpServer(handler: (request: IncomingMessage, response: ServerResponse) => void, fn: (port: number, sockets: Set<Socket>) => Promise<void>, keepAliveTimeoutMs = 60_000): Promise<void> {
  const server = createHttpServer(handler);
  server.keepAliveTimeout = keepAliveTimeoutMs;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => sockets.add(socket));
  const port = await listen(server);
  try {
    await fn(port, sockets);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** A server that answers each connection's data with `respond`, in raw bytes. */
async function withRawServer(respond: (socket: Socket, request: string) => void, fn: (port: number, connections: () => number) => Promise<void>): Promise<void> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('data', (data) => respond(socket, data.toString('latin1')));
  });
  const port = await listen(server);
  try {
    await fn(port, () => count);
  } finally {
    for (const socket of sockets) socket.destroy();
    server.close();
  }
}

function poolFor(port: number, options: { connections?: number; requestTimeoutMs?: number } = {}): RawPool {
  return new RawPool({ host: '127.0.0.1', port, connections: options.connections ?? 4, requestTimeoutMs: options.requestTimeoutMs ?? 5000, connectTimeoutMs: 5000 });
}

test('reuses keep-alive connections: 200 requests over 2 connections open 2 sockets', async () => {
  await withHttpServer((_request, response) => response.end('hello world'), async (port, sockets) => {
    const pool = poolFor(port, { connections: 2 });
    for (let round = 0; round < 50; round++) {
      const results = await Promise.all(Array.from({ length: 4 }, () => send(pool, specFor(port))));
      for (const result of results) assert.equal(result.status, 200);
    }
    assert.equal(sockets.size, 2);
    await pool.destroy();
  });
});

test('preconnect opens every connection before the first request, and requests then open none', async () => {
  await withHttpServer((_request, response) => response.end('hello world'), async (port, sockets) => {
    const pool = poolFor(port, { connections: 6 });
    await pool.preconnect();
    assert.equal(pool.connectionCount, 6);
    // One request at a time needs one connection; on demand, 12 in a row would open just one.
    for (let index = 0; index < 12; index++) assert.equal((await send(pool, specFor(port))).status, 200);
    assert.equal(sockets.size, 6, 'all six were opened, and no more');
    await pool.preconnect();
    assert.equal(sockets.size, 6, 'a second preconnect opens none when all are open');
    await pool.destroy();
  });
});

test('preconnect to a port nobody listens on resolves, and the requests still report refused', async () => {
  const server = createNetServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const pool = poolFor(port, { connections: 3 });
  await pool.preconnect();
  assert.equal(pool.connectionCount, 0, 'failed connections are not kept');
  const result = await send(pool, specFor(port));
  assert.equal(result.kind, 'refused');
  await pool.destroy();
});

test('responses read in one event-loop turn share its timestamp: parsing one does not delay the next', async () => {
  // The server answers only when both requests are there, with both responses at once, so the
  // client's next epoll_wait reports both sockets; the first completion then blocks this thread
  // for 40 ms. A per-callback clock would stamp the second response >= 40 ms after the first.
  const waiting: Socket[] = [];
  let batch = 2;
  const response = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
  await withRawServer((socket) => {
    waiting.push(socket);
    if (waiting.length === batch) for (const each of waiting.splice(0)) each.write(response);
  }, async (port) => {
    const pool = poolFor(port, { connections: 2 });
    const raw = buildRawRequest(specFor(port), null);
    const sent: number[] = [];
    const received: number[] = [];
    await new Promise<void>((resolve, reject) => {
      for (let i = 0; i < 2; i++) {
        pool.dispatch(raw, {
          onConnect() { sent.push(performance.now()); },
          onHeaders: () => true,
          onComplete(_trailers, receivedMs) {
            received.push(receivedMs);
            if (received.length === 1) {
              const until = performance.now() + 40;
              while (performance.now() < until);
            } else resolve();
          },
          onError: reject,
        });
      }
    });
    assert.equal(received.length, 2);
    assert.ok(Math.abs(received[1] - received[0]) < 5, `stamps ${received.map((ms) => ms.toFixed(1)).join(', ')} ms`);
    for (const ms of received) assert.ok(ms >= Math.max(...sent), 'a response is never stamped before its request was written');
    // A later turn gets a stamp of its own.
    batch = 1;
    const later = await new Promise<number>((resolve, reject) => {
      pool.dispatch(raw, { onConnect() {}, onHeaders: () => true, onComplete: (_trailers, receivedMs) => resolve(receivedMs), onError: reject });
    });
    assert.ok(later - received[0] >= 40, `a later turn's stamp (${(later - received[0]).toFixed(1)} ms after) is its own`);
    await pool.destroy();
  });
});

test('idle connections are reused oldest first, so sequential requests rotate over every open connection', async () => {
  const served: Socket[] = [];
  await withHttpServer((request, response) => {
    served.push(request.socket);
    response.end('ok');
  }, async (port, sockets) => {
    const pool = poolFor(port, { connections: 3 });
    await Promise.all(Array.from({ length: 3 }, () => send(pool, specFor(port))));
    assert.equal(sockets.size, 3);
    served.length = 0;
    for (let i = 0; i < 6; i++) assert.equal((await send(pool, specFor(port))).status, 200);
    const uses = new Map<Socket, number>();
    for (const socket of served) uses.set(socket, (uses.get(socket) ?? 0) + 1);
    assert.deepEqual([...uses.values()], [2, 2, 2], 'each of the 3 connections served 2 of the 6 requests');
    assert.notEqual(served[0], served[1]);
    await pool.destroy();
  });
});

test('requests beyond the connection limit wait in a queue and all complete', async () => {
  await withHttpServer((_request, response) => setTimeout(() => response.end('ok'), 5), async (port, sockets) => {
    const pool = poolFor(port, { connections: 1 });
    const results = await Promise.all(Array.from({ length: 20 }, () => send(pool, specFor(port))));
    assert.deepEqual(results.map((result) => result.status), Array(20).fill(200));
    assert.equal(sockets.size, 1);
    await pool.destroy();
  });
});

test('sends the method, path, headers and body as undici would, and reads chunked and HEAD responses', async () => {
  const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];
  await withHttpServer((request, response) => {
    let body = '';
    request.setEncoding('latin1');
    request.on('data', (chunk: string) => { body += chunk; });
    request.on('end', () => {
      seen.push({ method: request.method!, url: request.url!, headers: request.headers, body });
      if (request.url === '/chunked') {
        response.write('part one,');
        setTimeout(() => response.end(' part two'), 5);
      } else {
        response.setHeader('content-length', '1000');
        response.end(request.method === 'HEAD' ? undefined : 'x'.repeat(1000));
      }
    });
  }, async (port) => {
    const pool = poolFor(port);
    const post = await send(pool, specFor(port, { method: 'POST', path: '/items?a=1', headers: ['content-type', 'application/json', 'x-trace', 'abc'] }), Buffer.from('{"a":1}'));
    assert.equal(post.status, 200);
    const large = Buffer.alloc(200_000, 0x62);
    assert.equal((await send(pool, specFor(port, { method: 'PUT', path: '/large' }), large)).status, 200);
    assert.equal((await send(pool, specFor(port, { method: 'POST', path: '/empty' }))).status, 200);
    assert.equal((await send(pool, specFor(port, { path: '/chunked' }))).status, 200);
    assert.equal((await send(pool, specFor(port, { method: 'HEAD', path: '/head' }))).status, 200);
    assert.equal((await send(pool, specFor(port, { path: '/after-head' }))).status, 200, 'the connection is still in sync after HEAD');
    assert.deepEqual(seen.map((item) => [item.method, item.url, item.body.length]), [
      ['POST', '/items?a=1', 7], ['PUT', '/large', 200_000], ['POST', '/empty', 0], ['GET', '/chunked', 0], ['HEAD', '/head', 0], ['GET', '/after-head', 0],
    ]);
    assert.equal(seen[0].body, '{"a":1}');
    assert.equal(seen[0].headers['content-type'], 'application/json');
    assert.equal(seen[0].headers['x-trace'], 'abc');
    assert.equal(seen[0].headers.host, `127.0.0.1:${port}`);
    assert.equal(seen[2].headers['content-length'], '0', 'a POST without a body says so, as undici does');
    await pool.destroy();
  });
});

test('a response with Connection: close is complete, and the next request opens a new connection', async () => {
  await withRawServer((socket) => socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'), async (port, connections) => {
    const pool = poolFor(port, { connections: 1 });
    for (let i = 0; i < 5; i++) assert.equal((await send(pool, specFor(port))).status, 200);
    assert.equal(connections(), 5);
    await pool.destroy();
  });
});

test('a body delimited by the end of the connection completes when the server closes', async () => {
  await withRawServer((socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome');
    setTimeout(() => socket.end(' more'), 10);
  }, async (port) => {
    const pool = poolFor(port, { connections: 1 });
    assert.equal((await send(pool, specFor(port))).status, 200);
    assert.equal((await send(pool, specFor(port))).status, 200);
    await pool.destroy();
  });
});

test('a response written one byte at a time is read whole', async () => {
  const response = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nx-trailer: 1\r\n\r\n');
  await withRawServer((socket) => {
    socket.setNoDelay(true);
    let at = 0;
    const next = () => {
      if (at >= response.length) return;
      socket.write(response.subarray(at, at + 1));
      at++;
      setImmediate(next);
    };
    next();
  }, async (port, connections) => {
    const pool = poolFor(port, { connections: 1 });
    assert.equal((await send(pool, specFor(port))).status, 200);
    assert.equal((await send(pool, specFor(port))).status, 200);
    assert.equal(connections(), 1, 'kept alive');
    await pool.destroy();
  });
});

test('errors come out as the outcome kinds of the report: refused, reset, timeout, other', async (t) => {
  await t.test('refused: nothing listens on the port', async () => {
    const server = createNetServer();
    const port = await listen(server);
    server.close();
    await once(server, 'close');
    const pool = poolFor(port);
    const result = await send(pool, specFor(port));
    assert.equal(result.kind, 'refused');
    assert.equal(result.connected, false);
    await pool.destroy();
  });
  await t.test('reset: the server destroys the connection after reading the request', async () => {
    await withRawServer((socket) => socket.resetAndDestroy(), async (port) => {
      const pool = poolFor(port);
      const result = await send(pool, specFor(port));
      assert.equal(result.kind, 'reset');
      await pool.destroy();
    });
  });
  await t.test('reset: the server closes in the middle of the body', async () => {
    await withRawServer((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part'), async (port) => {
      const pool = poolFor(port);
      const result = await send(pool, specFor(port));
      assert.equal(result.kind, 'reset');
      assert.equal(result.error && (result.error as { code?: string }).code, 'BALLAST_ERR_LOAD_CLOSED');
      await pool.destroy();
    });
  });
  await t.test('timeout: the server never answers', async () => {
    await withRawServer(() => undefined, async (port) => {
      const pool = poolFor(port, { requestTimeoutMs: 200 });
      const result = await send(pool, specFor(port));
      assert.equal(result.kind, 'timeout');
      assert.ok(result.elapsedMs >= 200, `not before the timeout (${result.elapsedMs} ms)`);
      assert.ok(result.elapsedMs < 200 * 1.1 + 250, `within 10% (+ timer slack on a busy host) of it (${result.elapsedMs} ms)`);
      await pool.destroy();
    });
  });
  await t.test('other: a malformed response, and the pool still works afterwards', async () => {
    let requests = 0;
    await withRawServer((socket) => {
      requests++;
      socket.write(requests === 1 ? 'HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n' : 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    }, async (port, connections) => {
      const pool = poolFor(port, { connections: 1 });
      const bad = await send(pool, specFor(port));
      assert.equal(bad.kind, 'other');
      assert.equal((bad.error as { code?: string }).code, 'BALLAST_ERR_LOAD_RESPONSE');
      assert.equal((await send(pool, specFor(port))).status, 200);
      assert.equal(connections(), 2, 'the broken connection was dropped');
      await pool.destroy();
    });
  });
});

test('bytes beyond the response complete it but retire the connection', async () => {
  await withRawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n'), async (port, connections) => {
    const pool = poolFor(port, { connections: 1 });
    assert.equal((await send(pool, specFor(port))).status, 200);
    assert.equal((await send(pool, specFor(port))).status, 200);
    assert.equal(connections(), 2);
    await pool.destroy();
  });
});

test('a server that closes idle connections is followed: no request fails on a closed connection', async () => {
  // node:http sends `Keep-Alive: timeout=1`; 1 s is inside the 2 s margin, so nothing is reused.
  await withHttpServer((_request, response) => response.end('ok'), async (port, sockets) => {
    const pool = poolFor(port, { connections: 2 });
    for (let i = 0; i < 5; i++) assert.equal((await send(pool, specFor(port))).status, 200);
    assert.equal(sockets.size, 5);
    await pool.destroy();
  }, 1000);
  // The server closes an idle connection without a hint: the pool drops it and opens another.
  await withRawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', () => setTimeout(() => socket.end(), 20)), async (port, connections) => {
    const pool = poolFor(port, { connections: 1 });
    assert.equal((await send(pool, specFor(port))).status, 200);
    while (pool.connectionCount > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal((await send(pool, specFor(port))).status, 200);
    assert.equal(connections(), 2);
    await pool.destroy();
  });
});

test('destroy fails requests in flight and queued, and later dispatches', async () => {
  await withRawServer(() => undefined, async (port) => {
    const pool = poolFor(port, { connections: 1 });
    const inFlight = send(pool, specFor(port));
    const queued = send(pool, specFor(port));
    while (pool.connectionCount === 0) await new Promise((resolve) => setImmediate(resolve));
    await pool.destroy();
    const after = send(pool, specFor(port));
    for (const result of await Promise.all([inFlight, queued, after])) assert.equal(result.status, 0);
  });
});

test('requests the raw transport cannot carry are named, with the reason', () => {
  const port = 8080;
  assert.equal(rawIneligibility(specFor(port, { headers: ['authorization', 'Bearer x', 'host', 'example.test'] })), undefined);
  assert.match(rawIneligibility({ ...specFor(port), url: 'https://127.0.0.1/' }) ?? '', /https URLs go through undici/);
  assert.match(rawIneligibility(specFor(port, { headers: ['connection', 'close'] })) ?? '', /header `connection`/);
  assert.match(rawIneligibility(specFor(port, { headers: ['transfer-encoding', 'chunked'] })) ?? '', /header `transfer-encoding`/);
  assert.match(rawIneligibility(specFor(port, { headers: ['x-bad', 'a\r\nb'] })) ?? '', /not allowed/);
  assert.match(rawIneligibility(specFor(port, { method: 'CONNECT' })) ?? '', /CONNECT/);
  const head = buildRawRequest(specFor(port, { headers: ['host', 'example.test'] }), null).bytes.toString('latin1');
  assert.equal(head, 'GET / HTTP/1.1\r\nconnection: keep-alive\r\nhost: example.test\r\n\r\n', 'a given Host replaces ours');
});
