// An adaptive concurrency limit after Netflix's concurrency-limits Gradient2: compare a short-term
// latency (this window's average) with a long-term one (an exponential average over ~600
// samples). When latency rises above what the long-term average tolerates, the limit shrinks in
// proportion; while latency holds, it grows by a small headroom (the queue size, √limit). The
// limit is smoothed, clamped to [minLimit, maxLimit], and does not grow while the app is not
// using half of it (app-limited). Parameters are in docs/overload.md.

export interface GradientLimitOptions {
  maxLimit: number;
  minLimit?: number;
  initialLimit?: number;
  /** Latency may rise this much above the long-term average before the limit shrinks. */
  tolerance?: number;
  /** Weight of a new limit estimate (0..1). */
  smoothing?: number;
  /** Samples in the long-term exponential average. */
  longWindow?: number;
  /** A window closes after this many samples and at least `windowMs`. */
  windowSamples?: number;
  windowMs?: number;
  now?: () => number;
}

export interface GradientLimit {
  readonly limit: number;
  /** The lowest window latency seen recently (ms): the no-load latency estimate. */
  readonly minLatencyMs: number;
  onStart(inFlight: number): void;
  onSample(latencyMs: number): void;
  onDrop(): void;
}

export const gradientDefaults = {
  minLimit: 1,
  initialLimit: 20,
  tolerance: 1.5,
  smoothing: 0.2,
  longWindow: 600,
  windowSamples: 10,
  windowMs: 100,
};

export function createGradientLimit(options: GradientLimitOptions): GradientLimit {
  const p = { ...gradientDefaults, ...options };
  const now = options.now ?? (() => performance.now());
  let limit = Math.min(p.maxLimit, p.initialLimit);
  let longLatency = 0;
  let longCount = 0;
  let windowSum = 0;
  let windowCount = 0;
  let windowMaxInFlight = 0;
  let windowStart = now();
  let windowDropped = false;
  let minLatency = Infinity;
  let minLatencySetAt = now();

  function closeWindow(): void {
    const shortLatency = windowSum / windowCount;
    // The no-load estimate forgets after 30 s, so it can follow a change in the app.
    if (shortLatency < minLatency || now() - minLatencySetAt > 30_000) {
      minLatency = shortLatency;
      minLatencySetAt = now();
    }
    // Long-term exponential average; a plain mean during warm-up.
    longCount++;
    const weight = longCount < 10 ? 1 / longCount : 2 / (p.longWindow + 1);
    longLatency = longLatency * (1 - weight) + shortLatency * weight;
    // After a sustained rise the long-term average would keep up with it; pull it back down
    // when it drifts far above the short-term one, so recovery is seen quickly.
    if (longLatency / shortLatency > 2) longLatency *= 0.95;

    const appLimited = windowMaxInFlight < limit / 2 && !windowDropped;
    if (!appLimited) {
      const gradient = Math.max(0.5, Math.min(1, (p.tolerance * longLatency) / shortLatency));
      const headroom = Math.sqrt(limit);
      let next = limit * gradient + headroom;
      next = limit * (1 - p.smoothing) + next * p.smoothing;
      limit = Math.max(p.minLimit, Math.min(p.maxLimit, next));
    }
    windowSum = 0;
    windowCount = 0;
    windowMaxInFlight = 0;
    windowDropped = false;
    windowStart = now();
  }

  return {
    get limit() { return limit; },
    get minLatencyMs() { return Number.isFinite(minLatency) ? minLatency : 0; },
    onStart(inFlight) {
      if (inFlight > windowMaxInFlight) windowMaxInFlight = inFlight;
    },
    onSample(latencyMs) {
      windowSum += latencyMs;
      windowCount++;
      if (windowCount >= p.windowSamples && now() - windowStart >= p.windowMs) closeWindow();
    },
    onDrop() {
      windowDropped = true;
    },
  };
}
