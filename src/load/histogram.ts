// HDR histograms (hdr-histogram-js) of integer microseconds, 3 significant digits: any recorded
// value is known to within 0.1 %, whatever its magnitude, in a few tens of kilobytes. They travel
// between threads and files in the library's compressed base64 encoding, and adding decoded
// histograms is exact, which is what makes per-second series, thread fan-in and multi-host merges
// report the same percentiles as one recorder would have.

import * as hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import { deflateSync } from 'node:zlib';
import type { Stats } from './types.ts';

export type { Histogram };

export function createHistogram(): Histogram {
  return hdr.build({ bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
}

/** What the encoder reads of a histogram (JsHistogram has these; the package's interface does not declare them). */
interface CountsView {
  readonly maxValue: number;
  readonly numberOfSignificantValueDigits: number;
  readonly lowestDiscernibleValue: number;
  readonly highestTrackableValue: number;
  countsArrayIndex(value: number): number;
  getCountAtIndex(index: number): number;
}

// HdrHistogram's V2 format: a header of big-endian fields, then the counts as ZigZag LEB128
// (9 bytes at most: LEB128-64b9B), a run of zeros written as one negative count; "compressed" is
// a second cookie and length around the zlib-deflated V2 bytes.
const v2Cookie = 0x1c849303 | 0x10;
const v2CompressedCookie = 0x1c849304 | 0x10;
const v2HeaderBytes = 40;
/** Reused between encodes (grown when a wider histogram comes): one second's encode allocates no scratch. */
let scratch = Buffer.allocUnsafeSlow(64 * 1024);
// Level 1 with an 8 KiB window: the histograms' payloads are a few KiB of small numbers, which
// this compresses within a few % of the default (level 6, 32 KiB window, 128 KiB of hash state)
// at a fraction of its set-up cost, paid on every deflateSync.
const deflateOptions = { level: 1, windowBits: 13, memLevel: 4 } as const;

function putZigZag(buffer: Buffer, at: number, signed: number): number {
  let value = signed >= 0 ? signed * 2 : -signed * 2 - 1;
  // Seven bits a byte, the high bit saying "more"; the ninth byte carries a whole eight bits.
  for (let i = 0; i < 8; i++) {
    if (value < 0x80) {
      buffer[at++] = value;
      return at;
    }
    buffer[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buffer[at++] = value & 0xff;
  return at;
}

/**
 * The histogram in hdr-histogram-js's compressed base64 form (decodeHistogram, and the package's
 * own decoder, read it back exactly). The package's encoder took 69-78 µs for one second of
 * µs latencies (5,000 values), warm, against 34-38 µs for this one: it writes JavaScript byte
 * buffers that grow by doubling, base64s the whole grown buffer, and deflates at the default
 * level, whose set-up (hash tables, window) dominates for a few KiB. This one writes into a
 * reused Buffer and uses Node's native base64. It runs on the load
 * generator's thread once per second and histogram, between responses, so its time is the
 * generator's own latency added to whatever arrives meanwhile.
 */
export function encodeHistogram(histogram: Histogram): string {
  const h = histogram as unknown as CountsView;
  const limit = h.countsArrayIndex(h.maxValue) + 1;
  const worst = v2HeaderBytes + limit * 9;
  if (scratch.length < worst) scratch = Buffer.allocUnsafeSlow(worst * 2);
  const buffer = scratch;
  buffer.writeInt32BE(v2Cookie, 0);
  buffer.writeInt32BE(1, 8); // normalizingIndexOffset
  buffer.writeInt32BE(h.numberOfSignificantValueDigits, 12);
  buffer.writeBigInt64BE(BigInt(h.lowestDiscernibleValue), 16);
  buffer.writeBigInt64BE(BigInt(h.highestTrackableValue), 24);
  buffer.writeBigInt64BE(1n, 32); // integerToDoubleValueConversionRatio
  let at = v2HeaderBytes;
  let index = 0;
  while (index < limit) {
    const count = h.getCountAtIndex(index++);
    if (count !== 0) {
      at = putZigZag(buffer, at, count);
      continue;
    }
    let zeros = 1;
    while (index < limit && h.getCountAtIndex(index) === 0) {
      zeros++;
      index++;
    }
    at = putZigZag(buffer, at, zeros > 1 ? -zeros : 0);
  }
  buffer.writeInt32BE(at - v2HeaderBytes, 4);
  const compressed = deflateSync(buffer.subarray(0, at), deflateOptions);
  const out = Buffer.allocUnsafe(8 + compressed.length);
  out.writeInt32BE(v2CompressedCookie, 0);
  out.writeInt32BE(compressed.length, 4);
  compressed.copy(out, 8);
  return out.toString('base64');
}

export function decodeHistogram(encoded: string): Histogram {
  const histogram = hdr.decodeFromCompressedBase64(encoded, 32);
  // Decoded histograms are sized to their content; adding a wider one must grow, not throw.
  histogram.autoResize = true;
  return histogram;
}

/** Adds `encoded` into `into` (created when absent) and returns it. */
export function addEncoded(into: Histogram | undefined, encoded: string | undefined): Histogram | undefined {
  if (encoded === undefined) return into;
  const decoded = decodeHistogram(encoded);
  if (into === undefined) return decoded;
  into.add(decoded);
  return into;
}

export const emptyStats: Stats = Object.freeze({ count: 0, mean: 0, min: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });

/** Round to microsecond resolution expressed in ms (3 decimals) so JSON stays readable. */
function roundMs(valueUs: number): number {
  return Math.round(valueUs) / 1000;
}

/**
 * Stats in milliseconds from a microsecond histogram. `sumUs`, when given, makes the mean exact
 * (the histogram's own mean is rounded to its buckets). `divisor` 1 reports raw values (counts).
 */
export function statsOf(histogram: Histogram | undefined, sumUs?: number, divisor = 1000): Stats {
  if (histogram === undefined || histogram.totalCount === 0) return { ...emptyStats };
  const count = histogram.totalCount;
  const scale = (valueUs: number) => (divisor === 1000 ? roundMs(valueUs) : Math.round((valueUs / divisor) * 1000) / 1000);
  const mean = sumUs === undefined ? histogram.mean : sumUs / count;
  return {
    count,
    mean: scale(mean),
    min: scale(histogram.minNonZeroValue === Number.MAX_SAFE_INTEGER ? 0 : minValue(histogram)),
    p50: scale(histogram.getValueAtPercentile(50)),
    p90: scale(histogram.getValueAtPercentile(90)),
    p99: scale(histogram.getValueAtPercentile(99)),
    p999: scale(histogram.getValueAtPercentile(99.9)),
    max: scale(histogram.maxValue),
  };
}

function minValue(histogram: Histogram): number {
  // A recorded 0 is not "non-zero"; the 0th percentile gives the true lowest bucket.
  return histogram.getValueAtPercentile(0);
}
