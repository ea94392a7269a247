#!/usr/bin/env node
// The CLI is TypeScript run as-is. Node >= 22.18 and 23.6 strip types by default; on 22.12-22.17
// the feature exists behind a flag, so re-run once with it rather than shipping a build step.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const mainUrl = new URL('../src/cli/main.ts', import.meta.url);

if (process.features.typescript) {
  await import(mainUrl.href);
} else if (!process.env.BALLAST_STRIP_TYPES_REEXEC) {
  const result = spawnSync(
    process.execPath,
    ['--experimental-strip-types', '--no-warnings=ExperimentalWarning', fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, BALLAST_STRIP_TYPES_REEXEC: '1' } },
  );
  process.exit(result.status ?? 1);
} else {
  console.error('ballast: this Node.js cannot run TypeScript files; use Node.js >= 22.12 (24 LTS recommended)');
  process.exit(1);
}
