// `ballast lab seed-data --rows N`: fills the messages table with N random 140-character
// messages (seed 001's `manage.py seed_data`), in SQLite or, with DATABASE_URL, PostgreSQL.

import pg from 'pg';
import { defaultSqlitePath, openSqlite } from './database.ts';

const words = 'load server worker request queue latency event loop stream socket cache pool deadline shed stall profile thread cluster reload drain metric'.split(' ');

/** A deterministic-per-id 140-character message. */
export function messageFor(id: number): string {
  let seed = id * 2654435761 % 2 ** 32;
  const next = () => (seed = (seed * 1664525 + 1013904223) % 2 ** 32);
  let text = `#${id}`;
  while (text.length < 140) text += ` ${words[next() % words.length]}`;
  return text.slice(0, 140);
}

export async function seedData(options: { rows: number; databaseUrl?: string; sqlitePath?: string; onProgress?: (done: number) => void }): Promise<{ rows: number; target: string }> {
  const batch = 1000;
  if (!options.databaseUrl) {
    const path = options.sqlitePath ?? defaultSqlitePath;
    const db = openSqlite(path);
    db.exec('DELETE FROM messages');
    const insert = db.prepare('INSERT INTO messages (id, body) VALUES (?, ?)');
    for (let start = 1; start <= options.rows; start += batch) {
      db.exec('BEGIN');
      for (let id = start; id < Math.min(start + batch, options.rows + 1); id++) insert.run(id, messageFor(id));
      db.exec('COMMIT');
      options.onProgress?.(Math.min(start + batch - 1, options.rows));
    }
    db.close();
    return { rows: options.rows, target: `sqlite ${path}` };
  }
  const client = new pg.Client({ connectionString: options.databaseUrl });
  await client.connect();
  try {
    await client.query('CREATE TABLE IF NOT EXISTS messages (id integer PRIMARY KEY, body text NOT NULL)');
    await client.query('TRUNCATE messages');
    for (let start = 1; start <= options.rows; start += batch) {
      const ids = Array.from({ length: Math.min(batch, options.rows - start + 1) }, (_, i) => start + i);
      await client.query('INSERT INTO messages (id, body) SELECT * FROM unnest($1::int[], $2::text[])', [ids, ids.map(messageFor)]);
      options.onProgress?.(ids[ids.length - 1]);
    }
  } finally {
    await client.end();
  }
  const url = new URL(options.databaseUrl);
  return { rows: options.rows, target: `postgres ${url.host}${url.pathname}` };
}
