// SSE streams as a workload, and slow clients that the server can feel.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isHostBusy, makeTempDir, noteHostLoad, runBallastLoad, startLoadServer } from '../helpers/load-helpers.ts';
import type { RunResult } from '../../src/load/types.ts';

const readResult = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as RunResult;

test('1,000 SSE streams held for 20 s: every stream counted, events per stream right, killed streams detected as drops', async () => {
  // The server sends every open stream one event each 200 ms, and ends 100 of the first 1,000
  // streams (ids 0, 10, …, 990) after 5 s; a dropped stream reconnects after 1 s.
  const server = await startLoadServer(['--kill-streams', '100']);
  try {
    const json = join(makeTempDir(), 'streams.json');
    const run = await runBallastLoad([`${server.url}/sse`, '--streams', '1000', '--hold', '20s', '--duration', '20s', '--json', json]);
    assert.equal(run.code, 0, run.stderr);
    const result = readResult(json);
    const stats = await server.stats();
    const streams = result.summary.streams!;
    process.stdout.write(`# streams: opened ${streams.opened} (server saw ${stats.sse.opened}), completed ${streams.completed}, drops ${streams.drops} (server killed ${stats.sse.killed}); events ${streams.events} (server sent ${stats.sse.eventsSent}); per stream min ${streams.eventsPerStream.min} p50 ${streams.eventsPerStream.p50} max ${streams.eventsPerStream.max}; first event p50 ${streams.firstEventMs.p50} p99 ${streams.firstEventMs.p99} ms; gaps p50 ${streams.gapMs.p50} p99 ${streams.gapMs.p99} ms; connect p50 ${streams.connectMs.p50} p99 ${streams.connectMs.p99} ms\n`);
    assert.equal(stats.sse.killed, 100);
    assert.equal(streams.drops, 100, 'each stream the server ended early is a drop');
    assert.equal(streams.opened, stats.sse.opened, 'every stream the server accepted is counted');
    assert.equal(streams.opened, 1100, '1,000 streams plus 100 reconnections');
    assert.equal(streams.completed, 1000, 'every stream still open at the end was held to the end');
    assert.equal(streams.completed + streams.drops, streams.opened);
    assert.equal(result.summary.concurrencyMax, 1000);
    // Events: what the server wrote is what we counted, except the tick that races the final close
    // (at most one event per open stream, written by the server after we hung up).
    assert.ok(streams.events <= stats.sse.eventsSent && stats.sse.eventsSent - streams.events <= 1500, `received ${streams.events} of ${stats.sse.eventsSent}`);
    // 900 streams lived the whole 20 s at 5 events/s: ~100 events each. On a busy host the server's
    // own 200 ms ticks run late (it sends fewer events: CI saw connect p99 1.4 s, gap p99 327 ms,
    // p50 92), so there the count is only checked against what the server sent (above) and loosely.
    const minEventsP50 = isHostBusy() ? 85 : 97;
    if (minEventsP50 < 97) noteHostLoad(`p50 events per stream checked >= ${minEventsP50}, not >= 97`);
    assert.ok(streams.eventsPerStream.p50 >= minEventsP50 && streams.eventsPerStream.p50 <= 101, `p50 events per stream ${streams.eventsPerStream.p50}`);
    assert.ok(streams.eventsPerStream.max <= 101);
    assert.ok(streams.gapMs.p50 > 190 && streams.gapMs.p50 < 215, `gap p50 ${streams.gapMs.p50} ms`);
    assert.ok(streams.firstEventMs.p50 <= streams.connectMs.p50 + 250, 'the first event arrives within one tick of the connection');
    assert.equal(result.series.reduce((sum, point) => sum + point.streamDrops, 0), 100);
    const dropSecond = result.series.find((point) => point.streamDrops > 0)!.t;
    assert.ok(dropSecond >= 4 && dropSecond <= 7, `drops reported at second ${dropSecond}, about 5 s in`);
    assert.match(run.stdout, /streams +1,100 opened, 1,000 held to the end, 100 dropped by the server/);
  } finally {
    await server.stop();
  }
});

test('--slow-read makes the server wait on TCP back-pressure; a normal read does not', async () => {
  const server = await startLoadServer();
  try {
    // Larger than what loopback socket buffers absorb (Linux autotunes them up to a few MiB).
    const bytes = 16 * 1024 * 1024;
    const json = join(makeTempDir(), 'slow.json');
    const fast = await runBallastLoad([`${server.url}/big?bytes=${bytes}`, '--users', '1', '--duration', '500ms']);
    assert.equal(fast.code, 0, fast.stderr);
    const before = (await server.stats()).transfers.length;
    assert.ok(before >= 1);
    // 2 MiB/s for 16 MiB: ~8 s, minus what the socket buffers absorb.
    const slow = await runBallastLoad([`${server.url}/big?bytes=${bytes}`, '--users', '1', '--duration', '500ms', '--slow-read', '2mb', '--graceful-stop', '30s', '--json', json]);
    assert.equal(slow.code, 0, slow.stderr);
    const transfers = (await server.stats()).transfers;
    const fastTransfer = transfers[0];
    const slowTransfer = transfers[transfers.length - 1];
    assert.equal(transfers.length, before + 1, 'one slow request');
    const clientMs = readResult(json).summary.latencyMs.max;
    process.stdout.write(`# 16 MiB response: normal read, the server wrote it in ${fastTransfer.durationMs.toFixed(0)} ms; --slow-read 2mb: ${slowTransfer.durationMs.toFixed(0)} ms (${slowTransfer.drains} waits for drain), client read for ${clientMs} ms\n`);
    assert.ok(fastTransfer.durationMs < 2000, `a normal read takes ${fastTransfer.durationMs} ms`);
    assert.ok(slowTransfer.durationMs > 5000, `a slow read keeps the server writing for ${slowTransfer.durationMs} ms`);
    assert.ok(slowTransfer.durationMs > fastTransfer.durationMs * 4);
    assert.ok(clientMs > 7000 && clientMs < 9500, `the client read at ~2 MiB/s: ${clientMs} ms for 16 MiB`);
    assert.equal(slowTransfer.drains, slowTransfer.blockedWrites, 'every blocked write waited for drain');
  } finally {
    await server.stop();
  }
});

test('--slow-headers dribbles the request head and --slow-upload paces the body, as the server sees them', async () => {
  const server = await startLoadServer();
  try {
    const run = await runBallastLoad([`${server.url}/upload`, '--method', 'POST', '--body-size', '40kb', '--slow-headers', '1s', '--slow-upload', '20kb', '--users', '1', '--duration', '500ms', '--graceful-stop', '10s']);
    assert.equal(run.code, 0, run.stderr);
    const { uploads } = await server.stats();
    assert.equal(uploads.length, 1);
    const [upload] = uploads;
    process.stdout.write(`# slow client: head arrived over ${upload.headMs.toFixed(0)} ms, ${upload.bytes} body bytes over ${upload.bodyMs.toFixed(0)} ms\n`);
    assert.equal(upload.bytes, 40 * 1024);
    assert.ok(upload.headMs >= 850 && upload.headMs < 1500, `head took ${upload.headMs} ms (asked: 1 s)`);
    assert.ok(upload.bodyMs >= 1700 && upload.bodyMs < 2600, `40 KiB at 20 KiB/s took ${upload.bodyMs} ms (expected ~2 s)`);
    assert.match(run.stdout, /by status +200: 1 /);
  } finally {
    await server.stop();
  }
});
