import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyExport, parseAppSpec } from '../../src/worker/app-loader.ts';

test('APP specs split into a file and an export name', () => {
  assert.deepEqual(parseAppSpec('app.ts', '/srv'), { file: '/srv/app.ts', exportName: 'default' });
  assert.deepEqual(parseAppSpec('src/app.ts:handler', '/srv'), { file: '/srv/src/app.ts', exportName: 'handler' });
  assert.throws(() => parseAppSpec('app.ts:not-valid', '/srv'), /expected an export name/);
  assert.throws(() => parseAppSpec('', '/srv'), /no APP given/);
});

test('the export shape decides how the app is called', () => {
  const file = '/app.ts';
  assert.equal(classifyExport({ fetch: () => new Response() }, 'auto', file, 'default').kind, 'fetch');
  assert.equal(classifyExport((request: Request) => new Response(request.url), 'auto', file, 'default').kind, 'fetch');
  assert.equal(classifyExport((_request: Request, _ctx: unknown) => new Response(), 'auto', file, 'default').kind, 'fetch');
  assert.equal(classifyExport((req: unknown, res: unknown) => [req, res], 'auto', file, 'default').kind, 'node');
  assert.equal(classifyExport(function app(_req: unknown, _res: unknown, _next: unknown) {}, 'auto', file, 'default').kind, 'node');
  assert.equal(classifyExport((a: unknown, b: unknown) => [a, b], 'node', file, 'default').kind, 'node');
  assert.throws(() => classifyExport({ fetch: () => {} }, 'node', file, 'default'), /Fetch handler object, but --app-kind is node/);
  assert.throws(() => classifyExport(undefined, 'auto', file, 'default'), /is nothing \(undefined\); expected a Fetch handler/);
});
