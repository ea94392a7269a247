// SO_REUSEPORT (`--distribution reuseport`) against real processes: each worker accepts from its
// own socket, and the supervisor keeps a copy of every one, so a worker that drains (reload,
// recycle, scale-down) or dies leaves its socket, and the connections queued on it, to the next
// worker instead of the kernel resetting them. The load opens a new connection per request, so
// there are always connections in the accept queues when a worker lets go of its socket.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, liveWorkerPids, type ServeProcess } from '../helpers/serve.ts';

const linuxOnly = process.platform === 'linux' ? false : 'SO_REUSEPORT load balancing is Linux-only';
const running: ServeProcess[] = [];
after(async () => { await Promise.all(running.map((s) => s.stop())); });

async function serve(args: string[]): Promise<ServeProcess> {
  const server = await startServe([...args, '--distribution', 'reuseport', '--bind', '127.0.0.1:0', '--access-log', 'off', '--admin-token', 'sesame']);
  running.push(server);
  return server;
}

/** Each ready or booting worker's socket slot and adopted slots, from the admin /status. */
async function slots(server: ServeProcess): Promise<Array<{ state: string; slot: number | null; adoptedSlots: number[] }>> {
  const listening = await server.waitForLog((r) => r.msg.startsWith('listening on'));
  const response = await fetch(`${listening.admin as string}/status`, { headers: { authorization: 'Bearer sesame' } });
  const status = await response.json() as { workers: Array<{ state: string; slot: number | null; adoptedSlots: number[] }> };
  return status.workers.filter((w) => w.state !== 'draining');
}

interface CloseLoadResult { ok: number; bodies: Map<string, number>; errors: string[] }

/** `clients` loops, each sending one request per new connection (Connection: close) until `stop`. */
function connectionPerRequestLoad(url: string, clients: number, stop: Promise<void>): Promise<CloseLoadResult> {
  const result: CloseLoadResult = { ok: 0, bodies: new Map(), errors: [] };
  let stopped = false;
  void stop.then(() => { stopped = true; });
  const one = () => new Promise<void>((resolve) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => {
        if (res.statusCode === 200) result.ok++;
        else result.errors.push(`status ${res.statusCode}`);
        result.bodies.set(body, (result.bodies.get(body) ?? 0) + 1);
        resolve();
      });
      res.on('error', (error: Error & { code?: string }) => { result.errors.push(`${error.code ?? error.name}: ${error.message}`); resolve(); });
    });
    req.on('error', (error: Error & { code?: string }) => { result.errors.push(`${error.code ?? error.name}: ${error.message}`); resolve(); });
  });
  const loop = async () => { while (!stopped) await one(); };
  return Promise.all(Array.from({ length: clients }, loop)).then(() => result);
}

test('reuseport: three SIGHUP reloads under a connection-per-request load lose no connection, and the new code answers', { skip: linuxOnly }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-reuseport-'));
  const appFile = join(dir, 'versioned-app.ts');
  writeFileSync(appFile, "export default () => new Response('v0');\n");
  const server = await serve([appFile, '--workers', '2', '--graceful-timeout', '10s']);
  const { promise: stop, resolve: stopLoad } = Promise.withResolvers<void>();
  const load = connectionPerRequestLoad(`${server.url}/`, 24, stop);
  for (let version = 1; version <= 3; version++) {
    await new Promise((resolve) => setTimeout(resolve, 700));
    writeFileSync(appFile, `export default () => new Response('v${version}');\n`);
    const reloaded = server.logs.filter((r) => r.msg.startsWith('reloaded')).length;
    server.signal('SIGHUP');
    await server.waitForLog(() => server.logs.filter((r) => r.msg.startsWith('reloaded')).length > reloaded, 20_000);
    // Until the old generation has exited, its sockets are still being let go of.
    await server.waitForLog(() => server.logs.filter((r) => /exited after draining/.test(r.msg)).length >= version * 2, 20_000);
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  stopLoad();
  const result = await load;
  assert.deepEqual(result.errors, [], `${result.errors.length} failed of ${result.ok + result.errors.length}`);
  assert.ok(result.ok > 500, `requests: ${result.ok}`);
  for (const version of ['v0', 'v1', 'v2', 'v3']) assert.ok((result.bodies.get(version) ?? 0) > 0, `${version} answered: ${[...result.bodies].join(', ')}`);
});

