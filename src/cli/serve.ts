// `ballast serve APP`: resolve settings once at the edge, then hand over to the supervisor.

import { formatHelp } from '../config/schema.ts';
import { serveSettings } from '../config/settings.ts';
import { formatPrintedConfig, resolveServeSettings } from '../config/parse.ts';
import { parseAppSpec } from '../worker/app-loader.ts';
import { existsSync } from 'node:fs';
import { createError, exitCodes } from '../errors.ts';
import { createLogger } from '../log.ts';
import { Arbiter } from '../supervisor/arbiter.ts';
import { randomBytes } from 'node:crypto';
import { parseBind } from '../config/parse.ts';
import { isLoopback, profileKeyFor, startAdminServer, type AdminServer } from '../admin/server.ts';
import { createJsonlSink, createWebhookSink } from '../introspection/report-sinks.ts';

export function formatServeHelp(): string {
  return [
    'Usage: ballast serve APP [options]',
    '',
    'Serve APP (`path/to/module.ts[:export]`) with a supervised pool of worker processes.',
    'APP exports a Fetch handler ({ fetch(request, ctx) }, e.g. a Hono app), a function',
    '(request, ctx) => Response, or a Node listener (req, res) such as an Express app.',
    '',
    'Signals: SIGHUP reloads code and config with zero downtime; SIGTERM/SIGINT drain and exit;',
    'SIGTTIN/SIGTTOU add/remove one worker.',
    '',
    'Every option can also be set as BALLAST_<NAME> in the environment or as a key of the',
    'config file (-c); the command line wins over the environment, which wins over the file.',
    formatHelp(serveSettings),
    '',
    'Docs: docs/settings.md',
  ].join('\n');
}

export async function runServe(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${formatServeHelp()}\n`);
    return exitCodes.ok;
  }
  const resolved = await resolveServeSettings(argv, process.env);
  if (resolved.settings.printConfig) {
    process.stdout.write(`${formatPrintedConfig(resolved)}\n`);
    return exitCodes.ok;
  }
  const settings = resolved.settings;
  const { file } = parseAppSpec(settings.app);
  if (!existsSync(file)) throw createError('BALLAST_ERR_USAGE', `app file not found: ${file}`);

  const adminBind = settings.admin === 'off' ? undefined : parseBind(settings.admin);
  if (adminBind && !isLoopback(adminBind.host) && !settings.adminToken) {
    throw createError('BALLAST_ERR_INVALID_SETTING', `refusing to serve the admin API on ${settings.admin} (not loopback) without a token: set --admin-token (or BALLAST_ADMIN_TOKEN)`);
  }
  const adminToken = settings.adminToken || randomBytes(18).toString('base64url');
  // Workers get a key derived from the admin token, never the token itself.
  process.env.BALLAST_PROFILE_KEY = profileKeyFor(adminToken);

  const log = createLogger({ name: 'supervisor', level: settings.logLevel });
  let admin: AdminServer | undefined;
  const arbiter = new Arbiter({
    settings,
    reloadSettings: async () => (await resolveServeSettings(argv, process.env)).settings,
    log,
    onListening: (urls) => {
      log.info({ urls, admin: admin?.url, pid: process.pid }, `listening on ${urls.join(', ')} (supervisor pid ${process.pid}, ${settings.workers} worker${settings.workers === 1 ? '' : 's'})`);
      if (admin) {
        const shown = settings.adminToken ? '<your --admin-token>' : adminToken;
        log.info({ admin: admin.url }, `dashboard: ${admin.url}/?token=${shown}  (metrics: ${admin.url}/metrics, status: ${admin.url}/status)`);
      }
    },
  });
  if (adminBind) admin = await startAdminServer({ bind: adminBind, token: adminToken, arbiter, log });
  const sinks = [
    ...(settings.slowLog ? [createJsonlSink(settings.slowLog, log)] : []),
    ...(settings.reportWebhook ? [createWebhookSink(settings.reportWebhook, log)] : []),
  ];
  const unsubscribe = arbiter.reports.subscribe((report) => { for (const sink of sinks) sink.write(report); });
  try {
    return await arbiter.run();
  } finally {
    unsubscribe();
    await Promise.all(sinks.map((sink) => sink.flush()));
    await admin?.close();
  }
}
