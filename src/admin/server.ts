// The control plane, served by the supervisor on its own port, off every worker's event loop:
// it answers while workers are stalled. /healthz and /readyz are open (load balancers and
// Kubernetes probes call them); everything else needs the admin token.

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual, createHash, createHmac } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { extname, join, resolve as resolvePath, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderDashboardPage, renderUnauthorizedPage } from './dashboard.ts';
import type { Logger } from '../log.ts';
import type { BindAddress } from '../config/parse.ts';
import { createError, defaultMessage, type ErrorCode } from '../errors.ts';
import type { Arbiter } from '../supervisor/arbiter.ts';

export interface AdminServer {
  url: string;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** The `x-ballast-profile` header value that authorises a per-request profile. */
export function profileKeyFor(adminToken: string): string {
  return createHmac('sha256', adminToken).update('ballast-profile-v1').digest('base64url');
}

const cookieName = 'ballast_admin';

function tokenOf(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  const query = url.searchParams.get('token');
  if (query) return query;
  // Set when the dashboard was opened with ?token=, so its assets and the flame-graph viewer load.
  const cookie = req.headers.cookie?.split(';').map((c) => c.trim()).find((c) => c.startsWith(`${cookieName}=`));
  return cookie ? decodeURIComponent(cookie.slice(cookieName.length + 1)) : undefined;
}

const speedscopeDir = resolvePath(fileURLToPath(new URL('../../node_modules/speedscope/dist/release/', import.meta.url)));
const mimeTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.json': 'application/json',
  '.png': 'image/png', '.ico': 'image/x-icon', '.wasm': 'application/wasm', '.woff2': 'font/woff2', '.txt': 'text/plain; charset=utf-8',
};

