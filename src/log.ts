// Logging for the supervisor and workers: pino JSON lines, or one readable line per event on a
// terminal. Logs go to stderr; the access log has its own destination (worker/access-log.ts).

import pino, { type Logger } from 'pino';

export type { Logger };

const levelNames: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const omitted = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);

/** One readable line from a pino JSON record: `10:04:05.123 WARN  [supervisor] message key=value`. */
export function formatPrettyLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = new Date(typeof record.time === 'number' ? record.time : Date.now()).toISOString().slice(11, 23);
  const level = (levelNames[record.level as number] ?? String(record.level)).padEnd(5);
  const name = record.name ? `[${String(record.name)}] ` : '';
  const extras = Object.entries(record)
    .filter(([key]) => !omitted.has(key))
    .map(([key, value]) => {
      if (key === 'err' && value && typeof value === 'object' && 'stack' in value) return `\n${String((value as { stack: unknown }).stack)}`;
      return `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
    })
    .join(' ');
  return `${time} ${level} ${name}${String(record.msg ?? '')}${extras ? ` ${extras}` : ''}\n`;
}

export function createLogger(options: { name: string; level: string; pretty?: boolean; base?: Record<string, unknown> }): Logger {
  const pretty = options.pretty ?? Boolean(process.stderr.isTTY);
  const destination = pretty
    ? { write: (line: string) => { process.stderr.write(formatPrettyLine(line)); } }
    : pino.destination({ fd: 2, sync: true });
  return pino({ name: options.name, level: options.level, base: { pid: process.pid, ...options.base } }, destination);
}
