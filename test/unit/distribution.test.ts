import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseReusePort, reusePortAdvice } from '../../src/supervisor/arbiter.ts';

test('an explicit distribution is taken as given, with no advice', () => {
  assert.equal(chooseReusePort('reuseport'), true);
  assert.equal(chooseReusePort('round-robin'), false);
  assert.equal(reusePortAdvice('round-robin', false), undefined);
  assert.equal(reusePortAdvice('reuseport', true), undefined);
});

test('auto on Linux follows net.ipv4.tcp_migrate_req, and says how to get SO_REUSEPORT when it chose round-robin', { skip: process.platform !== 'linux' && 'Linux only' }, async () => {
  const { readFileSync } = await import('node:fs');
  const migrates = readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim() === '1';
  assert.equal(chooseReusePort('auto'), migrates);
  const advice = reusePortAdvice('auto', chooseReusePort('auto'));
  if (migrates) assert.equal(advice, undefined);
  else assert.match(advice ?? '', /sysctl -w net\.ipv4\.tcp_migrate_req=1/);
});
