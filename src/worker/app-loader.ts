// Loading `path/to/module.ts[:export]` and deciding how to call it. Three shapes are accepted:
// a Fetch handler object (`{ fetch(request, ctx) }`, which Hono apps are), a Fetch function
// `(request, ctx) => Response`, and a Node listener `(req, res)` (Express, Koa's callback()).
// A Fetch function and a Node listener both take two arguments, so `auto` looks at the export's
// shape (Express apps have `handle`, take `next`), then at its parameter names; `--app-kind`
// settles any doubt.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createError } from '../errors.ts';

export interface RequestContext {
  /** Aborts when the client goes away (and, with deadlines, at the request's deadline). */
  readonly signal: AbortSignal;
  /** The request id: the client's `x-request-id` when it sent a sane one, else generated. */
  readonly requestId: string;
  /** The cluster worker id serving this request. */
  readonly workerId: number;
}

export type FetchFunction = (request: Request, ctx: RequestContext) => Response | Promise<Response>;
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;

export type LoadedApp =
  | { kind: 'fetch'; fetch: FetchFunction; file: string }
  | { kind: 'node'; listener: NodeListener; file: string };

export interface AppSpec {
  file: string;
  exportName: string;
}

export function parseAppSpec(spec: string, cwd = process.cwd()): AppSpec {
  if (!spec) throw createError('BALLAST_ERR_USAGE', 'no APP given: expected `ballast serve path/to/module.ts[:export]`');
  // The export name follows the last colon, unless that colon belongs to a Windows drive letter.
  const colon = spec.lastIndexOf(':');
  const hasExport = colon > 1 && !spec.slice(colon + 1).includes('/') && !spec.slice(colon + 1).includes('\\');
  const file = resolvePath(cwd, hasExport ? spec.slice(0, colon) : spec);
  const exportName = hasExport ? spec.slice(colon + 1) : 'default';
  if (exportName === '' || !/^[A-Za-z_$][\w$]*$/.test(exportName)) {
    throw createError('BALLAST_ERR_USAGE', `expected an export name after \`:\` in APP, got \`${spec}\``);
  }
  return { file, exportName };
}

function looksLikeNodeListener(fn: Function): boolean {
  const candidate = fn as Function & { handle?: unknown; listen?: unknown; use?: unknown };
  if (fn.length >= 3) return true; // (req, res, next): Express and connect apps
  if (typeof candidate.handle === 'function' && typeof candidate.listen === 'function') return true;
  const params = /^[^(]*\(\s*([\w$]+)\s*,\s*([\w$]+)/.exec(Function.prototype.toString.call(fn));
  if (params) return /^res(ponse)?$/i.test(params[2]) || /^req(uest)?$/.test(params[1]) && /^res/i.test(params[2]);
  return false;
}

export function classifyExport(value: unknown, kind: 'auto' | 'fetch' | 'node', file: string, exportName: string): LoadedApp {
  const where = `export \`${exportName}\` of ${file}`;
  if (value !== null && typeof value === 'object' && typeof (value as { fetch?: unknown }).fetch === 'function') {
    if (kind === 'node') throw createError('BALLAST_ERR_APP_SHAPE', `${where} is a Fetch handler object, but --app-kind is node`);
    const target = value as { fetch: FetchFunction };
    return { kind: 'fetch', fetch: (request, ctx) => target.fetch(request, ctx), file };
  }
  if (typeof value === 'function') {
    const resolvedKind = kind === 'auto' ? (looksLikeNodeListener(value) ? 'node' : 'fetch') : kind;
    return resolvedKind === 'node'
      ? { kind: 'node', listener: value as NodeListener, file }
      : { kind: 'fetch', fetch: value as FetchFunction, file };
  }
  const got = value === undefined ? 'nothing (undefined)' : value === null ? 'null' : typeof value;
  throw createError(
    'BALLAST_ERR_APP_SHAPE',
    `${where} is ${got}; expected a Fetch handler ({ fetch(request, ctx) }), a function (request, ctx) => Response, or a Node listener (req, res)`,
  );
}

export async function loadApp(specText: string, kind: 'auto' | 'fetch' | 'node'): Promise<LoadedApp> {
  const spec = parseAppSpec(specText);
  if (!existsSync(spec.file)) throw createError('BALLAST_ERR_APP_LOAD', `app file not found: ${spec.file}`);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(spec.file).href)) as Record<string, unknown>;
  } catch (error) {
    throw createError('BALLAST_ERR_APP_LOAD', `the app threw while loading ${spec.file}: ${(error as Error)?.message ?? String(error)}`, error);
  }
  if (!(spec.exportName in module)) {
    const available = Object.keys(module).filter((key) => key !== '__esModule');
    throw createError(
      'BALLAST_ERR_APP_SHAPE',
      `${spec.file} has no export \`${spec.exportName}\`${available.length ? `; it exports: ${available.join(', ')}` : ''}`,
    );
  }
  return classifyExport(module[spec.exportName], kind, spec.file, spec.exportName);
}
