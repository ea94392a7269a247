// Resolving `ballast serve` settings: defaults < config file < BALLAST_* env < command line.
// The config file is read on every call, so SIGHUP picks up edits.

import { readFile } from 'node:fs/promises';
import { resolve as resolvePath, extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createError } from '../errors.ts';
import { envOf, flagOf, formatValue, resolveSettings, type Resolved } from './schema.ts';
import { serveSettings, type ServeSettings } from './settings.ts';
import { compileRoutes } from '../worker/routes.ts';

export async function loadConfigFile(path: string): Promise<Record<string, unknown>> {
  const absolute = resolvePath(path);
  try {
    if (extname(absolute) === '.json') {
      const parsed: unknown = JSON.parse(await readFile(absolute, 'utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('the file must hold a JSON object');
      return parsed as Record<string, unknown>;
    }
    // A cache-busting query makes SIGHUP see the edited file instead of the cached module.
    const module = (await import(`${pathToFileURL(absolute).href}?v=${Date.now()}`)) as { default?: unknown };
    const value = module.default;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('the module must `export default` an object of settings');
    return value as Record<string, unknown>;
  } catch (error) {
    throw createError('BALLAST_ERR_CONFIG_FILE', `cannot load config file ${path}: ${(error as Error).message}`, error);
  }
}

export async function resolveServeSettings(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<Resolved<ServeSettings>> {
  // First pass: only to find --config (and to reject bad flags before touching the file system).
  const first = resolveSettings<ServeSettings>(serveSettings, { argv, env: {} });
  const configPath = first.settings.config;
  const file = configPath ? await loadConfigFile(configPath) : undefined;
  const resolved = resolveSettings<ServeSettings>(serveSettings, { argv, env, file, fileName: configPath || undefined });
  if (resolved.positionals.length > 1) {
    throw createError('BALLAST_ERR_USAGE', `expected one APP, got ${resolved.positionals.length}: ${resolved.positionals.join(' ')}`);
  }
  if (resolved.positionals[0]) {
    resolved.settings.app = resolved.positionals[0];
    resolved.sources.app = 'cli';
  }
  // gunicorn's convention (and every PaaS's): PORT sets the default bind to all interfaces.
  if (resolved.sources.bind === 'default' && env.PORT) {
    if (!/^\d+$/.test(env.PORT)) throw createError('BALLAST_ERR_INVALID_SETTING', `expected PORT to be a port number, got \`${env.PORT}\``);
    resolved.settings.bind = [`0.0.0.0:${env.PORT}`];
    resolved.sources.bind = 'env';
  }
  for (const address of resolved.settings.bind) parseBind(address);
  if (resolved.settings.admin !== 'off') parseBind(resolved.settings.admin, 'admin');
  try {
    compileRoutes(resolved.settings.routes);
  } catch (error) {
    // Reported like any other invalid setting (exit code 2).
    throw createError('BALLAST_ERR_INVALID_SETTING', `invalid \`routes\`: ${(error as Error).message}`, error);
  }
  return resolved;
}

export interface BindAddress {
  host: string;
  port: number;
}

export function parseBind(text: string, setting = 'bind'): BindAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw createError('BALLAST_ERR_INVALID_SETTING', `expected \`${setting}\` (--${setting}) to be HOST:PORT, [IPV6]:PORT or :PORT, got \`${text}\``);
  }
  const host = match[1] ?? (match[2] || '0.0.0.0');
  return { host, port };
}

export function formatPrintedConfig(resolved: Resolved<ServeSettings>): string {
  const rows = serveSettings.map((spec) => {
    const value = (resolved.settings as unknown as Record<string, unknown>)[spec.name];
    return [spec.name, formatValue(spec, value), resolved.sources[spec.name], `${flagOf(spec)}${spec.cliOnly ? '' : ` / ${envOf(spec)}`}`];
  });
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => `${row[0].padEnd(widths[0])}  ${row[1].padEnd(widths[1])}  ${row[2].padEnd(widths[2])}  ${row[3]}`).join('\n');
}
