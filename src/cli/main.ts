// `ballast <command>`: one CLI for the server, the load generator and the lab. Each subcommand
// lives in its own file and is imported only when used, so `ballast load` never pays for the
// server's modules and vice versa.

import { isBallastError, exitCodes } from '../errors.ts';

interface Command {
  summary: string;
  run: (argv: string[]) => Promise<number>;
}

const commands: Record<string, Command> = {
  serve: {
    summary: 'serve an app with a supervised pool of worker processes',
    run: async (argv) => (await import('./serve.ts')).runServe(argv),
  },
  lab: {
    summary: 'the seeds\' scenarios, reproduced naive and tuned under load, with a report',
    run: async (argv) => (await import('./lab.ts')).runLab(argv),
  },
  load: {
    summary: 'generate HTTP load (closed, open, stages, streams) and report honestly',
    run: async (argv) => (await import('./load.ts')).runLoad(argv),
  },
  top: {
    summary: 'watch a running server live in the terminal (workers, lag, queues, stalls)',
    run: async (argv) => (await import('./top.ts')).runTop(argv),
  },
};

export function formatMainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  return [
    'ballast: an application server that stays up under load, and the load lab that proves it.',
    '',
    'Usage: ballast <command> [options]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`),
    '',
    'Run `ballast <command> --help` for the options of one command.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${formatMainHelp()}\n`);
    return name === undefined ? exitCodes.usage : exitCodes.ok;
  }
  if (name === '--version' || name === '-v') {
    const pkg = await import('../../package.json', { with: { type: 'json' } });
    process.stdout.write(`${pkg.default.version}\n`);
    return exitCodes.ok;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`ballast: unknown command \`${name}\`\n\n${formatMainHelp()}\n`);
    return exitCodes.usage;
  }
  return command.run(rest);
}

// A reader that went away (`ballast load … | head`) is not our failure: what was still to be printed
// is dropped, and the command goes on (its files, exit code and server are unaffected).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
    throw error;
  });
}

try {
  const code = await main(process.argv.slice(2));
  // Long-running commands (serve) resolve only when they are done; others exit here.
  process.exitCode = code;
} catch (error) {
  if (isBallastError(error)) {
    process.stderr.write(`ballast: ${error.message} [${error.code}]\n`);
    const usage = error.code === 'BALLAST_ERR_INVALID_SETTING' || error.code === 'BALLAST_ERR_UNKNOWN_SETTING' || error.code === 'BALLAST_ERR_USAGE' || error.code === 'BALLAST_ERR_CONFIG_FILE';
    process.exitCode = usage ? exitCodes.usage : exitCodes.failure;
  } else {
    process.stderr.write(`ballast: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = exitCodes.failure;
  }
}
