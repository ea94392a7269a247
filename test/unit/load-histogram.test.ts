import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import * as hdr from 'hdr-histogram-js';
import { createHistogram, decodeHistogram, encodeHistogram, type Histogram } from '../../src/load/histogram.ts';
import { createRandom } from '../../src/load/schedule.ts';

/** The V2 bytes inside a compressed base64 encoding, cut to the payload length its header gives. */
function v2Bytes(encoded: string): Buffer {
  const outer = Buffer.from(encoded, 'base64');
  assert.equal(outer.readInt32BE(0), 0x1c849304 | 0x10, 'compressed V2 cookie');
  const inner = inflateSync(outer.subarray(8, 8 + outer.readInt32BE(4)));
  return inner.subarray(0, 40 + inner.readInt32BE(4));
}

function filled(seed: number, values: number, spread: (random: () => number) => number, weight = () => 1): Histogram {
  const random = createRandom(seed);
  const histogram = createHistogram();
  for (let i = 0; i < values; i++) histogram.recordValueWithCount(spread(random), weight());
  return histogram;
}

const cases: Array<[string, () => Histogram]> = [
  ['empty', () => createHistogram()],
  ['one zero', () => filled(1, 1, () => 0)],
  ['one value', () => filled(2, 1, () => 20_000)],
  ['one second of µs latencies', () => filled(3, 5_000, (r) => Math.round(80 + 200 * -Math.log(1 - r()) + (r() < 0.01 ? 3_000 * r() : 0)))],
  ['bimodal up to a minute', () => filled(4, 20_000, (r) => (r() < 0.5 ? Math.round(20_000 + r() * 100) : Math.round(r() * 60_000_000)))],
  // Counts whose ZigZag form takes 2, 3 and 4 bytes (the package's 32-bit buckets hold < 2^32).
  ['large counts', () => filled(5, 300, (r) => Math.round(r() * 10_000), (() => { let n = 0; const counts = [100, 20_000, 3_000_000]; return () => counts[n++ % counts.length]!; })())],
];

for (const [name, make] of cases) {
  test(`encodeHistogram: ${name}: the same V2 bytes as hdr-histogram-js's encoder, and decoded exactly`, () => {
    const histogram = make();
    const mine = encodeHistogram(histogram);
    const theirs = hdr.encodeIntoCompressedBase64(histogram);
    assert.deepEqual(v2Bytes(mine), v2Bytes(theirs));
    // Decoding keeps buckets, not values: the maximum comes back as its bucket's top, as from
    // the package's own encoding.
    const reference = hdr.decodeFromCompressedBase64(theirs, 32);
    for (const decoded of [decodeHistogram(mine), hdr.decodeFromCompressedBase64(mine, 32)]) {
      assert.equal(decoded.totalCount, histogram.totalCount);
      assert.equal(decoded.maxValue, reference.maxValue);
      for (const percentile of [0, 50, 90, 99, 99.9, 100]) assert.equal(decoded.getValueAtPercentile(percentile), histogram.getValueAtPercentile(percentile), `p${percentile}`);
    }
  });
}

test('encodeHistogram: a wider histogram after narrower ones grows the scratch buffer and still round-trips', () => {
  encodeHistogram(filled(6, 100, () => 10));
  const wide = filled(7, 50_000, (r) => Math.round(r() * 2 ** 40));
  assert.deepEqual(v2Bytes(encodeHistogram(wide)), v2Bytes(hdr.encodeIntoCompressedBase64(wide)));
  const small = filled(8, 10, () => 5);
  assert.equal(decodeHistogram(encodeHistogram(small)).totalCount, 10);
});
