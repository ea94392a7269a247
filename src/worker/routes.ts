// Route classes: per path pattern, its own deadline and, optionally, its own concurrency and
// queue (a bulkhead), or the `stream` class for long-lived responses (SSE) that have their own
// connection limit, take no request slot and have no deadline. This is seed 000's "send each
// route to a different upstream server", as one config entry.

import { createError } from '../errors.ts';
import { parseDurationMs } from '../config/schema.ts';
import type { RouteConfig } from '../config/settings.ts';

export interface CompiledRoute {
  pattern: string;
  kind: 'request' | 'stream';
  /** ms; undefined = the server's --timeout. */
  timeoutMs: number | undefined;
  /** Own slots (a bulkhead) or, for streams, the most open streams per worker. */
  concurrency: number | undefined;
  queue: number | undefined;
  matches: (path: string) => boolean;
}

function compilePattern(pattern: string): (path: string) => boolean {
  if (pattern.endsWith('/*')) {
    const prefix = pattern.slice(0, -1); // keep the slash: "/api/" matches "/api/x", not "/apix"
    const bare = pattern.slice(0, -2);
    return (path) => path.startsWith(prefix) || path === bare;
  }
  if (!pattern.includes(':') && !pattern.includes('*')) return (path) => path === pattern;
  const source = pattern
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment === '*' ? '.*' : segment.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  const regex = new RegExp(`^${source}$`);
  return (path) => regex.test(path);
}

export function compileRoutes(routes: unknown): CompiledRoute[] {
  if (!Array.isArray(routes)) throw createError('BALLAST_ERR_INVALID_ROUTE', `expected \`routes\` to be a list of { path, ... }, got ${JSON.stringify(routes)}`);
  const known = new Set(['path', 'class', 'timeout', 'concurrency', 'queue']);
  return routes.map((raw: unknown, index) => {
    const where = `routes[${index}]`;
    if (raw === null || typeof raw !== 'object') throw createError('BALLAST_ERR_INVALID_ROUTE', `expected ${where} to be an object, got ${JSON.stringify(raw)}`);
    const route = raw as RouteConfig & Record<string, unknown>;
    for (const key of Object.keys(route)) {
      if (!known.has(key)) throw createError('BALLAST_ERR_INVALID_ROUTE', `unknown key \`${key}\` in ${where}; expected ${[...known].join(', ')}`);
    }
    if (typeof route.path !== 'string' || !route.path.startsWith('/')) {
      throw createError('BALLAST_ERR_INVALID_ROUTE', `expected ${where}.path to be a path pattern starting with /, got ${JSON.stringify(route.path)}`);
    }
    const kind = route.class ?? 'request';
    if (kind !== 'request' && kind !== 'stream') throw createError('BALLAST_ERR_INVALID_ROUTE', `expected ${where}.class to be "request" or "stream", got ${JSON.stringify(route.class)}`);
    let timeoutMs: number | undefined;
    if (route.timeout !== undefined) {
      timeoutMs = typeof route.timeout === 'number' ? route.timeout * 1000 : parseDurationMs(String(route.timeout));
      if (timeoutMs === undefined || !(timeoutMs >= 0)) throw createError('BALLAST_ERR_INVALID_ROUTE', `expected ${where}.timeout to be a duration such as 2s or 500ms, got ${JSON.stringify(route.timeout)}`);
    }
    for (const key of ['concurrency', 'queue'] as const) {
      const value = route[key];
      if (value !== undefined && (!Number.isSafeInteger(value) || value < (key === 'queue' ? 0 : 1))) {
        throw createError('BALLAST_ERR_INVALID_ROUTE', `expected ${where}.${key} to be an integer >= ${key === 'queue' ? 0 : 1}, got ${JSON.stringify(value)}`);
      }
    }
    if (kind === 'stream' && route.timeout !== undefined) throw createError('BALLAST_ERR_INVALID_ROUTE', `${where} is a stream route: streams have no deadline, remove \`timeout\``);
    return { pattern: route.path, kind, timeoutMs, concurrency: route.concurrency, queue: route.queue, matches: compilePattern(route.path) };
  });
}

export function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
