import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSettings, parseDurationMs, parseBytes, suggest, envOf, flagOf } from '../../src/config/schema.ts';
import { serveSettings, type ServeSettings } from '../../src/config/settings.ts';
import { resolveServeSettings, parseBind } from '../../src/config/parse.ts';
import { renderSettingsDoc } from '../../src/config/docs.ts';
import { BallastError } from '../../src/errors.ts';

const resolve = (argv: string[], env: NodeJS.ProcessEnv = {}, file?: Record<string, unknown>) =>
  resolveSettings<ServeSettings>(serveSettings, { argv, env, file, fileName: 'ballast.config.json' });

test('docs/settings.md matches the settings table (run `npm run docs` after changing a setting)', () => {
  const committed = readFileSync(new URL('../../docs/settings.md', import.meta.url), 'utf8');
  assert.equal(committed, renderSettingsDoc());
});

test('names map mechanically to flags and environment variables', () => {
  const spec = serveSettings.find((s) => s.name === 'maxRequestsJitter')!;
  assert.equal(flagOf(spec), '--max-requests-jitter');
  assert.equal(envOf(spec), 'BALLAST_MAX_REQUESTS_JITTER');
});

test('precedence is defaults < file < env < command line', () => {
  assert.equal(resolve([]).settings.workerConnections, 1000);
  assert.equal(resolve([], {}, { workerConnections: 5 }).settings.workerConnections, 5);
  assert.equal(resolve([], { BALLAST_WORKER_CONNECTIONS: '6' }, { workerConnections: 5 }).settings.workerConnections, 6);
  const all = resolve(['--worker-connections', '7'], { BALLAST_WORKER_CONNECTIONS: '6' }, { workerConnections: 5 });
  assert.equal(all.settings.workerConnections, 7);
  assert.equal(all.sources.workerConnections, 'cli');
});

test('durations, sizes, booleans and lists are coerced once', () => {
  const { settings } = resolve(['--graceful-timeout', '1500ms', '--max-memory', '512mb', '--no-linear-regex', '-b', '127.0.0.1:1', '-b', '[::1]:2']);
  assert.equal(settings.gracefulTimeout, 1500);
  assert.equal(settings.maxMemory, 512 * 1024 * 1024);
  assert.equal(settings.linearRegex, false);
  assert.deepEqual(settings.bind, ['127.0.0.1:1', '[::1]:2']);
  assert.equal(resolve([], { BALLAST_GRACEFUL_TIMEOUT: '10' }).settings.gracefulTimeout, 10_000);
  assert.equal(parseDurationMs('5m'), 300_000);
  assert.equal(parseBytes('64kb'), 65536);
  assert.equal(parseBytes('12 parsecs'), undefined);
});

test('an invalid value names the setting, what was expected and what was given', () => {
  assert.throws(() => resolve(['--workers', '-2']), (error: BallastError) => {
    assert.equal(error.code, 'BALLAST_ERR_INVALID_SETTING');
    assert.equal(error.message, 'expected `workers` (--workers) to be a positive integer, got `-2` (from --workers)');
    return true;
  });
  assert.throws(() => resolve([], { BALLAST_GRACEFUL_TIMEOUT: 'soon' }), /expected `gracefulTimeout` \(--graceful-timeout\) to be a duration .* got `soon` \(from env BALLAST_GRACEFUL_TIMEOUT\)/);
  assert.throws(() => resolve([], {}, { distribution: 'random' }), /one of `auto`, `round-robin`, `reuseport`, got `random`/);
});

test('an unknown config key is an error with a did-you-mean hint', () => {
  assert.throws(() => resolve([], {}, { maxRequest: 10 }), (error: BallastError) => {
    assert.equal(error.code, 'BALLAST_ERR_UNKNOWN_SETTING');
    assert.match(error.message, /unknown setting `maxRequest` in ballast.config.json; did you mean `maxRequests`\?/);
    return true;
  });
  assert.throws(() => resolve([], {}, { 'graceful-timeout': 10 }), /did you mean `gracefulTimeout`/);
  assert.throws(() => resolve(['--worker', '2']), /did you mean `--workers`/);
  assert.equal(suggest('zzzzzz', ['workers', 'bind']), undefined);
});

test('PORT sets the default bind to all interfaces, unless bind is given', async () => {
  assert.deepEqual((await resolveServeSettings(['app.ts'], { PORT: '5000' })).settings.bind, ['0.0.0.0:5000']);
  assert.deepEqual((await resolveServeSettings(['app.ts', '-b', '127.0.0.1:1'], { PORT: '5000' })).settings.bind, ['127.0.0.1:1']);
});

test('bind addresses parse as HOST:PORT, [IPV6]:PORT and :PORT', () => {
  assert.deepEqual(parseBind('127.0.0.1:8000'), { host: '127.0.0.1', port: 8000 });
  assert.deepEqual(parseBind('[::1]:9'), { host: '::1', port: 9 });
  assert.deepEqual(parseBind(':80'), { host: '0.0.0.0', port: 80 });
  assert.throws(() => parseBind('localhost'), /expected `bind` \(--bind\) to be HOST:PORT/);
  assert.throws(() => parseBind('x:70000'), /HOST:PORT/);
});

test('a TypeScript config file is loaded and its keys checked', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-config-'));
  const good = join(dir, 'ballast.config.ts');
  writeFileSync(good, 'export default { workers: 3, gracefulTimeout: "2s" };\n');
  const { settings, sources } = await resolveServeSettings(['app.ts', '-c', good], {});
  assert.equal(settings.workers, 3);
  assert.equal(settings.gracefulTimeout, 2000);
  assert.equal(sources.workers, 'file');
  const bad = join(dir, 'bad.config.json');
  writeFileSync(bad, JSON.stringify({ wrokers: 3 }));
  await assert.rejects(resolveServeSettings(['app.ts', '-c', bad], {}), /unknown setting `wrokers` .*did you mean `workers`/);
});
