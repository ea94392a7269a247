// docs/settings.md, rendered from the settings table.

import { formatMarkdown } from './schema.ts';
import { serveSettings } from './settings.ts';

export function renderSettingsDoc(): string {
  return formatMarkdown(
    serveSettings,
    '`ballast serve` settings',
    [
      '<!-- Generated from src/config/settings.ts by `npm run docs`; do not edit by hand. -->',
      '',
      'Every setting has a command-line flag, a `BALLAST_*` environment variable and a config-file key',
      '(`-c ballast.config.ts` exporting a default object, or `-c ballast.config.json`).',
      'Precedence: defaults < config file < environment < command line. `ballast serve --print-config`',
      'shows the resolved values and where each came from. An invalid value stops `ballast serve` with',
      'exit code 2 and a message naming the setting; an unknown config key is an error with a',
      '"did you mean" hint. Durations are written `500ms`, `30s`, `5m` (a plain number is seconds);',
      'sizes `64kb`, `1mb`, `2gb` (a plain number is bytes). Booleans take `--no-…` to turn them off.',
      '',
      'Connection-level limits: the whole request head is also capped at',
      '`limitRequestLine + 4 × limitRequestFieldSize` bytes (Node\'s `maxHeaderSize`); past that, 431',
      '(or 414 when the request line alone is too long).',
    ].join('\n'),
  );
}
