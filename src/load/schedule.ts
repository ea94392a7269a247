// When things should happen: arrival times of the open model and the user count of the closed one.
//
// The target over time is piecewise linear (a constant level, or stages that ramp from the previous
// level to the next). Arrivals are the inverse of the cumulative rate Λ(t): the k-th constant
// arrival is at Λ⁻¹(k), the k-th Poisson arrival at Λ⁻¹(E₁+…+E_k) with Eᵢ ~ Exp(1) from a seeded
// PRNG. Both are exact for ramps (Λ is quadratic on each segment), so a ramp from 0 to 500 req/s
// over 30 s sends exactly 7,500 requests, and a seed makes a Poisson run repeatable.

import { parseDurationMs } from '../config/schema.ts';
import { createError } from '../errors.ts';
import type { Stage } from './types.ts';

/** mulberry32: small, fast, good enough for arrival jitter; deterministic per seed. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `30s:500,60s:5000` → stages; each item is DURATION:TARGET. */
export function parseStages(items: readonly string[], source = '--stages'): Stage[] {
  return items.map((item) => {
    const match = /^\s*([^:]+):\s*(\d+(?:\.\d+)?)\s*$/.exec(item);
    const durationMs = match ? parseDurationMs(match[1]) : undefined;
    if (!match || durationMs === undefined || durationMs <= 0) {
      throw createError('BALLAST_ERR_INVALID_SETTING', `expected \`stages\` (${source}) items to be DURATION:TARGET such as 30s:500, got \`${item}\``);
    }
    return { durationMs, target: Number(match[2]) };
  });
}

interface Segment {
  startMs: number;
  endMs: number;
  from: number;
  to: number;
  /** Λ at startMs (arrivals). */
  cumulative: number;
}

/**
 * The target level over time: `initial` until the first stage, then each stage ramps linearly to
 * its target; after the last stage the level holds until `durationMs`.
 */
export class TargetCurve {
  readonly segments: Segment[] = [];

  constructor(initial: number, stages: readonly Stage[], durationMs: number) {
    let start = 0;
    let level = initial;
    let cumulative = 0;
    const push = (endMs: number, to: number) => {
      const end = Math.min(endMs, durationMs);
      if (end <= start) return;
      // Clip a ramp cut by the duration at the level reached there.
      const fullLength = endMs - start;
      const reached = level + ((to - level) * (end - start)) / fullLength;
      this.segments.push({ startMs: start, endMs: end, from: level, to: reached, cumulative });
      cumulative += (((level + reached) / 2) * (end - start)) / 1000;
      start = end;
      level = to;
    };
    for (const stage of stages) {
      if (start >= durationMs) break;
      push(start + stage.durationMs, stage.target);
    }
    if (start < durationMs) push(durationMs, level);
  }

  /** Level (users, or arrivals per second) at `ms`. */
  at(ms: number): number {
    for (const segment of this.segments) {
      if (ms < segment.endMs) return segment.from + ((segment.to - segment.from) * (ms - segment.startMs)) / (segment.endMs - segment.startMs);
    }
    const last = this.segments.at(-1);
    return last ? last.to : 0;
  }

  /** Λ(durationMs): expected arrivals in the whole run. */
  get total(): number {
    const last = this.segments.at(-1);
    if (!last) return 0;
    return last.cumulative + (((last.from + last.to) / 2) * (last.endMs - last.startMs)) / 1000;
  }

  /** Λ⁻¹(x): the time (ms) by which `x` arrivals are due; Infinity past the end. */
  inverse(x: number): number {
    for (const segment of this.segments) {
      const lengthS = (segment.endMs - segment.startMs) / 1000;
      const inSegment = (((segment.from + segment.to) / 2) * lengthS);
      const local = x - segment.cumulative;
      if (local > inSegment) continue;
      // Solve a·τ² + b·τ = local with a = (to − from) / (2·length), b = from, in the stable form.
      const a = (segment.to - segment.from) / (2 * lengthS);
      const b = segment.from;
      const root = b * b + 4 * a * local;
      const tauS = local <= 0 ? 0 : (2 * local) / (b + Math.sqrt(root < 0 ? 0 : root));
      if (!Number.isFinite(tauS)) continue;
      return segment.startMs + tauS * 1000;
    }
    return Infinity;
  }
}

export interface ArrivalSchedule {
  /** Intended send time (ms from the start) of the next arrival, Infinity when there is none. */
  next(): number;
}

/**
 * @param phase in [0, 1): shifts constant arrivals by a fraction of one gap, so N threads that
 * each send rate/N interleave evenly instead of firing together.
 */
export function createArrivalSchedule(curve: TargetCurve, arrival: 'constant' | 'poisson', seed: number, phase = 0): ArrivalSchedule {
  let index = phase;
  if (arrival === 'constant') {
    return { next: () => curve.inverse(index++) };
  }
  const random = createRandom(seed);
  let cumulative = -Math.log(1 - random());
  return {
    next() {
      const at = curve.inverse(cumulative);
      cumulative += -Math.log(1 - random());
      return at;
    },
  };
}
