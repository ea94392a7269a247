// A settings table declares each option once (name, flag, type, default, doc); everything else is
// derived from it: util.parseArgs options, BALLAST_* environment variables, config-file keys,
// --help text, --print-config and docs/settings.md. Values are validated once, here, at the edge,
// with messages that name the setting, what was expected and what was given.

import { parseArgs } from 'node:util';
import { createError } from '../errors.ts';

export type SettingType = 'int' | 'bool' | 'string' | 'duration' | 'bytes' | 'enum' | 'list' | 'json';

export interface SettingSpec {
  /** camelCase name: the config-file key and the property in resolved settings. */
  readonly name: string;
  readonly type: SettingType;
  readonly default: unknown;
  /** One or two sentences for --help and docs/settings.md. */
  readonly doc: string;
  readonly short?: string;
  /** For `enum`. */
  readonly choices?: readonly string[];
  /** Inclusive lower bound for `int`, `duration` (ms) and `bytes`. */
  readonly min?: number;
  /** Shown in docs instead of the literal default (e.g. "number of CPUs"). */
  readonly defaultDoc?: string;
  /** For `duration`: what a plain number means (default seconds, gunicorn's convention). */
  readonly plainUnit?: 'ms' | 's';
  /** Help section heading. */
  readonly section: string;
  /** Not settable from a config file or the environment (e.g. `--config` itself). */
  readonly cliOnly?: boolean;
}

export type SettingsTable = readonly SettingSpec[];

export function flagOf(spec: SettingSpec): string {
  return `--${spec.name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

export function envOf(spec: SettingSpec): string {
  return `BALLAST_${spec.name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

const durationUnitsMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const byteUnits: Record<string, number> = {
  b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
};

/** `500ms`, `30s`, `5m`, `1h`, or a plain number of seconds (gunicorn's convention). */
export function parseDurationMs(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!match) return undefined;
  const unit = (match[2] ?? 's').toLowerCase();
  return Math.round(Number(match[1]) * durationUnitsMs[unit]);
}

/** `512`, `64kb`, `1mb`, `2GiB`; a plain number is bytes. */
export function parseBytes(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)?\s*$/i.exec(text);
  if (!match) return undefined;
  const unit = (match[2] ?? 'b').toLowerCase();
  const factor = byteUnits[unit];
  if (factor === undefined) return undefined;
  return Math.round(Number(match[1]) * factor);
}

export function formatDuration(ms: number): string {
  if (ms !== 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms !== 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function formatBytes(bytes: number): string {
  for (const [unit, factor] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes !== 0 && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}`;
}

function describeExpected(spec: SettingSpec): string {
  const min = spec.min ?? 0;
  switch (spec.type) {
    case 'int': return min >= 1 ? 'a positive integer' : `an integer >= ${min}`;
    case 'bool': return 'true or false';
    case 'duration': return `a duration such as 500ms, 30s or 5m (a plain number is ${spec.plainUnit === 'ms' ? 'milliseconds' : 'seconds'})`;
    case 'bytes': return 'a size such as 512kb, 64mb or 1gb (a plain number is bytes)';
    case 'enum': return `one of ${spec.choices!.map((c) => `\`${c}\``).join(', ')}`;
    case 'list': return 'a list of strings';
    case 'json': return 'a JSON value (usually set in the config file)';
    case 'string': return 'a string';
  }
}

function invalid(spec: SettingSpec, given: unknown, source: string): never {
  const shown = typeof given === 'string' ? given : JSON.stringify(given);
  throw createError(
    'BALLAST_ERR_INVALID_SETTING',
    `expected \`${spec.name}\` (${flagOf(spec)}) to be ${describeExpected(spec)}, got \`${shown}\` (from ${source})`,
  );
}

/** Coerces a raw value (string from argv/env, or any JSON value from a config file). */
export function coerceSetting(spec: SettingSpec, raw: unknown, source: string): unknown {
  switch (spec.type) {
    case 'int': {
      const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(value) || value < (spec.min ?? 0)) invalid(spec, raw, source);
      return value;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'string' && /^(1|true|yes|on)$/i.test(raw)) return true;
      if (typeof raw === 'string' && /^(0|false|no|off)$/i.test(raw)) return false;
      return invalid(spec, raw, source);
    }
    case 'duration': {
      const perUnit = spec.plainUnit === 'ms' ? 1 : 1000;
      const value = typeof raw === 'number' ? raw * perUnit : typeof raw === 'string' ? (/^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) * perUnit : parseDurationMs(raw)) : undefined;
      if (value === undefined || !Number.isFinite(value) || value < (spec.min ?? 0)) invalid(spec, raw, source);
      return Math.round(value);
    }
    case 'bytes': {
      const value = typeof raw === 'number' ? raw : typeof raw === 'string' ? parseBytes(raw) : undefined;
      if (value === undefined || !Number.isSafeInteger(value) || value < (spec.min ?? 0)) invalid(spec, raw, source);
      return value;
    }
    case 'enum': {
      if (typeof raw !== 'string' || !spec.choices!.includes(raw)) invalid(spec, raw, source);
      return raw;
    }
    case 'list': {
      if (typeof raw === 'string') return raw.split(',').map((s) => s.trim()).filter(Boolean);
      if (Array.isArray(raw) && raw.every((item) => typeof item === 'string')) return [...raw];
      return invalid(spec, raw, source);
    }
    case 'string': {
      if (typeof raw !== 'string') invalid(spec, raw, source);
      return raw;
    }
    case 'json': {
      if (typeof raw !== 'string') return raw;
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        return invalid(spec, raw, source);
      }
    }
  }
}

