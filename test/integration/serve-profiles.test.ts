// Profiles: an authorised header profiles one request; the admin API profiles the next N
// requests to a path, a worker for some seconds, or takes a heap snapshot; profiles are listed,
// downloadable, and the flame-graph viewer (speedscope) is served locally.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, type ServeProcess } from '../helpers/serve.ts';

let server: ServeProcess;
let admin = '';
const auth = { authorization: 'Bearer sesame' };

before(async () => {
  const profileDir = mkdtempSync(join(tmpdir(), 'ballast-profiles-'));
  server = await startServe(['test/fixtures/slow-app.ts', '--workers', '1', '--bind', '127.0.0.1:0', '--access-log', 'off', '--admin-token', 'sesame', '--profile-dir', profileDir]);
  admin = (await server.waitForLog((r) => r.msg.startsWith('listening on'))).admin as string;
});
after(async () => { await server.stop(); });

interface ProfileList {
  profiles: Array<{ name: string; kind: string; reason: string; bytes: number }>;
  profileHeader: { name: string; value: string };
}
const listProfiles = async () => (await (await fetch(`${admin}/profiles`, { headers: auth })).json()) as ProfileList;
let storedCount = 0;
const nextStored = () => {
  const index = storedCount++;
  return server.waitForLog((r) => /^(CPU profile|heap snapshot) stored/.test(r.msg) && server.logs.filter((l) => /^(CPU profile|heap snapshot) stored/.test(l.msg)).indexOf(r) === index);
};

test('a request with the authorised profile header gets a CPU profile with its frames', async () => {
  const { profileHeader } = await listProfiles();
  const stored = nextStored();
  const response = await fetch(`${server.url}/spin?ms=300`, { headers: { [profileHeader.name]: profileHeader.value, 'x-request-id': 'profile-me' } });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-ballast-profile'), 'profile-me');
  await stored;
  const [latest] = (await listProfiles()).profiles;
  assert.equal(latest.kind, 'cpu');
  assert.match(latest.reason, /request GET \/spin \(profile-me\)/);
  const profile = await (await fetch(`${admin}/profiles/${encodeURIComponent(latest.name)}`, { headers: auth })).json() as { nodes: Array<{ callFrame: { functionName: string } }>; samples: number[] };
  assert.ok(profile.samples.length > 100, `${profile.samples.length} samples`);
  assert.ok(profile.nodes.some((node) => node.callFrame.functionName === 'spinFor'), 'spinFor is in the profile');
});

test('a profile header with a wrong token is ignored and takes no profile', async () => {
  const before = (await listProfiles()).profiles.length;
  const response = await fetch(`${server.url}/hello`, { headers: { 'x-ballast-profile': 'not-the-key' } });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-ballast-profile'), null);
  await server.waitForLog((r) => /wrong token: ignored/.test(r.msg));
  assert.equal((await listProfiles()).profiles.length, before);
});

test('the admin API profiles the next request to a path, a worker for a time, and takes heap snapshots', async () => {
  const armed = await fetch(`${admin}/profiles/requests?path=/spin&count=1`, { method: 'POST', headers: auth });
  assert.equal(armed.status, 202);
  await server.waitForLog((r) => /will profile the next 1 request/.test(r.msg));
  let stored = nextStored();
  await (await fetch(`${server.url}/spin?ms=100`)).text();
  await stored;
  assert.match((await listProfiles()).profiles[0].reason, /^request GET \/spin/);

  stored = nextStored();
  assert.equal((await fetch(`${admin}/profiles/cpu?seconds=1&worker=1`, { method: 'POST', headers: auth })).status, 202);
  await stored;
  assert.equal((await listProfiles()).profiles[0].reason, 'admin: 1 s');

  stored = nextStored();
  assert.equal((await fetch(`${admin}/profiles/heap`, { method: 'POST', headers: auth })).status, 202);
  await stored;
  const heap = (await listProfiles()).profiles[0];
  assert.equal(heap.kind, 'heap');
  assert.ok(heap.bytes > 100_000, `${heap.bytes} bytes`);

  assert.equal((await fetch(`${admin}/profiles/cpu?worker=99`, { method: 'POST', headers: auth })).status, 404);
  assert.equal((await fetch(`${admin}/profiles/requests?path=nope`, { method: 'POST', headers: auth })).status, 400);
  assert.equal((await fetch(`${admin}/profiles/cpu`, { method: 'POST' })).status, 401);
});

test('the flame-graph viewer is served from the admin port, and profile files cannot escape their folder', async () => {
  const viewer = await fetch(`${admin}/speedscope/index.html`, { headers: auth });
  assert.equal(viewer.status, 200);
  assert.match(await viewer.text(), /speedscope/i);
  assert.equal((await fetch(`${admin}/profiles/..%2F..%2Fetc%2Fpasswd`, { headers: auth })).status, 404);
  assert.equal((await fetch(`${admin}/speedscope/..%2F..%2Fpackage.json`, { headers: auth })).status, 404);
});
