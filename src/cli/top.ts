// `ballast top`: a live terminal view of a running server (like htop or uwsgitop), read from the
// supervisor's control plane (/status and /reports), so it works while every worker is stalled and
// from any machine that can reach --admin. On a terminal it takes the alternate screen, redraws in
// place and gives the screen back on exit; piped, it prints one snapshot and exits (for scripts).

import { formatHelp, resolveSettings, type SettingsTable } from '../config/schema.ts';
import { exitCodes } from '../errors.ts';
import type { ServerStatus, WorkerStatus } from '../supervisor/arbiter.ts';
import { isInternalFrame, shortenFrame, stalledHeartbeatAgeMs, topAppFrame } from '../admin/dashboard.ts';

export const topSettings = [
  { section: 'ballast top', name: 'admin', type: 'string', default: 'http://127.0.0.1:9000', doc: 'The control plane of the server to watch: its URL, or `HOST:PORT` as given to `ballast serve --admin`.' },
  { section: 'ballast top', name: 'token', type: 'string', default: '', defaultDoc: '$BALLAST_ADMIN_TOKEN', doc: 'The admin token (the --admin-token of `ballast serve`, or the one it generated and printed). Defaults to the BALLAST_ADMIN_TOKEN environment variable.' },
  { section: 'ballast top', name: 'interval', type: 'duration', plainUnit: 's', min: 100, default: 1000, doc: 'How often to refresh, such as 500ms or 2s (a plain number is seconds).' },
  { section: 'ballast top', name: 'help', short: 'h', type: 'bool', default: false, cliOnly: true, doc: 'Show this help.' },
] as const satisfies SettingsTable;

interface TopSettings {
  admin: string;
  token: string;
  /** ms */
  interval: number;
  help: boolean;
}

/** The fields of a report that top shows; stall reports and (later kinds) are told apart by `kind`. */
interface ReportView {
  kind: string;
  workerId: number;
  pid: number;
  time: number;
  blockedMs?: number;
  stack?: string[];
  inFlight?: Array<{ method: string; path: string; reqId: string; ageMs: number }>;
}

interface Snapshot {
  status: ServerStatus;
  latestStall: ReportView | undefined;
  stallCount: number;
  fetchedAt: number;
}

class TopError extends Error {}

export function formatTopHelp(): string {
  return [
    'Usage: ballast top [--admin URL] [--token TOKEN] [--interval 1s]',
    '',
    'A live view of a running `ballast serve`: the supervisor, every worker (memory, event-loop lag,',
    'in flight, queue, req/s, deadlines, shed, heartbeat) and the latest stall report. q or Ctrl-C',
    'quits. When stdout is not a terminal it prints one snapshot and exits.',
    formatHelp(topSettings),
    '',
    'Examples:',
    '  ballast top --token "$TOKEN"',
    '  BALLAST_ADMIN_TOKEN=… ballast top --admin 10.0.0.5:9000 --interval 2s',
    '  ballast top --token "$TOKEN" | grep ready',
  ].join('\n');
}

/** `127.0.0.1:9000` (the form `serve --admin` takes) or a URL → the base URL without a trailing slash. */
export function normaliseAdminUrl(admin: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(admin) ? admin : `http://${admin}`;
  return withScheme.replace(/\/+$/, '');
}

async function getJson(base: string, path: string, token: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(5000) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    if ((error as Error).name === 'TimeoutError') throw new TopError(`the admin server at ${base} did not answer within 5 s`);
    const reason = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new TopError(`cannot connect to the admin server at ${base} (${reason}): is \`ballast serve\` running with --admin at that address?`);
  }
  if (response.status === 401) {
    await response.body?.cancel();
    throw new TopError(`wrong or missing token for the admin server at ${base}: pass --token TOKEN or set BALLAST_ADMIN_TOKEN (the --admin-token of \`ballast serve\`)`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new TopError(`unexpected HTTP ${response.status} from ${base}${path}: is ${base} a ballast admin server?`);
  }
  return response.json();
}

