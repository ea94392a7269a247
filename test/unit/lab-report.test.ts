// Lab pieces that need no servers: the nginx.conf the lab writes, the docs listing every lab
// option, and the report's table built from a run's summaries.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderNginxConf } from '../../src/lab/nginx.ts';
import { labSettings } from '../../src/lab/settings.ts';
import { flagOf } from '../../src/config/schema.ts';
import { compactTable, phaseRows } from '../../src/lab/report/markdown.ts';
import type { PhaseResult } from '../../src/lab/types.ts';
import type { RunResult, Summary } from '../../src/load/index.ts';

test('nginx.conf has one upstream per route, default proxy timeouts, and everything under its directory', () => {
  const conf = renderNginxConf('/tmp/lab-x', 8080, { checkFeed: 'http://127.0.0.1:9001', streamFeed: 'http://127.0.0.1:9002', other: 'http://127.0.0.1:9003' });
  assert.match(conf, /upstream check_feed \{ server 127\.0\.0\.1:9001;/);
  assert.match(conf, /upstream stream_feed \{ server 127\.0\.0\.1:9002; \}/);
  assert.match(conf, /upstream app \{ server 127\.0\.0\.1:9003;/);
  assert.match(conf, /location = \/stream_feed \{ proxy_pass http:\/\/stream_feed; proxy_buffering off; \}/);
  assert.match(conf, /listen 127\.0\.0\.1:8080;/);
  assert.doesNotMatch(conf, /proxy_(read|connect|send)_timeout/, 'nginx defaults, as in the seed');
  assert.match(conf, /pid \/tmp\/lab-x\/nginx\.pid;/);
});

test('docs/lab.md lists every lab option', () => {
  const doc = readFileSync(new URL('../../docs/lab.md', import.meta.url), 'utf8');
  for (const spec of labSettings) assert.ok(doc.includes(`\`${flagOf(spec)}`), `docs/lab.md does not mention ${flagOf(spec)}`);
});

function summary(overrides: Partial<Summary>): Summary {
  const stats = { count: 10, mean: 2100, min: 2000, p50: 2050, p90: 2200, p99: 2400, p999: 2500, max: 2500 };
  return { durationMs: 60_000, requests: 600, requestsPerSecond: 10, requestsPerMinute: 600, errors: 0, errorRate: 0, statusCounts: { 200: 600 }, errorKinds: {}, dropped: 0, interrupted: 0, concurrencyMax: 21, users: 0, latencyMs: stats, ...overrides };
}

function result(s: Summary): RunResult {
  return { format: 'ballast-load/1', startedAt: '', durationMs: 60_000, runs: 1, summary: s, series: [], groups: [{ name: 'check_feed', kind: 'open', description: '', urls: [], summary: s, series: [], intervals: [] }], generator: [] };
}

test('the report table gives the seeds\' columns per variant, errors by status and kind', () => {
  const phase: PhaseResult = {
    name: '10 req/s',
    description: '',
    runs: [
      { variant: 'naive', server: 'x', extras: {}, result: result(summary({ requests: 300, requestsPerMinute: 300, errors: 250, errorRate: 250 / 300, statusCounts: { 200: 50, 504: 10 }, errorKinds: { timeout: 240 } })) },
      { variant: 'tuned', server: 'y', extras: {}, result: result(summary({})) },
    ],
  };
  const table = compactTable(phaseRows(phase));
  assert.deepEqual(table.header, ['', 'users / streams', 'requests', 'requests/min', 'average', 'max', 'p50', 'p90', 'p99', 'p99.9', 'error rate', 'errors by status']);
  assert.equal(table.rows[0]!.label, 'naive');
  assert.equal(table.rows[0]!.cells[1], '300');
  assert.equal(table.rows[0]!.cells[9], '83%');
  assert.equal(table.rows[0]!.cells[10], '240 timeout, 10 HTTP 504');
  assert.equal(table.rows[1]!.cells[10], 'none');
  assert.equal(table.rows[1]!.cells[3], '2.10 s');
});
