import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseReusePort, reusePortAdvice } from '../../src/supervisor/arbiter.ts';

test('an explicit distribution is taken as given, with no advice', () => {
  assert.equal(chooseReusePort('reuseport'), true);
  assert.equal(chooseReusePort('round-robin'), false);
  assert.equal(reusePortAdvice('round-robin', false), undefined);
  assert.equal(reusePortAdvice('reuseport', true), undefined);
});

test('auto is round-robin; on Linux the start-up advice names reuseport for connection-per-request clients', () => {
  assert.equal(chooseReusePort('auto'), false);
  const advice = reusePortAdvice('auto', false);
  if (process.platform === 'linux') assert.match(advice ?? '', /--distribution reuseport/);
  else assert.equal(advice, undefined);
});
