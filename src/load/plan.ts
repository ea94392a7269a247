// From the command line (and optionally a plan file) to a RunSpec: validated groups ready for the
// engine. A plan file (`.json`, or `.ts` with a default export) holds the settings of the table in
// settings.ts at its top level (defaults for every group) and a `groups` array; each group may set
// any non-run-wide setting plus `name`, `url`/`urls` and `requests`. Precedence, lowest first:
// defaults < plan top level < BALLAST_LOAD_* env < command line < a group's own keys (a group in a plan
// is specific on purpose, so a flag meant for the whole run never silently rewrites it).

import { readFileSync, existsSync } from 'node:fs';
import { resolve as resolvePath, extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { coerceSetting, parseArgsOptions, resolveSettings, suggest, type Resolved } from '../config/schema.ts';
import { createError, isBallastError } from '../errors.ts';
import { loadSettings, runWideSettings, type LoadSettings } from './settings.ts';
import { parseStages, TargetCurve } from './schedule.ts';
import { rawIneligibility } from './engine/raw-pool.ts';
import type { GroupSpec, RequestSpec, RunSpec } from './types.ts';

export interface LoadCommand {
  run: RunSpec;
  settings: LoadSettings;
  sources: Resolved<LoadSettings>['sources'];
  planFile?: string;
}

const planOnlyGroupKeys = ['name', 'url', 'urls', 'requests'];
const planOnlyTopKeys = ['groups', 'url', 'urls', 'requests'];

export function isPlanFile(positional: string): boolean {
  return /\.(json|ts|mts|js|mjs)$/i.test(positional) && !/^[a-z]+:\/\//i.test(positional);
}

export async function loadPlanFile(path: string): Promise<Record<string, unknown>> {
  const absolute = resolvePath(path);
  if (!existsSync(absolute)) throw createError('BALLAST_ERR_LOAD_PLAN', `plan file ${path} does not exist`);
  let value: unknown;
  try {
    if (extname(absolute).toLowerCase() === '.json') value = JSON.parse(readFileSync(absolute, 'utf8'));
    else value = ((await import(pathToFileURL(absolute).href)) as { default?: unknown }).default;
  } catch (error) {
    throw createError('BALLAST_ERR_LOAD_PLAN', `cannot load plan file ${path}: ${(error as Error).message}`, error);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw createError('BALLAST_ERR_LOAD_PLAN', `expected plan file ${path} to hold an object (JSON, or a module's default export), got ${Array.isArray(value) ? 'an array' : typeof value}`);
  }
  return value as Record<string, unknown>;
}

/**
 * `ballast load` reads BALLAST_LOAD_<NAME> (e.g. BALLAST_LOAD_DURATION=30s), not BALLAST_<NAME>:
 * the server's settings use that prefix, and a BALLAST_THREADS meant for `ballast serve` must not
 * change a load test run from the same shell. Returned under the names the settings table expects.
 */
export function loadEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const prefix = 'BALLAST_LOAD_';
  const mapped: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) if (key.startsWith(prefix)) mapped[`BALLAST_${key.slice(prefix.length)}`] = value;
  return mapped;
}

/** Header values given on the command line, unsplit (the table's list type splits on commas). */
function rawCliHeaders(argv: readonly string[]): string[] {
  const { values } = parseArgs({ args: [...argv], options: parseArgsOptions(loadSettings), allowPositionals: true, allowNegative: true, strict: false });
  const raw = values.header;
  return Array.isArray(raw) ? raw.filter((item): item is string => typeof item === 'string') : [];
}

