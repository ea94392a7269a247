import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createAccessLog, createLineBatch, createWallClock, formatMs, jsonString, type AccessRecord } from '../../src/worker/access-log.ts';

test('jsonString is JSON.stringify, with or without the fast path', () => {
  const samples = [
    '', '/', '/api/items?x=1&y=%20', '1-m3k2-9z', 'a"b', 'a\\b', '\\', '"', 'tab\there', 'new\nline', '\r', '\u007f', '\u0080',
    'é', 'ünïcödé', '日本語', '😀', 'a😀b', '\ud83d', '\ude00', 'x\ud83dy', '\ude00\ud83d', '\u2028\u2029', '</script>', "'", '`',
  ];
  for (let code = 0; code < 0x80; code++) samples.push(String.fromCharCode(code), `x${String.fromCharCode(code)}y`);
  for (let code = 0xd7f0; code < 0xe010; code++) samples.push(String.fromCharCode(code));
  for (let i = 0; i < 2000; i++) {
    // Random strings over a mix of ASCII, Latin-1, BMP and surrogate code units.
    let s = '';
    for (let j = 0; j < 12; j++) {
      const pick = Math.random();
      s += String.fromCharCode(pick < 0.6 ? Math.floor(Math.random() * 0x80) : pick < 0.8 ? 0x80 + Math.floor(Math.random() * 0x180) : pick < 0.9 ? 0xd800 + Math.floor(Math.random() * 0x800) : Math.floor(Math.random() * 0x10000));
    }
    samples.push(s);
  }
  for (const s of samples) assert.equal(jsonString(s), JSON.stringify(s), `for ${JSON.stringify(s)}`);
});

test('formatMs is String(Math.round(ms * 1000) / 1000)', () => {
  const reference = (ms: number) => String(Math.round(ms * 1000) / 1000);
  // Every microsecond count up to 2 s, as an exact quotient and with noise below rounding.
  for (let micros = 0; micros <= 2_000_000; micros++) {
    const ms = micros / 1000;
    assert.equal(formatMs(ms), reference(ms));
    assert.equal(formatMs(ms + 0.0004), reference(ms + 0.0004));
  }
  const specials = [0.0005, 0.0004999, 0.0015, 1.0005, 2.5e-7, -0, -0.0001, -0.0005, -1.25, 999_999_999.9994, 999_999_999.9996, 1e9, 1e12, 1e15, 1e21, 1e300, Number.MAX_VALUE, Number.MIN_VALUE, NaN, Infinity, -Infinity];
  for (const ms of specials) assert.equal(formatMs(ms), reference(ms), `for ${ms}`);
  for (let i = 0; i < 200_000; i++) {
    const ms = Math.random() * 10 ** Math.floor(Math.random() * 13 - 3);
    assert.equal(formatMs(ms), reference(ms), `for ${ms}`);
  }
});

test('createLineBatch hands over whole lines in order, in chunks no bigger than its size unless lines are', () => {
  const chunks: Buffer[] = [];
  const batch = createLineBatch((chunk) => chunks.push(Buffer.from(chunk)), 1024);
  const lines: string[] = [];
  for (let i = 0; i < 300; i++) lines.push(`line ${i} ${'é'.repeat(i % 7)}${'日'.repeat(i % 5)}\n`);
  lines.push(`${'x'.repeat(3000)}\n`, 'after the long one\n', `${'😀'.repeat(500)}\n`);
  for (let i = 0; i < 40; i++) lines.push(`${i}\n`);
  for (const line of lines) batch.append(line);
  batch.handOver();
  batch.handOver(); // nothing left: no empty chunk
  assert.ok(chunks.length > 5);
  assert.ok(chunks.every((chunk) => chunk.length > 0));
  assert.ok(chunks.every((chunk) => chunk.length <= 1024 || chunk.toString().includes('x'.repeat(3000)) || chunk.toString().includes('😀'.repeat(500))), 'only chunks with over-long lines exceed the size');
  assert.equal(Buffer.concat(chunks).toString(), lines.join(''));
  for (const chunk of chunks) assert.ok(chunk.toString().endsWith('\n'), 'chunks end at line boundaries');
  // A quiet server: a few lines are handed over as they are.
  chunks.length = 0;
  batch.append('one\n');
  batch.append('two\n');
  batch.handOver();
  assert.deepEqual(chunks.map(String), ['one\ntwo\n']);
});