export function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

/** The closest known name, if it is close enough to be a plausible typo. */
export function suggest(unknown: string, known: readonly string[]): string | undefined {
  const normalise = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = levenshtein(normalise(unknown), normalise(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(unknown.length / 3)) ? best : undefined;
}

export interface ResolveInput {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  /** Values from a config file, already loaded; keys are checked against the table. */
  file?: Record<string, unknown>;
  fileName?: string;
}

export interface Resolved<T> {
  settings: T;
  positionals: string[];
  /** Where each setting's value came from: default, file, env or cli. */
  sources: Record<string, 'default' | 'file' | 'env' | 'cli'>;
}

/** util.parseArgs options derived from the table (booleans also get `--no-…`). */
export function parseArgsOptions(table: SettingsTable) {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const spec of table) {
    const key = flagOf(spec).slice(2);
    options[key] = {
      type: spec.type === 'bool' ? 'boolean' : 'string',
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.type === 'list' ? { multiple: true } : {}),
    };
  }
  return options;
}

/** Precedence: defaults < config file < BALLAST_* env < command line. */
export function resolveSettings<T>(table: SettingsTable, input: ResolveInput): Resolved<T> {
  const byName = new Map(table.map((spec) => [spec.name, spec]));
  const values: Record<string, unknown> = {};
  const sources: Resolved<T>['sources'] = {};
  for (const spec of table) {
    values[spec.name] = spec.default;
    sources[spec.name] = 'default';
  }

  if (input.file) {
    for (const [key, raw] of Object.entries(input.file)) {
      const spec = byName.get(key);
      if (!spec || spec.cliOnly) {
        const hint = suggest(key, table.filter((s) => !s.cliOnly).map((s) => s.name));
        throw createError(
          'BALLAST_ERR_UNKNOWN_SETTING',
          `unknown setting \`${key}\` in ${input.fileName ?? 'the config file'}${hint ? `; did you mean \`${hint}\`?` : ''}`,
        );
      }
      values[key] = coerceSetting(spec, raw, input.fileName ?? 'config file');
      sources[key] = 'file';
    }
  }

  for (const spec of table) {
    if (spec.cliOnly) continue;
    const raw = input.env[envOf(spec)];
    if (raw !== undefined && raw !== '') {
      values[spec.name] = coerceSetting(spec, raw, `env ${envOf(spec)}`);
      sources[spec.name] = 'env';
    }
  }

  // `--workers -2` should reach validation (and its clear message), not be read as a flag.
  const valued = new Set(table.filter((s) => s.type !== 'bool').flatMap((s) => [flagOf(s), ...(s.short ? [`-${s.short}`] : [])]));
  const args: string[] = [];
  for (let i = 0; i < input.argv.length; i++) {
    const arg = input.argv[i]!;
    const next = input.argv[i + 1];
    if (valued.has(arg) && next !== undefined && /^-\d/.test(next)) {
      args.push(`${arg.startsWith('--') ? arg : flagOf(table.find((s) => `-${s.short}` === arg)!)}=${next}`);
      i++;
    } else {
      args.push(arg);
    }
  }

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      options: parseArgsOptions(table),
      allowPositionals: true,
      allowNegative: true,
      strict: true,
    });
  } catch (error) {
    const message = (error as Error).message;
    const flag = /'(--?[^'\s]+)'/.exec(message)?.[1];
    const hint = flag?.startsWith('--') ? suggest(flag.slice(2), table.map((s) => flagOf(s).slice(2))) : undefined;
    throw createError('BALLAST_ERR_USAGE', `${message}${hint ? `; did you mean \`--${hint}\`?` : ''}`);
  }
  for (const spec of table) {
    const raw = parsed.values[flagOf(spec).slice(2)];
    if (raw === undefined) continue;
    const value = spec.type === 'list' ? (raw as string[]).flatMap((item) => coerceSetting(spec, item, flagOf(spec)) as string[]) : coerceSetting(spec, raw, flagOf(spec));
    values[spec.name] = value;
    sources[spec.name] = 'cli';
  }
  return { settings: values as T, positionals: parsed.positionals, sources };
}

export function formatValue(spec: SettingSpec, value: unknown): string {
  if (spec.type === 'duration') return formatDuration(value as number);
  if (spec.type === 'bytes') return formatBytes(value as number);
  if (spec.type === 'list') return (value as string[]).join(',');
  if (spec.type === 'json') return JSON.stringify(value);
  return String(value);
}

function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(indent + line);
  return lines;
}

/** --help text for a table, grouped by section: the flag on one line, its doc wrapped below. */
export function formatHelp(table: SettingsTable): string {
  const lines: string[] = [];
  let section = '';
  for (const spec of table) {
    if (spec.section !== section) {
      section = spec.section;
      lines.push('', `${section}:`);
    }
    const metavar = spec.type === 'bool' ? '' : spec.type === 'enum' ? ` ${spec.choices!.join('|')}` : ` ${spec.type === 'list' ? 'VALUE' : spec.type.toUpperCase()}`;
    // (json settings take a JSON string on the command line)
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}${flagOf(spec)}${spec.type === 'bool' ? `, --no-${flagOf(spec).slice(2)}` : ''}${metavar}`;
    const shownDefault = spec.defaultDoc ?? formatValue(spec, spec.default);
    lines.push(`  ${flag}${shownDefault === '' ? '' : `   [default: ${shownDefault}]`}`);
    lines.push(...wrap(spec.doc, 88, '        '));
  }
  return lines.join('\n');
}

/** docs/settings.md body for a table. */
export function formatMarkdown(table: SettingsTable, title: string, intro: string): string {
  const out = [`# ${title}`, '', intro, ''];
  let section = '';
  for (const spec of table) {
    if (spec.section !== section) {
      section = spec.section;
      out.push(`## ${section}`, '');
    }
    out.push(`### \`${spec.name}\``, '');
    out.push(`| flag | env | config key | type | default |`, `|---|---|---|---|---|`);
    const typeDoc = spec.type === 'enum' ? spec.choices!.map((c) => `\`${c}\``).join(' \\| ') : spec.type;
    const shownDefault = spec.defaultDoc ?? formatValue(spec, spec.default);
    out.push(
      `| \`${spec.short ? `-${spec.short}, ` : ''}${flagOf(spec)}\` | ${spec.cliOnly ? '—' : `\`${envOf(spec)}\``} | ${spec.cliOnly ? '—' : `\`${spec.name}\``} | ${typeDoc} | \`${shownDefault || '(none)'}\` |`,
    );
    out.push('', spec.doc, '');
  }
  return out.join('\n');
}
