import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanEvents } from '../../src/load/engine/stream.ts';

function count(chunks: string[]): number {
  let events = 0;
  let state = false;
  for (const chunk of chunks) state = scanEvents(Buffer.from(chunk), state, () => events++);
  return events;
}

test('counts SSE events by their blank line, with LF or CRLF line ends', () => {
  assert.equal(count(['data: a\n\ndata: b\n\n']), 2);
  assert.equal(count(['data: a\r\n\r\ndata: b\r\n\r\n']), 2);
  assert.equal(count(['event: x\ndata: 1\ndata: 2\n\n']), 1, 'several lines, one event');
  assert.equal(count([': keep-alive\n\n']), 1, 'a comment block is dispatched like an event');
  assert.equal(count(['data: a\n']), 0, 'an unfinished event is not counted');
});

test('counts events split across chunks at any byte', () => {
  const text = 'data: one\r\n\r\ndata: two\n\nid: 3\ndata: three\r\n\r\n';
  for (let cut = 0; cut <= text.length; cut++) {
    assert.equal(count([text.slice(0, cut), text.slice(cut)]), 3, `cut at ${cut}`);
  }
  assert.equal(count(text.split('')), 3, 'one byte at a time');
});
