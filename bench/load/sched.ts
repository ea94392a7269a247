// The scheduler's view of a load generator (bench/load/run.ts --sched): how long the generator's
// event-loop thread waited to run after being woken, on which CPU the kernel woke it, and what ran
// on that CPU meanwhile. A generator stamps a response when its thread runs, so every microsecond
// between the wake-up (the response's bytes arrived) and the thread running is added to what it
// reports. Recorded with `perf sched record` (Debian's linux-perf; root) for a window in the
// middle of a run, and read back with `perf script`.
//
// Why it exists: on this 2-core VM, ballast's p99 read above wrk's at the same fixed rate in quiet
// rounds while its p50-p90 agreed (BENCHMARKS.md, runs 17 and 20), and a per-request pairing with
// the wire put the excess on the receive side with the generator's loop idle. The question was
// whose wake-ups were slower, and why.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface SchedStats {
  /** Wake-ups of the generator's busiest thread in the window. */
  wakeups: number;
  /** Wake-up (sched_waking) to running (sched_switch in), µs. */
  delayUs: { p50: number; p90: number; p99: number; p999: number };
  /** Share of wake-ups the kernel placed on the waking CPU (the one that ran the waker), %. */
  onWakerCpuPercent: number;
  /** Wake-ups that waited more than 100 µs, and of those, how many waited for a server thread. */
  delayedOver100us: number;
  delayedBehindServer: number;
}

export function canRecordSched(): boolean {
  return spawnSync('perf', ['--version']).status === 0 && spawnSync('perf', ['list', 'tracepoint'], { encoding: 'utf8' }).stdout?.includes('sched:sched_waking') === true;
}

function threadsOf(pid: number): Set<number> {
  try {
    return new Set(readdirSync(`/proc/${pid}/task`).map(Number));
  } catch {
    return new Set();
  }
}

/**
 * Records the scheduler for `seconds` and returns the stats of `generatorPid`'s busiest thread
 * and, the other way round, of `serverPid`'s: how long the server waited to run after a request
 * woke it, and how often behind the generator (its `delayedBehindServer` counts waits behind a
 * generator thread). The server's wait is in every latency the generator reports, and it is the
 * part a generator's own CPU use decides: woken onto the generator's CPU, the server runs when
 * the generator blocks (BENCHMARKS.md, "2026-12-03 (midday)").
 */
export async function recordSched(generatorPid: number, serverPid: number, seconds: number, dir: string, name: string): Promise<{ generator: SchedStats; server: SchedStats }> {
  const data = join(dir, `${name}.sched`);
  const recorder = spawn('perf', ['sched', 'record', '-o', data, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
  const generatorThreads = threadsOf(generatorPid);
  const serverThreads = threadsOf(serverPid);
  const [status] = (await once(recorder, 'exit')) as [number | null];
  if (status !== 0) throw new Error(`perf sched record exited with ${status}`);
  const script = spawnSync('perf', ['script', '-i', data, '-F', 'cpu,time,event,trace'], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  if (script.status !== 0) throw new Error(`perf script failed: ${script.stderr}`);
  for (const tid of threadsOf(generatorPid)) generatorThreads.add(tid);
  for (const tid of threadsOf(serverPid)) serverThreads.add(tid);
  return { generator: analyse(script.stdout, generatorThreads, serverThreads), server: analyse(script.stdout, serverThreads, generatorThreads) };
}

interface Wake { atS: number; wakerCpu: number; targetCpu: number }

/** What one thread met: its wake-up delays and how many of them were on the waker's CPU, over 100 µs, and of those behind the other side. */
interface ThreadWaits { delaysUs: number[]; onWakerCpu: number; over100us: number; behindServer: number }

/** The waits of `generatorThreads`' busiest thread; `serverThreads`: whose running counts as "behind the server". */
export function analyse(text: string, generatorThreads: Set<number>, serverThreads: Set<number>): SchedStats {
  const pending = new Map<number, Wake>();
  const threads = new Map<number, ThreadWaits>();
  const line = /^\s*\[(\d+)\]\s+([\d.]+):\s+sched:(sched_waking|sched_switch):\s+(.*)$/;
  for (const row of text.split('\n')) {
    const match = line.exec(row);
    if (!match) continue;
    const cpu = Number(match[1]);
    const atS = Number(match[2]);
    const fields = match[4];
    if (match[3] === 'sched_waking') {
      const woken = / pid=(\d+) prio=\d+ target_cpu=(\d+)/.exec(fields);
      if (!woken) continue;
      const tid = Number(woken[1]);
      if (generatorThreads.has(tid)) pending.set(tid, { atS, wakerCpu: cpu, targetCpu: Number(woken[2]) });
      continue;
    }
    const switched = /prev_pid=(\d+) .*==> next_comm=.* next_pid=(\d+)/.exec(fields);
    if (!switched) continue;
    const next = Number(switched[2]);
    const wake = pending.get(next);
    if (wake === undefined) continue;
    pending.delete(next);
    let waits = threads.get(next);
    if (waits === undefined) threads.set(next, (waits = { delaysUs: [], onWakerCpu: 0, over100us: 0, behindServer: 0 }));
    const delayUs = (atS - wake.atS) * 1e6;
    waits.delaysUs.push(delayUs);
    if (wake.targetCpu === wake.wakerCpu) waits.onWakerCpu++;
    if (delayUs > 100) {
      waits.over100us++;
      if (serverThreads.has(Number(switched[1]))) waits.behindServer++;
    }
  }
  // The event-loop thread is the one woken most often (V8's helpers and libuv's pool sleep).
  let busiest: ThreadWaits = { delaysUs: [], onWakerCpu: 0, over100us: 0, behindServer: 0 };
  for (const waits of threads.values()) if (waits.delaysUs.length > busiest.delaysUs.length) busiest = waits;
  const list = busiest.delaysUs.sort((a, b) => a - b);
  const at = (q: number) => (list.length === 0 ? 0 : Math.round(list[Math.min(list.length - 1, Math.floor(list.length * q))]));
  return {
    wakeups: list.length,
    delayUs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999) },
    onWakerCpuPercent: list.length === 0 ? 0 : Math.round((busiest.onWakerCpu / list.length) * 1000) / 10,
    delayedOver100us: busiest.over100us,
    delayedBehindServer: busiest.behindServer,
  };
}