async function fetchSnapshot(base: string, token: string): Promise<Snapshot> {
  const [status, reports] = await Promise.all([
    getJson(base, '/status', token) as Promise<ServerStatus>,
    getJson(base, '/reports?limit=50', token) as Promise<{ reports: ReportView[] }>,
  ]);
  const stalls = reports.reports.filter((report) => report.kind === 'stall');
  return { status, latestStall: stalls[0], stallCount: stalls.length, fetchedAt: Date.now() };
}

// ---------- formatting (compact, fixed-width cells) ----------

function compactBytes(bytes: number | null): string {
  if (bytes === null) return '-';
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)}G`;
  if (bytes >= 1024 ** 2) return `${Math.round(bytes / 1024 ** 2)}M`;
  return `${Math.round(bytes / 1024)}K`;
}

function compactDuration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1).replace(/\.0$/, '')}s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}

function count(n: number | null): string {
  return n === null ? '-' : String(n);
}

const sumOf = (values: Array<number | null>) => values.reduce<number>((total, v) => total + (v ?? 0), 0);
const shedOf = (worker: WorkerStatus) => (worker.shed ? sumOf(Object.values(worker.shed)) : 0);
const isStalled = (worker: WorkerStatus) => worker.heartbeatAgeMs !== null && worker.heartbeatAgeMs > stalledHeartbeatAgeMs;

interface Column {
  title: string;
  width: number;
  left?: boolean;
  /** On a narrow terminal the lowest go first (undefined: always shown). */
  dropOrder?: number;
  cell: (w: WorkerStatus) => string;
}

const allColumns: Column[] = [
  { title: 'PID', width: 7, cell: (w) => String(w.pid) },
  { title: 'STATE', width: 8, left: true, cell: (w) => (isStalled(w) ? 'STALLED' : w.retiring ? 'retiring' : w.state) },
  { title: 'AGE', width: 6, dropOrder: 4, cell: (w) => compactDuration(w.ageMs) },
  { title: 'RSS', width: 6, cell: (w) => compactBytes(w.rss) },
  { title: 'HEAP', width: 6, dropOrder: 3, cell: (w) => compactBytes(w.heapUsed) },
  { title: 'LAG99', width: 6, cell: (w) => compactDuration(w.loopDelayP99Ms) },
  { title: 'UTIL', width: 5, dropOrder: 5, cell: (w) => (w.loopUtilisation === null ? '-' : `${Math.round(w.loopUtilisation * 100)}%`) },
  { title: 'INFL', width: 5, cell: (w) => count(w.inFlight) },
  { title: 'QUEUE', width: 5, cell: (w) => count(w.queued) },
  { title: 'LIMIT', width: 5, dropOrder: 2, cell: (w) => count(w.limit) },
  { title: 'REQ/S', width: 7, cell: (w) => (w.requestsPerSecond === null ? '-' : w.requestsPerSecond.toFixed(1)) },
  { title: 'REQS', width: 8, dropOrder: 1, cell: (w) => count(w.requests) },
  { title: 'DEADL', width: 5, dropOrder: 6, cell: (w) => count(w.deadlines) },
  { title: 'SHED', width: 5, cell: (w) => (w.shed === null ? '-' : String(shedOf(w))) },
  { title: 'HBEAT', width: 6, cell: (w) => compactDuration(w.heartbeatAgeMs) },
];

/** The columns that fit in `width` characters (all of them when width is unknown). */
function columnsFor(width: number | undefined): Column[] {
  const shown = [...allColumns];
  const tableWidth = () => shown.reduce((total, c) => total + c.width + 1, -1);
  const droppable = allColumns.filter((c) => c.dropOrder !== undefined).sort((a, b) => a.dropOrder! - b.dropOrder!);
  while (width !== undefined && tableWidth() > width && droppable.length > 0) shown.splice(shown.indexOf(droppable.shift()!), 1);
  return shown;
}

function row(columns: Column[], cells: string[]): string {
  return cells.map((text, i) => (columns[i].left ? text.padEnd(columns[i].width) : text.padStart(columns[i].width))).join(' ');
}

interface Line {
  text: string;
  style?: 'bold' | 'inverse' | 'red' | 'dim' | 'yellow';
}

const styles: Record<NonNullable<Line['style']>, string> = { bold: '\x1b[1m', inverse: '\x1b[7m', red: '\x1b[1;31m', dim: '\x1b[2m', yellow: '\x1b[33m' };

export function formatSnapshot(snapshot: Snapshot, options: { admin: string; intervalMs: number; error?: string; maxStackFrames?: number; width?: number }): Line[] {
  const { status } = snapshot;
  const columns = columnsFor(options.width);
  const workers = [...status.workers].sort((a, b) => a.id - b.id);
  const ready = workers.filter((w) => w.state === 'ready').length;
  const stalled = workers.filter(isStalled).length;
  const restarts = Object.entries(status.restarts);
  const restartTotal = sumOf(restarts.map(([, n]) => n));
  const shedTotal = sumOf(workers.map(shedOf));
  const lines: Line[] = [];
  lines.push({ text: `ballast top · ${status.app} · pid ${status.pid} · ${status.state} · up ${compactDuration(status.uptimeMs)} · gen ${status.generation} · ${status.workerClass}/${status.concurrency}`, style: 'bold' });
  lines.push({
    text: `workers ${ready}/${status.desiredWorkers} ready${stalled ? `, ${stalled} STALLED` : ''} · restarts ${restartTotal}${restartTotal ? ` (${restarts.filter(([, n]) => n > 0).map(([reason, n]) => `${reason} ${n}`).join(', ')})` : ''} · ${sumOf(workers.map((w) => w.requestsPerSecond)).toFixed(1)} req/s · requests ${sumOf(workers.map((w) => w.requests))}`,
    style: stalled ? 'red' : undefined,
  });
  lines.push({ text: `in flight ${sumOf(workers.map((w) => w.inFlight))} · queued ${sumOf(workers.map((w) => w.queued))} · deadlines ${sumOf(workers.map((w) => w.deadlines))} · shed ${shedTotal} · stall reports ${snapshot.stallCount}` });
  if (options.error) lines.push({ text: `! ${options.error} (showing data from ${new Date(snapshot.fetchedAt).toLocaleTimeString('en-GB')}; retrying)`, style: 'red' });
  else lines.push({ text: `${options.admin} · ${new Date(snapshot.fetchedAt).toLocaleTimeString('en-GB')} · every ${compactDuration(options.intervalMs)} · q quits`, style: 'dim' });
  lines.push({ text: '' });
  lines.push({ text: row(columns, columns.map((c) => c.title)), style: 'inverse' });
  for (const worker of workers) {
    const hot = isStalled(worker);
    lines.push({ text: row(columns, columns.map((c) => c.cell(worker))), style: hot ? 'red' : worker.state === 'ready' ? undefined : 'yellow' });
  }
  if (workers.length === 0) lines.push({ text: '  (no workers)', style: 'dim' });
  lines.push({ text: '' });
  const report = snapshot.latestStall;
  if (!report) {
    lines.push({ text: 'no stall reports', style: 'dim' });
    return lines;
  }
  const ago = compactDuration(Math.max(0, Date.now() - report.time));
  lines.push({ text: `latest stall: ${new Date(report.time).toLocaleTimeString('en-GB')} (${ago} ago) · worker ${report.workerId} pid ${report.pid} · event loop blocked ${report.blockedMs ?? '?'}+ ms`, style: 'bold' });
  const request = report.inFlight?.[0];
  lines.push({ text: `  ${request ? `${request.method} ${request.path}${report.inFlight!.length > 1 ? ` (+${report.inFlight!.length - 1} more in flight)` : ''}` : 'no request in flight'}` });
  const stack = report.stack ?? [];
  const top = topAppFrame(stack);
  if (top) lines.push({ text: `  in ${shortenFrame(top)}`, style: 'red' });
  for (const frame of stack.slice(0, options.maxStackFrames ?? 8)) {
    lines.push({ text: `    at ${shortenFrame(frame)}`, style: isInternalFrame(frame) ? 'dim' : 'bold' });
  }
  if (stack.length > (options.maxStackFrames ?? 8)) lines.push({ text: `    … ${stack.length - (options.maxStackFrames ?? 8)} more frames`, style: 'dim' });
  return lines;
}

function paint(lines: Line[], width: number | undefined, color: boolean): string[] {
  return lines.map((line) => {
    const text = width === undefined ? line.text : line.text.slice(0, width);
    if (!color || !line.style) return text;
    const shown = line.style === 'inverse' && width !== undefined ? text.padEnd(width) : text;
    return `${styles[line.style]}${shown}\x1b[0m`;
  });
}

// ---------- the command ----------

export async function runTop(argv: string[]): Promise<number> {
  // `--token` falls back to the variable `ballast serve` reads its token from.
  const env = { BALLAST_ADMIN: process.env.BALLAST_ADMIN, BALLAST_TOKEN: process.env.BALLAST_ADMIN_TOKEN };
  const { settings, positionals } = resolveSettings<TopSettings>(topSettings, { argv, env });
  if (settings.help) {
    process.stdout.write(`${formatTopHelp()}\n`);
    return exitCodes.ok;
  }
  if (positionals.length > 0) {
    process.stderr.write(`ballast top: unexpected argument \`${positionals[0]}\` (did you mean --admin ${positionals[0]}?)\n`);
    return exitCodes.usage;
  }
  const admin = normaliseAdminUrl(settings.admin);
  let snapshot: Snapshot;
  try {
    snapshot = await fetchSnapshot(admin, settings.token);
  } catch (error) {
    if (!(error instanceof TopError)) throw error;
    process.stderr.write(`ballast top: ${error.message}\n`);
    return exitCodes.failure;
  }
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  if (!process.stdout.isTTY) {
    process.stdout.write(`${paint(formatSnapshot(snapshot, { admin, intervalMs: settings.interval }), undefined, false).join('\n')}\n`);
    return exitCodes.ok;
  }
  return runInteractive(admin, settings, snapshot, color);
}