test('reuseport: --max-requests recycling under a connection-per-request load loses no connection', { skip: linuxOnly }, async () => {
  const server = await serve(['test/fixtures/slow-app.ts', '--workers', '2', '--max-requests', '300', '--max-requests-jitter', '50']);
  const { promise: stop, resolve: stopLoad } = Promise.withResolvers<void>();
  const load = connectionPerRequestLoad(`${server.url}/hello`, 24, stop);
  await server.waitForLog(() => server.logs.filter((r) => /^recycling worker \d+ \(max-requests\)/.test(r.msg)).length >= 6, 30_000);
  await server.waitForLog(() => server.logs.filter((r) => /exited after draining/.test(r.msg)).length >= 6, 30_000);
  stopLoad();
  const result = await load;
  assert.deepEqual(result.errors, [], `${result.errors.length} failed of ${result.ok + result.errors.length}`);
  assert.ok(result.ok >= 1800, `requests: ${result.ok}`);
});

test('reuseport: SIGTTOU hands the removed worker\'s socket to a remaining one, SIGTTIN takes it back; kill -9 loses only what the killed worker held', { skip: linuxOnly }, async () => {
  const server = await serve(['test/fixtures/slow-app.ts', '--workers', '3']);
  const { promise: stop, resolve: stopLoad } = Promise.withResolvers<void>();
  const load = connectionPerRequestLoad(`${server.url}/hello`, 24, stop);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.deepEqual((await slots(server)).map((w) => w.slot).sort(), [0, 1, 2]);
  server.signal('SIGTTOU');
  await server.waitForLog((r) => /exited after draining/.test(r.msg), 20_000);
  // The removed worker's slot is adopted by one of the two left.
  const afterScaleDown = await slots(server);
  assert.equal(afterScaleDown.length, 2);
  assert.equal(afterScaleDown.flatMap((w) => w.adoptedSlots).length, 1, JSON.stringify(afterScaleDown));
  await new Promise((resolve) => setTimeout(resolve, 700));
  const beforeScaleUp = server.logs.length;
  server.signal('SIGTTIN');
  await server.waitForLog((r) => server.logs.indexOf(r) >= beforeScaleUp && /^worker \d+ ready$/.test(r.msg), 20_000);
  // The new worker takes the free slot back from its adopter.
  const afterScaleUp = await slots(server);
  assert.deepEqual(afterScaleUp.map((w) => w.slot).sort(), [0, 1, 2]);
  assert.deepEqual(afterScaleUp.flatMap((w) => w.adoptedSlots), []);
  await new Promise((resolve) => setTimeout(resolve, 700));
  stopLoad();
  const scaled = await load;
  assert.deepEqual(scaled.errors, [], `${scaled.errors.length} failed of ${scaled.ok + scaled.errors.length}`);
  // Three sockets, three workers again: every worker serves new connections.
  const pids = liveWorkerPids(server);
  assert.equal(pids.length, 3);
  const seen = new Map<string, number>();
  const { promise: stopProbe, resolve: endProbe } = Promise.withResolvers<void>();
  const probe = connectionPerRequestLoad(`${server.url}/hello`, 8, stopProbe);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  endProbe();
  for (const [body, count] of (await probe).bodies) seen.set(body, count);
  for (const pid of pids) assert.ok(seen.has(`hello from ${pid}\n`), `worker ${pid} serves: ${[...seen].join(', ')}`);

  // A crash: the dead worker's socket is adopted at once, so only requests it was running fail.
  const { promise: stopCrash, resolve: endCrash } = Promise.withResolvers<void>();
  const crashLoad = connectionPerRequestLoad(`${server.url}/hello`, 24, stopCrash);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const victim = pids[0]!;
  process.kill(victim, 'SIGKILL');
  await server.waitForLog((r) => /^worker \d+ ready$/.test(r.msg) && !pids.includes(r.pid as number), 20_000);
  await new Promise((resolve) => setTimeout(resolve, 500));
  endCrash();
  const crashed = await crashLoad;
  assert.ok(crashed.errors.length <= 24, `only the killed worker's in-flight requests may fail: ${crashed.errors.length}: ${crashed.errors.slice(0, 5).join('; ')}`);
  assert.ok(crashed.ok > 300, `requests: ${crashed.ok}`);
});