test('the JSON access log writes pino-format lines with the documented fields, on flush', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-access-log-'));
  try {
    const path = join(dir, 'nested', 'access.log');
    const log = createAccessLog({ destination: path, format: 'json', workerId: 3 })!;
    // The file is created and opened asynchronously (as a worker does while it boots).
    while (!existsSync(path)) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const records: AccessRecord[] = [
      { reqId: '3-abc-1', method: 'GET', path: '/', status: 200, bytes: 150, durationMs: 0.0154, queueWaitMs: 0 },
      { reqId: 'client"id\\', method: 'POST', path: '/ünï/"q"?a=\u0001', status: 499, bytes: 0, durationMs: 1234.56789, queueWaitMs: 12.0005 },
    ];
    for (let i = 0; i < 2000; i++) records.push({ reqId: `3-abc-${i.toString(36)}`, method: 'GET', path: `/items/${i}`, status: 200, bytes: 100 + i, durationMs: i / 7, queueWaitMs: i % 3 ? 0 : i / 13 });
    const before = Date.now();
    for (const record of records) log.write(record);
    const after = Date.now();
    // More than one chunk (256 KiB): the first is being written when close() is called, and the
    // rest must land after it (a synchronous flush here reordered them on a busy host).
    await log.close();
    const lines = readFileSync(path, 'utf8').split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, records.length);
    lines.forEach((line, i) => {
      const r = records[i]!;
      const parsed = JSON.parse(line) as Record<string, unknown>;
      assert.deepEqual(Object.keys(parsed), ['level', 'time', 'pid', 'worker', 'reqId', 'method', 'path', 'status', 'bytes', 'durationMs', 'queueWaitMs']);
      assert.ok((parsed.time as number) >= before && (parsed.time as number) <= after);
      // Byte for byte what the line was built as before (JSON.stringify, Math.round to the µs).
      const round = (ms: number) => Math.round(ms * 1000) / 1000;
      assert.equal(
        line,
        `{"level":30,"time":${parsed.time},"pid":${process.pid},"worker":3,"reqId":${JSON.stringify(r.reqId)},"method":${JSON.stringify(r.method)},"path":${JSON.stringify(r.path)},` +
          `"status":${r.status},"bytes":${r.bytes},"durationMs":${round(r.durationMs)},"queueWaitMs":${round(r.queueWaitMs)}}`,
      );
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('createWallClock turns performance.now() values into Date.now() milliseconds, and follows a wall-clock step', () => {
  let monotonic = 1000.25;
  let wall = 1_764_600_000_000;
  const clock = createWallClock(() => monotonic, () => wall);
  // Both clocks advance together: the derived time stays within a millisecond of the wall clock.
  for (let i = 0; i < 5000; i++) {
    const stepMs = 0.137 * (i % 11);
    monotonic += stepMs;
    wall = Math.floor(1_764_600_000_000 + (monotonic - 1000.25));
    assert.ok(Math.abs(clock.fromMonotonic(monotonic) - wall) <= 1, `at ${monotonic}: ${clock.fromMonotonic(monotonic)} vs ${wall}`);
  }
  // The wall clock is stepped back 5 s (an NTP correction): wrong until the next sync, right after.
  wall -= 5000;
  assert.ok(Math.abs(clock.fromMonotonic(monotonic) - wall) > 4000);
  clock.sync();
  assert.ok(Math.abs(clock.fromMonotonic(monotonic) - wall) <= 1);
  assert.equal(Number.isInteger(clock.fromMonotonic(monotonic + 0.4)), true);
});

test('the JSON access log takes the line time from endedAt when given', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-access-log-'));
  try {
    const path = join(dir, 'access.log');
    const log = createAccessLog({ destination: path, format: 'json', workerId: 1 })!;
    while (!existsSync(path)) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const endedAt = performance.now();
    const expected = Date.now();
    log.write({ reqId: 'a', method: 'GET', path: '/', status: 200, bytes: 1, durationMs: 1, queueWaitMs: 0, endedAt });
    // 10 s ago by the monotonic clock, and the same millisecond twice (the cached line head).
    log.write({ reqId: 'b', method: 'GET', path: '/', status: 200, bytes: 1, durationMs: 1, queueWaitMs: 0, endedAt: endedAt - 10_000 });
    log.write({ reqId: 'c', method: 'GET', path: '/', status: 200, bytes: 1, durationMs: 1, queueWaitMs: 0, endedAt: endedAt - 10_000 });
    log.flush();
    // If the file was not open yet, the lines wait in the stream and follow once it is.
    for (let waited = 0; readFileSync(path, 'utf8').split('\n').length < 4 && waited < 5000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    const times = readFileSync(path, 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { time: number }).time);
    assert.ok(Math.abs(times[0]! - expected) <= 2, `${times[0]} vs ${expected}`);
    assert.ok(Math.abs(times[1]! - (expected - 10_000)) <= 2, `${times[1]} vs ${expected - 10_000}`);
    assert.equal(times[2], times[1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