function runInteractive(admin: string, settings: TopSettings, first: Snapshot, color: boolean): Promise<number> {
  const { stdout, stdin } = process;
  let snapshot = first;
  let error: string | undefined;
  let fetching = false;
  let done = false;

  const draw = () => {
    const width = stdout.columns || 80;
    const height = stdout.rows || 24;
    // Leave the table whole and give the stack what is left of the screen.
    const fixed = 9 + snapshot.status.workers.length + 4;
    const lines = formatSnapshot(snapshot, { admin, intervalMs: settings.interval, error, width, maxStackFrames: Math.max(1, Math.min(12, height - fixed)) }).slice(0, height);
    // Home, each line then clear-to-end-of-line, then clear below: no flicker from a full clear.
    stdout.write(`\x1b[H${paint(lines, width, color).map((line) => `${line}\x1b[K`).join('\r\n')}\x1b[J`);
  };

  const refresh = async () => {
    if (fetching || done) return;
    fetching = true;
    try {
      snapshot = await fetchSnapshot(admin, settings.token);
      error = undefined;
    } catch (caught) {
      if (!(caught instanceof TopError)) throw caught;
      error = caught.message;
    } finally {
      fetching = false;
    }
    if (!done) draw();
  };

  return new Promise<number>((resolve, reject) => {
    const restore = () => stdout.write('\x1b[0m\x1b[?25h\x1b[?1049l');
    const finish = (code: number) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      stdout.off('resize', draw);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('exit', restore);
      if (stdin.isTTY) {
        stdin.setRawMode(false);
        stdin.off('data', onKey);
        stdin.pause();
      }
      restore();
      resolve(code);
    };
    const onSignal = () => finish(exitCodes.ok);
    const onKey = (data: Buffer) => {
      const key = data.toString('latin1');
      // q, Q, Ctrl-C (in raw mode it arrives as a byte, not as SIGINT), Ctrl-D.
      if (/[qQ\x03\x04]/.test(key)) finish(exitCodes.ok);
    };

    // Alternate screen, cursor hidden; given back on every way out (including a crash).
    stdout.write('\x1b[?1049h\x1b[?25l');
    process.on('exit', restore);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    stdout.on('resize', draw);
    if (stdin.isTTY) {
      stdin.setRawMode(true);
      stdin.on('data', onKey);
      stdin.resume();
    }
    const timer = setInterval(() => {
      refresh().catch((caught: unknown) => {
        finish(exitCodes.failure);
        reject(caught);
      });
    }, settings.interval);
    draw();
  });
}
