import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBallastError } from '../../src/errors.ts';
import { ResponseParser, maxHeadBytes } from '../../src/load/engine/response-parser.ts';

interface Outcome {
  /** Final status reported by onResponseHead (0 when none). */
  status: number;
  heads: number;
  isComplete: boolean;
  keepAlive: boolean;
  keepAliveTimeoutMs: number;
  /** Offset in the whole input where the response ended (-1 when it did not). */
  endAt: number;
}

/** Feeds `text` to a fresh parser in the pieces given by `cuts` (sorted offsets), like socket reads. */
function parse(text: string | Buffer, cuts: number[] = [], options: { isHead?: boolean; eof?: boolean } = {}): Outcome {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  let heads = 0;
  let status = 0;
  const parser = new ResponseParser({ onResponseHead(code) { heads++; status = code; } });
  parser.start(options.isHead ?? false);
  let endAt = -1;
  const bounds = [0, ...cuts, bytes.length];
  for (let i = 0; i + 1 < bounds.length && endAt === -1; i++) {
    // Each read arrives in its own buffer, with junk around it, as from a reused read buffer.
    const piece = bytes.subarray(bounds[i], bounds[i + 1]);
    const frame = Buffer.concat([Buffer.from('\n\nXX'), piece, Buffer.from('\r\n\n')]);
    const end = parser.execute(frame, 4, 4 + piece.length);
    if (parser.isComplete) endAt = bounds[i] + (end - 4);
  }
  if (endAt === -1 && options.eof && parser.finish()) endAt = bytes.length;
  return { status, heads, isComplete: parser.isComplete, keepAlive: parser.shouldKeepAlive, keepAliveTimeoutMs: parser.keepAliveTimeoutMs, endAt };
}

function throwsParseError(fn: () => unknown, what: string): void {
  assert.throws(fn, (error: unknown) => isBallastError(error) && error.code === 'BALLAST_ERR_LOAD_RESPONSE', what);
}

const chunkedBody = '5\r\nhello\r\n6;name=value;other\r\n world\r\n0\r\n\r\n';

interface Case {
  name: string;
  text: string;
  status: number;
  keepAlive: boolean;
  isHead?: boolean;
  /** The response is delimited by the connection's end. */
  eof?: boolean;
  keepAliveTimeoutMs?: number;
}

