// Writes docs/settings.md from the settings table (`npm run docs`). A unit test fails when the
// committed file differs from what this would write.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderSettingsDoc } from '../src/config/docs.ts';

const target = fileURLToPath(new URL('../docs/settings.md', import.meta.url));
writeFileSync(target, renderSettingsDoc());
process.stdout.write(`wrote ${target}\n`);
