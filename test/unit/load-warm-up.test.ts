import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseLoadCommand } from '../../src/load/plan.ts';
import { warmUpEngine } from '../../src/load/engine/warm-up.ts';

async function countingServer(): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let count = 0;
  const server = createServer((_request, response) => {
    count++;
    response.end('target');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    count: () => count,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

test('the warm-up drives every request group against its own server for --warm-up, and never the target', async () => {
  const target = await countingServer();
  try {
    for (const args of [['--rate', '2000'], ['--users', '4'], ['--rate', '500', '--transport', 'undici', '-m', 'POST', '-b', 'x=1']]) {
      const { run } = await parseLoadCommand([`${target.url}/a`, '--warm-up', '300ms', ...args], {});
      assert.equal(run.warmUpMs, 300);
      const started = performance.now();
      const outcome = await warmUpEngine(run);
      const tookMs = performance.now() - started;
      // libuv's timers count whole milliseconds, so the end can come up to one early.
      assert.ok(tookMs >= 298, `${args.join(' ')}: the warm-up lasted ${tookMs.toFixed(0)} ms`);
      // Every group runs closed and flat out (open ones at 4,000 req/s besides), so 300 ms is well over 500 requests.
      assert.ok(outcome.answered > 500, `${args.join(' ')}: the local server answered ${outcome.answered} requests`);
      // The canned server's answers take turns (node:http's head with a keep-alive hint, nginx's, a
      // chunked body, a bare one); the parser must take every one of them as a good response.
      assert.equal(outcome.recorded, outcome.answered, `${args.join(' ')}: every answer was recorded`);
      assert.equal(outcome.errors, 0, `${args.join(' ')}: no answer was an error`);
      // 100 ms intervals: the recorders closed intervals during the warm-up, not only at its end.
      assert.ok(outcome.intervals >= 3, `${args.join(' ')}: ${outcome.intervals} intervals closed`);
    }
    assert.equal(target.count(), 0, 'the target saw none of the warm-up');
  } finally {
    await target.close();
  }
});

test('--warm-up 0 and stream-only plans skip it', async () => {
  const none = await parseLoadCommand(['http://127.0.0.1:9/', '--warm-up', '0'], {});
  assert.equal((await warmUpEngine(none.run)).answered, 0);
  const streams = await parseLoadCommand(['http://127.0.0.1:9/sse', '--streams', '10'], {});
  assert.equal(streams.run.warmUpMs, 500, 'the default');
  assert.equal((await warmUpEngine(streams.run)).answered, 0);
});