const cases: Case[] = [
  { name: 'Content-Length body', text: 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 11\r\n\r\nhello world', status: 200, keepAlive: true },
  { name: 'node:http hello world with its keep-alive hint', text: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nDate: Tue, 01 Dec 2026 18:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nhello world', status: 200, keepAlive: true, keepAliveTimeoutMs: 5000 },
  { name: 'empty body', text: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', status: 200, keepAlive: true },
  { name: 'no reason phrase', text: 'HTTP/1.1 404\r\nContent-Length: 3\r\n\r\nnop', status: 404, keepAlive: true },
  { name: 'bare LF line ends', text: 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok', status: 200, keepAlive: true },
  { name: 'chunked, with extensions', text: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedBody}`, status: 200, keepAlive: true },
  { name: 'chunked with trailers', text: 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, CHUNKED\r\nTrailer: x-checksum\r\n\r\na\r\n0123456789\r\n0\r\nx-checksum: abc\r\nx-other: 1\r\n\r\n', status: 200, keepAlive: true },
  { name: 'chunked with uppercase hex sizes and a large chunk', text: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1F\r\n${'x'.repeat(31)}\r\n0\r\n\r\n`, status: 200, keepAlive: true },
  { name: 'Connection: close', text: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok', status: 200, keepAlive: false },
  { name: 'Connection: close among other tokens, any case', text: 'HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 2\r\n\r\nok', status: 200, keepAlive: false },
  { name: 'HTTP/1.0 without keep-alive', text: 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok', status: 200, keepAlive: false },
  { name: 'HTTP/1.0 with keep-alive', text: 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok', status: 200, keepAlive: true },
  { name: 'HEAD: Content-Length but no body', text: 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n', status: 200, keepAlive: true, isHead: true },
  { name: 'HEAD: chunked header but no body', text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', status: 200, keepAlive: true, isHead: true },
  { name: '204 has no body', text: 'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n', status: 204, keepAlive: true },
  { name: '304 has no body', text: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: "x"\r\n\r\n', status: 304, keepAlive: true },
  { name: '100 Continue and 103 Early Hints before the response', text: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\n!', status: 201, keepAlive: true },
  { name: 'body until close (no length)', text: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nthe body ends with the connection', status: 200, keepAlive: false, eof: true },
  { name: 'body until close (non-chunked transfer-encoding)', text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc', status: 200, keepAlive: false, eof: true },
  { name: 'Transfer-Encoding wins over Content-Length and forbids reuse', text: `HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedBody}`, status: 200, keepAlive: false },
  { name: 'repeated identical Content-Length', text: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok', status: 200, keepAlive: true },
  { name: 'OWS around values, empty values, obs-fold on another field', text: 'HTTP/1.1 500 Internal Server Error\r\nX-Empty:\r\nX-Folded: a\r\n  b\r\nContent-Length:\t 4 \t\r\n\r\nfail', status: 500, keepAlive: true },
  { name: 'status 599 and a long reason', text: `HTTP/1.1 599 ${'r'.repeat(200)}\r\nContent-Length: 0\r\n\r\n`, status: 599, keepAlive: true },
];

test('parses every response in the table, whole and split at every byte offset', () => {
  for (const item of cases) {
    const length = Buffer.byteLength(item.text, 'latin1');
    const expect = (outcome: Outcome, how: string) => {
      const where = `${item.name} (${how})`;
      assert.equal(outcome.isComplete, true, `${where}: complete`);
      assert.equal(outcome.status, item.status, `${where}: status`);
      assert.equal(outcome.heads, 1, `${where}: one final head`);
      assert.equal(outcome.keepAlive, item.keepAlive, `${where}: keep-alive`);
      assert.equal(outcome.endAt, length, `${where}: ends exactly at the end of the response`);
      if (item.keepAliveTimeoutMs !== undefined) assert.equal(outcome.keepAliveTimeoutMs, item.keepAliveTimeoutMs, `${where}: keep-alive hint`);
    };
    const options = { isHead: item.isHead, eof: item.eof };
    expect(parse(item.text, [], options), 'whole');
    for (let cut = 1; cut < length; cut++) expect(parse(item.text, [cut], options), `cut at ${cut}`);
    for (let a = 1; a < length; a += 7) for (let b = a + 1; b < length; b += 5) expect(parse(item.text, [a, b], options), `cuts at ${a} and ${b}`);
    expect(parse(item.text, Array.from({ length: length - 1 }, (_, i) => i + 1), options), 'one byte at a time');
  }
});

test('stops at the end of a response: the bytes after it are left to the caller', () => {
  for (const item of cases.filter((c) => !c.eof)) {
    const text = `${item.text}HTTP/1.1 200 OK\r\n`;
    const length = Buffer.byteLength(item.text, 'latin1');
    assert.equal(parse(text, [], { isHead: item.isHead }).endAt, length, item.name);
    assert.equal(parse(text, [length - 1], { isHead: item.isHead }).endAt, length, `${item.name}, split before the end`);
  }
});

test('a response cut short by the connection is not complete', () => {
  const text = 'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello';
  for (let cut = 0; cut <= text.length; cut++) {
    const parser = new ResponseParser({ onResponseHead() {} });
    parser.start(false);
    parser.execute(Buffer.from(text.slice(0, cut)), 0, cut);
    assert.equal(parser.finish(), false, `cut at ${cut}`);
    assert.equal(parser.isComplete, false);
  }
  const chunked = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedBody}`;
  for (let cut = 0; cut < chunked.length; cut++) {
    const parser = new ResponseParser({ onResponseHead() {} });
    parser.start(false);
    parser.execute(Buffer.from(chunked.slice(0, cut)), 0, cut);
    assert.equal(parser.finish(), false, `chunked, cut at ${cut}`);
  }
});

test('one parser reads consecutive responses on a keep-alive connection', () => {
  const parser = new ResponseParser({ onResponseHead() {} });
  for (const item of cases.filter((c) => !c.eof)) {
    parser.start(item.isHead ?? false);
    const bytes = Buffer.from(item.text, 'latin1');
    const middle = Math.floor(bytes.length / 2);
    parser.execute(bytes, 0, middle);
    const end = parser.execute(bytes, middle, bytes.length);
    assert.equal(parser.isComplete, true, item.name);
    assert.equal(end, bytes.length, item.name);
    assert.equal(parser.status, item.status, item.name);
  }
});

const malformed: { name: string; text: string }[] = [
  { name: 'not HTTP', text: 'SSH-2.0-OpenSSH_9.2\r\n' },
  { name: 'HTTP/2 status line', text: 'HTTP/2.0 200 OK\r\n\r\n' },
  { name: 'two-digit status', text: 'HTTP/1.1 20 OK\r\n\r\n' },
  { name: 'status not followed by a space', text: 'HTTP/1.1 200OK\r\n\r\n' },
  { name: 'status below 100', text: 'HTTP/1.1 099 Odd\r\n\r\n' },
  { name: 'letters in Content-Length', text: 'HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n' },
  { name: 'negative Content-Length', text: 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n' },
  { name: 'empty Content-Length', text: 'HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n' },
  { name: 'Content-Length list', text: 'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok' },
  { name: 'huge Content-Length', text: 'HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n' },
  { name: 'conflicting Content-Length', text: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok' },
  { name: 'field without a colon', text: 'HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\nok' },
  { name: 'field with an empty name', text: 'HTTP/1.1 200 OK\r\n: value\r\n\r\n' },
  { name: 'whitespace before the colon', text: 'HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok' },
  { name: 'obs-fold of a framing field', text: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n 3\r\n\r\nok' },
  { name: 'bad chunk size', text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n' },
  { name: 'empty chunk size', text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n' },
  { name: 'junk after the chunk size', text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n' },
  { name: 'chunk size too large', text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n' },
  { name: 'chunk data longer than its size', text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n' },
  { name: 'trailer without a colon', text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnot a field\r\n\r\n' },
  { name: '101 Switching Protocols', text: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n' },
  { name: 'a head larger than the limit', text: `HTTP/1.1 200 OK\r\n${'x-pad: yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n'.repeat(Math.ceil(maxHeadBytes / 60) + 1)}\r\n` },
  { name: 'one endless header line', text: `HTTP/1.1 200 OK\r\nx-long: ${'y'.repeat(maxHeadBytes + 10)}` },
  { name: 'an endless chunk-size line', text: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(5000)}` },
];

test('malformed responses throw BALLAST_ERR_LOAD_RESPONSE, whole and split at every byte offset', () => {
  for (const item of malformed) {
    throwsParseError(() => parse(item.text), `${item.name} (whole)`);
    const length = Math.min(item.text.length, 300);
    for (let cut = 1; cut < length; cut++) throwsParseError(() => parse(item.text, [cut]), `${item.name} (cut at ${cut})`);
  }
});

test('bytes after a complete response, without a new start(), are an error, not a crash', () => {
  const parser = new ResponseParser({ onResponseHead() {} });
  parser.start(false);
  const bytes = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  parser.execute(bytes, 0, bytes.length);
  assert.equal(parser.isComplete, true);
  throwsParseError(() => parser.execute(bytes, 0, bytes.length), 'second response with no request');
  const idle = new ResponseParser({ onResponseHead() {} });
  throwsParseError(() => idle.execute(bytes, 0, bytes.length), 'bytes before any request');
});

test('random corruption of valid responses never crashes the parser: it completes, waits or throws its own error', () => {
  // A small deterministic PRNG (mulberry32), so a failure can be replayed.
  let seed = 0x5eed;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const alphabet = Buffer.from('\r\n :;,0123456789abcdefABCDEF-HTTP/1.chunkedclose\t\0\xff');
  for (let round = 0; round < 4000; round++) {
    const item = cases[Math.floor(random() * cases.length)];
    const bytes = Buffer.from(item.text, 'latin1');
    const edits = 1 + Math.floor(random() * 4);
    for (let i = 0; i < edits; i++) bytes[Math.floor(random() * bytes.length)] = alphabet[Math.floor(random() * alphabet.length)];
    const cut = Math.floor(random() * bytes.length);
    try {
      const outcome = parse(bytes, cut > 0 ? [cut] : [], { isHead: item.isHead, eof: random() < 0.5 });
      if (outcome.isComplete) assert.ok(outcome.status >= 100 && outcome.status <= 999, 'a completed response has a status');
    } catch (error) {
      assert.ok(isBallastError(error) && error.code === 'BALLAST_ERR_LOAD_RESPONSE', `round ${round}: ${String(error)} for ${JSON.stringify(bytes.toString('latin1'))}`);
    }
  }
});
