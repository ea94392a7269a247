// The control plane: health and readiness open, everything else behind the token, and answers
// from the supervisor while every worker's event loop is blocked.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServe, type ServeProcess } from '../helpers/serve.ts';

const running: ServeProcess[] = [];
after(async () => { await Promise.all(running.map((s) => s.stop())); });

async function serve(args: string[]): Promise<{ server: ServeProcess; admin: string }> {
  const server = await startServe(['test/fixtures/slow-app.ts', '--bind', '127.0.0.1:0', '--access-log', 'off', '--admin-token', 'sesame', ...args]);
  running.push(server);
  const listening = await server.waitForLog((r) => r.msg.startsWith('listening on'));
  return { server, admin: listening.admin as string };
}

const auth = { authorization: 'Bearer sesame' };

test('/healthz and /status answer within 100 ms while every worker is stalled', async () => {
  const { server, admin } = await serve(['--workers', '2', '--stall-ms', '300']);
  const spins = [0, 1].map(() => fetch(`${server.url}/spin?ms=2500`, { headers: { connection: 'close' } }));
  // Both workers are blocked once each has reported its stall.
  const stalledPids = new Set<number>();
  await server.waitForLog((r) => {
    if (r.code === 'BALLAST_STALL') stalledPids.add(r.pid as number);
    return stalledPids.size === 2;
  });
  for (const path of ['/healthz', '/status']) {
    const started = performance.now();
    const response = await fetch(`${admin}${path}`, { headers: auth });
    const elapsed = performance.now() - started;
    assert.equal(response.status, 200);
    assert.ok(elapsed < 100, `${path} took ${elapsed.toFixed(1)} ms`);
    if (path === '/status') {
      const status = await response.json() as { workers: Array<{ heartbeatAgeMs: number }> };
      assert.equal(status.workers.length, 2);
    } else {
      await response.text();
    }
  }
  await Promise.all(spins);
  // The full reports reach the supervisor once each worker's loop is free again.
  const reportedPids = new Set<number>();
  await server.waitForLog((r) => {
    if (r.code === 'BALLAST_STALL_REPORT') reportedPids.add(r.pid as number);
    return reportedPids.size === 2;
  });
  const reports = await (await fetch(`${admin}/reports`, { headers: auth })).json() as { reports: Array<{ stack: string[]; inFlight: Array<{ path: string }> }> };
  assert.equal(reports.reports.length, 2);
  for (const report of reports.reports) {
    assert.match(report.stack[0], /^spinFor /);
    assert.equal(report.inFlight[0].path, '/spin?ms=2500');
  }
});

test('everything but /healthz and /readyz needs the token', async () => {
  const { admin } = await serve(['--workers', '1']);
  assert.equal((await fetch(`${admin}/healthz`)).status, 200);
  assert.equal((await fetch(`${admin}/readyz`)).status, 200);
  for (const path of ['/status', '/metrics', '/reports', '/events', '/']) {
    const response = await fetch(`${admin}${path}`);
    assert.equal(response.status, 401, path);
    assert.equal((await response.json() as { error: string }).error, 'BALLAST_ERR_UNAUTHORIZED');
    assert.equal((await fetch(`${admin}${path}`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
  }
  assert.equal((await fetch(`${admin}/status?token=sesame`)).status, 200);
});

test('/metrics aggregates the workers in Prometheus format', async () => {
  const { server, admin } = await serve(['--workers', '2']);
  for (let i = 0; i < 20; i++) await (await fetch(`${server.url}/hello`, { headers: { connection: 'close' } })).text();
  // Each worker pushes its metrics once a second: wait until all 20 are counted.
  let body = '';
  for (let attempt = 0; attempt < 30; attempt++) {
    body = await (await fetch(`${admin}/metrics`, { headers: auth })).text();
    if (/ballast_requests_total\{status_class="2xx"\} 20\b/.test(body)) break;
    await new Promise((resolve) => setTimeout(resolve, 200)); // polling a once-a-second push
  }
  assert.match(body, /ballast_requests_total\{status_class="2xx"\} 20\b/);
  assert.match(body, /ballast_request_duration_seconds_bucket\{le="\+Inf"\} 20\b/);
  assert.match(body, /ballast_in_flight\{worker="1"\} 0/);
  assert.match(body, /ballast_in_flight\{worker="2"\} 0/);
  assert.match(body, /ballast_workers\{state="ready"\} 2/);
  assert.match(body, /# TYPE ballast_queue_wait_seconds histogram/);
});

test('a non-loopback admin address without a token is refused at start-up', async () => {
  const server = await startServe(['test/fixtures/slow-app.ts', '--bind', '127.0.0.1:0', '--admin', '0.0.0.0:0'], { waitForListening: false });
  running.push(server);
  const { code } = await server.exited;
  assert.equal(code, 2);
});
