// `ballast lab feed-service | object-store | seed-data`: the lab's simulated services and data,
// each runnable on its own (for the lab, for `--target` runs against your own server, or to try
// the demo app by hand).

import { resolveSettings, formatHelp, type SettingsTable } from '../config/schema.ts';
import { createError, exitCodes } from '../errors.ts';
import { startFeedService } from './feed-service.ts';
import { startObjectStore } from '../../lab/demo-app/object-store.ts';
import { seedData } from './seed-data.ts';
import { defaultSqlitePath } from './database.ts';

export const serviceCommands = ['feed-service', 'object-store', 'seed-data'];

const serviceSettings: Record<string, { summary: string; table: SettingsTable }> = {
  'feed-service': {
    summary: 'a slow upstream (seed 000): GET /feed answers JSON after a delay',
    table: [
      { section: 'Feed service', name: 'delay', type: 'duration', default: 2000, doc: 'Delay before each answer.' },
      { section: 'Feed service', name: 'jitter', type: 'duration', default: 100, doc: 'Uniform random extra delay.' },
      { section: 'Feed service', name: 'errorRate', type: 'string', default: '0', doc: 'Share of requests answered 500, 0..1.' },
      { section: 'Feed service', name: 'port', type: 'int', min: 0, default: 8100, doc: 'Port on 127.0.0.1 (0 = any free port).' },
    ],
  },
  'object-store': {
    summary: 'the object store of /csv_test (seed 002): GET /bucket/<name> answers a CSV after a latency',
    table: [
      { section: 'Object store', name: 'latency', type: 'duration', default: 500, doc: 'Latency of every GET.' },
      { section: 'Object store', name: 'jitter', type: 'duration', default: 50, doc: 'Uniform random extra latency.' },
      { section: 'Object store', name: 'port', type: 'int', min: 0, default: 8200, doc: 'Port on 127.0.0.1 (0 = any free port).' },
    ],
  },
  'seed-data': {
    summary: 'fill the messages table (seed 001) in SQLite, or PostgreSQL when DATABASE_URL is set',
    table: [
      { section: 'Seed data', name: 'rows', type: 'int', min: 1, default: 10_000, doc: 'How many 140-character messages.' },
      { section: 'Seed data', name: 'sqlitePath', type: 'string', default: defaultSqlitePath, doc: 'The SQLite file, when DATABASE_URL is not set (the demo app reads LAB_SQLITE_PATH, same default).' },
    ],
  },
};

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

export async function runServiceCommand(name: string, argv: string[]): Promise<number> {
  const spec = serviceSettings[name];
  if (!spec) throw createError('BALLAST_ERR_USAGE', `unknown lab service \`${name}\``);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`Usage: ballast lab ${name} [options]\n\n${spec.summary}.${formatHelp(spec.table)}\n`);
    return exitCodes.ok;
  }
  // Plain numbers are milliseconds here (--delay 2000), as the lab's own docs write them.
  const argvMs = argv.map((arg, i) => (/^\d+$/.test(arg) && /^--(delay|jitter|latency)$/.test(argv[i - 1] ?? '') ? `${arg}ms` : arg));
  const { settings } = resolveSettings<Record<string, unknown>>(spec.table, { argv: argvMs, env: {} });
  if (name === 'seed-data') {
    const rows = settings.rows as number;
    const started = Date.now();
    const result = await seedData({
      rows,
      databaseUrl: process.env.DATABASE_URL,
      sqlitePath: settings.sqlitePath as string,
      onProgress: (done) => { if (process.stderr.isTTY) process.stderr.write(`\rseeding ${done}/${rows}`); },
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    process.stdout.write(`seeded ${result.rows} messages into ${result.target} in ${Date.now() - started} ms\n`);
    return exitCodes.ok;
  }
  if (name === 'feed-service') {
    const errorRate = Number(settings.errorRate);
    if (!(errorRate >= 0 && errorRate <= 1)) throw createError('BALLAST_ERR_INVALID_SETTING', `expected \`errorRate\` (--error-rate) to be a number between 0 and 1, got \`${String(settings.errorRate)}\``);
    const service = await startFeedService({ delayMs: settings.delay as number, jitterMs: settings.jitter as number, errorRate, port: settings.port as number });
    process.stdout.write(`feed service on ${service.url}/feed (delay ${settings.delay} ms, jitter ${settings.jitter} ms, error rate ${errorRate}); Ctrl-C to stop\n`);
    await waitForSignal();
    process.stdout.write(`served ${service.requests} requests (at most ${service.maxOpen} at once)\n`);
    await service.close();
    return exitCodes.ok;
  }
  const store = await startObjectStore({ latencyMs: settings.latency as number, jitterMs: settings.jitter as number, port: settings.port as number });
  process.stdout.write(`object store on ${store.url}/bucket/weather.csv (latency ${settings.latency} ms); Ctrl-C to stop\n`);
  await waitForSignal();
  await store.close();
  return exitCodes.ok;
}
