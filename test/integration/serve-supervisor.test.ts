// The supervisor against real processes: replacement of dead workers, zero-downtime reload,
// recycling by drain, graceful stop, boot failures, and scaling by signal.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startServe, liveWorkerPids, type ServeProcess } from '../helpers/serve.ts';
import { runSteadyLoad } from '../helpers/steady-load.ts';

const running: ServeProcess[] = [];
after(async () => { await Promise.all(running.map((s) => s.stop())); });

async function serve(args: string[]): Promise<ServeProcess> {
  const server = await startServe([...args, '--bind', '127.0.0.1:0', '--access-log', 'off']);
  running.push(server);
  return server;
}

const isReady = (r: { msg: string }) => /^worker \d+ ready$/.test(r.msg);

test('kill -9 of one worker under steady load: a replacement serves within 1 s, the other worker keeps serving', async () => {
  const server = await serve(['test/fixtures/slow-app.ts', '--workers', '2']);
  const [victim, survivor] = liveWorkerPids(server);
  let killedAt = 0;
  const load = runSteadyLoad({
    url: server.url, path: '/hello', ratePerSecond: 200, durationMs: 4000,
    onTick: (sent) => {
      if (sent === 200) {
        killedAt = Date.now();
        process.kill(victim, 'SIGKILL');
      }
    },
  });
  const replacement = await server.waitForLog((r) => isReady(r) && r.pid !== victim && r.pid !== survivor);
  const result = await load;
  assert.ok((replacement.time as number) - killedAt < 1000, `replacement ready ${(replacement.time as number) - killedAt} ms after the kill`);
  // Only requests already on the killed worker's sockets can fail; nothing else may.
  assert.ok(result.errors.length <= 5, `errors: ${result.errors.join('; ')}`);
  assert.deepEqual(Object.keys(result.statusCounts), ['200']);
  assert.ok(result.bodies.has(`hello from ${survivor}\n`), 'the surviving worker served');
  // The load's keep-alive connections all sit on the survivor now; new connections reach both.
  const served = new Set<string>();
  for (let i = 0; i < 4; i++) served.add(await (await fetch(`${server.url}/hello`, { headers: { connection: 'close' } })).text());
  assert.ok(served.has(`hello from ${replacement.pid}\n`), `the replacement serves: ${[...served].join(', ')}`);
});

test('SIGHUP during a steady 500 req/s keep-alive load: zero failed requests, and the new code answers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-reload-'));
  const appFile = join(dir, 'versioned-app.ts');
  writeFileSync(appFile, "export default () => new Response('v1');\n");
  const server = await serve([appFile, '--workers', '2', '--graceful-timeout', '10s']);
  const load = runSteadyLoad({
    url: server.url, path: '/', ratePerSecond: 500, durationMs: 10_000,
    onTick: (sent) => {
      if (sent === 1500) {
        writeFileSync(appFile, "export default () => new Response('v2');\n");
        server.signal('SIGHUP');
      }
    },
  });
  await server.waitForLog((r) => r.msg.startsWith('reloaded'), 20_000);
  const result = await load;
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.statusCounts, { 200: 5000 });
  assert.ok((result.bodies.get('v1') ?? 0) > 1000, `v1 answers: ${result.bodies.get('v1')}`);
  assert.ok((result.bodies.get('v2') ?? 0) > 1000, `v2 answers: ${result.bodies.get('v2')}`);
});

test('--max-requests 200 --max-requests-jitter 50 under steady load: workers recycle and zero requests fail', async () => {
  const server = await serve(['test/fixtures/slow-app.ts', '--workers', '2', '--max-requests', '200', '--max-requests-jitter', '50']);
  const result = await runSteadyLoad({ url: server.url, path: '/hello', ratePerSecond: 300, durationMs: 10_000 });
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.statusCounts, { 200: 3000 });
  const recycles = server.logs.filter((r) => /^recycling worker \d+ \(max-requests\)/.test(r.msg));
  assert.ok(recycles.length >= 6, `recycles: ${recycles.length}`);
  for (const record of recycles) assert.ok((record.requests as number) >= 200 && (record.requests as number) <= 250, `recycled after ${record.requests}`);
});

test('SIGTERM with 5 in-flight 2-second requests: all 5 get 200 with Connection: close, then exit 0', async () => {
  const server = await serve(['test/fixtures/slow-app.ts', '--workers', '2']);
  const agent = new Agent({ connections: 5 });
  const origin = new URL(server.url).origin;
  const requests = Array.from({ length: 5 }, (_, i) =>
    request(`${origin}/sleep?ms=2000&announce=1`, { dispatcher: agent, headers: { 'x-request-id': `term-${i}` } }));
  await Promise.all(Array.from({ length: 5 }, (_, i) => server.waitForStdout(`SLEEPING term-${i}`)));
  const started = Date.now();
  server.signal('SIGTERM');
  const responses = await Promise.all(requests);
  for (const response of responses) {
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers.connection, 'close');
    assert.match(await response.body.text(), /^slept in \d+/);
  }
  const { code } = await server.exited;
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 10_000);
  await agent.close();
});