export async function parseLoadCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<LoadCommand> {
  const first = resolveSettings<LoadSettings>(loadSettings, { argv, env: {} });
  const planFile = first.positionals.length === 1 && isPlanFile(first.positionals[0]) ? first.positionals[0] : undefined;
  const plan = planFile ? await loadPlanFile(planFile) : undefined;

  const topFile: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(plan ?? {})) if (!planOnlyTopKeys.includes(key)) topFile[key] = value;
  let resolved: Resolved<LoadSettings>;
  try {
    resolved = resolveSettings<LoadSettings>(loadSettings, { argv, env: loadEnvironment(env), file: topFile, fileName: planFile });
  } catch (error) {
    // Name the variable the user actually set.
    if (isBallastError(error)) throw createError(error.code, error.message.replace(/\(from env BALLAST_/g, '(from env BALLAST_LOAD_'), error.cause);
    throw error;
  }
  if (resolved.sources.header === 'cli') resolved.settings.header = rawCliHeaders(argv);
  const settings = resolved.settings;
  if (settings.help) return { run: { durationMs: 0, gracefulStopMs: 0, threads: 1, groups: [] }, settings, sources: resolved.sources, planFile };

  let groups: GroupSpec[];
  let durationMs = settings.duration;
  const durationGiven = resolved.sources.duration !== 'default';
  if (plan) {
    const rawGroups = plan.groups ?? [{ url: plan.url, urls: plan.urls, requests: plan.requests }];
    if (!Array.isArray(rawGroups) || rawGroups.length === 0) throw createError('BALLAST_ERR_LOAD_PLAN', `expected \`groups\` in ${planFile} to be a non-empty array`);
    groups = rawGroups.map((raw, index) => buildGroupFromPlan(raw, index, settings, planFile!));
  } else {
    if (first.positionals.length === 0) throw createError('BALLAST_ERR_USAGE', 'expected a URL or a plan file: `ballast load URL [options]` or `ballast load PLAN.ts`');
    groups = [buildGroup('default', settings, first.positionals.map((url) => ({ url })), '--weights')];
  }
  const names = new Set<string>();
  for (const group of groups) {
    if (names.has(group.name)) throw createError('BALLAST_ERR_LOAD_PLAN', `two groups are named \`${group.name}\`; group names must be unique`);
    names.add(group.name);
  }
  // Stages set the length of a run unless --duration was given.
  if (!durationGiven) {
    const longest = Math.max(0, ...groups.map((group) => group.stages.reduce((sum, stage) => sum + stage.durationMs, 0)));
    if (longest > 0) durationMs = longest;
  }
  for (const group of groups) if (group.holdMs === 0) group.holdMs = durationMs;
  const startEpochMs = parseStartAt(settings.startAt);
  return { run: { durationMs, gracefulStopMs: settings.gracefulStop, threads: settings.threads, warmUpMs: settings.warmUp, groups, ...(startEpochMs === undefined ? {} : { startEpochMs }) }, settings, sources: resolved.sources, planFile };
}

/** --start-at: ISO 8601 or epoch milliseconds; '' is "at once". A time already past is refused here (and again after the warm-up). */
export function parseStartAt(text: string, now = Date.now()): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const at = /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : /^\d{4}-\d\d-\d\dT/.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (!Number.isFinite(at)) throw createError('BALLAST_ERR_INVALID_SETTING', `--start-at: expected an ISO 8601 time (e.g. 2026-12-01T12:00:00.000Z) or Unix epoch milliseconds, got \`${text}\``);
  if (at <= now) throw createError('BALLAST_ERR_INVALID_SETTING', `--start-at: ${new Date(at).toISOString()} is ${Math.round(now - at)} ms in the past`);
  return at;
}

function buildGroupFromPlan(raw: unknown, index: number, base: LoadSettings, planFile: string): GroupSpec {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw createError('BALLAST_ERR_LOAD_PLAN', `expected group ${index + 1} in ${planFile} to be an object`);
  const entry = raw as Record<string, unknown>;
  const settings = { ...base, header: [...base.header] } as unknown as Record<string, unknown>;
  const byName = new Map<string, (typeof loadSettings)[number]>(loadSettings.map((spec) => [spec.name, spec]));
  const groupKeys = loadSettings.filter((spec) => !runWideSettings.includes(spec.name)).map((spec) => spec.name);
  const name = typeof entry.name === 'string' && entry.name !== '' ? entry.name : `group-${index + 1}`;
  for (const [key, value] of Object.entries(entry)) {
    if (planOnlyGroupKeys.includes(key) || value === undefined) continue;
    const spec = byName.get(key);
    if (!spec || runWideSettings.includes(key)) {
      const hint = suggest(key, [...groupKeys, ...planOnlyGroupKeys]);
      const why = spec ? ' (it applies to the whole run: set it at the top level of the plan)' : '';
      throw createError('BALLAST_ERR_LOAD_PLAN', `unknown group setting \`${key}\` in group \`${name}\` of ${planFile}${why}${hint && !spec ? `; did you mean \`${hint}\`?` : ''}`);
    }
    settings[key] = coerceSetting(spec, value, `group \`${name}\` of ${planFile}`);
  }
  const requests: RawRequest[] = [];
  if (typeof entry.url === 'string') requests.push({ url: entry.url });
  if (Array.isArray(entry.urls)) for (const url of entry.urls) requests.push({ url: String(url) });
  if (Array.isArray(entry.requests)) {
    for (const item of entry.requests) {
      if (typeof item === 'string') requests.push({ url: item });
      else if (item && typeof item === 'object') requests.push(item as RawRequest);
      else throw createError('BALLAST_ERR_LOAD_PLAN', `expected each of \`requests\` in group \`${name}\` to be a URL or an object with \`url\`, got \`${JSON.stringify(item)}\``);
    }
  }
  if (requests.length === 0) throw createError('BALLAST_ERR_LOAD_PLAN', `group \`${name}\` of ${planFile} has no \`url\`, \`urls\` or \`requests\``);
  return buildGroup(name, settings as unknown as LoadSettings, requests, `group \`${name}\``);
}

