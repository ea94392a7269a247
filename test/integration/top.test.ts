// `ballast top` against a real server: one snapshot when piped, a live view on a real terminal
// (a pty from util-linux `script`) that quits on q and gives the screen back, clear errors.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { ballastBin, repoRoot, startServe, type ServeProcess } from '../helpers/serve.ts';

let server: ServeProcess;
let admin = '';
before(async () => {
  server = await startServe(['test/fixtures/slow-app.ts', '--bind', '127.0.0.1:0', '--workers', '2', '--access-log', 'off', '--stall-ms', '300', '--admin-token', 'sesame']);
  admin = (await server.waitForLog((r) => r.msg.startsWith('listening on'))).admin as string;
});
after(() => server?.stop());

async function runTop(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [ballastBin, 'top', ...args], { cwd: repoRoot, env: { ...process.env, BALLAST_ADMIN_TOKEN: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const [code] = await once(child, 'exit') as [number | null];
  return { code, stdout, stderr };
}

async function workerPids(): Promise<number[]> {
  const status = await (await fetch(`${admin}/status`, { headers: { authorization: 'Bearer sesame' } })).json() as { workers: Array<{ pid: number }> };
  return status.workers.map((w) => w.pid);
}

test('piped, it prints one snapshot with a row per worker and the latest stall, and exits 0', { timeout: 20_000 }, async () => {
  await (await fetch(`${server.url}/spin?ms=800`)).text();
  await server.waitForLog((r) => r.code === 'BALLAST_STALL_REPORT');
  // The token from the environment variable `ballast serve` reads too.
  const { code, stdout, stderr } = await runTop(['--admin', admin], { BALLAST_ADMIN_TOKEN: 'sesame' });
  assert.equal(stderr, '');
  assert.equal(code, 0);
  assert.doesNotMatch(stdout, /\x1b/, 'no escape codes when not on a terminal');
  assert.match(stdout, /^ballast top · test\/fixtures\/slow-app\.ts · pid \d+ · running/);
  assert.match(stdout, /workers 2\/2 ready/);
  const header = stdout.split('\n').find((line) => line.trimStart().startsWith('PID'));
  assert.ok(header, stdout);
  assert.match(header, /STATE .*RSS .*LAG99 .*INFL .*QUEUE .*REQ\/S .*SHED .*HBEAT/);
  const pids = await workerPids();
  assert.equal(pids.length, 2);
  for (const pid of pids) assert.match(stdout, new RegExp(`^ +${pid} +(ready|STALLED) `, 'm'));
  assert.match(stdout, /latest stall: .* event loop blocked \d+\+ ms/);
  assert.match(stdout, /^ {2}GET \/spin\?ms=800$/m);
  assert.match(stdout, /^ {2}in spinFor \(test\/fixtures\/slow-app\.ts:\d+:\d+\)$/m);
});

test('on a terminal it draws on the alternate screen, quits on q (and Ctrl-C) with 0 and restores the screen', { timeout: 20_000 }, async (t) => {
  if (spawnSync('script', ['--version']).error) {
    t.skip('util-linux `script` is not installed: no pty to run `ballast top` on');
    return;
  }
  for (const key of ['q', '\x03']) {
    const command = [process.execPath, ballastBin, 'top', '--admin', admin, '--token', 'sesame', '--interval', '200ms'].map((arg) => `'${arg}'`).join(' ');
    // -e: exit with the child's code; -f: flush output as it comes.
    const child = spawn('script', ['-qefc', command, '/dev/null'], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const drawn = new Promise<void>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        // Two draws: the first, and one refresh (the loop is running).
        if ((output.match(/ballast top · /g) ?? []).length >= 2) resolve();
      });
    });
    const exited = once(child, 'exit') as Promise<[number | null]>;
    await Promise.race([drawn, exited.then(() => assert.fail(`top exited before drawing:\n${output}`))]);
    child.stdin.write(key);
    const [code] = await exited;
    assert.equal(code, 0, `key ${JSON.stringify(key)}: ${output.slice(-500)}`);
    assert.ok(output.includes('\x1b[?1049h'), 'entered the alternate screen');
    assert.ok(output.trimEnd().endsWith('\x1b[?25h\x1b[?1049l'), 'left the alternate screen and showed the cursor at the end');
    const pids = await workerPids();
    for (const pid of pids) assert.match(output, new RegExp(`\\b${pid}\\b`));
  }
});

test('a wrong or missing token exits 1 with a message that says so', { timeout: 20_000 }, async () => {
  for (const args of [['--token', 'wrong'], []]) {
    const { code, stdout, stderr } = await runTop(['--admin', admin, ...args]);
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, /^ballast top: wrong or missing token for the admin server at http:\/\/127\.0\.0\.1:\d+/);
  }
});

test('an admin address nobody listens on exits 1 naming the address', { timeout: 20_000 }, async () => {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  // HOST:PORT, as `ballast serve --admin` takes it.
  const { code, stderr } = await runTop(['--admin', `127.0.0.1:${port}`, '--token', 'sesame']);
  assert.equal(code, 1);
  assert.match(stderr, new RegExp(`^ballast top: cannot connect to the admin server at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
});
