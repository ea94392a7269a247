import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLoadCommand } from '../../src/load/plan.ts';

function planFile(content: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'ballast-plan-')), 'plan.json');
  writeFileSync(path, JSON.stringify(content));
  return path;
}

test('the command line builds one group: closed by default, open with --rate, streams with --streams', async () => {
  const closed = await parseLoadCommand(['http://127.0.0.1:9/'], {});
  assert.equal(closed.run.groups[0].kind, 'closed');
  assert.equal(closed.run.groups[0].users, 10);
  assert.equal(closed.run.durationMs, 10_000);
  const open = await parseLoadCommand(['http://127.0.0.1:9/', '--rate', '500', '-d', '30s'], {});
  assert.equal(open.run.groups[0].kind, 'open');
  assert.equal(open.run.groups[0].connections, 64);
  assert.equal(open.run.durationMs, 30_000);
  const streams = await parseLoadCommand(['http://127.0.0.1:9/sse', '--streams', '100'], {});
  assert.equal(streams.run.groups[0].kind, 'stream');
  assert.equal(streams.run.groups[0].holdMs, 10_000, 'hold defaults to the whole duration');
});

test('stages set the duration unless --duration is given; headers keep their commas', async () => {
  const staged = await parseLoadCommand(['http://127.0.0.1:9/', '--stages', '30s:500,1m:5000', '-H', 'accept: a, b', '-H', 'x-y: 1'], {});
  assert.equal(staged.run.durationMs, 90_000);
  assert.deepEqual(staged.run.groups[0].requests[0].headers, ['accept', 'a, b', 'x-y', '1']);
  assert.equal(staged.run.groups[0].connections, 5000);
  const cut = await parseLoadCommand(['http://127.0.0.1:9/', '--stages', '30s:500', '--duration', '10s'], {});
  assert.equal(cut.run.durationMs, 10_000);
});

test('weights must match the URLs', async () => {
  await assert.rejects(parseLoadCommand(['http://127.0.0.1:9/a', 'http://127.0.0.1:9/b', '--weights', '3'], {}), /expected `weights` \(--weights\) to give one weight per URL \(2\), got 1: `3`/);
});

test('plan groups are validated like flags, with a hint for typos and run-wide keys refused', async () => {
  await assert.rejects(parseLoadCommand([planFile({ groups: [{ name: 'a', url: 'http://127.0.0.1:9/', usres: 3 }] })], {}), /unknown group setting `usres` in group `a`.*did you mean `users`\?/);
  await assert.rejects(parseLoadCommand([planFile({ groups: [{ name: 'a', url: 'http://127.0.0.1:9/', duration: '5s' }] })], {}), /applies to the whole run: set it at the top level/);
  await assert.rejects(parseLoadCommand([planFile({ groups: [{ name: 'a', url: 'http://127.0.0.1:9/', users: 'many' }] })], {}), /expected `users` \(--users\) to be an integer >= 0, got `many` \(from group `a`/);
  await assert.rejects(parseLoadCommand([planFile({ groups: [{ name: 'a' }] })], {}), /group `a` of .* has no `url`, `urls` or `requests`/);
  await assert.rejects(parseLoadCommand([planFile({ groups: [{ name: 'a', url: '/x' }, { name: 'a', url: '/y' }], target: 'http://127.0.0.1:9' })], {}), /two groups are named `a`/);
});

test('plan precedence: group keys > command line > plan top level', async () => {
  const path = planFile({ users: 3, duration: '20s', target: 'http://127.0.0.1:9', groups: [{ name: 'a', url: '/a' }, { name: 'b', url: '/b', users: 7 }] });
  const command = await parseLoadCommand([path, '--users', '5', '--duration', '2s'], {});
  assert.equal(command.run.durationMs, 2_000);
  assert.deepEqual(command.run.groups.map((group) => group.users), [5, 7]);
  assert.equal(command.run.groups[0].requests[0].url, 'http://127.0.0.1:9/a');
});
