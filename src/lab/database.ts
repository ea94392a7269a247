// The demo app's database page (seed 001): one random 140-character message per request.
// SQLite through node:sqlite when no DATABASE_URL is set (nothing to install); PostgreSQL through
// pg otherwise, in two shapes:
// - naive: a new connection per request, as a per-request ORM connection does; or
//   (`naivePool: 'unbounded'`) a pool per worker with no maximum, as gevent workers with a
//   connection per greenlet do: it keeps every connection a burst needed. Past max_connections
//   (100 by default) PostgreSQL refuses with "sorry, too many clients already": seed 001's 90%
//   error rate.
// - tuned: one pool per worker, the pools together within a connection budget (default 80 of
//   PostgreSQL's 100, leaving room for admin and migrations); requests wait for a pooled
//   connection instead of opening more.

import { DatabaseSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pg from 'pg';

export interface MessageStore {
  kind: 'sqlite' | 'postgres-pool' | 'postgres-per-request' | 'postgres-unbounded-pool';
  /** The message with this id (1-based); undefined when there is no such row. */
  message(id: number): Promise<string | undefined>;
  /** How many messages there are (read once at start). */
  count(): Promise<number>;
  close(): Promise<void>;
}

export const defaultSqlitePath = '.ballast/lab.sqlite';

export function openSqlite(path: string): DatabaseSync {
  mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  return db;
}

export interface StoreOptions {
  mode: 'naive' | 'tuned';
  databaseUrl?: string;
  sqlitePath?: string;
  /** Total connections across all workers (tuned PostgreSQL). */
  connectionBudget: number;
  /**
   * PostgreSQL only: how long each query holds its connection (pg_sleep), standing for a real
   * page's query and render time. 0 = just the lookup.
   */
  queryMs?: number;
  workers: number;
  /** naive PostgreSQL: a connection per request (default), or a pool without a maximum. */
  naivePool?: 'per-request' | 'unbounded';
}

export function createMessageStore(options: StoreOptions): MessageStore {
  if (!options.databaseUrl) {
    const db = openSqlite(options.sqlitePath ?? defaultSqlitePath);
    const byId = db.prepare('SELECT body FROM messages WHERE id = ?');
    const countRows = db.prepare('SELECT count(*) AS n FROM messages');
    return {
      kind: 'sqlite',
      message: async (id) => (byId.get(id) as { body: string } | undefined)?.body,
      count: async () => Number((countRows.get() as { n: number }).n),
      close: async () => db.close(),
    };
  }
  const querySeconds = (options.queryMs ?? 0) / 1000;
  const query = querySeconds > 0 ? `SELECT body, pg_sleep(${querySeconds}) FROM messages WHERE id = $1` : 'SELECT body FROM messages WHERE id = $1';
  const poolStore = (kind: MessageStore['kind'], config: pg.PoolConfig): MessageStore => {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, idleTimeoutMillis: 30_000, ...config });
    pool.on('error', () => { /* an idle client died; the pool replaces it */ });
    return {
      kind,
      message: async (id) => (await pool.query<{ body: string }>(query, [id])).rows[0]?.body,
      count: async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM messages')).rows[0].n),
      close: () => pool.end(),
    };
  };
  if (options.mode === 'naive' && options.naivePool === 'unbounded') return poolStore('postgres-unbounded-pool', { max: 100_000 });
  if (options.mode === 'naive') {
    const connect = async () => {
      const client = new pg.Client({ connectionString: options.databaseUrl });
      await client.connect();
      return client;
    };
    return {
      kind: 'postgres-per-request',
      async message(id) {
        const client = await connect();
        try {
          return (await client.query<{ body: string }>(query, [id])).rows[0]?.body;
        } finally {
          await client.end().catch(() => {});
        }
      },
      async count() {
        const client = await connect();
        try {
          return Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM messages')).rows[0].n);
        } finally {
          await client.end().catch(() => {});
        }
      },
      close: async () => {},
    };
  }
  return poolStore('postgres-pool', {
    max: Math.max(1, Math.floor(options.connectionBudget / Math.max(1, options.workers))),
    // A request waits this long for a pooled connection before failing (never opens more).
    connectionTimeoutMillis: 10_000,
  });
}
