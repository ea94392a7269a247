// The stall watchdog's own thread. The worker's main thread stores a timestamp in shared memory
// every few ms (its heartbeat); this thread checks it. When the heartbeat is older than
// `stallMs`, the main thread's event loop is blocked: pause it through the inspector, record the
// JavaScript stack, resume it, and report. Past `escalateMs`, terminate the running JavaScript
// (V8's TerminateExecution), which hands the event loop back so the worker can answer its clients
// and be replaced. Nothing touches the inspector until a stall: zero cost until it fires.

import { Session } from 'node:inspector';
import { parentPort, workerData } from 'node:worker_threads';
import { writeSync } from 'node:fs';

export interface StackFrame {
  functionName: string;
  url: string;
  /** 1-based */
  line: number;
  /** 1-based */
  column: number;
}

/** What the main thread was serving, read from it while it was paused (see inFlightHook). */
export interface InFlightSnapshot {
  method: string;
  path: string;
  reqId: string;
  ageMs: number;
}

/** The global the main thread exposes for the watchdog to read while paused. */
export const inFlightHook = 'ballast.inFlight';

export type WatchdogMessage =
  | { t: 'stall'; blockedMs: number; stack: StackFrame[]; inFlight: InFlightSnapshot[]; capturedAt: number }
  | { t: 'escalated'; blockedMs: number };

interface WatchdogData {
  heartbeat: SharedArrayBuffer;
  stallMs: number;
  escalateMs: number;
  checkMs: number;
  workerId: number;
}

const data = workerData as WatchdogData;
const heartbeat = new BigInt64Array(data.heartbeat);
let session: Session | undefined;
let capturing = false;
let reportedThisStall = false;
let escalatedThisStall = false;

function post(message: WatchdogMessage): void {
  parentPort!.postMessage(message);
}

function connect(): Session {
  if (!session) {
    session = new Session();
    session.connectToMainThread();
  }
  return session;
}

function captureStack(blockedMs: number): void {
  capturing = true;
  const s = connect();
  // Debugger.enable announces every loaded script; keep their URLs to name the frames.
  const scriptUrls = new Map<string, string>();
  const onScript = (message: { params: { scriptId: string; url: string } }) => { scriptUrls.set(message.params.scriptId, message.params.url); };
  s.on('Debugger.scriptParsed', onScript);
  s.post('Debugger.enable', (enableError) => {
    if (enableError) {
      capturing = false;
      return;
    }
    s.once('Debugger.paused', (message) => {
      s.off('Debugger.scriptParsed', onScript);
      const frames = (message.params.callFrames as Array<{ functionName: string; url: string; location: { scriptId: string; lineNumber: number; columnNumber?: number } }>)
        .slice(0, 30)
        .map((frame) => ({
          functionName: frame.functionName || '(anonymous)',
          url: frame.url || scriptUrls.get(frame.location.scriptId) || `script ${frame.location.scriptId}`,
          line: frame.location.lineNumber + 1,
          column: (frame.location.columnNumber ?? 0) + 1,
        }));
      // While it is paused, ask the main thread what it is serving (no cost until a stall).
      s.post('Runtime.evaluate', { expression: `globalThis[Symbol.for(${JSON.stringify(inFlightHook)})]?.()`, returnByValue: true }, (_error, result) => {
        let inFlight: InFlightSnapshot[] = [];
        try {
          const value = (result as { result?: { value?: unknown } } | undefined)?.result?.value;
          if (typeof value === 'string') inFlight = JSON.parse(value) as InFlightSnapshot[];
        } catch { /* no snapshot: report the stack alone */ }
        // Resume first; the report can wait, the app cannot.
        s.post('Debugger.resume', () => {
          s.post('Debugger.disable', () => { capturing = false; });
        });
        const report = { t: 'stall' as const, blockedMs, stack: frames, inFlight, capturedAt: Date.now() };
        // Evidence on stderr at once (the main thread cannot log while it is blocked, and may never).
        const top = frames.find((f) => f.url && !f.url.startsWith('node:')) ?? frames[0];
        writeSync(2, `${JSON.stringify({
          level: 40, time: Date.now(), pid: process.pid, name: `watchdog ${data.workerId}`, code: 'BALLAST_STALL', blockedMs,
          stack: frames.slice(0, 10).map((f) => `${f.functionName} (${f.url}:${f.line}:${f.column})`), inFlight,
          msg: `event loop blocked for ${blockedMs} ms${top ? ` in ${top.functionName} (${top.url}:${top.line})` : ''}${inFlight[0] ? ` during ${inFlight[0].method} ${inFlight[0].path}` : ''}`,
        })}\n`);
        post(report);
      });
    });
    s.post('Debugger.pause');
  });
}

function escalate(blockedMs: number): void {
  escalatedThisStall = true;
  const s = connect();
  // Not waiting for a reply: while the main thread runs JS it answers nothing until interrupted.
  s.post('Runtime.terminateExecution');
  post({ t: 'escalated', blockedMs });
}

// The first Debugger.enable of a process costs ~100+ ms (V8 builds its debug state and lists
// every script); pay it once now, while the loop is idle, not during the first stall.
{
  capturing = true;
  const s = connect();
  s.post('Debugger.enable', () => {
    s.post('Debugger.disable', () => {
      capturing = false;
      s.disconnect();
      session = undefined;
    });
  });
}

setInterval(() => {
  const blockedMs = Date.now() - Number(Atomics.load(heartbeat, 0));
  if (blockedMs < data.stallMs) {
    reportedThisStall = false;
    escalatedThisStall = false;
    // The stall is over: let go of the main thread (a connected session would hold its exit).
    if (session && !capturing) {
      session.disconnect();
      session = undefined;
    }
    return;
  }
  if (!reportedThisStall && !capturing) {
    reportedThisStall = true;
    captureStack(blockedMs);
  }
  if (data.escalateMs > 0 && blockedMs >= data.escalateMs && !escalatedThisStall && !capturing) escalate(blockedMs);
}, data.checkMs);
