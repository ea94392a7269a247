// Slow (not blocked) requests past --slow-ms: a report with the request's timeline, attributing
// time to outbound HTTP calls and the app's own trace() spans; reports reach the JSONL log and a
// webhook as well as the structured log.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startServe, type ServeProcess } from '../helpers/serve.ts';

const running: ServeProcess[] = [];
let upstream: http.Server;
let upstreamUrl = '';
const webhookBodies: Array<Record<string, unknown>> = [];
let webhook: http.Server;
let webhookUrl = '';
const webhookWaiters: Array<() => void> = [];

before(async () => {
  // A slow upstream: answers after ?ms= milliseconds.
  upstream = http.createServer((req, res) => {
    const ms = Number(new URL(req.url!, 'http://x').searchParams.get('ms') ?? 2000);
    setTimeout(() => res.end('slow ok'), ms);
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  webhook = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      webhookBodies.push(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>);
      res.end();
      for (const waiter of webhookWaiters.splice(0)) waiter();
    });
  });
  webhook.listen(0, '127.0.0.1');
  await once(webhook, 'listening');
  webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`;
});

after(async () => {
  await Promise.all(running.map((s) => s.stop()));
  upstream.closeAllConnections();
  upstream.close();
  webhook.close();
});

test('a request awaiting a slow upstream for 2 s gets a slow report attributing ~2 s to the call', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-slowlog-'));
  const slowLog = join(dir, 'reports.jsonl');
  const server = await startServe(['test/fixtures/slow-app.ts', '--workers', '1', '--bind', '127.0.0.1:0', '--access-log', 'off',
    '--slow-ms', '1000', '--slow-log', slowLog, '--report-webhook', webhookUrl]);
  running.push(server);
  const target = `${upstreamUrl}/feed?ms=2000`;
  const webhookCalled = new Promise<void>((resolve) => webhookWaiters.push(resolve));
  const response = await fetch(`${server.url}/call?url=${encodeURIComponent(target)}`);
  assert.equal(response.status, 200);
  const report = await server.waitForLog((r) => r.code === 'BALLAST_SLOW_REQUEST');
  assert.equal(report.path, `/call?url=${encodeURIComponent(target)}`);
  assert.ok(Math.abs((report.waitingMs as number) - 2000) < 200, `waiting ${report.waitingMs} ms`);
  assert.ok((report.ownMs as number) < 200, `own ${report.ownMs} ms`);
  const spans = report.spans as Array<{ kind: string; name: string; durationMs: number }>;
  assert.equal(spans.length, 1);
  assert.equal(spans[0].kind, 'http');
  assert.equal(spans[0].name, `GET ${target}`);
  assert.match(report.msg, /longest: GET http:\/\/127\.0\.0\.1:\d+\/feed\?ms=2000 \d+ ms/);

  await webhookCalled;
  assert.equal(webhookBodies[0].kind, 'slow');
  assert.equal(webhookBodies[0].reqId, report.reqId);
  await server.stop();
  const lines = readFileSync(slowLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; reqId: string });
  assert.deepEqual(lines.map((l) => [l.kind, l.reqId]), [['slow', report.reqId]]);
});

test('trace() spans are attributed, and the handler\'s own CPU time is told apart', async () => {
  const server = await startServe(['test/fixtures/slow-app.ts', '--workers', '1', '--bind', '127.0.0.1:0', '--access-log', 'off', '--slow-ms', '300']);
  running.push(server);
  assert.equal((await fetch(`${server.url}/traced?ms=400`)).status, 200);
  const report = await server.waitForLog((r) => r.code === 'BALLAST_SLOW_REQUEST');
  const spans = report.spans as Array<{ kind: string; name: string; durationMs: number }>;
  assert.deepEqual(spans.map((s) => [s.kind, s.name]), [['app', 'db.query']]);
  assert.ok(Math.abs(spans[0].durationMs - 400) < 60, `span ${spans[0].durationMs} ms`);
  assert.ok(Math.abs((report.ownMs as number) - 200) < 80, `own ${report.ownMs} ms`);
});