test('an app that throws at import: exit non-zero within 5 s, printing the error and the file', async () => {
  const started = Date.now();
  const server = await startServe(['test/fixtures/throws-at-import.ts', '--workers', '2', '--bind', '127.0.0.1:0'], { waitForListening: false });
  running.push(server);
  const { code } = await server.exited;
  assert.equal(code, 4);
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  const errors = server.logs.filter((r) => r.level >= 50).map((r) => r.msg).join('\n');
  assert.match(errors, /DATABASE_URL is not set \(fixture: throws at import\)/);
  assert.match(errors, /throws-at-import\.ts/);
  assert.equal(server.logs.filter((r) => r.msg.startsWith('starting')).length, 1, 'no restart loop');
});

test('a worker that never becomes ready stops the server after --boot-timeout', async () => {
  const server = await startServe(['test/fixtures/never-ready.ts', '--workers', '1', '--boot-timeout', '1s', '--bind', '127.0.0.1:0'], { waitForListening: false });
  running.push(server);
  const { code } = await server.exited;
  assert.equal(code, 3);
  assert.match(server.logs.filter((r) => r.level >= 50).map((r) => r.msg).join('\n'), /did not become ready within 1000 ms \(--boot-timeout\)/);
});

test('SIGTTIN adds a worker and SIGTTOU removes one by drain', async () => {
  const server = await serve(['test/fixtures/slow-app.ts', '--workers', '1']);
  server.signal('SIGTTIN');
  await server.waitForLog((r) => r.msg === 'worker 2 ready');
  assert.equal(liveWorkerPids(server).length, 2);
  server.signal('SIGTTOU');
  await server.waitForLog((r) => /exited after draining/.test(r.msg));
  assert.equal(liveWorkerPids(server).length, 1);
  assert.equal((await fetch(`${server.url}/hello`)).status, 200);
});

test('--max-memory recycles a worker whose RSS grows past the limit, replacement first', async () => {
  const server = await serve(['test/fixtures/slow-app.ts', '--workers', '1', '--max-memory', '200mb']);
  const [first] = liveWorkerPids(server);
  assert.equal((await fetch(`${server.url}/leak?mb=256`)).status, 200);
  const recycle = await server.waitForLog((r) => /\(max-memory\)/.test(r.msg));
  assert.ok((recycle.rss as number) > 200 * 1024 * 1024);
  await server.waitForLog((r) => /exited after draining/.test(r.msg) && r.pid === first);
  const after = await (await fetch(`${server.url}/hello`)).text();
  assert.notEqual(after, `hello from ${first}\n`);
});

test('repeated worker deaths are replaced with growing delays', async () => {
  const server = await serve(['test/fixtures/slow-app.ts', '--workers', '1']);
  const seen = new Set(liveWorkerPids(server));
  for (let round = 1; round <= 3; round++) {
    const [pid] = liveWorkerPids(server);
    process.kill(pid, 'SIGKILL');
    const replacement = await server.waitForLog((r) => isReady(r) && !seen.has(r.pid as number));
    seen.add(replacement.pid as number);
  }
  const delays = server.logs.filter((r) => /^replacing the worker in/.test(r.msg)).map((r) => r.delayMs as number);
  assert.deepEqual(delays, [250, 500]);
});

test('SIGHUP re-reads the config file: a new worker count takes effect', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-config-reload-'));
  const config = join(dir, 'ballast.config.json');
  writeFileSync(config, JSON.stringify({ workers: 1 }));
  const server = await serve(['test/fixtures/slow-app.ts', '-c', config]);
  assert.equal(liveWorkerPids(server).length, 1);
  writeFileSync(config, JSON.stringify({ workers: 3 }));
  server.signal('SIGHUP');
  await server.waitForLog((r) => r.msg.startsWith('reloaded'));
  await server.waitForLog((r) => /exited after draining/.test(r.msg));
  assert.equal(liveWorkerPids(server).length, 3);
  // A broken config is refused on reload, and the running workers keep serving.
  writeFileSync(config, JSON.stringify({ workerz: 2 }));
  server.signal('SIGHUP');
  const refused = await server.waitForLog((r) => r.msg.startsWith('reload aborted'));
  assert.match(refused.msg, /did you mean `workers`/);
  assert.equal((await fetch(`${server.url}/hello`)).status, 200);
});

test('SIGHUP with code that no longer loads keeps the old generation serving', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-bad-reload-'));
  const appFile = join(dir, 'app.ts');
  writeFileSync(appFile, "export default () => new Response('good');\n");
  const server = await serve([appFile, '--workers', '1']);
  writeFileSync(appFile, "throw new Error('broken deploy');\n");
  server.signal('SIGHUP');
  const failed = await server.waitForLog((r) => r.msg.startsWith('reload failed'));
  assert.match(failed.msg, /broken deploy/);
  assert.equal(await (await fetch(server.url)).text(), 'good');
});
