// Seed 001: the database page ("/" renders one random 140-character message) at 500, 5,000 and
// 15,000 users, PostgreSQL with max_connections 100. Naive: an evented server with unbounded
// concurrency whose connection pool has no maximum, so it opens a connection for every
// concurrent request and keeps it (the seed's gevent test: "error rate of almost
// 90% … too many connections"). Tuned: a pool per worker within a total connection budget below
// max_connections, so excess requests wait for a connection instead of failing; then the same
// with a cache in front of the query (the seed's "let's hit Redis instead").

import { formatCount, formatMs, formatPercent, formatRate } from '../report/format.ts';
import { repoRoot } from '../processes.ts';
import type { Check, Scenario, ScenarioContext } from '../types.ts';
import { check, describeErrors, findRun, forEachVariant, okCount } from './common.ts';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface PgClient {
  connect(): Promise<void>;
  query(text: string): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): void;
}

/** Samples pg_stat_activity on one connection opened before the load (so it cannot be refused). */
async function watchConnections(databaseUrl: string): Promise<{ peak(): number; maxConnections: number; reset(): void; close(): Promise<void> }> {
  const pg = (await import('pg')).default as unknown as { Client: new (options: { connectionString: string }) => PgClient };
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => {});
  await client.connect();
  const maxConnections = Number((await client.query('show max_connections')).rows[0]?.max_connections ?? 0);
  let peak = 0;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    client.query('select count(*)::int as n from pg_stat_activity where backend_type = \'client backend\'')
      .then((result) => { peak = Math.max(peak, Number(result.rows[0]?.n ?? 0)); }, () => {})
      .finally(() => { busy = false; });
  }, 250);
  return {
    peak: () => peak,
    maxConnections,
    reset: () => { peak = 0; },
    async close() {
      clearInterval(timer);
      await client.end().catch(() => {});
    },
  };
}

