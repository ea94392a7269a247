// HDR histograms (hdr-histogram-js) of integer microseconds, 3 significant digits: any recorded
// value is known to within 0.1 %, whatever its magnitude, in a few tens of kilobytes. They travel
// between threads and files in the library's compressed base64 encoding, and adding decoded
// histograms is exact, which is what makes per-second series, thread fan-in and multi-host merges
// report the same percentiles as one recorder would have.

import * as hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import type { Stats } from './types.ts';

export type { Histogram };

export function createHistogram(): Histogram {
  return hdr.build({ bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
}

export function encodeHistogram(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
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