export interface RawRequest {
  url: string;
  method?: string;
  headers?: Record<string, string> | string[];
  body?: string;
  weight?: number;
}

function parseHeaderLines(lines: readonly string[], where: string): string[] {
  const flat: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw createError('BALLAST_ERR_INVALID_SETTING', `expected \`header\` (${where}) to be \`Name: value\`, got \`${line}\``);
    flat.push(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return flat;
}

function readBody(body: string, bodySize: number): Buffer {
  if (body.startsWith('@')) {
    try {
      return readFileSync(resolvePath(body.slice(1)));
    } catch (error) {
      throw createError('BALLAST_ERR_INVALID_SETTING', `expected \`body\` (--body) @path to name a readable file, got \`${body}\`: ${(error as Error).message}`);
    }
  }
  if (body !== '') return Buffer.from(body);
  return Buffer.alloc(bodySize, 0x61);
}

export function buildGroup(name: string, settings: LoadSettings, rawRequests: readonly RawRequest[], weightSource: string): GroupSpec {
  const stages = parseStages(settings.stages, name === 'default' ? '--stages' : `--stages, group \`${name}\``);
  const isStream = settings.streams > 0;
  const isOpen = !isStream && (settings.model === 'open' || (settings.model === 'auto' && settings.rate > 0));
  if (settings.model === 'open' && settings.rate === 0 && stages.length === 0) {
    throw createError('BALLAST_ERR_INVALID_SETTING', `expected \`rate\` (--rate) to be a positive integer or --stages to be given with \`--model open\` (group \`${name}\`), got \`0\``);
  }
  if (settings.model === 'closed' && settings.rate > 0) {
    throw createError('BALLAST_ERR_INVALID_SETTING', `expected \`rate\` (--rate) to be unset with \`--model closed\` (group \`${name}\`), got \`${settings.rate}\``);
  }
  if (settings.weights.length > 0 && settings.weights.length !== rawRequests.length) {
    throw createError('BALLAST_ERR_INVALID_SETTING', `expected \`weights\` (${weightSource}) to give one weight per URL (${rawRequests.length}), got ${settings.weights.length}: \`${settings.weights.join(',')}\``);
  }
  const weights = settings.weights.map((text) => {
    const weight = Number(text);
    if (!Number.isFinite(weight) || weight <= 0) throw createError('BALLAST_ERR_INVALID_SETTING', `expected \`weights\` (${weightSource}) to be positive numbers, got \`${text}\``);
    return weight;
  });
  const sharedHeaders = parseHeaderLines(settings.header, `group \`${name}\``);
  const requests: RequestSpec[] = rawRequests.map((raw, index) => {
    let url: URL;
    try {
      url = settings.target ? new URL(raw.url, settings.target) : new URL(raw.url);
    } catch {
      throw createError('BALLAST_ERR_INVALID_SETTING', `expected a URL such as http://127.0.0.1:8080/path (group \`${name}\`), got \`${raw.url}\`${raw.url.startsWith('/') ? ' (a relative URL needs --target)' : ''}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw createError('BALLAST_ERR_INVALID_SETTING', `expected an http: or https: URL (group \`${name}\`), got \`${raw.url}\``);
    }
    const ownHeaders = raw.headers === undefined ? [] : Array.isArray(raw.headers) ? parseHeaderLines(raw.headers, `group \`${name}\``) : Object.entries(raw.headers).flatMap(([key, value]) => [key.toLowerCase(), String(value)]);
    const body = raw.body !== undefined ? readBody(String(raw.body), 0) : readBody(settings.body, settings.bodySize);
    const weight = raw.weight ?? weights[index] ?? 1;
    if (!(typeof weight === 'number' && weight > 0)) throw createError('BALLAST_ERR_LOAD_PLAN', `expected \`weight\` of ${raw.url} in group \`${name}\` to be a positive number, got \`${String(weight)}\``);
    return {
      method: (raw.method ?? settings.method).toUpperCase(),
      url: url.href,
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      headers: [...sharedHeaders, ...ownHeaders],
      bodyBase64: body.length > 0 ? body.toString('base64') : '',
      weight,
    };
  });
  if (settings.transport === 'raw') {
    const isSlow = settings.slowHeaders > 0 || settings.slowUpload > 0 || settings.slowRead > 0;
    if (isStream || isSlow) throw createError('BALLAST_ERR_INVALID_SETTING', `expected \`transport\` (--transport) to be \`auto\` or \`undici\` for ${isStream ? 'SSE streams' : 'slow clients'} (group \`${name}\`), which have their own transport; got \`raw\``);
    for (const request of requests) {
      const reason = rawIneligibility(request);
      if (reason !== undefined) throw createError('BALLAST_ERR_INVALID_SETTING', `expected \`transport\` (--transport) to be \`auto\` or \`undici\` for ${request.method} ${request.url} (group \`${name}\`): ${reason}; got \`raw\``);
    }
  }
  const maxStage = Math.max(0, ...stages.map((stage) => stage.target));
  const users = isOpen || isStream ? 0 : settings.users > 0 ? settings.users : stages.length > 0 ? 0 : 10;
  const peakUsers = Math.max(users, maxStage);
  const connections = settings.connections > 0 ? settings.connections : isStream ? Math.max(1, settings.streams) : isOpen ? 64 : Math.max(1, peakUsers);
  return {
    name,
    kind: isStream ? 'stream' : isOpen ? 'open' : 'closed',
    requests,
    users,
    thinkMs: settings.thinkMs,
    rate: settings.rate,
    arrival: settings.arrival,
    pacing: settings.pacing,
    seed: settings.seed,
    stages,
    streams: settings.streams,
    holdMs: settings.hold,
    slow: { headersMs: settings.slowHeaders, uploadBytesPerSecond: settings.slowUpload, readBytesPerSecond: settings.slowRead },
    connections,
    transport: settings.transport,
    maxInFlight: settings.maxInFlight,
    requestTimeoutMs: settings.requestTimeout,
  };
}

/** One line describing a group's load model, for reports. */
export function describeGroup(group: GroupSpec, durationMs: number): string {
  const stages = group.stages.length ? `, stages ${group.stages.map((stage) => `${stage.durationMs / 1000}s:${stage.target}`).join(',')}` : '';
  const slow = [
    group.slow.headersMs ? `slow headers ${group.slow.headersMs} ms` : '',
    group.slow.uploadBytesPerSecond ? `slow upload ${group.slow.uploadBytesPerSecond} B/s` : '',
    group.slow.readBytesPerSecond ? `slow read ${group.slow.readBytesPerSecond} B/s` : '',
  ].filter(Boolean).join(', ');
  const suffix = `${stages}${slow ? `, ${slow}` : ''}`;
  switch (group.kind) {
    case 'closed': {
      const peak = new TargetCurve(group.users, group.stages, durationMs).segments.reduce((max, s) => Math.max(max, s.from, s.to), 0);
      return `closed model, ${peak} users${group.thinkMs ? `, think ${group.thinkMs} ms` : ''}, ${group.connections} connections${suffix}`;
    }
    case 'open':
      return `open model, ${group.stages.length ? 'ramped' : `${group.rate} req/s`} ${group.arrival} arrivals${group.arrival === 'poisson' ? ` (seed ${group.seed})` : ''}${group.pacing === 'precise' ? ', precise pacing' : ''}, ${group.connections} connections, max ${group.maxInFlight} in flight${suffix}`;
    case 'stream':
      return `${group.streams} SSE streams held ${group.holdMs / 1000}s${suffix}`;
  }
}
