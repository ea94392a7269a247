// The one table of `ballast lab` settings: the CLI parser, BALLAST_* variables, `ballast lab
// --help` and docs/lab.md's option list come from here (the same helpers as serve and load).

import type { SettingsTable } from '../config/schema.ts';

export const labSettings = [
  { section: 'Scenarios', name: 'only', type: 'list', default: [], defaultDoc: 'all', doc: 'Run only these scenarios (comma-separated); positional names do the same: `ballast lab check-feed csv-pair`.' },
  { section: 'Scenarios', name: 'list', type: 'bool', default: false, cliOnly: true, doc: 'List the scenarios (name, seed, what runs) and exit.' },
  { section: 'Scenarios', name: 'quick', type: 'bool', default: false, doc: 'Run each scenario briefly (a few seconds of load per phase, smaller sizes): a CI smoke test of the lab, not a measurement.' },
  { section: 'Scenarios', name: 'target', type: 'string', default: '', defaultDoc: '', doc: 'Run the scenarios\' load against this base URL (your own server implementing the routes) instead of starting the demo app naive and tuned; the report has one column, `target`.' },
  { section: 'Scenarios', name: 'nginx', type: 'enum', choices: ['auto', 'on', 'off'], default: 'auto', doc: 'Run seed 000\'s nginx topology (one upstream per route, default proxy timeouts): `auto` when an `nginx` binary is found on PATH or in /usr/sbin.' },
  { section: 'Scenarios', name: 'workers', type: 'int', min: 1, default: 2, doc: 'Worker processes of the tuned server (the naive servers use the seeds\' own numbers).' },
  { section: 'Services', name: 'databaseUrl', type: 'string', default: '', defaultDoc: '$DATABASE_URL, else SQLite', doc: 'PostgreSQL URL for the database scenario (its connection-exhaustion failure needs PostgreSQL); without it the demo app uses SQLite and the report says so.' },
  { section: 'Services', name: 'redisUrl', type: 'string', default: '', defaultDoc: '$REDIS_URL, else in-process LRU', doc: 'Redis URL for the database scenario\'s cache phase.' },
  { section: 'Output', name: 'report', type: 'string', default: '', defaultDoc: '', doc: 'Write the report to this directory: `report.md`, `report.html` (self-contained, charts inlined) and `results.json`.' },
  { section: 'Output', name: 'progress', type: 'bool', default: true, doc: 'Show live progress on a terminal (a line per phase otherwise).' },
  { section: 'Output', name: 'help', short: 'h', type: 'bool', default: false, cliOnly: true, doc: 'Show this help.' },
] as const satisfies SettingsTable;

export interface LabSettings {
  only: string[];
  list: boolean;
  quick: boolean;
  target: string;
  nginx: 'auto' | 'on' | 'off';
  workers: number;
  databaseUrl: string;
  redisUrl: string;
  report: string;
  progress: boolean;
  help: boolean;
}