/** Serves a file from `root` without letting `relative` escape it. */
async function sendFile(res: ServerResponse, root: string, relative: string, contentType?: string): Promise<boolean> {
  const target = resolvePath(join(root, relative));
  if (!target.startsWith(root + sep) && target !== root) return false;
  const info = await stat(target).catch(() => undefined);
  if (!info?.isFile()) return false;
  res.writeHead(200, { 'content-type': contentType ?? mimeTypes[extname(target)] ?? 'application/octet-stream', 'content-length': info.size, 'cache-control': 'no-store' });
  createReadStream(target).pipe(res);
  return true;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function sendError(res: ServerResponse, code: ErrorCode): void {
  const error = createError(code);
  sendJson(res, error.status, { error: code, message: defaultMessage(code) });
}

export async function startAdminServer(options: { bind: BindAddress; token: string; arbiter: Arbiter; log: Logger }): Promise<AdminServer> {
  const { arbiter, log } = options;
  const expected = digest(options.token);
  const isAuthorised = (req: IncomingMessage, url: URL) => {
    const given = tokenOf(req, url);
    return given !== undefined && timingSafeEqual(digest(given), expected);
  };
  const streams = new Set<ServerResponse>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'POST') {
      res.writeHead(405, { allow: 'GET, HEAD, POST' }).end();
      return;
    }
    if (url.pathname === '/healthz') {
      sendJson(res, 200, { status: 'ok', pid: process.pid });
      return;
    }
    if (url.pathname === '/readyz') {
      const ready = arbiter.isReady;
      sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
      return;
    }
    if (!isAuthorised(req, url)) {
      log.warn({ code: 'BALLAST_ERR_UNAUTHORIZED', path: url.pathname, remote: req.socket.remoteAddress }, 'admin request without a valid token');
      // A browser opening the dashboard gets a page that says what is wrong, not raw JSON.
      if ((url.pathname === '/' || url.pathname === '/dashboard') && req.headers.accept?.includes('text/html')) {
        res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(renderUnauthorizedPage());
        return;
      }
      sendError(res, 'BALLAST_ERR_UNAUTHORIZED');
      return;
    }
    if (req.method === 'POST') {
      await handleCommand(url, res);
      return;
    }
    if (url.pathname.startsWith('/profiles/')) {
      const name = decodeURIComponent(url.pathname.slice('/profiles/'.length));
      const known = arbiter.profiles.some((p) => p.name === name);
      if (!known || !(await sendFile(res, resolvePath(arbiter.profileDir), name, 'application/json'))) sendError(res, 'BALLAST_ERR_NOT_FOUND');
      return;
    }
    if (url.pathname === '/speedscope' || url.pathname.startsWith('/speedscope/')) {
      const relative = url.pathname.slice('/speedscope/'.length) || 'index.html';
      if (!(await sendFile(res, speedscopeDir, relative))) sendError(res, 'BALLAST_ERR_NOT_FOUND');
      return;
    }
    switch (url.pathname) {
      case '/profiles':
        sendJson(res, 200, { profiles: [...arbiter.profiles].reverse(), profileHeader: { name: 'x-ballast-profile', value: profileKeyFor(options.token) } });
        return;
      case '/metrics': {
        const { contentType, body } = await arbiter.metricsText();
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body);
        return;
      }
      case '/status':
        sendJson(res, 200, arbiter.status());
        return;
      case '/reports':
        sendJson(res, 200, { reports: arbiter.reports.list(Number(url.searchParams.get('limit') ?? 50)) });
        return;
      case '/events': {
        // The dashboard's live feed: status every second, reports as they come.
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
        const sendStatus = () => res.write(`event: status\ndata: ${JSON.stringify(arbiter.status())}\n\n`);
        sendStatus();
        const timer = setInterval(sendStatus, 1000);
        const unsubscribe = arbiter.reports.subscribe((report) => res.write(`event: report\ndata: ${JSON.stringify(report)}\n\n`));
        streams.add(res);
        res.on('close', () => {
          clearInterval(timer);
          unsubscribe();
          streams.delete(res);
        });
        return;
      }
      case '/':
      case '/dashboard': {
        const page = await renderDashboardPage();
        if (page === undefined) {
          sendError(res, 'BALLAST_ERR_NOT_FOUND');
          return;
        }
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          // Lets the page's assets and the flame-graph viewer authenticate without the query string.
          'set-cookie': `${cookieName}=${encodeURIComponent(options.token)}; HttpOnly; SameSite=Strict; Path=/`,
        }).end(page);
        return;
      }
      default:
        sendError(res, 'BALLAST_ERR_NOT_FOUND');
    }
  }

  /** POST /profiles/cpu?worker=N&seconds=S, /profiles/requests?path=/x&count=N, /profiles/heap?worker=N */
  async function handleCommand(url: URL, res: ServerResponse): Promise<void> {
    const workerParam = url.searchParams.get('worker');
    const workerId = workerParam === null ? undefined : Number(workerParam);
    if (workerId !== undefined && !Number.isInteger(workerId)) {
      sendJson(res, 400, { error: 'BALLAST_ERR_BAD_REQUEST', message: `expected worker to be a worker id, got ${JSON.stringify(workerParam)}` });
      return;
    }
    let reached: number[];
    switch (url.pathname) {
      case '/profiles/cpu': {
        const seconds = Number(url.searchParams.get('seconds') ?? 10);
        if (!(seconds > 0 && seconds <= 600)) {
          sendJson(res, 400, { error: 'BALLAST_ERR_BAD_REQUEST', message: 'expected seconds between 0 and 600' });
          return;
        }
        reached = arbiter.command({ t: 'profile-for', seconds }, workerId);
        break;
      }
      case '/profiles/requests': {
        const path = url.searchParams.get('path');
        const count = Number(url.searchParams.get('count') ?? 1);
        if (!path?.startsWith('/') || !(Number.isInteger(count) && count >= 1 && count <= 1000)) {
          sendJson(res, 400, { error: 'BALLAST_ERR_BAD_REQUEST', message: 'expected path=/some/path (a trailing * matches a prefix) and count between 1 and 1000' });
          return;
        }
        reached = arbiter.command({ t: 'profile-requests', path, count }, workerId);
        break;
      }
      case '/profiles/heap':
        reached = arbiter.command({ t: 'heap-snapshot' }, workerId);
        break;
      default:
        sendError(res, 'BALLAST_ERR_NOT_FOUND');
        return;
    }
    if (reached.length === 0) {
      sendJson(res, 404, { error: 'BALLAST_ERR_NOT_FOUND', message: workerId === undefined ? 'no ready worker' : `no ready worker with id ${workerId}` });
      return;
    }
    log.info({ command: url.pathname, workers: reached }, `admin: ${url.pathname}${url.search} sent to worker(s) ${reached.join(', ')}`);
    sendJson(res, 202, { accepted: true, workers: reached });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log.error({ err: error, path: req.url }, 'admin request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'BALLAST_ERR_APP_HANDLER', message: 'internal error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const hint = error.code === 'EADDRINUSE' ? ': the port is in use; pass --admin HOST:PORT (or --admin off)' : '';
      reject(createError('BALLAST_ERR_BIND', `cannot listen for the admin server on ${options.bind.host}:${options.bind.port}${hint} (${error.message})`, error));
    });
    server.listen(options.bind.port, options.bind.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = options.bind.host.includes(':') ? `[${options.bind.host}]` : options.bind.host;
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise((resolve) => {
      for (const stream of streams) stream.end();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