/** Fetches `url` every intervalMs while the load runs and tallies the bodies of error answers. */
function sampleErrorBodies(url: string, intervalMs: number): { stop(): Promise<Record<string, number>> } {
  const tally: Record<string, number> = {};
  let stopped = false;
  // Four loops: an overloaded server takes seconds per answer, and one loop would see too few.
  const loop = Promise.all([0, 1, 2, 3].map(async () => {
    while (!stopped) {
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        const body = await response.text();
        if (response.status >= 500) {
          const key = /too many clients|remaining connection slots|timeout|ECONNREFUSED|[^\n]{0,80}/i.exec(body)?.[0] ?? `HTTP ${response.status}`;
          tally[key] = (tally[key] ?? 0) + 1;
        }
      } catch {
        // the load's own numbers count failures; this only reads bodies
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }));
  return {
    async stop() {
      stopped = true;
      await loop;
      return tally;
    },
  };
}

function describeTally(tally: Record<string, number>): string {
  const entries = Object.entries(tally).sort((a, b) => b[1] - a[1]);
  return entries.length ? entries.map(([message, count]) => `"${message}" ×${count}`).join(', ') : 'no 5xx in the sampled answers';
}

async function seed(ctx: ScenarioContext, rows: number, sqlitePath: string): Promise<void> {
  const module = (await import(pathToFileURL(join(repoRoot, 'src/lab/seed-data.ts')).href)) as { seedData(options: { rows: number; databaseUrl?: string; sqlitePath?: string }): Promise<unknown> };
  await module.seedData({ rows, databaseUrl: ctx.databaseUrl, sqlitePath });
}

export const database: Scenario = {
  name: 'database',
  title: 'the database page at 500, 5,000 and 15,000 users',
  seeds: '001',
  summary: 'Users load "/", which renders one random 140-character message from the database. The seed\'s gevent test: "error rate of almost 90% … too many connections".',
  estimateSeconds: (quick) => (quick ? 35 : 170),
  async run(ctx) {
    const levels = ctx.pick([500, 5000, 15000], [200, 2000]);
    const thinkMs = ctx.pick(10_000, 2000);
    // Users arrive within 1 s, as when a page is shared or a test tool starts its users at once;
    // their think times then spread them out.
    const rampMs = 1000;
    const holdMs = ctx.pick(15_000, 4000);
    const rows = ctx.pick(10_000, 1000);
    const budget = 80;
    const queryMs = 50;
    const sqlitePath = join(ctx.tempDir, 'lab.sqlite');
    const isPg = Boolean(ctx.databaseUrl);
    if (!ctx.target) await seed(ctx, rows, sqlitePath);
    ctx.note(`Database: ${isPg ? `PostgreSQL (${ctx.databaseUrl!.replace(/\/\/[^@]*@/, '//…@')})` : 'SQLite (no DATABASE_URL: the connection-exhaustion failure needs PostgreSQL and does not happen here)'}, ${formatCount(rows)} messages seeded.`);
    ctx.note(`Load: closed model, each user loads "/" then thinks ${thinkMs / 1000} s (the seeds' users are people, not loops); users ramp up over ${rampMs / 1000} s then hold for ${holdMs / 1000} s. Scaled from the seed's 5-minute tests to fit the lab's time budget.`);
    const watcher = isPg && !ctx.target ? await watchConnections(ctx.databaseUrl!).catch(() => undefined) : undefined;
    if (watcher) ctx.note(`PostgreSQL max_connections: ${watcher.maxConnections}; tuned connection budget: ${budget} across all workers.`);
    // 50 ms of database work per page (the seed's second test averaged 47 ms), holding its connection.
    const common = { LAB_SQLITE_PATH: sqlitePath, DATABASE_URL: ctx.databaseUrl, DEMO_CACHE: 'off', DB_QUERY_MS: String(queryMs) };
    const phaseOf = (users: number) => ({ name: `${formatCount(users)} users`, description: `${formatCount(users)} users (think ${thinkMs / 1000} s, ramp ${rampMs / 1000} s, hold ${holdMs / 1000} s) on "/"` });
    const runLevel = async (target: { variant: 'naive' | 'tuned' | 'target'; url: string; server: string }, users: number, phase = phaseOf(users)) => {
      watcher?.reset();
      const sampler = sampleErrorBodies(`${target.url}/`, 200);
      const run = await ctx.load(phase, target.variant, target.server, target.url, {
        durationMs: rampMs + holdMs,
        gracefulStopMs: 5000,
        threads: users > 5000 ? 2 : 1,
        groups: [{ name: 'page', paths: ['/'], settings: { stages: [`${rampMs}ms:${users}`, `${holdMs}ms:${users}`], thinkMs, requestTimeout: 30_000 } }],
      });
      const tally = await sampler.stop();
      run.extras.errorBodies = describeTally(tally);
      if (watcher) run.extras.peakDbConnections = watcher.peak();
    };
    try {
      await forEachVariant(ctx, {
        naive: { args: ['--workers', String(ctx.workers), '--worker-connections', '1000'], env: { ...common, DEMO_MODE: 'naive', DB_NAIVE_POOL: 'unbounded' } },
        // The queue holds a whole wave (users arriving together) while the pools drain it: the
        // default 1,024 per worker refused the tail of a 5,000-request wave with 503.
        tuned: { args: ['--workers', String(ctx.workers), '--queue', '4096'], env: { ...common, DEMO_MODE: 'tuned', DB_CONNECTION_BUDGET: String(budget) } },
      }, async (target) => {
        for (const users of levels) await runLevel(target, users);
      });
      const top = levels[levels.length - 1]!;
      const cachePhase = { name: `${formatCount(top)} users + cache`, description: `${phaseOf(top).description}, tuned with a cache in front of the query (${ctx.redisUrl ? 'Redis' : 'in-process LRU'})` };
      if (!ctx.target) {
        const server = await ctx.startServer('tuned', { args: ['--workers', String(ctx.workers), '--queue', '4096'], env: { ...common, DEMO_MODE: 'tuned', DB_CONNECTION_BUDGET: String(budget), DEMO_CACHE: 'on', REDIS_URL: ctx.redisUrl } });
        try {
          await runLevel({ variant: 'tuned', url: server.url, server: server.commandLine }, top, cachePhase);
        } finally {
          await server.stop();
        }
      }
    } finally {
      await watcher?.close();
    }

    const findings: string[] = [];
    const checks: Check[] = [];
    const maxConnections = watcher?.maxConnections ?? 100;
    for (const users of levels) {
      const name = phaseOf(users).name;
      const naive = findRun(ctx.phases, name, 'naive');
      const tuned = findRun(ctx.phases, name, 'tuned');
      const parts: string[] = [];
      if (naive) {
        const s = naive.result.summary;
        // Little's law on the database: connections held = query rate × time each request holds one.
        const held = s.requestsPerSecond * (s.latencyMs.mean / 1000);
        parts.push(`naive served ${formatRate(okCount(s) / (s.durationMs / 1000))} good req/s (${formatCount(s.requestsPerMinute)} requests/min), average ${formatMs(s.latencyMs.mean)}, ${formatPercent(s.errorRate)} errors (${describeErrors(s)}); with a pool that opens a connection for every concurrent request, ${formatRate(s.requestsPerSecond)} req/s × ${formatMs(s.latencyMs.mean)} ≈ ${formatRate(held)} connections wanted at once${naive.extras.peakDbConnections !== undefined ? `, ${naive.extras.peakDbConnections} seen in pg_stat_activity against max_connections ${maxConnections}` : ''}; 5xx bodies sampled: ${naive.extras.errorBodies}`);
      }
      if (tuned) {
        const s = tuned.result.summary;
        // Users who arrive together come back together (same think time): waves of `users`
        // requests, each drained at the pool's rate, budget / query time (Little's law).
        const poolRate = budget / (queryMs / 1000);
        parts.push(`tuned: users who arrived within ${rampMs / 1000} s come back in waves of up to ${formatCount(users)} requests every ~${thinkMs / 1000} s; the pools drain a wave at ${budget} connections / ${queryMs} ms = ${formatCount(poolRate)} req/s, i.e. in ~${formatMs((users / poolRate) * 1000)}, when the CPU keeps up`);
        parts.push(`tuned served ${formatRate(okCount(s) / (s.durationMs / 1000))} good req/s (${formatCount(s.requestsPerMinute)} requests/min), average ${formatMs(s.latencyMs.mean)}, p99 ${formatMs(s.latencyMs.p99)}, ${formatPercent(s.errorRate)} errors (${describeErrors(s)})${tuned.extras.peakDbConnections !== undefined ? `, never more than ${tuned.extras.peakDbConnections} connections (budget ${budget})` : ''}`);
      }
      const target = findRun(ctx.phases, name, 'target');
      if (target) {
        const s = target.result.summary;
        parts.push(`your server: ${formatCount(s.requestsPerMinute)} requests/min, average ${formatMs(s.latencyMs.mean)}, p99 ${formatMs(s.latencyMs.p99)}, ${formatPercent(s.errorRate)} errors (${describeErrors(s)})`);
      }
      findings.push(`${name}: ${parts.join('; ')}.`);
    }
    const top = levels[levels.length - 1]!;
    const cached = findRun(ctx.phases, `${formatCount(top)} users + cache`, 'tuned');
    const uncached = findRun(ctx.phases, `${formatCount(top)} users`, 'tuned');
    if (cached && uncached) {
      const a = uncached.result.summary;
      const b = cached.result.summary;
      findings.push(`With the cache (${ctx.redisUrl ? 'Redis' : 'in-process LRU'}) at ${formatCount(top)} users: average ${formatMs(a.latencyMs.mean)} → ${formatMs(b.latencyMs.mean)}, p99 ${formatMs(a.latencyMs.p99)} → ${formatMs(b.latencyMs.p99)}, ${formatCount(a.requestsPerMinute)} → ${formatCount(b.requestsPerMinute)} requests/min, errors ${formatPercent(a.errorRate)} → ${formatPercent(b.errorRate)}. In a closed model the users' think time caps the rate at users / (think + response) = ${formatRate(top / (thinkMs / 1000 + b.latencyMs.mean / 1000))} req/s, so a faster page shows up as more requests per minute.`);
    }
    if (isPg) {
      const mid = levels.find((users) => users >= 2000) ?? top;
      const name = phaseOf(mid).name;
      const naive = findRun(ctx.phases, name, 'naive');
      const tuned = findRun(ctx.phases, name, 'tuned');
      if (naive) checks.push(check(`naive at ${name}: fails with "too many clients"`, naive.result.summary.errorRate > 0.01 && /too many clients|remaining connection slots/i.test(String(naive.extras.errorBodies)), `${formatPercent(naive.result.summary.errorRate)} errors; ${naive.extras.errorBodies}`));
      if (tuned) checks.push(check(`tuned at ${name}: 0% errors with PostgreSQL (max_connections ${maxConnections})`, tuned.result.summary.errors === 0, `${formatPercent(tuned.result.summary.errorRate)} errors (${describeErrors(tuned.result.summary)})`));
    }
    return { findings, checks };
  },
};
